"""The output plan: every command that writes declares its inputs and all its outputs once, and `check()`
refuses a collision before any work starts. This is the only place collisions are checked.

A command builds one `OutputPlan`: `read(option, *paths)` for files and for folders read whole (corpus
folders), `read_folder(option, path, MODEL_FOLDER_FILES)` for a folder of which only some entries are read
(a run or a Hugging Face folder), `write(option, path, sidecar=...)` for each file it writes (`-` is
standard output), `write_folder(option, path, ...)` for a folder it writes into or replaces. `check()` then
raises one `UsageError` (exit 2) naming both options and the path when

- an output is the same file as an input (same st_dev and st_ino: symlinks, hard links and other spellings
  of one file are caught; standard output counts when it is redirected to a regular file),
- two outputs are the same file, or one output lies inside a folder another output writes,
- an output lies where an input would read it back (inside a corpus folder, among the entries of a run
  folder that are read, or matching an input glob), or an input lies inside an output folder where it
  would be replaced.

Standard input (`-`) can be read once: `check()` also refuses two options that both read it (the corpus and
--read-vocab, say, or a model and the words read from stdin).

Paths that do not exist yet cannot be the same file as anything, but can lie inside a folder. After the
collisions, every file output is checked to be writable (`check_writable`), so a command fails before the work.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import stat
from dataclasses import dataclass
from pathlib import PurePath

from nlpt.common.errors import NlptError, UsageError
from nlpt.common.output import check_writable, is_direct

# The entries of a model folder (an nlpt pretrain/finetune run, or a Hugging Face folder) that loading it
# reads: a name ending in "/" is a subfolder read whole. Other files (predictions beside the run) are free.
MODEL_FOLDER_FILES = (
    "config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
    "*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin", "vocab.txt", "vocab.json", "merges.txt",
    "spiece.model", "words.txt", "checkpoints/",
)


@dataclass
class _Entry:
    option: str
    path: str
    folder: bool = False
    entries: tuple | None = None  # folders: the entries read/written (None: everything inside)
    replaced: bool = False  # an output folder replaced as a whole


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def inside(child: str, parent: str) -> str | None:
    """`child`'s path relative to the folder `parent` (both resolved) when it lies inside or is it, else None."""
    child, parent = _real(child), _real(parent)
    try:
        if os.path.commonpath([child, parent]) != parent:
            return None
    except ValueError:  # different drives
        return None
    return os.path.relpath(child, parent)


def _covered(rel: str, entries: tuple | None, is_folder: bool) -> bool:
    """Whether the relative path `rel` falls among a folder's `entries` (None: all of it)."""
    if entries is None or rel == ".":
        return True
    parts = rel.split(os.sep)
    for pattern in entries:
        if pattern.endswith("/"):
            if fnmatch.fnmatchcase(parts[0], pattern[:-1]):
                return True
        elif len(parts) == 1 and not is_folder and fnmatch.fnmatchcase(parts[0], pattern):
            return True
    return False


def _identity(path: str):
    """(st_dev, st_ino) of a regular file (after links); None for missing files, folders, devices and FIFOs."""
    try:
        st = os.fstat(1) if path == "-" else os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _files_of(entry: _Entry) -> list[str]:
    """The existing regular files a folder entry covers (for same-file checks through hard links)."""
    if not entry.folder or not os.path.isdir(entry.path):
        return [entry.path] if not entry.folder else []
    if entry.entries is None:
        found = []
        for root, _, files in os.walk(entry.path):
            found.extend(os.path.join(root, f) for f in files)
        return found
    found = []
    for pattern in entry.entries:
        if pattern.endswith("/"):
            for sub in glob.glob(os.path.join(glob.escape(entry.path), pattern[:-1])):
                for root, _, files in os.walk(sub):
                    found.extend(os.path.join(root, f) for f in files)
        else:
            found.extend(p for p in glob.glob(os.path.join(glob.escape(entry.path), pattern)) if os.path.isfile(p))
    return found


def _check_folder_writable(path: str) -> None:
    """A folder output: a folder, or a path whose nearest existing parent is a writable folder."""
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise NlptError(f"{path}: exists and is not a folder")
        return
    parent = os.path.dirname(_real(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise NlptError(f"{path}: cannot create the folder ({parent} is not a writable folder)")


class OutputPlan:
    """A command's inputs and outputs, declared once; `check()` refuses collisions (see the module docstring)."""

    def __init__(self) -> None:
        self.inputs: list[_Entry] = []
        self.outputs: list[_Entry] = []
        self.patterns: list[tuple[str, str]] = []  # input globs: a new output they match is read back next time
        self.stdin: list[str] = []  # the options that read standard input

    def read(self, option: str, *paths: str | None) -> OutputPlan:
        """Files, folders read whole (a corpus folder) or glob patterns; `None`, `-` and missing paths are skipped."""
        for path in paths:
            if path == "-" and option not in self.stdin:
                self.stdin.append(option)
            if path and path != "-" and os.path.exists(path):
                self.inputs.append(_Entry(option, path, folder=os.path.isdir(path)))
            elif path and glob.has_magic(path):
                self.patterns.append((option, path))
        return self

    def read_folder(self, option: str, path: str | None, entries: tuple = MODEL_FOLDER_FILES) -> OutputPlan:
        """A folder of which only `entries` are read (a run or model folder); a file path is read as a file."""
        if path and os.path.exists(path):
            is_dir = os.path.isdir(path)
            self.inputs.append(_Entry(option, path, folder=is_dir, entries=entries if is_dir else None))
        return self

    def write(self, option: str, path: str | None, sidecar: bool = False) -> OutputPlan:
        """A file output (`-`: standard output); `sidecar` adds PATH.json, written beside it."""
        if path:
            self.outputs.append(_Entry(option, path))
            if sidecar and path != "-" and not is_direct(path):
                self.outputs.append(_Entry(f"{option}'s sidecar", path + ".json"))
        return self

    def write_folder(self, option: str, path: str | None, entries: tuple | None = None,
                     replaced: bool = False) -> OutputPlan:
        """A folder the command writes `entries` into (None: anything), or replaces as a whole."""
        if path:
            self.outputs.append(_Entry(option, path, folder=True, entries=None if replaced else entries,
                                       replaced=replaced))
        return self

    def check(self) -> None:
        """Refuse every collision (UsageError, exit 2), then check that each file output can be written."""
        if len(self.stdin) > 1:
            raise UsageError(f"-: {self.stdin[0]} and {self.stdin[1]} both read standard input, which can be read "
                             "only once; give one of them a file")
        self._inputs_apart(folders_only=True)  # a folder onto an input folder: say so before naming a file in it
        self._same_files()
        self._outputs_apart()
        self._inputs_apart()
        created = [_real(o.path) for o in self.outputs if o.folder and not os.path.exists(o.path)]
        for out in self.outputs:
            if out.path == "-":
                continue
            if out.folder:
                _check_folder_writable(out.path)
            elif os.path.dirname(_real(out.path)) not in created:  # else its folder is made by the command
                check_writable(out.path)

    def _same_files(self) -> None:
        seen: dict = {}
        for entry in self.inputs:
            for path in _files_of(entry):
                ident = _identity(path)
                if ident is not None:
                    seen.setdefault(ident, (entry, path))
        for out in self.outputs:
            for path in _files_of(out) if out.folder else [out.path]:
                ident = _identity(path)
                if ident is not None and ident in seen:
                    inp, inp_path = seen[ident]
                    shown = "standard output" if path == "-" else path
                    raise UsageError(f"{shown}: {out.option} is the same file as the input {inp_path} ({inp.option}); "
                                     "write to another file")

    def _outputs_apart(self) -> None:
        stdout = [o.option for o in self.outputs if o.path == "-"]
        if len(stdout) > 1:
            raise UsageError(f"-: {stdout[0]} and {stdout[1]} both name standard output; give each output its own")
        by_path: dict = {}  # resolved path -> index of the first output there
        by_ident: dict = {}  # (st_dev, st_ino) -> index of the first output that is that file
        real = [(o, _real(o.path)) for o in self.outputs if o.path != "-" and not is_direct(o.path)]
        folders: list[int] = []  # the outputs so far that are folders
        for i, (out, path) in enumerate(real):
            ident = _identity(out.path)
            same = [j for j in (by_path.get(path), by_ident.get(ident) if ident is not None else None) if j is not None]
            if same:
                other = real[min(same)][0]
                kind = "folder" if out.folder and other.folder else "file"
                raise UsageError(f"{out.path}: {other.option} and {out.option} name the same {kind}; "
                                 f"give each output its own")
            # a folder holds the files (and folders) of its own option: only pairs with a folder in them can nest
            for j in range(i) if out.folder else folders:
                other = real[j][0]
                for a, b in ((out, other), (other, out)):
                    if b.folder and a.path != b.path and a.option != b.option:
                        rel = inside(a.path, b.path)
                        if rel is not None and rel != "." and _covered(rel, b.entries, a.folder):
                            raise UsageError(f"{a.path}: {a.option} is inside {b.path}, which {b.option} writes; "
                                             f"give each output its own place")
            by_path.setdefault(path, i)
            if ident is not None:
                by_ident.setdefault(ident, i)
            if out.folder:
                folders.append(i)

    def _inputs_apart(self, folders_only: bool = False) -> None:
        for out in self.outputs:
            if out.path == "-" or is_direct(out.path) or (folders_only and not out.folder):
                continue
            for option, pattern in self.patterns:
                if not out.folder and PurePath(_real(out.path)).match(os.path.abspath(pattern)):
                    raise UsageError(f"{out.path}: {out.option} matches the input pattern {pattern} ({option}), "
                                     "so the next run would read it back; write it elsewhere")
            for inp in self.inputs:
                if inp.folder:  # an output where the input folder reads it back
                    rel = inside(out.path, inp.path)
                    if rel is not None and _covered(rel, inp.entries, out.folder):
                        what = "is" if rel == "." else "is inside"
                        raise UsageError(f"{out.path}: {out.option} {what} the input folder {inp.path} ({inp.option}), "
                                         "where it would be read back; write it elsewhere")
                if out.folder:  # an input inside an output folder, where it would be replaced
                    rel = inside(inp.path, out.path)
                    if rel is not None and (out.replaced or _covered(rel, out.entries, inp.folder)):
                        raise UsageError(f"{inp.path}: the input ({inp.option}) is inside {out.path}, which "
                                         f"{out.option} {'replaces' if out.replaced else 'writes'}; "
                                         "write the output elsewhere")
