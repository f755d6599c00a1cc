"""Modules that `--help`, option parsing, `nlpt params` and `pretrain --dry-run`'s set-up import stay free of
torch and numpy: a fresh interpreter imports them and lists what came with them."""

import json
import subprocess
import sys

from _cli import ROOT

MODULES = ("nlpt.engine.launch", "nlpt.engine.recipe", "nlpt.engine.export", "nlpt.compare.items",
           "nlpt.finetune.choices", "nlpt.common.values", "nlpt.transformer.configs", "nlpt.transformer.registry",
           "nlpt.transformer.hf_config", "nlpt.transformer.config_file", "nlpt.transformer.validate",
           "nlpt.transformer.flags", "nlpt.transformer.report", "nlpt.cli.params_tables")


def test_the_modules_import_no_torch_or_numpy():
    code = ("import importlib, json, sys\n"
            f"for m in {MODULES!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'numpy', 'numba'})))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
