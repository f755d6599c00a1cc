"""Process-level readings (resident memory, age) and ways to lower a command's peak memory.

`release_freed_memory_eagerly` and `load_numba_without_scipy_linalg` change the
whole process, so only CLI commands call them; `trim_heap` only hands back
memory already freed, so library code may call it between stages.
"""

from __future__ import annotations

import sys


def seconds_since_start() -> float | None:
    """How long this process has existed, from the kernel's record of its start (Linux `/proc`, 10 ms ticks): the
    interpreter's own start-up included, which a clock read in Python would miss. None where unavailable."""
    import os

    try:
        with open("/proc/self/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()  # after the command name, which may hold spaces
        with open("/proc/uptime", "rb") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))  # field 22: start time in ticks
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def release_freed_memory_eagerly() -> None:
    """Make glibc return large freed buffers to the system at once (a command-line-only tweak).

    glibc raises its mmap threshold after big buffers are freed, so later
    megabyte-sized blocks (the reader's) come from a heap that is never
    trimmed; a fixed threshold keeps the peak RSS of a counting run ~10 MB
    lower. Not done by the library functions, which may run inside trainers.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 17)  # M_MMAP_THRESHOLD = 128 KiB
    except (OSError, AttributeError):
        pass


def load_numba_without_scipy_linalg() -> None:
    """Keep numba from importing scipy.linalg (~24 MB resident) that our kernels never use (a command-line-only tweak).

    When numba sets up its compiler (on the first kernel compiled or loaded
    from the cache) it imports `numba.np.arraymath`, which imports
    `scipy.linalg` (all of it, with scipy's own OpenBLAS) just to learn whether
    `np.correlate`/`np.convolve` may call BLAS. Importing that module once with
    `scipy.linalg` hidden makes the answer "no" (those two then use a plain
    loop; none of nlpt's kernels calls them) and scipy.linalg is never loaded.
    `np.dot` and `np.linalg` in kernels still work: they import scipy.linalg
    themselves when compiled. Does nothing if numba's compiler is already set
    up or scipy.linalg is already imported.
    """
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    sys.modules["scipy.linalg"] = None  # `import scipy.linalg...` raises ImportError meanwhile
    try:
        import numba.np.arraymath  # noqa: F401
    except ImportError:  # another numba layout: nothing gained, nothing lost
        pass
    finally:
        if "scipy.linalg" in sys.modules and sys.modules["scipy.linalg"] is None:
            del sys.modules["scipy.linalg"]


def rss_bytes() -> int:
    """Resident memory of this process now (0 where /proc is missing)."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) * 1024
    except (OSError, StopIteration, ValueError):
        return 0


def peak_rss_mib(reset: bool = False) -> float:
    """Peak resident memory of this process so far (VmHWM) in MiB; `reset` starts a new peak."""
    try:
        with open("/proc/self/status") as fh:
            kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
        if reset:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        return kb / 1024.0
    except (OSError, StopIteration, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def trim_heap() -> None:
    """Give heap memory already freed back to the OS (glibc's malloc_trim), so it does not add to a later peak."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


KERNEL_MODULES = {  # the numba modules (cached kernels) each command compiles on its first run
    "vocab": ("nlpt.vocab._fastcount",),
    "train-w2v": ("nlpt.embeddings.word2vec.kernels", "nlpt.embeddings.training.bytescan", "nlpt.embeddings.word2vec.sampling"),
    "train-subword": ("nlpt.embeddings.word2vec.kernels", "nlpt.embeddings.training.bytescan", "nlpt.embeddings.subword.subword"),
    "train-glove": ("nlpt.embeddings.glove.glove", "nlpt.embeddings.glove.cooccur", "nlpt.embeddings.glove.cooccur_runs"),
}
COMPILING_NOTE = "compiling kernels (first run only, ~30 s)"


def kernels_compiled(command: str) -> bool:
    """Whether numba's cache holds compiled kernels of every module `command` uses: one directory listing per
    module (numba's index files, `MODULE.FUNCTION-LINE.pyXY.nbi`, newer than the source), nothing imported."""
    import glob
    import importlib.util
    import os

    cache_dir = os.environ.get("NUMBA_CACHE_DIR")
    for name in KERNEL_MODULES.get(command, ()):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            continue
        base = os.path.splitext(os.path.basename(spec.origin))[0]
        folder = os.path.dirname(os.path.abspath(spec.origin))
        # numba's cache: __pycache__ beside the module, or under NUMBA_CACHE_DIR by the module's folder path
        where = (os.path.join(cache_dir, os.path.splitdrive(folder)[1].lstrip(os.sep)) if cache_dir
                 else os.path.join(folder, "__pycache__"))
        indexes = glob.glob(os.path.join(glob.escape(where), f"{base}.*.nbi"))
        # an index older than the module's source is stale: numba compiles again
        if not indexes or max(os.path.getmtime(i) for i in indexes) < os.path.getmtime(spec.origin):
            return False
    return True


def note_compiling(command: str, quiet: bool) -> None:
    """Say on stderr that numba compiles the kernels (a first run is otherwise silent for half a minute)."""
    from nlpt.common.progress import log

    if not quiet and not kernels_compiled(command):
        log(COMPILING_NOTE, quiet)
