"""The stage grid of a fixed order: Checkmate's frontier-advancing stages, Moccasin's fixed-order grid.

Stage t recomputes some nodes at order positions below t, in increasing position, then
computes order[t] for the first time. Event (stage, position) is numbered
stage*(stage+1)/2 + position (the Moccasin paper's numbering), so events are in schedule
order. Shared by the staged heuristics, the fixed-order Moccasin model and the warm starts.
"""

from __future__ import annotations

import numpy as np


def stage_event(stage: np.ndarray | int, position: np.ndarray | int):
    """Event index of (stage, order position) on the stage grid: stage*(stage+1)/2 + position."""
    return stage * (stage + 1) // 2 + position


def event_stage_position(event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `stage_event` (vectorised)."""
    event = np.asarray(event, dtype=np.int64)
    stage = (np.sqrt(8.0 * event + 1.0).astype(np.int64) - 1) // 2
    stage += stage_event(stage + 1, 0) <= event  # guard float rounding both ways
    stage -= stage_event(stage, 0) > event
    return stage, event - stage_event(stage, 0)


def grid_positions(schedule: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(stage, order position) of every step when `schedule` is staged along `order` (stage t
    recomputes earlier nodes in increasing position, then computes order[t] the first time);
    None when it is not."""
    s = np.asarray(schedule, dtype=np.int64)
    n = len(order)
    position = np.empty(n, dtype=np.int64)
    position[np.asarray(order, dtype=np.int64)] = np.arange(n)
    stages = np.empty(len(s), dtype=np.int64)
    stage, last = 0, -1  # the stage being filled, position of its last recomputation
    seen = np.zeros(n, dtype=bool)
    for j, v in enumerate(s.tolist()):
        k = int(position[v])
        stages[j] = stage
        if not seen[v]:
            if k != stage:
                return None
            seen[v] = True
            stage, last = stage + 1, -1
        elif last < k < stage:
            last = k
        else:
            return None
    return (stages, position[s]) if stage == n else None
