"""TF/Haiku 'SAME' padding (``byol_pkg.models.tf_same``) and the ``tf_resnet*`` backbones.

The forward pass of ``tf_resnet50`` is checked against a functional ResNet-50 written here from the torchvision
module tree: explicit ``F.pad`` with the TF 'SAME' amounts + ``F.conv2d(padding=0)``, eval-mode
``F.batch_norm``, ``-inf``-padded max-pool, bottleneck residuals and the global mean pool.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from byol_pkg.models import available_backbones, create_backbone
from byol_pkg.models.tf_same import Conv2dSame, MaxPool2dSame, pad_same, same_padding

TF_NAMES = ("tf_resnet50", "tf_resnet101", "tf_resnet152", "tf_resnet200")
#: Convolutions of each (3 per bottleneck block, the stem, 4 downsampling shortcuts): 16, 33, 50, 66 blocks.
CONVS = {"tf_resnet50": 53, "tf_resnet101": 104, "tf_resnet152": 155, "tf_resnet200": 203}


# ---------------------------------------------------------------------------------------- padding amounts


@pytest.mark.parametrize(("size", "kernel", "stride", "want"), [
    (224, 7, 2, (2, 3)),  # the stem on 224 px: Haiku pads one pixel less at the top/left than torchvision (3/3)
    (225, 7, 2, (3, 3)),
    (56, 3, 2, (0, 1)),  # 3x3/2 on an even size (torchvision: 1/1)
    (57, 3, 2, (1, 1)),
    (112, 3, 2, (0, 1)),  # the max-pool after the stem on 224 px
    (56, 3, 1, (1, 1)),  # stride 1: symmetric, as torchvision
    (56, 1, 2, (0, 0)),  # 1x1 convolutions never pad
    (57, 1, 2, (0, 0)),
    (5, 3, 2, (1, 1)),
    (1, 7, 2, (3, 3)),
])
def test_same_padding_amounts(size: int, kernel: int, stride: int, want: tuple[int, int]) -> None:
    assert same_padding(size, kernel, stride) == want


def test_same_layers_on_hand_computed_examples() -> None:
    # max-pool 3x3/2 on 4x4 pads 0/1 with -inf: the padded border never wins, even over negative values
    x = -(1 + torch.arange(16.0)).view(1, 1, 4, 4)
    got = MaxPool2dSame(3, 2)(x)
    assert torch.equal(got, torch.tensor([[[[-1.0, -3.0], [-9.0, -11.0]]]]))
    # padding goes (left, right) on W and (top, bottom) on H: a 4x5 input pads H 0/1 and W 1/1
    padded = pad_same(torch.ones(1, 1, 4, 5), 3, 2)
    assert padded.shape == (1, 1, 5, 7)
    assert padded[0, 0, -1].abs().sum() == 0 and padded[0, 0, 0].tolist() == [0, 1, 1, 1, 1, 1, 0]
    # a 2x2/2 'SAME' conv with a one-hot kernel on 3x3 (pads 0/1): picks x[0,0], x[0,2], x[2,0], x[2,2]
    conv = Conv2dSame(1, 1, 2, stride=2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]]))
    x = torch.arange(9.0).view(1, 1, 3, 3)
    assert torch.equal(conv(x), torch.tensor([[[[0.0, 2.0], [6.0, 8.0]]]]))
    assert conv.padding == (0, 0) and [k for k, _ in conv.named_parameters()] == ["weight"]


# ------------------------------------------------------------------------------------ the tf_ backbones


def test_tf_backbones_are_registered_with_the_torchvision_state_dict() -> None:
    assert set(TF_NAMES) <= set(available_backbones())
    for name in TF_NAMES:
        with torch.device("meta"):
            tf_model, tf_dim = create_backbone(name)
            tv_model, tv_dim = create_backbone(name.removeprefix("tf_"))
        assert tf_dim == tv_dim == 2048
        tf_state, tv_state = tf_model.state_dict(), tv_model.state_dict()
        assert list(tf_state) == list(tv_state), name
        assert len(tv_state) == 6 * CONVS[name], name  # each convolution's weight and its BatchNorm's 5 entries
        assert all(tf_state[k].shape == v.shape for k, v in tv_state.items()), name


def test_tf_resnet50_layers() -> None:
    torch.manual_seed(0)
    model, _ = create_backbone("tf_resnet50")
    torch.manual_seed(0)
    plain, _ = create_backbone("resnet50")
    same = sorted(n for n, m in model.named_modules() if isinstance(m, Conv2dSame))
    assert same == ["conv1", "layer2.0.conv2", "layer3.0.conv2", "layer4.0.conv2"]  # the strided k>1 convolutions
    assert isinstance(model.maxpool, MaxPool2dSame)
    plain_convs = 0
    for name, m in model.named_modules():  # every other convolution is torchvision's, unchanged
        if isinstance(m, nn.Conv2d) and not isinstance(m, Conv2dSame):
            assert type(m) is nn.Conv2d and m.padding == (m.kernel_size[0] // 2,) * 2, name
            plain_convs += 1
    assert plain_convs == CONVS["tf_resnet50"] - len(same)
    # the same seeded initialisation as resnet50 (parameters are reused, not re-created)
    assert all(torch.equal(v, plain.state_dict()[k]) for k, v in model.state_dict().items())
    # a plain torchvision ResNet-50 loads its weights (the encoder.pt format)
    tv = torchvision.models.resnet50()
    tv.fc = nn.Identity()
    tv.load_state_dict(model.state_dict(), strict=True)
    # deepcopy (the target network) keeps the 'SAME' layers
    assert isinstance(copy.deepcopy(model).layer3[0].conv2, Conv2dSame)


def test_tf_backbone_refuses_the_cifar_stem() -> None:
    with pytest.raises(ValueError) as e:
        create_backbone("tf_resnet50", cifar_stem=True)
    assert "\n" not in str(e.value) and "cifar_stem" in str(e.value) and "tf_resnet50" in str(e.value)


# --------------------------------------------------------------------------- independent functional reference


def _tf_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME', written out: ceil(size / stride) outputs, the window of the last one must fit."""
    outputs = -(-size // stride)
    needed = (outputs - 1) * stride + kernel
    total = max(needed - size, 0)
    return total // 2, total - total // 2


def _pad(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    top, bottom = _tf_pad(x.shape[2], kernel, stride)
    left, right = _tf_pad(x.shape[3], kernel, stride)
    return F.pad(x, (left, right, top, bottom), value=value)


def _conv(x: torch.Tensor, m: nn.Conv2d) -> torch.Tensor:
    k, s = m.weight.shape[-1], m.stride[0]
    return F.conv2d(_pad(x, k, s), m.weight, m.bias, stride=s, padding=0)


def _bn(x: torch.Tensor, m: nn.BatchNorm2d) -> torch.Tensor:
    return F.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, training=False, eps=m.eps)


def reference_forward(model: torchvision.models.ResNet, x: torch.Tensor) -> torch.Tensor:
    """Haiku's ResNet v1 forward pass (eval mode) on the weights of a torchvision Bottleneck ResNet."""
    x = F.relu(_bn(_conv(x, model.conv1), model.bn1))
    x = F.max_pool2d(_pad(x, 3, 2, value=float("-inf")), 3, 2, padding=0)
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in layer:
            out = F.relu(_bn(_conv(x, block.conv1), block.bn1))
            out = F.relu(_bn(_conv(out, block.conv2), block.bn2))
            out = _bn(_conv(out, block.conv3), block.bn3)
            shortcut = x if block.downsample is None else _bn(_conv(x, block.downsample[0]), block.downsample[1])
            x = F.relu(out + shortcut)
    return x.mean(dim=(2, 3))


def _randomize(model: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2 / m.weight[0].numel()) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return model.eval()


@pytest.fixture(scope="module")
def same_weights() -> tuple[nn.Module, nn.Module, nn.Module]:
    """(plain torchvision ResNet-50 with random weights and BN statistics, tf_resnet50, resnet50) sharing them."""
    tv = _randomize(torchvision.models.resnet50(), seed=0)
    tv.fc = nn.Identity()
    tf_model, _ = create_backbone("tf_resnet50")
    plain, _ = create_backbone("resnet50")
    tf_model.load_state_dict(tv.state_dict(), strict=True)
    plain.load_state_dict(tv.state_dict(), strict=True)
    return tv, tf_model.eval(), plain.eval()


def _close(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).abs().max() / want.abs().max())


@pytest.mark.parametrize("size", [(64, 64), (65, 65), (70, 57)], ids=["64px", "65px", "70x57px"])
def test_tf_resnet50_matches_the_functional_haiku_reference(same_weights, size: tuple[int, int]) -> None:
    tv, tf_model, _ = same_weights
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got, want = tf_model(x), reference_forward(tv, x)
    assert got.shape == want.shape == (2, 2048)
    assert want.abs().max() > 0.1
    assert _close(got, want) < 1e-5


def test_torchvision_padding_differs_at_even_sizes_and_agrees_at_all_odd_sizes(same_weights) -> None:
    tv, tf_model, plain = same_weights
    g = torch.Generator().manual_seed(2)
    x_even = torch.randn(2, 3, 64, 64, generator=g)  # 64 -> 32 -> 16 -> 8 -> 4: every stride-2 layer differs
    x_odd = torch.randn(2, 3, 65, 65, generator=g)  # 65 -> 33 -> 17 -> 9 -> 5: 'SAME' is symmetric throughout
    with torch.no_grad():
        assert _close(plain(x_even), reference_forward(tv, x_even)) > 1e-2
        assert _close(plain(x_even), tf_model(x_even)) > 1e-2
        assert _close(plain(x_odd), tf_model(x_odd)) < 1e-5
