"""Task files: labelled rows from TSV, CSV or JSONL, and the label mapping saved with a model.

GLUE-style TSV (a header row, tab-separated, no quoting) works as is; CSV follows RFC 4180
quoting; JSONL has one object per line. Columns are chosen by name. A row with a missing
column, an empty text or an unusable label is skipped and counted — or, with `strict`, is an
error naming the file and line. No torch here: the reader is shared by training and `predict`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

from nlpt.common.errors import NlptError, UsageError
from nlpt.finetune.choices import FORMATS

_EXTENSIONS = {".tsv": "tsv", ".tab": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}

# Column names tried, in order, when the user names none (GLUE, SICK, common CSV conventions).
TEXT_COLUMNS = ("text", "sentence", "sentence1", "sentence_A", "question1", "premise")
PAIR_COLUMNS = {"sentence1": "sentence2", "sentence_A": "sentence_B", "question1": "question2", "premise": "hypothesis"}
LABEL_COLUMNS = ("label", "gold_label")


def detect_format(path: str, fmt: str | None) -> str:
    """The format given, else the one the file extension says; an unknown one is an error."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise UsageError(f"unknown --format {fmt!r} (choose from {', '.join(FORMATS)})")
        return fmt
    ext = os.path.splitext(path)[1].lower()
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    what = f"extension {ext!r}" if ext else "no extension"
    raise NlptError(f"{path}: unknown task file format ({what}); name it .tsv/.csv/.jsonl or pass --format {'|'.join(FORMATS)}")


def _open_text(path: str) -> io.TextIOBase:
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="")
    if not os.path.exists(path):
        raise NlptError(f"{path}: no such file")
    if os.path.isdir(path):
        raise NlptError(f"{path}: is a directory, expected a task file")
    return open(path, encoding="utf-8", newline="")


class Nested(str):
    """A JSONL value that is a list or an object, kept as its JSON text: fine in a column the task does not use,
    a malformed row where the text or the label is expected."""


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return Nested(json.dumps(value, ensure_ascii=False))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


EXTRA_CELLS = object()  # key of a row dict: how many cells a TSV/CSV row has beyond its header's columns


def read_rows(path: str, fmt: str) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header (column names) and an iterator of (line number, {column: value}).

    A TSV/CSV row shorter than the header lacks the last columns (they are absent from the dict); one longer
    than the header has its extra cells counted under `EXTRA_CELLS`.
    """
    fh = _open_text(path)
    try:
        if fmt == "jsonl":
            return _jsonl_rows(path, fh)
        # strict: a quote left open (which would swallow every later line into one cell) or text after a closing
        # quote is an error, not a silently merged row; quoted cells spanning lines stay allowed
        reader = (csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE, strict=True) if fmt == "tsv"
                  else csv.reader(fh, strict=True))
        try:
            header = next(reader)
        except StopIteration:
            raise NlptError(f"{path}: empty file (expected a header row)") from None
        header = [name.strip().lstrip("\ufeff") for name in header]
    except UnicodeDecodeError:
        fh.close()
        raise NlptError(f"{path}: not UTF-8 text") from None
    except csv.Error as exc:
        fh.close()
        raise NlptError(f"{path}: not {fmt.upper()}: {exc}") from None

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        with fh:
            start = reader.line_num + 1  # the line the next row starts on
            try:
                for row in reader:
                    if row and not (len(row) == 1 and not row[0].strip()):
                        cells = {name: value for name, value in zip(header, row)}
                        if len(row) > len(header):
                            cells[EXTRA_CELLS] = len(row) - len(header)
                        yield reader.line_num, cells
                    start = reader.line_num + 1
            except UnicodeDecodeError:
                raise NlptError(f"{path}:{reader.line_num + 1}: not UTF-8 text") from None
            except csv.Error as exc:
                if "unexpected end of data" in str(exc):
                    raise NlptError(f"{path}:{start}: a quoted cell opened in this row is never closed") from None
                raise NlptError(f"{path}:{reader.line_num}: bad {fmt.upper()} row: {exc}") from None

    return header, rows()


def _jsonl_rows(path: str, fh) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    # JSONL has no header: the columns are the keys of the first object (later objects may lack some).
    lines = enumerate(fh, 1)
    first: tuple[int, dict] | None = None
    try:
        for lineno, line in lines:
            if line.strip():
                first = (lineno, _json_object(path, lineno, line))
                break
    except UnicodeDecodeError:
        fh.close()
        raise NlptError(f"{path}: not UTF-8 text") from None
    if first is None:
        fh.close()
        raise NlptError(f"{path}: empty file (expected one JSON object per line)")
    header = list(first[1])

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        with fh:
            yield first[0], {k: _cell(v) for k, v in first[1].items()}
            lineno = first[0]
            try:
                for lineno, line in lines:
                    if line.strip():
                        yield lineno, {k: _cell(v) for k, v in _json_object(path, lineno, line).items()}
            except UnicodeDecodeError:
                raise NlptError(f"{path}:{lineno + 1}: not UTF-8 text") from None

    return header, rows()


def _json_object(path: str, lineno: int, line: str) -> dict:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise NlptError(f"{path}:{lineno}: not a JSON object ({exc.msg}); JSONL needs one object per line") from None
    if not isinstance(obj, dict):
        raise NlptError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
    return obj


@dataclass
class Columns:
    """Which columns hold the text, the optional second text of a pair, and the label."""

    text: str
    pair: str | None
    label: str

    @classmethod
    def resolve(cls, path: str, header: list[str], text: str | None, pair: str | None, label: str | None, need_label: bool = True) -> "Columns":
        """The named columns, or the conventional ones present in `header`; missing ones are errors."""
        available = ", ".join(header) if header else "none"
        if text is None:
            text = next((name for name in TEXT_COLUMNS if name in header), None)
            if text is None:
                raise NlptError(f"{path}: no text column found (columns: {available}); name it with --text-column")
            if pair is None and PAIR_COLUMNS.get(text) in header:
                pair = PAIR_COLUMNS[text]
        if label is None:
            label = next((name for name in LABEL_COLUMNS if name in header), None)
            if label is None and need_label:
                raise NlptError(f"{path}: no label column found (columns: {available}); name it with --label-column")
        columns = cls(text, pair, label or "label")
        columns.check(path, header, need_label)
        return columns

    def check(self, path: str, header: list[str], need_label: bool = True) -> None:
        wanted = [("--text-column", self.text), ("--pair-column", self.pair)]
        if need_label:
            wanted.append(("--label-column", self.label))
        for option, name in wanted:
            if name is not None and name not in header:
                raise NlptError(f"{path}: no column {name!r} ({option}); columns: {', '.join(header) or 'none'}")


@dataclass
class Split:
    """The usable rows of one file: texts, optional pair texts, raw labels, and what was skipped."""

    name: str
    path: str
    texts: list[str]
    pairs: list[str] | None
    labels: list[str]
    lines: list[int]
    skipped: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)  # rows kept, with something ignored (counted by what)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, name: str, indices) -> "Split":
        take = list(indices)
        return Split(
            name,
            self.path,
            [self.texts[i] for i in take],
            None if self.pairs is None else [self.pairs[i] for i in take],
            [self.labels[i] for i in take],
            [self.lines[i] for i in take],
        )


def read_split(name: str, path: str, fmt: str | None, columns: Columns | None, text: str | None = None,
               pair: str | None = None, label: str | None = None, regression: bool = False,
               strict: bool = False, need_label: bool = True) -> tuple[Split, Columns]:
    """Read one task file. `columns` (from the training file) wins over the names given."""
    fmt = detect_format(path, fmt)
    header, rows = read_rows(path, fmt)
    if columns is None:
        columns = Columns.resolve(path, header, text, pair, label, need_label)
    else:
        columns.check(path, header, need_label)
    split = Split(name, path, [], None if columns.pair is None else [], [], [])

    def skip(lineno: int, reason: str) -> None:
        if strict:
            raise NlptError(f"{path}:{lineno}: {reason} (--strict)")
        split.skipped[reason] += 1

    for lineno, row in rows:
        extra = row.pop(EXTRA_CELLS, 0)
        if extra and strict:
            raise NlptError(f"{path}:{lineno}: {extra} more cell{'s' if extra > 1 else ''} than the header's "
                            f"{len(header)} columns (--strict)")
        if extra:
            split.notes["with cells beyond the header (ignored)"] += 1
        if columns.text not in row or (columns.pair is not None and columns.pair not in row) or (need_label and columns.label not in row):
            skip(lineno, "missing column")
            continue
        nested = next((what for what, column in (("text", columns.text), ("pair text", columns.pair),
                                                  ("label", columns.label if need_label else None))
                       if column is not None and isinstance(row.get(column), Nested)), None)
        if nested:
            skip(lineno, f"{nested} is a list or object")
            continue
        text_value = row[columns.text].strip()
        pair_value = row[columns.pair].strip() if columns.pair is not None else None
        if not text_value or (columns.pair is not None and not pair_value):
            skip(lineno, "empty text")
            continue
        label_value = row.get(columns.label, "").strip() if need_label else ""
        if need_label:
            if not label_value:
                skip(lineno, "empty label")
                continue
            if regression:
                try:
                    number = float(label_value)
                except ValueError:
                    skip(lineno, "label is not a number")
                    continue
                if not math.isfinite(number):
                    skip(lineno, "label is not a finite number")
                    continue
        split.texts.append(text_value)
        if split.pairs is not None:
            split.pairs.append(pair_value)
        split.labels.append(label_value)
        split.lines.append(lineno)
    if not split.texts and need_label:
        reasons = ", ".join(f"{n} {r}" for r, n in split.skipped.items()) or "no data rows"
        raise NlptError(f"{path}: no usable rows ({reasons})")
    return split, columns


def _label_key(label: str):
    try:
        return (0, int(label), "")
    except ValueError:
        return (1, 0, label)


@dataclass
class LabelMap:
    """Class names in id order (integers sort numerically, then strings); None for regression."""

    labels: list[str] | None

    @classmethod
    def from_training(cls, split: Split, regression: bool) -> "LabelMap":
        if regression:
            return cls(None)
        labels = sorted(set(split.labels), key=_label_key)
        if len(labels) < 2:
            raise NlptError(f"{split.path}: only one label ({labels[0]!r}) in the training data; classification needs two or more")
        return cls(labels)

    @property
    def regression(self) -> bool:
        return self.labels is None

    @property
    def num_outputs(self) -> int:
        return 1 if self.labels is None else len(self.labels)

    def encode(self, split: Split) -> list:
        """Class ids (or floats for regression); a label not seen in training is an error."""
        if self.labels is None:
            return [float(v) for v in split.labels]
        index = {label: i for i, label in enumerate(self.labels)}
        unseen = [(line, v) for line, v in zip(split.lines, split.labels) if v not in index]
        if unseen:
            line, value = unseen[0]
            more = f" and {len(unseen) - 1} more rows" if len(unseen) > 1 else ""
            raise NlptError(
                f"{split.path}:{line}: label {value!r} does not occur in the training data{more} "
                f"(training labels: {', '.join(self.labels)})"
            )
        return [index[v] for v in split.labels]


def split_off_dev(train: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Hold out a random `fraction` of the training rows as the dev set (deterministic in `seed`)."""
    import random

    n = len(train)
    n_dev = int(round(n * fraction))
    if n_dev < 1 or n_dev >= n:
        raise UsageError(f"--dev-split {fraction} leaves {n_dev} of {n} training rows for dev; need at least one on each side")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    dev_rows, train_rows = sorted(order[:n_dev]), sorted(order[n_dev:])
    new_train = train.subset("train", train_rows)
    new_train.skipped, new_train.notes = train.skipped, train.notes
    return new_train, train.subset("dev", dev_rows)


def describe_skipped(split: Split) -> str | None:
    """'train.tsv: skipped 3 rows (2 empty text, 1 missing column)' or None when nothing was skipped."""
    total = sum(split.skipped.values())
    if not total:
        return None
    reasons = ", ".join(f"{n} {reason}" for reason, n in split.skipped.most_common())
    return f"{split.path}: skipped {total} row{'s' if total != 1 else ''} ({reasons}; --strict makes this an error)"


def describe_notes(split: Split) -> str | None:
    """'train.tsv: 2 rows with cells beyond the header (ignored)' or None."""
    if not split.notes:
        return None
    return f"{split.path}: " + ", ".join(f"{n} row{'s' if n != 1 else ''} {what}" for what, n in split.notes.most_common())


def missing_labels(labels: "LabelMap", split: Split) -> str | None:
    """A note when training labels never occur in a dev or test split (their scores there are undefined)."""
    if labels.regression:
        return None
    absent = [label for label in labels.labels if label not in set(split.labels)]
    if not absent:
        return None
    shown = ", ".join(repr(a) for a in absent[:5]) + (" …" if len(absent) > 5 else "")
    return (f"{split.path}: {len(absent)} of the {len(labels.labels)} training labels never occur in the {split.name} "
            f"split ({shown}); macro-F1 there averages over the labels present or predicted")


def read_lines(path: str, pair: bool, strict: bool = False) -> Split:
    """Plain text for `predict`: one text per line (a pair task: text TAB pair), e.g. from stdin."""
    split = Split("input", path, [], [] if pair else None, [], [])
    fh = _open_text(path)
    with fh:
        lineno = 0
        try:
            for lineno, line in enumerate(fh, 1):
                line = line.rstrip("\r\n")
                text, _, second = line.partition("\t") if pair else (line, "", "")
                if not text.strip() or (pair and not second.strip()):
                    reason = "missing column" if pair and line.strip() and "\t" not in line else "empty text"
                    if strict:
                        raise NlptError(f"{path}:{lineno}: {reason} (--strict)")
                    split.skipped[reason] += 1
                    continue
                split.texts.append(text.strip())
                if pair:
                    split.pairs.append(second.strip())
                split.labels.append("")
                split.lines.append(lineno)
        except UnicodeDecodeError:
            raise NlptError(f"{path}:{lineno + 1}: not UTF-8 text") from None
    return split
