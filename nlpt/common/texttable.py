"""Aligned plain-text tables: every table nlpt prints (`params`, `compare`, `finetune`'s results).

Plain text reads the same on a terminal, in a pipe and in a Slurm log, survives `grep`/`cut`/`awk`, and costs
nothing to import (rich's tables cost `nlpt params` a third of its start-up). On a terminal, unless NO_COLOR is
set, titles are bold and notes dim; the text is otherwise identical.
"""

from __future__ import annotations

import os


def layout(rows: list, right: tuple = (), gap: int = 2) -> list:
    """Rows of cell texts as lines: each column padded to its widest cell, the columns in `right` right-aligned,
    trailing blanks stripped. Rows may be shorter than others (missing cells are empty)."""
    ncol = max((len(r) for r in rows), default=0)
    widths = [max((len(r[i]) for r in rows if i < len(r)), default=0) for i in range(ncol)]
    lines = []
    for r in rows:
        cells = [(c.rjust(w) if i in right else c.ljust(w)) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append((" " * gap).join(cells).rstrip())
    return lines


class Style:
    """ANSI bold and dim when writing to a terminal (and NO_COLOR is unset); the plain text otherwise."""

    def __init__(self, stream=None, enabled: bool | None = None):
        if enabled is None:
            isatty = getattr(stream, "isatty", None)
            enabled = bool(isatty and isatty()) and not os.environ.get("NO_COLOR")
        self.enabled = enabled

    def bold(self, text: str) -> str:
        return f"\x1b[1m{text}\x1b[0m" if self.enabled and text else text

    def dim(self, text: str) -> str:
        return f"\x1b[2m{text}\x1b[0m" if self.enabled and text else text


class TextTable:
    """A titled table: an optional header (underlined), rows of cells, notes printed under it.

    A row of one cell is a section line (it takes no width from the other columns' alignment); notes stay out of
    the columns so that a long remark does not widen them."""

    def __init__(self, title: str = "", header: list | None = None, right: tuple = (1,)):
        self.title, self.header, self.right = title, list(header or []), right  # right: columns of numbers
        self.rows: list = []
        self.notes: list = []

    def add(self, *cells: str) -> None:
        self.rows.append([str(c) for c in cells])

    def lines(self, style: Style | None = None, indent: int = 2) -> list:
        style = style or Style(enabled=False)
        body = [r for r in self.rows if len(r) > 1]
        grid = ([self.header] if self.header else []) + body
        laid = iter(layout(grid, self.right))
        out = [style.bold(self.title)] if self.title else []
        pad = " " * indent
        if self.header:
            head = next(laid)
            out += [pad + style.bold(head), pad + "-" * len(head)]
        for r in self.rows:
            out.append(pad + (r[0].rstrip() if len(r) == 1 else next(laid)))
        out += [pad + style.dim(n) for n in self.notes]
        return out


def write(blocks: list, style: Style, indent: int = 2) -> None:
    """Writes blocks (strings and TextTables) to stdout, a blank line before each table after the first block."""
    import sys

    out: list = []
    for b in blocks:
        if isinstance(b, TextTable):
            out += ([""] if out else []) + b.lines(style, indent)
        else:
            out.append(b)
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
