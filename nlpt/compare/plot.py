"""Pictures for `nlpt compare --plot FILE.png|svg` (matplotlib: the optional extra `nlpt[plot]`).

* runs: training (solid) and validation (dashed) loss curves on shared axes;
* vector files: a 2-D PCA of the chosen words per file, analogy pairs joined by arrows;
* architectures: total versus active parameters per token (log scale).

Every figure is WIDTH x HEIGHT inches at DPI (PNG: 1000 x 600 pixels) and is
written to a temporary file renamed into place.
"""

from __future__ import annotations

import importlib.util
import os

from nlpt.common.errors import NlptError, UsageError

WIDTH, HEIGHT, DPI = 10, 6, 100
FORMATS = ("png", "svg")
MISSING = "--plot needs matplotlib, the optional extra: pip install 'nlpt[plot]'"


def check(path: str) -> str:
    """The image format from the file name, after checking matplotlib and the folder (before any work)."""
    from nlpt.common.output import check_writable

    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise UsageError(f"--plot {path}: the file name must end in .png or .svg")
    if importlib.util.find_spec("matplotlib") is None:
        raise NlptError(MISSING)
    check_writable(path)
    return ext


def _figure(ncols: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained", squeeze=False)
    return fig, list(axes[0])


def _save(fig, path: str) -> None:
    import matplotlib.pyplot as plt

    from nlpt.common.output import atomic_output

    ext = os.path.splitext(path)[1].lower().lstrip(".")
    with atomic_output(path, "wb") as fh:
        fig.savefig(fh, format=ext, dpi=DPI)
    plt.close(fig)


def run_curves(table, path: str) -> None:
    fig, (ax,) = _figure()
    colors = [f"C{i % 10}" for i in range(len(table.rows))]
    xs = {r["curve_x"] for r in table.rows}
    for r, color in zip(table.rows, colors):
        for split, style in (("train", "-"), ("val", "--"), ("test", ":")):
            pts = [(x, y) for x, y in r["curves"].get(split, []) if x is not None]
            if pts:
                ax.plot([x for x, _ in pts], [y for _, y in pts], style, color=color, marker="o" if split != "train"
                        else None, markersize=3, label=f"{os.path.basename(os.path.normpath(r['run']))} {split}")
    ax.set_xlabel("tokens seen" if xs == {"tokens"} else "step")
    ax.set_ylabel("loss")
    ax.set_title("training (solid) and validation (dashed) loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    _save(fig, path)


def word_map(paths: list, words: list, pairs: list, path: str, fmt=None) -> None:
    """One panel per vector file: PCA of `words`; each (a, b) in `pairs` drawn as an arrow a -> b."""
    from nlpt.compare.vectors import pca_points

    fig, axes = _figure(len(paths))
    for ax, vec_path in zip(axes, paths):
        known, xy, var = pca_points(vec_path, words, fmt)
        at = {w.lower(): (float(x), float(y)) for w, (x, y) in zip(known, xy)}
        ax.scatter(xy[:, 0], xy[:, 1], s=18, color="C0")
        for w, (x, y) in zip(known, xy):
            ax.annotate(w, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=9)
        for a, b in pairs:
            if a.lower() in at and b.lower() in at:
                ax.annotate("", xy=at[b.lower()], xytext=at[a.lower()],
                            arrowprops={"arrowstyle": "->", "color": "C3", "lw": 1.2})
        ax.set_title(os.path.basename(vec_path), fontsize=10)
        ax.set_xlabel(f"PC1 ({100 * var[0]:.0f}%)")
        ax.set_ylabel(f"PC2 ({100 * var[1]:.0f}%)")
        ax.grid(alpha=0.3)
    _save(fig, path)


def parameter_bars(table, path: str) -> None:
    fig, (ax,) = _figure()
    names = [r["name"] for r in table.rows]
    total = [r["total"] for r in table.rows]
    active = [r["total"] if r["active_per_token"] is None and r["total"] is not None else r["active_per_token"]
              for r in table.rows]
    idx = range(len(names))
    w = 0.38
    ax.bar([i - w / 2 for i in idx], [t or 0 for t in total], w, label="total parameters", color="C0")
    ax.bar([i + w / 2 for i in idx], [a or 0 for a in active], w, label="active per token", color="C1")
    known = [v for v in total + active if v]
    if known:
        ax.set_yscale("log")
        ax.set_ylim(min(known) / 3, max(known) * 3)
    for i, t in zip(idx, total):
        if t is None:
            ax.text(i, (min(known) if known else 1), "not published", ha="center", va="bottom", rotation=90)
    ax.set_xticks(list(idx), names, rotation=20, ha="right")
    ax.set_ylabel("parameters")
    ax.set_title("total vs active parameters per token (dense: equal)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)
