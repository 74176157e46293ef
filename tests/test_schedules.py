"""tau and learning-rate schedules (BYOL_SPEC Sec. 3-4), checked against hand-computed values."""

import math

import pytest

from byol_pkg.schedules import StepPlan, scaled_lr, scheduled_tau, target_tau, warmup_cosine_lr


def test_tau_endpoints_and_midpoint():
    assert target_tau(0, 1000, 0.996) == pytest.approx(0.996)
    assert target_tau(1000, 1000, 0.996) == pytest.approx(1.0)
    assert target_tau(500, 1000, 0.996) == pytest.approx(1 - 0.004 * 0.5)
    assert target_tau(2000, 1000, 0.996) == pytest.approx(1.0)  # clipped at K


def test_tau_formula_at_arbitrary_step():
    k, K, base = 123, 777, 0.99
    expected = 1 - (1 - base) * (math.cos(math.pi * k / K) + 1) / 2
    assert target_tau(k, K, base) == pytest.approx(expected, abs=1e-15)
    assert isinstance(target_tau(k, K, base), float)


def test_tau_special_bases():
    assert all(target_tau(k, 50, 1.0) == 1.0 for k in range(51))  # target never moves
    assert target_tau(0, 50, 0.0) == 0.0  # target = online at the first step


def test_lr_scaling_rule():
    assert scaled_lr(0.2, 4096) == pytest.approx(3.2)
    assert scaled_lr(0.3, 256) == pytest.approx(0.3)


def test_warmup_then_cosine():
    L, W, K = 3.2, 100, 1000
    assert warmup_cosine_lr(0, L, W, K) == 0.0
    assert warmup_cosine_lr(50, L, W, K) == pytest.approx(1.6)
    assert warmup_cosine_lr(100, L, W, K) == pytest.approx(3.2)
    assert warmup_cosine_lr(550, L, W, K) == pytest.approx(1.6)  # halfway through the decay
    assert warmup_cosine_lr(1000, L, W, K) == pytest.approx(0.0, abs=1e-12)
    s = 777
    assert warmup_cosine_lr(s, L, W, K) == pytest.approx(L * 0.5 * (1 + math.cos(math.pi * (s - W) / (K - W))))


def test_official_step_counts_for_imagenet():
    # BYOL_SPEC Sec. 4: batch 4096 -> 1000 epochs K=312,784 W=3,127; 300 epochs K=93,835 W=312... per DM floor
    plan = StepPlan(epoch_size=1281167, global_batch=4096, epochs=1000, warmup_epochs=10)
    assert (plan.total_steps, plan.warmup_steps) == (312784, 3127)
    plan300 = StepPlan(epoch_size=1281167, global_batch=4096, epochs=300, warmup_epochs=10)
    assert plan300.total_steps == 93835


def test_tau_needs_a_positive_step_count_and_allows_one_step():
    for bad in (0, -5):
        with pytest.raises(ValueError, match="total_steps must be positive"):
            target_tau(0, bad, 0.99)
    assert target_tau(0, 1, 0.99) == pytest.approx(0.99) and target_tau(1, 1, 0.99) == 1.0


@pytest.mark.parametrize("name", ["cosine", "constant", "linear", "a", "z", "Cosine", ""])
def test_tau_schedule_names(name):
    """Exactly two names (names sorting before, between and after them are errors)."""
    if name == "cosine":
        assert scheduled_tau(3, 10, 0.9, name) == target_tau(3, 10, 0.9) != 0.9
    elif name == "constant":
        assert scheduled_tau(3, 10, 0.9, name) == 0.9
    else:
        with pytest.raises(ValueError, match="unknown tau schedule"):
            scheduled_tau(3, 10, 0.9, name)


def test_no_warmup_starts_at_the_peak():
    """W = 0: no warm-up division; step 0 is the cosine's start, the peak."""
    assert warmup_cosine_lr(0, 2.0, 0, 10) == 2.0
    assert warmup_cosine_lr(5, 2.0, 0, 10) == pytest.approx(1.0)


def test_no_decay_phase_when_the_run_ends_within_warm_up():
    """K <= W: after the warm-up the LR stays at its peak (no cosine over a non-positive span)."""
    assert warmup_cosine_lr(10, 2.0, 10, 10) == 2.0
    assert warmup_cosine_lr(12, 2.0, 10, 5) == 2.0


def test_negative_steps_clip_to_the_start():
    assert target_tau(-1, 10, 0.9) == 0.9 and target_tau(-5, 10, 0.9) == 0.9


def test_step_plan_is_immutable():
    import dataclasses

    plan = StepPlan(epoch_size=1000, global_batch=100, epochs=2, warmup_epochs=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.epochs = 3  # type: ignore[misc]


def test_lr_stays_zero_after_the_last_step():
    assert warmup_cosine_lr(100, 2.0, 10, 100) == 0.0
    assert warmup_cosine_lr(105, 2.0, 10, 100) == 0.0 and warmup_cosine_lr(150, 2.0, 10, 100) == 0.0


def test_steps_per_epoch_is_a_fraction():
    assert StepPlan(epoch_size=1000, global_batch=300, epochs=2, warmup_epochs=1).steps_per_epoch == 1000 / 300
