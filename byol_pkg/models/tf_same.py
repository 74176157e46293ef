"""TensorFlow/Haiku ``padding='SAME'`` for PyTorch convolutions and max-pooling.

Why: DeepMind's BYOL networks (Haiku, ``byol/utils/networks.py``) pad every convolution and the stem max-pool
``'SAME'``; torchvision's ResNet pads symmetrically (``padding=k // 2``: 3/3 for the 7x7 stem, 1/1 for the
3x3 convolutions and the 3x3 max-pool). At stride 1 both agree (a 3x3 conv pads 1/1), and a 1x1 convolution
never pads, but at stride 2 'SAME' pads asymmetrically, so the official weights in a plain torchvision ResNet
compute a slightly different function (a one-pixel shift of the sampling grid at every stride-2 layer).

The rule (TensorFlow ``tf.nn.conv2d``/``max_pool`` with ``padding='SAME'``, per spatial dimension of size
``n``, kernel ``k``, stride ``s``, dilation ``d``; effective kernel ``k' = (k - 1) * d + 1``)::

    out   = ceil(n / s)
    total = max((out - 1) * s + k' - n, 0)
    before (top/left) = total // 2,   after (bottom/right) = total - before

Examples: 7x7/2 on 224 px pads 2/3 (225 px: 3/3); 3x3/2 on 56 px pads 0/1 (57 px: 1/1); 3x3/1 pads 1/1.
The padding depends on the input size, so it is applied in ``forward`` with :func:`torch.nn.functional.pad`
and the layer itself runs with ``padding=0``. Convolutions pad with zeros; the max-pool pads with ``-inf``
(TensorFlow's max-pool ignores padded positions, which ``-inf`` reproduces).

:class:`Conv2dSame` and :class:`MaxPool2dSame` subclass ``nn.Conv2d``/``nn.MaxPool2d`` and keep their parameter
names, so :func:`convert_to_same_padding` changes the forward pass of a network but not its state dict.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF 'SAME' padding ``(before, after)`` of one spatial dimension of ``size`` (see the module docstring)."""
    effective = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def pad_same(x: torch.Tensor, kernel: int | tuple[int, int], stride: int | tuple[int, int],
             dilation: int | tuple[int, int] = 1, value: float = 0.0) -> torch.Tensor:
    """Pad the last two dimensions (H, W) of ``x`` as TF 'SAME' would before a ``kernel``/``stride`` window,
    filling with ``value`` (0 for convolutions, ``-inf`` for max-pooling)."""
    (kh, kw), (sh, sw), (dh, dw) = _pair(kernel), _pair(stride), _pair(dilation)
    top, bottom = same_padding(x.shape[-2], kh, sh, dh)
    left, right = same_padding(x.shape[-1], kw, sw, dw)
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TF 'SAME' (input-size-dependent, possibly asymmetric) zero padding; same parameters."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["padding"] = 0
        super().__init__(*args, **kwargs)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> Conv2dSame:
        """A 'SAME' copy of ``conv`` sharing its weight and bias tensors (``padding_mode`` must be zeros)."""
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError(f"Conv2dSame: cannot convert {conv} (padding {conv.padding!r}, mode {conv.padding_mode})")
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, dilation=conv.dilation,
                  groups=conv.groups, bias=conv.bias is not None, device="meta")
        new.weight = conv.weight
        if conv.bias is not None:
            new.bias = conv.bias
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_same(x, self.kernel_size, self.stride, self.dilation)
        return self._conv_forward(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + ", padding='SAME'"


class MaxPool2dSame(nn.MaxPool2d):
    """``nn.MaxPool2d`` with TF 'SAME' padding (``-inf``, input-size dependent, possibly asymmetric)."""

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 dilation: int | tuple[int, int] = 1) -> None:
        super().__init__(kernel_size, stride=stride, padding=0, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_same(x, self.kernel_size, self.stride, self.dilation, value=float("-inf"))
        return F.max_pool2d(x, self.kernel_size, self.stride, 0, self.dilation)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, dilation={self.dilation}, padding='SAME'"


def _differs_from_symmetric(kernel: tuple[int, int], stride: tuple[int, int]) -> bool:
    """Whether 'SAME' can differ from symmetric padding: only a strided window larger than 1 pixel."""
    return any(s > 1 and k > 1 for k, s in zip(kernel, stride))


def convert_to_same_padding(model: nn.Module) -> nn.Module:
    """Give every strided convolution (kernel > 1) and strided max-pool of ``model`` TF 'SAME' padding, in place.

    Stride-1 layers (whose 'SAME' padding is the symmetric ``k // 2`` torchvision already uses) and 1x1
    convolutions (never padded) are left alone. Parameters are shared, not copied, so the state dict keys,
    shapes and values are unchanged. Returns ``model``.
    """
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Conv2d and _differs_from_symmetric(_pair(child.kernel_size), _pair(child.stride)):
                setattr(parent, name, Conv2dSame.from_conv(child))
            elif type(child) is nn.MaxPool2d:
                kernel, stride = _pair(child.kernel_size), _pair(child.stride)
                if not _differs_from_symmetric(kernel, stride):
                    continue
                if child.ceil_mode or child.return_indices:
                    raise ValueError(f"MaxPool2dSame: cannot convert {child} (ceil_mode/return_indices)")
                setattr(parent, name, MaxPool2dSame(kernel, stride, child.dilation))
    return model
