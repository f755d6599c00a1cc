"""Small helpers shared by the corpus/vocab tests."""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")


def nlpt(*args, input=None, env=None, cwd=None, timeout=120):
    """Run `python -m nlpt ARGS` and return the CompletedProcess (text mode unless input is bytes)."""
    full_env = dict(os.environ)
    full_env.pop("NLPT_DEBUG", None)
    if env:
        full_env.update(env)
    binary = isinstance(input, bytes)
    return subprocess.run(
        [sys.executable, "-m", "nlpt", *map(str, args)],
        input=input,
        capture_output=True,
        text=not binary,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )
