"""Factories for the PyTorch tests: a user's own model (bare, no inputs) and broken ones.

Imported only by torch-using tests (and as MODULE:FACTORY strings by the CLI)."""

from __future__ import annotations

import torch
from torch import nn


class Bare(nn.Module):
    def __init__(self, dim: int = 5) -> None:
        super().__init__()
        self.lin = nn.Linear(dim, 3)

    def forward(self, x):
        return torch.sigmoid(self.lin(x))


def bare(input_shape=(5,)):
    """Only the model: the batch comes from --input-shape and --batch, the loss is the default."""
    torch.manual_seed(0)
    return Bare(input_shape[-1])


def raises(batch: int = 2):
    raise ValueError("no weights for you")


def not_a_model():
    return 42


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        h = self.lin(x)
        if h.sum() > 0:  # control flow on a value: cannot be traced with fake tensors
            return h.square().mean()
        return h.abs().mean()


def untraceable():
    return DataDependent(), (torch.randn(2, 4),)


class ConvBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x)))
        return self.fc(h.mean(dim=(2, 3)))


def conv_bn(batch: int = 4):
    """Convolution, batch norm (buffer updates), ReLU, linear, cross-entropy; no dropout, so
    the interpreted step can be checked against an eager autograd step."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 3, 8, 8, generator=g)
    y = torch.randint(0, 5, (batch,), generator=g)
    return ConvBN(), (x,), (y,), nn.functional.cross_entropy


def exits(batch: int = 2):
    """A factory that ends the process."""
    import sys

    sys.exit(7)


def prints(batch: int = 2):
    """A factory that talks on stdout (Python and C level) while it builds the model."""
    import os

    print("hello from the factory")
    os.write(1, b"raw bytes on fd 1\n")
    torch.manual_seed(0)
    return nn.Linear(4, 2), (torch.randn(batch, 4),)


class DictOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 2)

    def forward(self, x):
        return {"logits": self.lin(x)}


def dict_output():
    """A model whose output is a dict, and no loss to make a scalar of it."""
    torch.manual_seed(0)
    return DictOut(), (torch.randn(2, 4),)


class NaNLoss(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 2)

    def forward(self, x):
        return torch.sqrt(self.lin(x) - 100.0).sum()  # sqrt of negatives: NaN loss and gradients


def nan_loss(batch: int = 2):
    torch.manual_seed(0)
    return NaNLoss(), (torch.randn(batch, 4),)


def six_layer_gpt(batch: int = 2, seq: int = 32):
    """A 6-layer, width-64 GPT: enough blocks for block-level checkpointing to lower the peak."""
    from graphs.pytorch.models import gpt

    return gpt(batch=batch, seq=seq, layers=6, dim=64, heads=4, vocab=256)


def small_llama_bf16():
    """The small Llama-style decoder in bfloat16, as the catalogue's pt-llama."""
    from graphs.pytorch.models import small_llama

    return small_llama(dtype="bfloat16")
