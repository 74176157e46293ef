"""Online/target networks (BYOL_SPEC Sec. 1, 3; pitfalls 2, 6, 18, 19) and the backbone registry."""

import pytest
import timm
import torch
import torchvision
from torch import nn

from byol_pkg.models import build_byol, create_backbone, ema_pairs, update_target
from byol_pkg.models.byol import TargetNetwork


def small_byol():
    torch.manual_seed(0)
    return build_byol("resnet_small", cifar_stem=True, proj_hidden=64, proj_out=16, pred_hidden=32)


def test_heads_have_the_paper_shape():
    online, target = build_byol("resnet18", proj_hidden=4096, proj_out=256, pred_hidden=4096)
    kinds = [type(m) for m in online.projector]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert (online.projector[0].in_features, online.projector[0].out_features) == (512, 4096)
    assert (online.projector[3].in_features, online.projector[3].out_features) == (4096, 256)
    assert online.projector[3].bias is None  # official code: last linear without bias
    assert (online.predictor[0].in_features, online.predictor[0].out_features) == (256, 4096)
    assert online.predictor[3].out_features == 256
    assert online.projector[1].eps == 1e-5 and online.projector[1].momentum == pytest.approx(0.1)
    assert not hasattr(target, "predictor")  # target = encoder + projector only


def test_target_starts_as_exact_copy_and_never_gets_gradients():
    online, target = small_byol()
    online_state = list(online.encoder.state_dict().items()) + list(online.projector.state_dict().items())
    target_state = list(target.encoder.state_dict().items()) + list(target.projector.state_dict().items())
    # resnet_small: 13 convolutions + 13 BatchNorms of 5 entries; projector: Linear (w, b), BN (5), Linear (w)
    assert len(online_state) == len(target_state) == 78 + 8
    for (n1, a), (n2, b) in zip(online_state, target_state, strict=True):
        assert n1 == n2 and torch.equal(a, b)
        assert a.data_ptr() != b.data_ptr()  # a copy, not shared storage
    assert len(list(target.parameters())) == 39 + 5
    assert all(not p.requires_grad for p in target.parameters())
    x = torch.randn(4, 3, 16, 16)
    out = target(x)
    assert not out.requires_grad


def test_ema_update_matches_formula_and_moves_only_target():
    online, target = small_byol()
    with torch.no_grad():
        for p in online.parameters():
            p.add_(torch.randn_like(p))
    tgt, onl = ema_pairs(online, target)
    assert len(tgt) == len(onl) == 39 + 5  # the target's parameters (encoder + projector), paired with online's
    before_t = [t.clone() for t in tgt]
    before_o = [o.clone() for o in onl]
    tau = 0.9
    update_target(tgt, onl, tau)
    for t, t0, o in zip(tgt, before_t, onl):
        torch.testing.assert_close(t, tau * t0 + (1 - tau) * o)
    for o, o0 in zip(onl, before_o):
        assert torch.equal(o, o0)
    assert len(tgt) == len(list(target.parameters()))


def test_ema_with_tau_one_and_zero():
    online, target = small_byol()
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    tgt, onl = ema_pairs(online, target)
    assert len(tgt) == len(onl) == 39 + 5
    frozen = [t.clone() for t in tgt]
    update_target(tgt, onl, 1.0)
    assert all(torch.equal(a, b) for a, b in zip(tgt, frozen))
    update_target(tgt, onl, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(tgt, onl))


def test_views_are_forwarded_separately_so_bn_statistics_are_per_view():
    online, _ = small_byol()
    online.train()
    v1, v2 = torch.randn(8, 3, 16, 16), torch.randn(8, 3, 16, 16) * 3 + 1
    p1, p2, z1, z2 = online(v1, v2)
    sep1 = online.forward_view(v1).prediction
    sep2 = online.forward_view(v2).prediction
    torch.testing.assert_close(p1, sep1)
    torch.testing.assert_close(p2, sep2)
    joint = online.forward_view(torch.cat([v1, v2])).prediction
    assert not torch.allclose(joint[:8], p1, atol=1e-3)  # concatenating would mix the views' statistics


def test_backbone_registry_and_cifar_stem():
    model, dim = create_backbone("resnet18", cifar_stem=True)
    assert dim == 512
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, nn.Identity)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 512)
    _, dim50 = create_backbone("resnet50")
    assert dim50 == 2048
    m, d = create_backbone("timm:resnet10t")
    assert d == m.num_features
    with pytest.raises(ValueError, match="unknown backbone"):
        create_backbone("resnet9000")
    with pytest.raises(ValueError, match="timm has no model"):
        create_backbone("timm:not_a_model")


def test_encoder_state_dict_loads_into_plain_torchvision_and_timm_models():
    enc, _ = create_backbone("resnet18")
    tv = torchvision.models.resnet18(weights=None)
    tv.fc = nn.Identity()
    tv.load_state_dict(enc.state_dict())  # strict
    enc_t, _ = create_backbone("timm:resnet18")
    timm.create_model("resnet18", num_classes=0).load_state_dict(enc_t.state_dict())
    small, _ = create_backbone("resnet_small")
    from timm.models.resnet import BasicBlock, ResNet

    ResNet(BasicBlock, [1, 1, 1, 1], channels=(16, 32, 64, 128), stem_width=16, num_classes=0).load_state_dict(
        small.state_dict())


def test_target_network_copies_structure():
    online, _ = small_byol()
    t = TargetNetwork(online)
    assert set(dict(t.named_parameters())) == {
        n for n, _ in online.named_parameters() if not n.startswith("predictor")}


def test_resnet_small_nopool_keeps_twice_the_resolution_of_resnet_small():
    """Each stage of the demo backbone sees twice the side of resnet_small's on a 28-px image (14/7/4/2 against
    7/4/2/1 px), with the same parameters (state dicts interchangeable)."""
    x = torch.randn(2, 3, 28, 28)

    def stage_sides(model):
        sides = []
        hooks = [getattr(model, f"layer{i}").register_forward_hook(lambda m, a, out: sides.append(out.shape[-1]))
                 for i in range(1, 5)]
        model.eval()(x)
        for h in hooks:
            h.remove()
        return sides

    small, dim_small = create_backbone("resnet_small")
    nopool, dim = create_backbone("resnet_small_nopool")
    assert stage_sides(small) == [7, 4, 2, 1] and stage_sides(nopool) == [14, 7, 4, 2]
    assert dim == dim_small == 128 and isinstance(nopool.maxpool, nn.Identity)
    nopool.load_state_dict(small.state_dict())  # strict: the same parameters
    assert nopool.eval()(x).shape == (2, 128)


def test_resnet_small_nopool_stem16_narrows_the_stem_to_the_first_stage():
    """timm ignores stem_width for its 7x7 stem (64 channels into 16-channel stages); the stem16 variant is 16
    channels wide, drops the first block's 1x1 projection, keeps the stages' resolution, and costs about half the
    multiply-accumulates per 28-px image. Its state dict loads into the recipe its docstring gives."""
    x = torch.randn(2, 3, 28, 28)
    wide, _ = create_backbone("resnet_small_nopool")
    narrow, dim = create_backbone("resnet_small_nopool_stem16")
    assert wide.conv1.out_channels == 64 and wide.layer1[0].downsample is not None  # timm's fixed 64 stem
    assert narrow.conv1.out_channels == 16 and narrow.bn1.num_features == 16
    assert narrow.layer1[0].conv1.in_channels == 16 and narrow.layer1[0].downsample is None
    assert dim == 128 and narrow.eval()(x).shape == (2, 128)

    def macs(model):
        total = []

        def hook(m, a, out):
            total.append(out[0].numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])

        hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
        model.eval()(x[:1])
        for h in hooks:
            h.remove()
        return sum(total)

    # stem 14*14*16*3*49 + block convs; against 14*14*64*3*49 + a 64->16 projection and the same blocks
    assert macs(narrow) == 14 * 14 * 16 * 3 * 49 + macs(wide) - 14 * 14 * 64 * 3 * 49 - 14 * 14 * 16 * 64 \
        - 14 * 14 * 16 * 9 * (64 - 16)
    assert (macs(narrow), macs(wide)) == (3_901_632, 6_840_064)  # 0.57x
    # the stem16 init is timm's (He normal, fan-out): std sqrt(2 / fan_out) = sqrt(2 / (16 * 49))
    assert abs(float(narrow.conv1.weight.detach().std()) - (2 / (16 * 49)) ** 0.5) < 0.1 * (2 / (16 * 49)) ** 0.5
    rebuilt, _ = create_backbone("resnet_small_nopool")
    rebuilt.conv1 = nn.Conv2d(3, 16, 7, 2, 3, bias=False)
    rebuilt.bn1 = nn.BatchNorm2d(16)
    rebuilt.layer1[0].conv1 = nn.Conv2d(16, 16, 3, 1, 1, bias=False)
    rebuilt.layer1[0].downsample = None
    rebuilt.load_state_dict(narrow.state_dict())  # strict
    assert torch.equal(rebuilt.eval()(x), narrow(x))


def test_small_backbones_init_as_before_the_timm_entry_points():
    """The small ResNets' factories take timm's keyword arguments (for their timm entry points) and, called with
    none, build the network they always built, draw for draw from the same seed."""
    from timm.models.resnet import BasicBlock, ResNet

    torch.manual_seed(4)
    ours, _ = create_backbone("resnet_small")
    torch.manual_seed(4)
    direct = ResNet(BasicBlock, [1, 1, 1, 1], channels=(16, 32, 64, 128), stem_width=16, num_classes=0,
                    zero_init_last=False)
    assert ours.state_dict().keys() == direct.state_dict().keys()
    assert all(torch.equal(v, direct.state_dict()[k]) for k, v in ours.state_dict().items())
    gray, _ = create_backbone("resnet_small_nopool_stem16")
    from byol_pkg.models.backbones import resnet_small_nopool_stem16

    assert resnet_small_nopool_stem16(in_chans=1).conv1.in_channels == 1 and gray.conv1.in_channels == 3


@pytest.mark.parametrize("backbone, cifar_stem", [("resnet_small", False), ("resnet_small_nopool", False),
                                                  ("resnet_small_nopool_stem16", False), ("resnet_small", True),
                                                  ("resnet18", False), ("resnet18", True), ("tf_resnet50", False)])
def test_each_backbone_has_a_timm_model_of_the_same_keys_and_function(backbone, cifar_stem):
    from byol_pkg.models.timm_hub import check_same_function, timm_architecture

    ours, dim = create_backbone(backbone, cifar_stem=cifar_stem)
    arch = timm_architecture(backbone, cifar_stem)
    theirs = timm.create_model(arch, num_classes=0)
    assert theirs.num_classes == 0 and theirs.num_features == dim
    if arch.startswith("byol_"):  # ours are headless by default, as their exports are
        assert timm.create_model(arch).num_classes == 0
    mine, other = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(other) and all(mine[k].shape == other[k].shape for k in mine)
    theirs.load_state_dict(mine)
    check_same_function(ours, theirs, 32, backbone)  # raises unless the features agree
