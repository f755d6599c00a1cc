"""Where outputs go and how: the rules every command follows (use these helpers, never `open(path, "w")`).

Rules (as coreutils follow them):
- `-` is standard output, written directly.
- A regular file, or a path that does not exist yet, is written to a temporary file beside it and
  renamed into place when complete: a failed or interrupted run never leaves a truncated file under
  the final name and never destroys an existing one.
- A symlink is followed: its final target is replaced atomically; the link stays a link.
- Anything else (a character or block device such as /dev/null or /dev/full, a FIFO, a socket, a
  terminal) and the descriptor aliases /dev/stdout, /dev/stderr, /dev/fd/N and /proc/*/fd/N are
  opened and written directly: no temporary file, no rename.
- Write errors (ENOSPC on /dev/full or a full disk, EIO, quota) raise `NlptError("PATH: cannot
  write (reason)")`, exit 1. A reader that went away (EPIPE) stays `BrokenPipeError`, which
  `nlpt.cli.main` turns into the closed-pipe exit (status 141, nothing printed).
- Temporary names are `.NAME.HOST.PID.XXXX.tmp`: a killed writer (SIGKILL) cannot remove its own, so the next
  write of the same output removes those whose process is gone from this host.
- An output that is the same file as an input or as another output is refused before any work
  starts by the command's output plan (`nlpt.common.plan.OutputPlan`), the one place that checks.

API: `check_writable(path)` (early, before the work; the output plan calls it),
`atomic_output(path, mode)` (a context manager yielding a file object; "w" text or "wb" binary),
`atomic_write_with(path, write)` (for libraries that write to a path themselves, e.g. safetensors'
`save_file` or `torch.save`: `write` is called with the temporary path), `atomic_directory(path)`
(a context manager yielding a hidden temporary folder that replaces the folder `path` when the block ends).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import stat
import sys
import tempfile
from typing import IO, Callable, Iterator

from nlpt.common.errors import NlptError, UsageError

_FD_ALIASES = ("/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/")


def os_reason(exc: OSError) -> str:
    """An OSError's reason in lower case ("no space left on device")."""
    reason = exc.strerror or str(exc)
    return reason[:1].lower() + reason[1:]


class NamedFile(io.FileIO):
    """A raw file whose read/write errors name the path and the operation (closed pipes excepted)."""

    def __init__(self, file, mode: str, label: str, closefd: bool = True):
        super().__init__(file, mode, closefd=closefd)
        self.label = label
        self.failed = False

    def _fail(self, exc: OSError, what: str):
        self.failed = True
        if isinstance(exc, BrokenPipeError):
            raise exc
        raise NlptError(f"{self.label}: cannot {what} ({os_reason(exc)})") from None

    def write(self, b):
        if self.failed and not self.closefd:
            return len(b)  # standard output already failed and was reported: drop the rest quietly
        try:
            return super().write(b)
        except OSError as exc:
            self._fail(exc, "write")

    def readinto(self, b):
        try:
            return super().readinto(b)
        except OSError as exc:
            self._fail(exc, "read")

    def read(self, size=-1):
        try:
            return super().read(size)
        except OSError as exc:
            self._fail(exc, "read")

    def readall(self):
        try:
            return super().readall()
        except OSError as exc:
            self._fail(exc, "read")


def is_direct(path: str) -> bool:
    """True when `path` must be written in place: a device, FIFO, socket, terminal or descriptor alias."""
    if path == "-" or any(path.startswith(a) for a in _FD_ALIASES) or (path.startswith("/proc/") and "/fd/" in path):
        return True
    try:
        st = os.stat(path)  # follows symlinks
    except OSError:
        return False
    return not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode)


def _final_target(path: str) -> str:
    """The path a regular-file output really replaces: a symlink's final target, else the path itself."""
    return os.path.realpath(path) if os.path.islink(path) else path


def check_writable(path: str) -> None:
    """Fail early, before hours of training, if `path` cannot be written."""
    if path == "-":
        return
    if os.path.isdir(path):
        raise NlptError(f"{path}: is a directory, expected a file path")
    if is_direct(path):
        if os.path.exists(path) and not os.access(path, os.W_OK):
            raise NlptError(f"{path}: permission denied")
        return
    target = _final_target(path)
    parent = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(parent):
        if os.path.exists(parent):
            raise NlptError(f"{path}: {parent} is not a directory")
        raise NlptError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise NlptError(f"{path}: directory {parent} is not writable")
    if os.path.exists(target) and not os.access(target, os.W_OK):
        raise NlptError(f"{path}: file is not writable")


def write_array(fh, arr) -> None:
    """Write a numpy array's bytes through `fh.write`: a full disk then raises OSError(ENOSPC), which names
    itself, where numpy's `tofile` reports a short write without an errno ("cannot write (None)")."""
    data = arr if arr.flags.c_contiguous else arr.copy()
    fh.write(data.reshape(-1).view("u1"))


def spill_directory(tmp_dir: str | None) -> str:
    """Where temporary spill files go: --tmp-dir, else $TMPDIR (node-local on clusters)."""
    if tmp_dir is None:
        return tempfile.gettempdir()
    if not os.path.exists(tmp_dir):
        raise NlptError(f"{tmp_dir}: --tmp-dir does not exist")
    if not os.path.isdir(tmp_dir):
        raise NlptError(f"{tmp_dir}: --tmp-dir is not a directory")
    return tmp_dir


def host_tag() -> str:
    """This machine's name without dots, for temporary names that say which host's process made them."""
    import socket

    return socket.gethostname().replace(".", "-")


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except (OverflowError, OSError):
        return True  # not a process id we can judge: leave its files alone
    return True


def temp_prefix(start: str) -> str:
    """`START HOST.PID.`: the beginning of a temporary name that says which process of which host made it."""
    return f"{start}{host_tag()}.{os.getpid()}."


def remove_dead_temporaries(parent: str, start: str, suffix: str = ".tmp", unnamed_after: float | None = None
                            ) -> list[str]:
    """Remove the temporary files and folders in `parent` named `START HOST.PID.XXXX SUFFIX` (`temp_prefix`) that a
    process of this host left when it was killed (SIGKILL, out of memory, a node's crash): its process is gone.
    Those of live processes and of other hosts stay; a name without host and process id (an older layout) goes
    only when it has not changed for `unnamed_after` seconds (never without it). Returns the names removed."""
    import time

    host = host_tag()
    removed = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(start) and name.endswith(suffix)):
            continue
        full = os.path.join(parent, name)
        parts = name[len(start):len(name) - len(suffix)].split(".")
        if len(parts) == 3 and parts[1].isdigit():
            if parts[0] != host or pid_alive(int(parts[1])):
                continue
        else:
            try:
                if unnamed_after is None or time.time() - os.path.getmtime(full) < unnamed_after:
                    continue
            except OSError:
                continue
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(full)
        removed.append(name)
    return removed


def _make_temp(path: str) -> tuple[int, str]:
    """A temporary file beside `path` (same filesystem, so the final rename is atomic); what a killed earlier
    writer of `path` left there is removed first."""
    parent = os.path.dirname(os.path.abspath(path))
    remove_dead_temporaries(parent, f".{os.path.basename(path)}.")
    try:
        return tempfile.mkstemp(prefix=temp_prefix(f".{os.path.basename(path)}."), suffix=".tmp", dir=parent)
    except OSError as exc:
        raise NlptError(f"{path}: cannot create a file in {parent} ({os_reason(exc)})") from None


def _wrap(raw: NamedFile, binary: bool, encoding: str) -> IO:
    buffered = io.BufferedWriter(raw, 1 << 16)
    return buffered if binary else io.TextIOWrapper(buffered, encoding=encoding, newline="\n")


@contextlib.contextmanager
def atomic_output(path: str, mode: str = "w", encoding: str = "utf-8") -> Iterator[IO]:
    """Yield a file object for `path` following the module's rules (atomic for regular files)."""
    binary = "b" in mode
    if path == "-":
        sys.stdout.flush()
        stream = sys.stdout.buffer if binary else sys.stdout
        yield stream
        stream.flush()
        return
    check_writable(path)
    if is_direct(path):
        try:
            raw = NamedFile(path, "wb", path)
        except OSError as exc:
            raise NlptError(f"{path}: cannot open for writing ({os_reason(exc)})") from None
        with _wrap(raw, binary, encoding) as fh:
            yield fh
        return
    target = _final_target(path)
    fd, tmp = _make_temp(target)
    try:
        with _wrap(NamedFile(fd, "wb", path), binary, encoding) as fh:
            yield fh
        _publish(tmp, target, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _publish(tmp: str, target: str, path: str) -> None:
    """Give the finished temporary file the target's mode (a new file's default) and rename it into place."""
    if os.path.exists(target):
        with contextlib.suppress(OSError):
            os.chmod(tmp, os.stat(target).st_mode & 0o7777)
    else:
        os.chmod(tmp, 0o666 & ~_umask())
    try:
        os.replace(tmp, target)
    except OSError as exc:
        raise NlptError(f"{path}: cannot rename the finished temporary file into place ({os_reason(exc)})") from None


def atomic_write_with(path: str, write: Callable[[str], None]) -> None:
    """Write `path` by calling `write(temporary_path)`, following the module's rules.

    For libraries that open the file themselves (safetensors' `save_file`, `torch.save`): a regular
    file is written beside `path` and renamed into place only when `write` returns; a device or FIFO
    is handed to `write` directly. `-` is refused (these writers need a real path).
    """
    if path == "-":
        raise UsageError("-: this output must be a file, not standard output")
    check_writable(path)
    if is_direct(path):
        write(path)
        return
    target = _final_target(path)
    fd, tmp = _make_temp(target)
    os.close(fd)
    try:
        write(tmp)
        _publish(tmp, target, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def default_modes(folder: str) -> None:
    """Give a folder just written, and everything in it, a new file's permissions under the user's umask:
    mkdtemp makes 0700 folders and some writers (safetensors) 0600 files."""
    umask = _umask()
    for root, dirs, files in os.walk(folder):
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~umask)
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777 & ~umask)
    os.chmod(folder, 0o777 & ~umask)


@contextlib.contextmanager
def atomic_directory(path: str) -> Iterator[str]:
    """Yield a hidden temporary folder beside `path`; when the block ends it replaces the folder `path`.

    A failed or interrupted block removes the temporary folder and leaves `path` as it was. On
    success an existing folder at `path` is removed and the temporary one renamed into its place,
    with a new folder's default permissions.
    """
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    remove_dead_temporaries(parent, f".{os.path.basename(path)}.")
    try:
        tmp = tempfile.mkdtemp(prefix=temp_prefix(f".{os.path.basename(path)}."), suffix=".tmp", dir=parent)
    except OSError as exc:
        raise NlptError(f"{path}: cannot create a folder in {parent} ({os_reason(exc)})") from None
    try:
        yield tmp
        default_modes(tmp)
        if os.path.isdir(path):
            shutil.rmtree(path)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise NlptError(f"{path}: cannot rename the finished temporary folder into place ({os_reason(exc)})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
