"""Factories that do not describe a training step (issue 25, item 4): each must be refused.

Imported only as MODULE:FACTORY strings by torch-using tests."""

from __future__ import annotations

import torch
from torch import nn


class InplaceParam(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        self.lin.weight.add_(1.0)  # eager PyTorch: "a leaf Variable that requires grad ..."
        return self.lin(x).sum()


def inplace_param():
    return InplaceParam(), (torch.randn(2, 4),)


class InplaceParamData(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        with torch.no_grad():
            self.lin.weight.mul_(0.5)  # legal in eager (an optimizer step inside forward), not a step
        return self.lin(x).sum()


def inplace_param_no_grad():
    return InplaceParamData(), (torch.randn(2, 4),)


def vector_loss():
    lin = nn.Linear(4, 3)
    return lin, (torch.randn(2, 4),), (lambda out: out.sum(0))


class NoGrad(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        with torch.no_grad():
            return self.lin(x).sum()


def no_grad():
    return NoGrad(), (torch.randn(2, 4),)


class Integer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(x).argmax()


def integer_output():
    return Integer(), (torch.randn(2, 4),)


class Detached(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(x).detach().sum()


def detached_loss():
    return Detached(), (torch.randn(2, 4),)


def loss_of_inputs_only():
    """The loss reads the batch, never the model's parameters."""
    lin = nn.Linear(4, 4)
    return lin, (torch.randn(2, 4),), (torch.randn(2, 4),), (lambda out, t: (t * 2).square().mean())


class Parameterless(nn.Module):
    def forward(self, x):
        return torch.relu(x).square().mean()


def no_parameters():
    return Parameterless(), (torch.randn(2, 4),)


class Frozen(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.lin.requires_grad_(False)

    def forward(self, x):
        return self.lin(x).sum()


def frozen():
    return Frozen(), (torch.randn(2, 4, requires_grad=True),)


class Complex(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return torch.complex(self.lin(x), self.lin(x)).sum()


def complex_loss():
    return Complex(), (torch.randn(2, 4),)


def nan_shape_loss():
    """A loss that returns a 1-element tensor of shape (1,): not a scalar."""
    lin = nn.Linear(4, 1)
    return lin, (torch.randn(1, 4),), (lambda out: out.reshape(1))


class ReturnsNone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        self.lin(x)
        return None


def returns_none():
    return ReturnsNone(), (torch.randn(2, 4),)


def string_loss():
    lin = nn.Linear(4, 4)
    return lin, (torch.randn(2, 4),), (lambda out: "low")


class InplaceBuffer(nn.Module):
    """A legitimate buffer update (like BatchNorm's running stats): must still extract."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.register_buffer("count", torch.zeros(4))

    def forward(self, x):
        h = self.lin(x)
        self.count.add_(h.detach().mean(0))
        return h.square().mean()


def inplace_buffer():
    return InplaceBuffer(), (torch.randn(2, 4),)


class HalfPrecisionParam(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(x).sum()


class InplaceOnInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        x.mul_(2)  # the batch is modified: the step is not repeatable
        return self.lin(x).sum()


def inplace_input():
    return InplaceOnInput(), (torch.randn(2, 4),)


class IntParam(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.steps = nn.Parameter(torch.zeros(3, dtype=torch.long), requires_grad=False)

    def forward(self, x):
        return self.lin(x).sum()


def int_parameter():
    return IntParam(), (torch.randn(2, 4),)


class InplaceParamDotData(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        self.lin.weight.data.mul_(0.5)  # .data hides the update from autograd
        return self.lin(x).sum()


def inplace_param_data():
    return InplaceParamDotData(), (torch.randn(2, 4),)


class BufferWithGrad(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.register_buffer("stat", torch.zeros(4))

    def forward(self, x):
        h = self.lin(x)
        self.stat.copy_(h.mean(0))  # not detached: the buffer would carry the graph into the next step
        return h.square().mean()


def buffer_with_grad():
    return BufferWithGrad(), (torch.randn(2, 4),)


class ScalarParam(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(1.0))

    def forward(self, x):
        return self.scale


def loss_is_parameter():
    return ScalarParam(), (torch.randn(2, 4),)


def tuple_loss():
    lin = nn.Linear(4, 4)
    return lin, (torch.randn(2, 4),), (lambda out: (out.sum(), out.mean()))


def bare_linear():
    """A bare model and no keyword arguments: the batch comes from --input-shape."""
    return nn.Linear(4, 3)


class InplaceParamView(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        with torch.no_grad():
            self.lin.weight[0].zero_()  # a view of a parameter changed in place
        return self.lin(x).sum()


def inplace_param_view():
    return InplaceParamView(), (torch.randn(2, 4),)


class OptimizerInside(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.opt = torch.optim.SGD(self.lin.parameters(), lr=0.1)

    def forward(self, x):
        loss = self.lin(x).square().mean()
        self.opt.step()  # an optimizer step inside the step (no gradients yet: a no-op update)
        return loss


def optimizer_inside():
    return OptimizerInside(), (torch.randn(2, 4),)


class GradInside(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        loss = self.lin(x).square().mean()
        (g,) = torch.autograd.grad(loss, self.lin.weight, create_graph=True)
        return loss + g.square().sum()


def grad_inside():
    return GradInside(), (torch.randn(2, 4),)
