"""What an option's value may be: one rule for a value typed on the command line and for the same option in a
recipe file (`nlpt pretrain --config`), so that neither accepts what the other refuses.

The callers word the refusal in their own terms (the command line names the option and echoes the text, a
recipe names the file and the key), from the problem `ValueRule.problem` reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class ValueRule:
    """An option's kind (int, float, bool, str, or list for a list of paths) and, for numbers, its bounds: `low` is
    excluded with `low_open` (a budget or a rate that must be above 0, where any positive value is meaningful)."""

    kind: type
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False

    def problem(self, number) -> Optional[str]:
        """None when the number is accepted; "finite" for nan or ±inf; "range" when outside the bounds."""
        if isinstance(number, float) and not math.isfinite(number):
            return "finite"
        below = self.low is not None and (number <= self.low if self.low_open else number < self.low)
        if below or (self.high is not None and number > self.high):
            return "range"
        return None
