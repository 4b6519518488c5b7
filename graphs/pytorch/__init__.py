"""Real PyTorch training graphs: extraction, cost models and scheduled execution.

- `trace`   : MODULE:FACTORY -> one training step (model + loss) -> the joint forward +
              backward FX graph, traced with fake tensors (AOT autograd).
- `extract` : the FX graph -> a moccasin-bench Graph (views folded into their producers,
              parameters, buffers, batch, step outputs and optimizer state as fixed bytes).
- `costs`   : node durations, by FLOPs and bytes moved (`flops`) or measured (`profile`).
- `execute` : run one real step in a schedule's order, recomputing and freeing as it says,
              and measure its memory and time.
- `models`  : the catalogue's architectures in plain torch.nn.

Only this package imports torch, and only when one of these modules is used: the
catalogue graphs it produced (graphs/catalogue/*.json.gz) load without torch. See
docs/pytorch.md for the folding rules, the cost models and the execution semantics.
"""

from __future__ import annotations

from moccasin_bench.errors import UserError

TORCH_HINT = (
    "install the CPU build: pip install 'torch==2.13.0+cpu' (add --index-url https://download.pytorch.org/whl/cpu "
    "where your package index does not carry it)"
)


def require_torch():
    """The torch module, or a one-line UserError saying how to install it."""
    try:
        import torch
    except ImportError as exc:
        raise UserError(f"PyTorch is not installed ({exc}); {TORCH_HINT}") from None
    return torch
