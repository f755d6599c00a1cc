"""`--tensorboard DIR`: the scalars of metrics.jsonl, also as TensorBoard event files.

metrics.jsonl stays the record of a run; this writes the same numbers, each
line's numeric fields as scalars tagged `SPLIT/NAME` ("train/loss", "train/lr",
"train/grad_norm", "train/tokens_per_s", "train/mfu", "train/max_memory_bytes",
"val/loss", "val/ppl", ...) at the line's step, so `tensorboard --logdir DIR`
plots a run while it trains. The package is the optional extra
`nlpt[tensorboard]`; its absence is reported before any work.
"""

from __future__ import annotations

from typing import Optional

from nlpt.common.errors import NlptError
from nlpt.common.output import os_reason

INSTALL = "pip install 'nlpt[tensorboard]'"
_NOT_SCALARS = {"step", "split"}


def check_available() -> None:
    """NlptError naming the install command when the tensorboard package cannot be imported."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise NlptError(f"--tensorboard needs the tensorboard package: {INSTALL}") from None


class EventLog:
    """A SummaryWriter opened on the first record; every record is flushed, so a killed run loses nothing."""

    def __init__(self, directory: str):
        self.directory = directory
        self._writer: Optional[object] = None

    def write(self, record: dict) -> None:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            try:
                self._writer = SummaryWriter(log_dir=self.directory)
            except OSError as exc:
                raise NlptError(f"{self.directory}: cannot write TensorBoard events "
                                f"({os_reason(exc)})") from None
        split = record.get("split", "train")
        step = int(record.get("step", 0))
        for key, value in record.items():
            if key in _NOT_SCALARS or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            self._writer.add_scalar(f"{split}/{key}", value, step)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
