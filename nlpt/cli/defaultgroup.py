"""A command group that runs a default subcommand when none is named.

`nlpt vocab FILE...` counts words, while `nlpt vocab merge A B` merges count
files: the group falls back to `count` when the first argument is not one of
its subcommands.
"""

from __future__ import annotations

from typer.core import TyperGroup


class DefaultGroup(TyperGroup):
    default_command = "count"

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)
