"""How many worker threads to use when the user did not say."""

from __future__ import annotations

import os
import threading

MAX_THREADS = 4096  # --threads above this is a usage error: a typo, not a machine


def start_all(threads: list[threading.Thread]) -> None:
    """Start each thread; a system that refuses one more thread (its process or memory limit) is a one-line
    error that says so, rather than the interpreter's RuntimeError. The caller stops the started ones."""
    from nlpt.common.errors import NlptError

    for i, t in enumerate(threads):
        try:
            t.start()
        except RuntimeError as exc:  # "can't start new thread"
            raise NlptError(f"cannot start worker thread {i + 1} of {len(threads)} ({exc}): the system's limit on "
                            "threads was reached; give fewer --threads") from None


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
