"""The README and docs/ name only what exists: every source path (`nlpt/engine/run.py`, `engine/run.py`),
package folder, dotted module (`nlpt.common.output`, `nlpt.engine.load_run`), benchmark script and relative
link (with its `#anchor`) resolves in the repository. Files keep moving as the code grows; these checks make
a stale name in the docs a test failure instead of a reader's dead end. Pure text and `ast`, no imports."""
import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

PACKAGES = sorted(p.name for p in (ROOT / "nlpt").iterdir() if (p / "__init__.py").is_file())
_PKG = "|".join(PACKAGES)
# `nlpt/engine/run.py`, `engine/run.py`, `nlpt/embeddings/glove/`, `benchmarks/bench_w2v.py`, `tests/test_x.py`
PATH_RE = re.compile(r"(?<![\w./-])((?:nlpt/)?(?:%s)/[\w/]*\w\.py|nlpt/(?:%s)(?:/\w+)*/?|(?:benchmarks|tests)/[\w.-]+\.(?:py|sh))"
                     % (_PKG, _PKG))
MODULE_RE = re.compile(r"(?<![\w/.])nlpt\.((?:%s)(?:\.\w+)*)" % _PKG)
LINK_RE = re.compile(r"\]\(([^)\s]+)\)")


def path_problems(text: str, root: Path = ROOT) -> list[str]:
    """The source paths and benchmark scripts named in `text` that do not exist under `root`."""
    missing = []
    for m in PATH_RE.finditer(text):
        name = m.group(1)
        rel = name if name.startswith(("nlpt/", "benchmarks/", "tests/")) else "nlpt/" + name
        if not (root / rel.rstrip("/")).exists():
            missing.append(name)
    return missing


@functools.lru_cache(maxsize=None)
def _defined_names(source: Path) -> frozenset:
    """Top-level names a module defines (functions, classes, assignments, imports): what `module.name` may mean."""
    names = set()
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def module_problems(text: str, root: Path = ROOT) -> list[str]:
    """The dotted names `nlpt.a.b[.attr]` in `text` that are neither a module nor a name a module defines."""
    missing = []
    for m in MODULE_RE.finditer(text):
        parts = m.group(1).split(".")
        for i in range(len(parts), 0, -1):
            base = root / "nlpt" / Path(*parts[:i])
            source = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
            if source.is_file():
                rest = parts[i:]
                names = _defined_names(source)  # a module-level __getattr__ makes names on demand
                ok = not rest or (len(rest) == 1 and (rest[0] in names or "__getattr__" in names))
                break
        else:
            ok = False
        if not ok:
            missing.append("nlpt." + m.group(1))
    return missing


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set:
    """The `#anchor`s a page offers: its headings' slugs (outside code blocks) and explicit `<a id="...">`s."""
    found, fenced = set(), False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            found.add(slug(line.lstrip("#")))
        found.update(re.findall(r'<a id="([^"]+)"', line))
    return found


def link_problems(page: Path) -> list[str]:
    """Relative links of a Markdown page whose file, or `#anchor` in it, does not exist."""
    bad = []
    for m in LINK_RE.finditer(page.read_text(encoding="utf-8")):
        target = m.group(1)
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            bad.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(target)
    return bad


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_name_existing_paths_and_modules(page):
    text = page.read_text(encoding="utf-8")
    assert path_problems(text) == []
    assert module_problems(text) == []


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_relative_links_resolve(page):
    assert link_problems(page) == []


def test_the_checks_catch_stale_names(tmp_path):
    """The checkers themselves: a moved file, an unknown module or attribute and a dead link are each reported."""
    text = ("see nlpt/engine/run.py, engine/generate.py, nlpt/embeddings/w2v.py, nlpt/embeddings/glove/ and "
            "`python benchmarks/bench_w2v.py` or benchmarks/bench_nothing.py (tests/test_docs_paths.py, tests/test_gone.py); "
            "nlpt.common.output, "
            "nlpt.engine.load_run, nlpt.engine.no_such_function, nlpt.vocab.subword")
    assert path_problems(text) == ["engine/generate.py", "nlpt/embeddings/w2v.py", "benchmarks/bench_nothing.py",
                                   "tests/test_gone.py"]
    assert module_problems(text) == ["nlpt.engine.no_such_function", "nlpt.vocab.subword"]
    (tmp_path / "other.md").write_text('# Other page\n\n## Reruns and `--flags`\n<a id="kept"></a>\n```\n# gone\n```\n',
                                       encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[a](other.md) [b](other.md#reruns-and---flags) [c](other.md#gone) [d](missing.md) [k](other.md#kept) "
                    "[e](https://example.org/x) [f](#top)\n# Top\n", encoding="utf-8")
    assert link_problems(page) == ["other.md#gone", "missing.md"]
