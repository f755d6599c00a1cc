"""JSON as nlpt writes it, to stdout and into files: never NaN or Infinity.

Python's `json` writes a non-finite float as the bare words NaN or Infinity, which are not JSON (strict
readers such as `jq` refuse the whole document) and which would carry a broken figure into an output
silently. Every JSON nlpt writes goes through `dumps`: a non-finite number becomes null and a warning on
stderr names where it was (`summary: training.gpu_hours is inf, written as null`), so the document stays
valid and the gap is seen.
"""

from __future__ import annotations

import json
import math


def finite_or_none(value, found: list | None = None, where: str = ""):
    """`value` with every non-finite float (at any depth of dicts, lists and tuples) replaced by None; `found`, when
    given, collects (path, value) of each, the path written as `a.b[2]`."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        if found is not None:
            found.append((where, value))
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v, found, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v, found, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def dumps(obj, what: str = "output", **kwargs) -> str:
    """`json.dumps(obj, **kwargs)`, with non-finite numbers written as null and warned about (`what` names the
    document in the warning: a file, or "summary")."""
    try:
        return json.dumps(obj, allow_nan=False, **kwargs)
    except ValueError:
        pass  # a NaN or an infinity somewhere: find each, warn, write null
    from nlpt.common.progress import warn

    found: list = []
    clean = finite_or_none(obj, found)
    for where, value in found:
        warn(f"{what}: {where or 'value'} is {value}, written as null")
    return json.dumps(clean, allow_nan=False, **kwargs)
