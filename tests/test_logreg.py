"""Linear transfer classifier (spec §6.3, §8 pitfall 9): agreement with scikit-learn, warm start, masking, and
the test split being scored exactly once."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from byol_pkg.eval.logreg import LAMBDAS, LambdaSweepResult, fit_logreg, objective, predict_scores, sweep_logreg


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    with threadpool_limits(1):  # sklearn's BLAS stalls when the 2 cores are shared
        yield


def top1(scores: np.ndarray, labels: np.ndarray) -> float:
    return 100.0 * float((scores.argmax(1) == labels).mean())


def _sk(x: np.ndarray, y: np.ndarray, lam: float, **kw) -> LogisticRegression:
    """sklearn's L2 lbfgs logistic regression (penalty='l2' is the default; the argument is deprecated)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=1.0 / lam, solver="lbfgs", max_iter=5000, tol=1e-8, **kw).fit(x, y)


def _blobs() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = make_blobs(n_samples=1000, n_features=32, centers=5, cluster_std=6.0, random_state=0)
    sc = StandardScaler().fit(x[:600])
    return sc.transform(x[:600]), y[:600], sc.transform(x[600:]), y[600:]


def _digits_std() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    p = np.random.default_rng(0).permutation(len(x))
    x, y = x[p], y[p]
    sc = StandardScaler().fit(x[:1000])
    return sc.transform(x[:1000]), y[:1000], sc.transform(x[1000:]), y[1000:]


def _digits_splits():
    x, y = load_digits(return_X_y=True)
    p = np.random.default_rng(0).permutation(len(x))
    x, y = x[p].astype(np.float32), y[p]
    return (x[:700], y[:700]), (x[700:1250], y[700:1250]), (x[1250:], y[1250:])


@pytest.mark.parametrize("data", [_blobs, _digits_std], ids=["blobs", "digits"])
def test_fit_matches_sklearn(data):
    """Same objective (1e-4 rel.) and test accuracy (0.2 pts) as sklearn with C = 1/λ, for several λ."""
    xtr, ytr, xte, yte = data()
    xt, yt = torch.tensor(xtr, dtype=torch.float32), torch.tensor(ytr)
    x64 = torch.tensor(xtr)
    for lam in (0.1, 1.0, 10.0, 100.0):
        W, b = fit_logreg(xt, yt, lam, 5 if data is _blobs else 10)
        clf = _sk(xtr, ytr, lam)
        ours = objective(x64, yt, W, b, lam)
        ref = objective(x64, yt, torch.tensor(clf.coef_), torch.tensor(clf.intercept_), lam)
        assert abs(ours - ref) <= 1e-4 * ref, (lam, ours, ref)
        acc = top1(predict_scores(torch.tensor(xte, dtype=torch.float32), W, b).numpy(), yte)
        assert abs(acc - 100.0 * clf.score(xte, yte)) <= 0.2, lam


@pytest.mark.parametrize("standardize", [False, True])  # False: the paper's protocol (App. D.2), the default
def test_sweep_matches_sklearn_sweep_on_digits(standardize):
    tr, va, te = _digits_splits()
    res = sweep_logreg(tr, va, te, top1, 10, standardize=standardize)
    scaler = StandardScaler if standardize else FunctionTransformer  # FunctionTransformer(): the identity
    assert isinstance(res, LambdaSweepResult)
    assert res.lambdas == [float(v) for v in LAMBDAS] and len(res.val_scores) == 45
    assert (res.train_size, res.val_size, res.test_size) == (700, 550, 547)

    # the same protocol with sklearn: warm start strong → weak, ties → larger λ, refit on train+val
    sc = scaler().fit(tr[0])
    clf = LogisticRegression(warm_start=True, max_iter=5000, tol=1e-8)
    sk_val = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for lam in LAMBDAS[::-1]:
            clf.set_params(C=1.0 / lam).fit(sc.transform(tr[0]), tr[1])
            sk_val[float(lam)] = top1(clf.decision_function(sc.transform(va[0])), va[1])
    best = max(sk_val.values())
    sk_lam = max(k for k, v in sk_val.items() if v == best)
    xtv, ytv = np.concatenate([tr[0], va[0]]), np.concatenate([tr[1], va[1]])
    sc = scaler().fit(xtv)
    sk_test = 100.0 * _sk(sc.transform(xtv), ytv, sk_lam).score(sc.transform(te[0]), te[1])

    i, j = res.lambdas.index(res.best_lambda), res.lambdas.index(sk_lam)
    assert i == j or (abs(i - j) == 1 and abs(res.val_scores[i] - sk_val[sk_lam]) <= 0.2), (res.best_lambda, sk_lam)
    assert abs(res.test_score - sk_test) <= 0.2, (res.test_score, sk_test)


def test_warm_start_saves_iterations():
    xtr, ytr, xte, yte = _blobs()
    splits = ((xtr[:400], ytr[:400]), (xtr[400:], ytr[400:]), (xte, yte))
    warm, cold = {}, {}
    rw = sweep_logreg(*splits, top1, 5, stats=warm)
    rc = sweep_logreg(*splits, top1, 5, warm_start=False, stats=cold)
    assert warm["total_iters"] == sum(rw.iters) and cold["total_iters"] == sum(rc.iters)
    assert warm["total_iters"] < cold["total_iters"], (warm, cold)
    # the same minimiser either way (well-conditioned blobs)
    assert rw.best_lambda == rc.best_lambda
    # restarting at a solution costs (almost) nothing
    x, y = torch.tensor(xtr, dtype=torch.float32), torch.tensor(ytr)
    W, b = fit_logreg(x, y, 1.0, 5)
    st: dict = {}
    fit_logreg(x, y, 1.0, 5, init=(W, b), stats=st)
    assert st["n_iter"] <= 3


def _multilabel(seed: int = 0):
    rng = np.random.default_rng(seed)
    n, d, c = 300, 16, 4
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=(c, d))
    y = np.where(x @ w.T + rng.normal(scale=2.0, size=(n, c)) > 0, 1, -1)
    difficult = rng.random((n, c)) < 0.15
    return x, y, difficult


def test_multilabel_masked_entries_are_ignored():
    x, y, difficult = _multilabel()
    xt = torch.tensor(x)
    mask = torch.tensor(~difficult)
    fits = []
    for flip in (1, -1):
        t = torch.tensor(np.where(difficult, flip, y) > 0, dtype=torch.float32)
        fits.append(fit_logreg(xt, t, 0.5, 4, multilabel=True, mask=mask))
    assert torch.equal(fits[0][0], fits[1][0]) and torch.equal(fits[0][1], fits[1][1])
    unmasked = fit_logreg(xt, torch.tensor(np.where(difficult, 1, y) > 0, dtype=torch.float32), 0.5, 4,
                          multilabel=True)
    assert not torch.allclose(unmasked[0], fits[0][0], atol=1e-3)
    # each class = sklearn's binary logistic regression on that class's non-difficult samples
    W, b = fits[0]
    for k in range(4):
        keep = ~difficult[:, k]
        clf = _sk(x[keep].astype(np.float64), y[keep, k], 0.5)
        args = (torch.tensor(x[keep], dtype=torch.float64), torch.tensor(y[keep, k:k + 1] > 0))
        ours = objective(*args, W[k:k + 1], b[k:k + 1], 0.5, multilabel=True)
        ref = objective(*args, torch.tensor(clf.coef_), torch.tensor(clf.intercept_), 0.5, multilabel=True)
        assert abs(ours - ref) <= 1e-4 * ref, (k, ours, ref)
    with pytest.raises(ValueError):
        fit_logreg(xt, torch.tensor(y), 0.5, 4, multilabel=True)  # raw {1,-1} labels need the sweep / a mask


def test_multilabel_sweep_gets_raw_labels():
    x, y, difficult = _multilabel(1)
    raw = np.where(difficult, 0, y)
    seen: list[np.ndarray] = []

    def mean_acc(scores: np.ndarray, labels: np.ndarray) -> float:
        seen.append(labels)
        keep = labels != 0
        return 100.0 * float(((scores > 0) == (labels > 0))[keep].mean())

    res = sweep_logreg((x[:150], raw[:150]), (x[150:220], raw[150:220]), (x[220:], raw[220:]), mean_acc, 4,
                       lambdas=LAMBDAS[::4], multilabel=True)
    assert all(set(np.unique(s)) <= {-1, 0, 1} and (s == 0).any() for s in seen)
    assert res.test_score > 60.0 and max(res.val_scores) > 60.0


def test_test_split_scored_once_after_validation():
    tr, va, te = _digits_splits()
    calls: list[str] = []

    def recording(scores: np.ndarray, labels: np.ndarray) -> float:
        calls.append("test" if np.array_equal(labels, te[1]) else "val" if np.array_equal(labels, va[1]) else "?")
        return top1(scores, labels)

    lams = LAMBDAS[::6]
    res = sweep_logreg(tr, va, te, recording, 10, lambdas=lams)
    assert calls == ["val"] * len(lams) + ["test"]
    assert 90.0 < res.test_score <= 100.0


def test_ties_pick_the_larger_lambda():
    xtr, ytr, xte, yte = _blobs()
    lams = [1e-2, 1.0, 1e2, 1e4]
    constant = sweep_logreg((xtr[:400], ytr[:400]), (xtr[400:], ytr[400:]), (xte, yte), lambda s, l: 50.0, 5,
                            lambdas=lams)
    assert constant.best_lambda == 1e4 and constant.val_scores == [50.0] * 4


def test_path_runs_from_strong_to_weak_regularisation_with_subnormals_flushed():
    """The warm-started path visits lambda from the largest down (the weights, and the scores, grow along it),
    flushes subnormal floats to zero while it runs, and restores PyTorch's default afterwards."""
    tr, va, te = _digits_splits()
    sizes, flushed = [], []

    def recording(scores: np.ndarray, labels: np.ndarray) -> float:
        sizes.append(float(np.abs(scores).max()))
        flushed.append((torch.tensor([1e-40]) * 1.0).item() == 0.0)
        return top1(scores, labels)

    lams = [1e-2, 1e2, 1.0, 1e4]  # given in any order
    sweep_logreg(tr, va, te, recording, 10, lambdas=lams)
    assert len(sizes) == 5 and sizes[:4] == sorted(sizes[:4])  # lambda 1e4, 1e2, 1, 1e-2; then the test scores
    assert all(flushed)
    assert (torch.tensor([1e-40]) * 1.0).item() != 0.0  # the default again


def test_warm_started_refit_starts_from_the_selected_solution():
    xtr, ytr, xte, yte = _blobs()
    splits = ((xtr[:400], ytr[:400]), (xtr[400:], ytr[400:]), (xte, yte))
    warm, cold = {}, {}
    sweep_logreg(*splits, top1, 5, lambdas=[1e-2, 1.0], stats=warm)
    sweep_logreg(*splits, top1, 5, lambdas=[1e-2, 1.0], warm_start=False, stats=cold)
    assert warm["refit_iters"] < cold["refit_iters"], (warm, cold)


def test_objective_hand_example():
    """F = sum of cross-entropies + lambda/2 ||W||^2 (N = 3 images, D = 2 features, C = 2 classes)."""
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([0, 1, 1])
    W, b = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    # logits (1, 0), (0, 1), (1, 1): CE = log(1 + e^-1), log(1 + e^-1), log 2; ||W||^2 = 2
    expected = 2 * np.log1p(np.exp(-1.0)) + np.log(2.0) + 0.5 * 0.3 * 2
    assert objective(x, y, W, b, 0.3) == pytest.approx(expected, rel=1e-12)


def test_sweep_defaults():
    import inspect

    from byol_pkg.eval.logreg import sweep_path

    params = inspect.signature(sweep_path).parameters
    assert (params["max_iter"].default, params["tol"].default, params["warm_start"].default,
            params["standardize"].default) == (1000, 1e-6, True, False)
    fit = inspect.signature(fit_logreg).parameters
    assert (fit["max_iter"].default, fit["tol"].default, fit["history_size"].default) == (1000, 1e-6, 20)


def test_labels_out_of_range_are_refused_and_convergence_is_reported():
    x = torch.tensor(np.random.default_rng(0).normal(size=(30, 4)), dtype=torch.float64)  # float64: reaches tol
    for bad in ([-1] + [0] * 29, [3] + [0] * 29, [7] + [0] * 29):
        with pytest.raises(ValueError, match=r"y must hold N class indices in \[0, num_classes\)"):
            fit_logreg(x, torch.tensor(bad), 1.0, 3)
    st: dict = {}
    fit_logreg(x, torch.tensor([0, 1, 2] * 10), 1.0, 3, stats=st)
    assert st["converged"] and st["grad_max"] <= 1e-6 and st["n_iter"] >= 1


def test_sweep_reports_its_own_wall_time():
    import time

    tr, va, te = _digits_splits()
    t0 = time.perf_counter()
    res = sweep_logreg(tr, va, te, top1, 10, lambdas=[1e2, 1e3])
    elapsed = time.perf_counter() - t0
    assert 0 < res.wall_s <= elapsed < 1.0  # seconds of this call, not a clock reading


def test_multilabel_sweep_trains_on_present_and_absent_entries_only():
    """Raw VOC labels: 1 is a positive target, -1 a negative one, 0 (difficult) is left out of the loss. The
    sweep's refit equals a fit on train+val with exactly that target and mask."""
    x, y, difficult = _multilabel(2)
    raw = np.where(difficult, 0, y)
    splits = ((x[:150], raw[:150]), (x[150:220], raw[150:220]), (x[220:], raw[220:]))
    res = sweep_logreg(*splits, lambda s, l: 0.0, 4, lambdas=[0.5], multilabel=True, tol=1e-9)
    xtv, ytv = torch.tensor(x[:220]), torch.tensor(raw[:220])
    W, b = fit_logreg(xtv, (ytv > 0).float(), 0.5, 4, multilabel=True, mask=ytv != 0, tol=1e-9)
    expected = predict_scores(torch.tensor(x[220:]), W, b).numpy()
    # float32 L-BFGS, warm or cold start: the two stopping points differ by up to 5.4e-3 on some CPUs (Xeon,
    # 2026-12-08); leaving the mask out or refitting on train alone moves the scores by 2 to 4
    np.testing.assert_allclose(res.test_predictions.scores, expected, atol=2e-2)
    with pytest.raises(ValueError, match=r"multilabel y must be in \{0, 1\}"):
        fit_logreg(xtv, (ytv > 0).float() * 2, 0.5, 4, multilabel=True)


def test_features_are_fitted_in_float32_whatever_their_dtype():
    """The sweep casts features to float32 (as cached features are), so float64 inputs give the same fit."""
    tr, va, te = _digits_splits()
    as64 = [(x.astype(np.float64), y) for x, y in (tr, va, te)]
    a = sweep_logreg(tr, va, te, top1, 10, lambdas=[1e2])
    b = sweep_logreg(*as64, top1, 10, lambdas=[1e2])
    assert b.test_predictions.scores.dtype == np.float32
    assert np.array_equal(a.test_predictions.scores, b.test_predictions.scores)


def test_standardiser_centres_scales_and_leaves_constant_features_finite():
    """(z - mean) / std with the population std; a feature counts as constant when its std is within 10 float
    eps of its mean's magnitude (at least 1), and is then only centred (std 1), never divided by ~0."""
    from byol_pkg.eval.logreg import _standardizer

    rng = np.random.default_rng(0)
    normal = rng.normal(3.0, 2.0, size=64)
    near_constant = 1e6 + np.tile([1.125, -1.125], 32)  # std 1.125 < 10 eps x 1e6 = 1.19
    tiny = np.tile([1.5e-6, -1.5e-6], 32)  # mean 0: threshold 10 eps x 1 = 1.19e-6 < 1.5e-6
    x = torch.tensor(np.stack([normal, near_constant, tiny], axis=1), dtype=torch.float32)
    z = _standardizer(x, True)(x)
    assert abs(float(z[:, 0].mean())) < 1e-5 and float(z[:, 0].std(unbiased=False)) == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(z[:, 1], torch.tensor(np.tile([1.125, -1.125], 32), dtype=torch.float32))
    assert torch.allclose(z[:, 2], torch.tensor(np.tile([1.0, -1.0], 32), dtype=torch.float32), atol=1e-3)
    assert torch.equal(_standardizer(x, False)(x), x)


def test_shape_checks_and_an_unconverged_fit_says_so():
    x = torch.tensor(np.random.default_rng(1).normal(size=(20, 3)), dtype=torch.float64)
    with pytest.raises(ValueError, match=r"multilabel y must be \[N, C\] = \(20, 2\), got \(20, 3\)"):
        fit_logreg(x, torch.zeros(20, 3), 1.0, 2, multilabel=True)
    with pytest.raises(ValueError, match=r"y must hold N class indices"):
        fit_logreg(x, torch.zeros(19, dtype=torch.long), 1.0, 2)
    st: dict = {}
    fit_logreg(x, torch.tensor([0, 1] * 10), 1e-3, 2, max_iter=1, stats=st)
    assert st["n_iter"] == 1 and st["grad_max"] > 1e-6 and st["converged"] is False


def test_label_count_and_classes_without_zero():
    x = torch.tensor(np.random.default_rng(2).normal(size=(20, 3)), dtype=torch.float64)
    with pytest.raises(ValueError, match=r"y must hold N class indices"):
        fit_logreg(x, torch.zeros(21, dtype=torch.long), 1.0, 2)  # one label too many
    W, _ = fit_logreg(x, torch.tensor([1, 2] * 10), 1.0, 3)  # class 0 need not occur
    assert W.shape == (3, 3) and torch.isfinite(W).all()
    for shape in ((20, 1), (19, 2)):  # narrower, or fewer rows
        with pytest.raises(ValueError, match=r"multilabel y must be \[N, C\] = \(20, 2\)"):
            fit_logreg(x, torch.zeros(shape), 1.0, 2, multilabel=True)


def test_sweep_result_defaults():
    """A result built without the optional diagnostics says so: no iterations counted, no predictions kept."""
    res = LambdaSweepResult(best_lambda=1.0, val_scores=[1.0], test_score=1.0, lambdas=[1.0], train_size=1, val_size=1,
                      test_size=1, wall_s=0.0)
    assert (res.iters, res.refit_iters, res.test_predictions) == ([], 0, None)
