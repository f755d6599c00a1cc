"""A command group that runs a default subcommand when none is named.

`nlpt vocab FILE...` counts words, while `nlpt vocab merge A B` merges count
files: the group falls back to `count` when the first argument is not one of
its subcommands.
"""

from __future__ import annotations

from typer.core import TyperGroup


class DefaultGroup(TyperGroup):
    default_command = "count"
    needs_torch: str | None = None  # the group's name when its subcommands need torch (`pretrain`, `finetune`)
    torch_free: tuple = ()  # its subcommands that do not

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = [self.default_command, *args]
        if self.needs_torch and args and args[0] not in self.torch_free and not {"-h", "--help"} & set(args):
            from nlpt.cli.options import need_torch

            need_torch(self.needs_torch)  # the install line comes first, not "Missing option '--tokenizer'"
        return super().parse_args(ctx, args)
