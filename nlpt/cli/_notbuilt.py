"""Placeholder behaviour for subcommands that later issues build."""

from nlpt.common.errors import NlptError


def not_built(name: str) -> None:
    raise NlptError(f"`nlpt {name}` is not built yet in this version; the status table in README.md lists what is built")
