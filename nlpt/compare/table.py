"""One row model for every comparison, rendered as aligned text, Markdown, CSV or JSON.

A `Table` holds records (one dict per compared item, exact values: integers stay
integers, floats unrounded, lists where structure helps) and the `Column`s that
show them. JSON prints the records whole; CSV one line per record with the
columns' raw values under their keys; text and Markdown the columns'
formatted cells, either one line per record or transposed (one line per
column, one column per item: the lecture's layout for taxonomies). All four
read the same records, so they carry the same numbers.

Non-finite floats never reach an output silently: JSON gets null, CSV an empty
cell, text "nan"/"inf", and a note names each one.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from nlpt.common.texttable import Style, layout

FORMATS = ("table", "json", "markdown", "csv")


@dataclass
class Column:
    key: str  # the record's key (also the CSV header)
    header: str  # what text and Markdown show
    fmt: Optional[Callable[[Any], str]] = None  # value -> cell text (None: str, thousands separators for ints)
    text: Optional[Callable[[dict], Optional[str]]] = None  # record -> cell text, when it needs other fields
    align: str = "right"  # left | right (records layout)
    missing: str = "-"  # cell text for None
    optional: bool = False  # hidden in text/Markdown/CSV when every record lacks it

    def cell(self, record: dict) -> str:
        if self.text is not None:
            shown = self.text(record)
            return self.missing if shown is None else shown
        value = record.get(self.key)
        if value is None:
            return self.missing
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if self.fmt is not None:
            return self.fmt(value)
        return default_text(value)

    def raw(self, record: dict) -> Any:
        """The CSV value: numbers and strings as they are, structures as their cell text."""
        value = record.get(self.key)
        if self.key not in record and self.text is not None:  # a column shown from other fields: its text
            shown = self.text(record)
            return "" if shown is None else shown
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return ""
        if isinstance(value, (list, tuple, dict)) or isinstance(value, bool):
            return self.cell(record)
        return value


def default_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(default_text(v) for v in value)
    return str(value)


@dataclass
class Table:
    kind: str  # architectures | vectors | context | runs
    rows: list
    columns: list
    title: str = ""
    notes: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)  # top-level JSON fields (evaluation files, word, contexts)
    transpose: bool = False  # text/Markdown: one line per column, one column per record

    def shown(self) -> list:
        return [c for c in self.columns if not (c.optional and all(r.get(c.key) is None for r in self.rows))]

    def all_notes(self) -> list:
        from nlpt.common.jsontext import finite_or_none

        found: list = []
        finite_or_none(self.rows, found, "rows")
        return list(self.notes) + [f"{where} is not finite ({value}); shown empty in CSV and null in JSON"
                                   for where, value in found]


def _grid(table: Table) -> list:
    """Header line + body lines of cell texts, in the table's orientation."""
    cols = table.shown()
    if not table.transpose:
        return [[c.header for c in cols]] + [[c.cell(r) for c in cols] for r in table.rows]
    first, rest = cols[0], cols[1:]
    return [[first.header] + [first.cell(r) for r in table.rows]] + [[c.header] + [c.cell(r) for r in table.rows]
                                                                    for c in rest]


def _left(table: Table) -> list:
    cols = table.shown()
    if table.transpose:
        return [True] * (len(table.rows) + 1)
    return [c.align == "left" for c in cols]


def to_text(table: Table, style: Style | None = None) -> str:
    """Aligned plain-text columns, then the notes; with a terminal's `style` the title and header bold, the notes dim
    (the text is otherwise the same in a pipe, a log and a terminal)."""
    style = style or Style(enabled=False)
    grid, left = _grid(table), _left(table)
    out = [style.bold(table.title)] if table.title else []
    head, *body = layout(grid, right=tuple(i for i, lf in enumerate(left) if not lf))
    out += [style.bold(head), *body]
    out += [style.dim(n) for n in table.all_notes()]
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(table: Table) -> str:
    """A GitHub-flavoured Markdown table, then the notes as a list."""
    grid, left = _grid(table), _left(table)
    out = []
    if table.title:
        out += [f"**{_md_cell(table.title)}**", ""]
    out.append("| " + " | ".join(_md_cell(c) for c in grid[0]) + " |")
    out.append("|" + "|".join(":---" if lf else "---:" for lf in left) + "|")
    for line in grid[1:]:
        out.append("| " + " | ".join(_md_cell(c) for c in line) + " |")
    notes = table.all_notes()
    if notes:
        out.append("")
        out += [f"- {_md_cell(n)}" for n in notes]
    return "\n".join(out) + "\n"


def to_csv(table: Table) -> str:
    """One line per record under the columns' keys; raw numbers (no separators, no rounding)."""
    cols = table.shown()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.key for c in cols])
    for r in table.rows:
        w.writerow([c.raw(r) for c in cols])
    return buf.getvalue()


def to_json(table: Table) -> str:
    """{"comparison": kind, ...meta, "rows": [records], "notes": [...]}: strict JSON (no NaN)."""
    from nlpt.common.jsontext import finite_or_none

    doc = {"comparison": table.kind, **finite_or_none(table.meta), "rows": finite_or_none(table.rows),
           "notes": table.all_notes()}
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def render(table: Table, fmt: str) -> str:
    """The table as text in one of FORMATS ("table" = aligned plain text)."""
    return {"table": to_text, "json": to_json, "markdown": to_markdown, "csv": to_csv}[fmt](table)
