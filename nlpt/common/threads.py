"""How many worker threads to use when the user did not say."""

from __future__ import annotations

import os


def default_threads() -> int:
    """SLURM_CPUS_PER_TASK, else the CPUs this process may run on."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        return int(slurm)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def resolve_threads(requested: int | None) -> int:
    """`--threads N` if given (N >= 1), else the default."""
    if requested is None or requested <= 0:
        return default_threads()
    return requested
