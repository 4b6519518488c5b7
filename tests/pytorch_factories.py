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


def six_layer_gpt(batch: int = 2, seq: int = 32):
    """A 6-layer, width-64 GPT: enough blocks for block-level checkpointing to lower the peak."""
    from graphs.pytorch.models import gpt

    return gpt(batch=batch, seq=seq, layers=6, dim=64, heads=4, vocab=256)
