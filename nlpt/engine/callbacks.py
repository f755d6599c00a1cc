"""What the training loop calls after each validation: the `Callback` protocol and `KeepBest`.

`train_loop(..., callbacks=[...])` calls `after_validation` on each, in order,
after it has written the validation line; a callback that returns True stops
the run at that step (checkpoint saved, `state.stopped_early`). A callback's
`state_dict()` is saved in every checkpoint (list `"callbacks"` of state.pt, in
order) and restored by whoever resumes the run, so a resumed run decides
exactly as an uninterrupted one.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Protocol


class Callback(Protocol):
    def after_validation(self, model: Any, state: Any, val: dict, write: Callable[[str, dict], None]) -> bool:
        """`val`: this step's validation metrics (every rank sees the same); `write(split, metrics)` appends a
        metrics.jsonl line for another split at this step. Return True to stop training now."""
        ...

    # optional: def state_dict(self) -> dict  /  def load_state_dict(self, state: dict) -> None


class KeepBest:
    """Best-on-validation weights and early stopping.

    After each validation: when `metric` improved (higher is better unless `higher=False`; a tie is broken
    by a lower "loss"), `save_best(model, state)` runs (on rank 0: the caller's function decides where the
    weights go); after `patience` validations without improvement it asks the loop to stop. None disables
    early stopping."""

    def __init__(self, metric: str, save_best: Callable[[Any, Any], None], patience: Optional[int] = None,
                 higher: bool = True, main: bool = True):
        self.metric, self.save_best, self.patience, self.higher, self.main = metric, save_best, patience, higher, main
        self.best: Optional[dict] = None  # {"step", metric, "loss"}
        self.stale = 0

    def _score(self, val: dict) -> float:
        v = val.get(self.metric)
        if v is None or not math.isfinite(v):
            return -math.inf
        return v if self.higher else -v

    def improved(self, val: dict) -> bool:
        if self.best is None:
            return True
        new, old = self._score(val), self._score(self.best)
        return new > old or (new == old and val.get("loss", math.inf) < self.best.get("loss", math.inf))

    def after_validation(self, model, state, val: dict, write) -> bool:
        if self.improved(val):
            self.best = {"step": int(state.step), self.metric: val.get(self.metric), "loss": val.get("loss")}
            self.stale = 0
            if self.main:
                self.save_best(model, state)
        else:
            self.stale += 1
        return self.patience is not None and self.stale >= self.patience

    def state_dict(self) -> dict:
        return {"best": self.best, "stale": self.stale}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.stale = state.get("best"), int(state.get("stale", 0))
