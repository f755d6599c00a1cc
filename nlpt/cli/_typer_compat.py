"""Work-arounds for typer versions, kept in one place.

Typer 0.29 coerces every parameter value through a pydantic TypeAdapter, and
importing pydantic costs ~0.1 s and ~5 MB of memory in every command. nlpt's
parameters are nearly all plain scalars (str, int, float, bool, with min/max)
or lists of str, which a few lines coerce exactly as well: `PlainCoercion`
does that for every command of the app (installed by `install()`, which
`nlpt.cli` runs at import). Parameters of any other kind (enums, paths with
checks, custom parsers, files, tuples) keep typer's own coercion. Without the
private hooks (other typer versions) nothing is patched.
"""

from __future__ import annotations

_PLAIN = (str, int, float, bool)


class PlainCoercion:
    """Converts command-line values to str/int/float/bool (or a list of them) and checks min/max, without pydantic.

    Implements the `coerce(value, param, ctx)` contract of typer's runtime parameters:
    None stays None (or () for a multi-valued parameter), bad values raise `BadParameter`.
    """

    _NAMES = {int: "integer", float: "float", str: "string", bool: "boolean"}

    def __init__(self, annotation: type, info, many: bool = False) -> None:
        self.annotation = annotation
        self.many = many
        self.min = getattr(info, "min", None)
        self.max = getattr(info, "max", None)
        self.clamp = bool(getattr(info, "clamp", False))

    def coerce(self, value, param=None, ctx=None):
        if value is None:
            return () if self.many else None
        if self.many:
            if isinstance(value, (str, bytes)):
                from typer import BadParameter

                raise BadParameter("Value must be an iterable.", ctx=ctx, param=param)
            return [self._one(v, param, ctx) for v in value]
        return self._one(value, param, ctx)

    def _one(self, value, param, ctx):
        from typer import BadParameter

        t = self.annotation
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if t is str:
            return str(value)
        if t is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "t", "yes", "y", "on"):
                return True
            if text in ("0", "false", "f", "no", "n", "off", ""):
                return False
            raise BadParameter(f"{value!r} is not a valid boolean.", ctx=ctx, param=param)
        try:
            if isinstance(value, bool):
                raise ValueError
            out = t(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError, OverflowError):
            raise BadParameter(f"{value!r} is not a valid {self._NAMES[t]}.", ctx=ctx, param=param) from None
        if t is float and out != out:
            raise BadParameter(f"{value!r} is not a valid float.", ctx=ctx, param=param)
        if self.clamp:
            if self.min is not None and out < self.min:
                return t(self.min)
            if self.max is not None and out > self.max:
                return t(self.max)
            return out
        if (self.min is not None and out < self.min) or (self.max is not None and out > self.max):
            lo = f"{self.min}<=" if self.min is not None else ""
            hi = f"<={self.max}" if self.max is not None else ""
            rng = f"x>={self.min}" if not hi else f"{lo}x{hi}"
            raise BadParameter(f"{out} is not in the range {rng}.", ctx=ctx, param=param)
        return out


def plain_coercion_for(param) -> PlainCoercion | None:
    """A `PlainCoercion` for a typer parameter of a plain type (see the module docstring), else None."""
    desc = getattr(param, "type_descriptor", None)
    if desc is None or not hasattr(param, "_runtime_param"):
        return None  # another typer version: keep its own coercion
    info = desc.parameter_info
    if getattr(desc, "file_annotation", None) is not None or getattr(info, "parser", None) is not None:
        return None
    try:
        if desc.is_choice or desc.is_path:
            return None
    except Exception:  # noqa: BLE001 - an unexpected descriptor: leave it to typer
        return None
    ann = desc.annotation
    if ann in _PLAIN:
        if param.nargs == 1 and not param.multiple:
            return PlainCoercion(ann, info)
        return None
    from typing import get_args, get_origin

    if get_origin(ann) is list and (param.multiple or param.nargs == -1):
        args = get_args(ann)
        if len(args) == 1 and args[0] in (str, int, float):
            return PlainCoercion(args[0], info, many=True)
    return None


class _NoneCoercion:
    def coerce(self, value, param=None, ctx=None):
        return None


def install() -> None:
    """Patch typer's parameter class so plain parameters skip the pydantic adapter (idempotent).

    Plain parameters get a `PlainCoercion` on first use; for the others a missing
    (None) single value skips building the adapter (typer maps None to None anyway).
    """
    from typer import core

    cls = getattr(core, "_TyperParameter", None)
    original = getattr(cls, "process_value", None)
    if original is None or getattr(original, "_nlpt_fast", False):
        return

    def process_value(self, ctx, value):
        if getattr(self, "_runtime_param", 0) is None:
            plain = plain_coercion_for(self)
            if plain is not None:
                self._runtime_param = plain
            elif value is None and not (self.multiple or self.nargs == -1):
                self._runtime_param = _NoneCoercion()
                try:
                    return original(self, ctx, value)
                finally:
                    self._runtime_param = None
        return original(self, ctx, value)

    process_value._nlpt_fast = True
    cls.process_value = process_value


# The name `nlpt.cli` calls at import.
