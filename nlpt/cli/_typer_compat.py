"""Work-arounds for typer versions, kept in one place.

Typer 0.29 coerces every parameter through a pydantic TypeAdapter, importing
pydantic (~0.1 s) even for flags left at None, such as the root `--help` and
`--version`. The patch below skips that for missing values only; typer maps
None to None anyway, so behaviour is unchanged. Without the private hook
(other typer versions) it does nothing.
"""

from __future__ import annotations


class _NoneCoercion:
    def coerce(self, value, param=None, ctx=None):
        return None


def _skip_adapter_for_missing_values() -> None:
    """Let typer skip building a pydantic adapter for a parameter whose value is None.

    Typer's coercion maps None to None anyway (for single-valued parameters), but it
    first builds the adapter, importing pydantic (~0.1 s) on every run: the root
    `--help`/`--version` flags are None or False on every invocation. Behaviour is
    unchanged; only the import is avoided. 
    """
    from typer import core

    cls = getattr(core, "_TyperParameter", None)
    original = getattr(cls, "process_value", None)
    if original is None or getattr(original, "_nlpt_fast", False):
        return

    def process_value(self, ctx, value):
        if value is None and getattr(self, "_runtime_param", 0) is None and not (self.multiple or self.nargs == -1):
            self._runtime_param = _NoneCoercion()
            try:
                return original(self, ctx, value)
            finally:
                self._runtime_param = None
        return original(self, ctx, value)

    process_value._nlpt_fast = True
    cls.process_value = process_value


