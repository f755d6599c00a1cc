"""`nlpt compare RUN_DIR...`: run folders side by side from config.json + metrics.jsonl, and --plot.

The run folders are fixtures written in the engine's format (nlpt/engine/__init__.py documents it).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import xml.etree.ElementTree as ET

import pytest

from _cli import nlpt
from nlpt.transformer.configs import EncoderConfig, GPTConfig, LlamaConfig, config_fields, config_from_dict
from nlpt.transformer import params as P

GPT = GPTConfig(vocab_size=512, hidden_size=32, num_layers=2, num_heads=2, ffn_size=64, max_positions=64)
LLAMA = LlamaConfig(vocab_size=512, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, ffn_size=64,
                      max_positions=64, num_experts=4, experts_per_token=2, variant="mixtral")
BERT = EncoderConfig(vocab_size=512, hidden_size=32, num_layers=2, num_heads=2, ffn_size=64, max_positions=64)
needs_mpl = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                               reason="matplotlib (extra nlpt[plot], in the dev extra) is not installed")


def _write_run(folder, config: dict, records: list, torn: bool = False):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    text = "".join(json.dumps(r) + "\n" for r in records)
    (folder / "metrics.jsonl").write_text(text + ('{"step": 99, "spl' if torn else ""))
    return str(folder)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    a = _write_run(root / "gpt", {"format": "nlpt-run/1", "model": config_fields(GPT), "objective": "causal_lm",
                                  "tokenizer": "tokenizer.json"},
                   [{"step": s, "tokens": 4096 * s, "elapsed_s": 1.5 * s, "split": "train", "loss": 6.0 / s, "lr": 1e-3}
                    for s in range(1, 6)]
                   + [{"step": 5, "tokens": 20480, "elapsed_s": 8.0, "split": "val", "loss": 2.5, "ppl": math.exp(2.5)}],
                   torn=True)
    b = _write_run(root / "moe", {"format": "nlpt-run/1", "model": config_fields(LLAMA), "objective": "causal_lm"},
                   [{"step": s, "tokens": 2048 * s, "elapsed_s": 3.0 * s, "split": split, "loss": 5.0 / s + d}
                    for s in range(1, 9) for split, d in (("train", 0.0), ("val", 0.3)) if split == "train" or s % 4 == 0])
    c = _write_run(root / "sst2", {"format": "nlpt-finetune/1", "task": {"kind": "classification"},
                                   "encoder": config_fields(BERT)},
                   [{"step": 10, "tokens": 900, "elapsed_s": 4.0, "split": "train", "loss": 0.6, "epoch": 1},
                    {"step": 10, "tokens": 900, "elapsed_s": 4.0, "split": "val", "loss": 0.5, "accuracy": 0.81, "epoch": 1},
                    {"step": 10, "tokens": 900, "elapsed_s": 4.0, "split": "test", "loss": 0.55, "accuracy": 0.79}])
    return a, b, c


def test_runs_side_by_side(runs):
    a, b, c = runs
    r = nlpt("compare", a, b, c, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    ga, mb, ft = doc["rows"]
    assert doc["comparison"] == "runs"
    assert (ga["parameters"], mb["parameters"], ft["parameters"]) == (P.count(GPT).total, P.count(LLAMA).total,
                                                                       P.count(BERT).total)
    assert (ga["architecture"], mb["architecture"], ft["architecture"]) == ("gpt2", "mixtral", "bert")
    assert ga["active_per_token"] is None and 0 < mb["active_per_token"] == P.count(LLAMA).active < mb["parameters"]
    assert ga["tokens"] == 20480 and ga["steps"] == 5 and ga["elapsed_s"] == 8.0
    assert ga["train_loss"] == pytest.approx(1.2) and ga["val_loss"] == 2.5
    assert ga["val_ppl"] == pytest.approx(math.exp(2.5)) and ga["torn_lines"] == 1
    assert mb["val_loss"] == pytest.approx(5.0 / 8 + 0.3) and mb["val_ppl"] == pytest.approx(math.exp(5.0 / 8 + 0.3))
    assert ft["type"] == "finetune" and ft["val_ppl"] is None
    assert ft["val_accuracy"] == 0.81 and ft["test_accuracy"] == 0.79 and ga["val_accuracy"] is None
    assert len(ga["curves"]["train"]) == 5 and ga["curve_x"] == "tokens"
    assert any("incomplete" in n for n in doc["notes"])

    rows = list(csv.DictReader(io.StringIO(nlpt("compare", a, b, c, "--csv").stdout)))
    assert [int(r["parameters"]) for r in rows] == [ga["parameters"], mb["parameters"], ft["parameters"]]
    assert float(rows[0]["val_ppl"]) == pytest.approx(ga["val_ppl"]) and rows[2]["val_ppl"] == ""
    text = nlpt("compare", a, b, c).stdout.splitlines()
    assert text[0].split()[:3] == ["run", "type", "architecture"] and text[1].startswith(a)
    assert "0:00:08" in text[1]


def test_non_finite_loss_is_flagged_not_printed(tmp_path):
    run = _write_run(tmp_path / "nan", {"format": "nlpt-run/1", "model": config_fields(GPT)},
                     [{"step": 1, "tokens": 10, "elapsed_s": 1, "split": "val", "loss": float("nan")}])
    r = nlpt("compare", run, "--json")
    assert r.returncode == 0, r.stderr
    assert "NaN" not in r.stdout
    doc = json.loads(r.stdout)
    assert doc["rows"][0]["val_loss"] is None
    assert any("val_loss is not finite" in n for n in doc["notes"])


def test_bad_metrics_line_names_the_file(tmp_path):
    run = tmp_path / "bad"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"format": "nlpt-run/1"}))
    (run / "metrics.jsonl").write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    r = nlpt("compare", str(run))
    assert r.returncode == 1 and "metrics.jsonl:2: not a JSON object" in r.stderr


def _png_pixels(path):
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    ink = (img[..., :3].min(axis=-1) < 0.9).mean()  # share of pixels that are not (near) white
    return img.shape, ink


@needs_mpl
def test_plot_run_curves_png(runs, tmp_path):
    out = tmp_path / "curves.png"
    r = nlpt("compare", *runs[:2], "--plot", str(out))
    assert r.returncode == 0, r.stderr
    shape, ink = _png_pixels(out)
    assert shape[:2] == (600, 1000) and 0.01 < ink < 0.6


@needs_mpl
def test_plot_parameter_bars_svg(tmp_path):
    out = tmp_path / "params.svg"
    r = nlpt("compare", "mixtral-8x7b", "llama2-7b", "deepseek-r1", "o3-mini", "--plot", str(out))
    assert r.returncode == 0, r.stderr
    root = ET.parse(out).getroot()
    assert root.get("width") == "720pt" and root.get("height") == "432pt"  # 10 x 6 inches
    paths = root.findall(".//{http://www.w3.org/2000/svg}path")
    assert len(paths) > 20
    assert "not published" in out.read_text()


@needs_mpl
def test_plot_word_map_with_arrows(tmp_path):
    import numpy as np

    from nlpt.embeddings.formats.vectors import Vectors

    words = ["king", "queen", "man", "woman", "paris", "france"]
    rng = np.random.default_rng(1)
    Vectors(words, rng.normal(size=(6, 10)).astype(np.float32)).save(str(tmp_path / "v.txt"), "text")
    out = tmp_path / "map.png"
    r = nlpt("compare", str(tmp_path / "v.txt"), "--words", "king:queen,man:woman", "--words", "paris:france",
             "--plot", str(out))
    assert r.returncode == 0, r.stderr
    shape, ink = _png_pixels(out)
    assert shape[:2] == (600, 1000) and 0.005 < ink < 0.6
    r = nlpt("compare", str(tmp_path / "v.txt"), "--plot", str(out))
    assert r.returncode == 2 and "--words" in r.stderr


def test_plot_usage(tmp_path, monkeypatch):
    r = nlpt("compare", "gpt2", "--plot", str(tmp_path / "x.jpg"))
    assert r.returncode == 2 and ".png or .svg" in r.stderr
    from nlpt.common.errors import NlptError
    from nlpt.compare import plot as PL

    monkeypatch.setattr(PL.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(NlptError, match=r"pip install 'nlpt\[plot\]'"):
        PL.check(str(tmp_path / "x.png"))


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("nlpt.engine.run") is None, reason="the pretraining engine is not built")
def test_a_real_pretrain_run(tmp_path):
    """A run written by `nlpt pretrain` itself: its metrics side by side, and its last layer in context."""
    from _cli import SYNTHETIC

    with open(SYNTHETIC, encoding="utf-8") as fh:
        (tmp_path / "c.txt").write_text("".join(next(fh) for _ in range(2000)))
    tok, run = str(tmp_path / "tok.json"), str(tmp_path / "run")
    r = nlpt("vocab", "--tokenizer", "bpe", "--size", "400", "-o", tok, str(tmp_path / "c.txt"), "-q")
    assert r.returncode == 0, r.stderr
    r = nlpt("pretrain", str(tmp_path / "c.txt"), "-o", run, "--tokenizer", tok, "--arch", "gpt-mini", "--layers", "1",
             "--heads", "2", "--hidden", "32", "--ffn", "64", "--context", "32", "--vocab", "400", "--batch", "4",
             "--max-steps", "4", "--warmup", "1", "--eval-every", "2", "--eval-batches", "2", "--log-every", "1", "-q")
    assert r.returncode == 0, r.stderr
    with open(f"{run}/config.json") as fh:
        saved = json.load(fh)
    with open(f"{run}/metrics.jsonl") as fh:
        records = [json.loads(line) for line in fh]
    r = nlpt("compare", run, "--json")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)["rows"][0]
    val = [x for x in records if x["split"] == "val"][-1]
    assert row["parameters"] == P.count(config_from_dict(saved["model"])).total
    assert row["tokens"] == records[-1]["tokens"] and row["steps"] == 4 and row["val_loss"] == val["loss"]
    assert row["val_ppl"] == pytest.approx(math.exp(val["loss"]))

    r = nlpt("compare", run, "--word", "the", "--context", "the houses", "--context", "currently the glasgeer",
             "--k", "2", "--candidates", "50", "--json")
    assert r.returncode == 0, r.stderr
    ctx = json.loads(r.stdout)["rows"][0]
    assert ctx["type"] == "contextual" and ctx["loader"].startswith("nlpt run") and ctx["dim"] == 32
    assert ctx["cosine_1_2"] < 0.9999 and len(ctx["neighbours"][0]) == 2


def test_plot_never_overwrites_an_input(runs, tmp_path):
    vec = tmp_path / "v.png"  # a vector file whose name looks like a picture
    vec.write_text("2 2\na 1 0\nb 0 1\n")
    r = nlpt("compare", str(vec), "--words", "a:b", "--plot", str(vec))
    assert r.returncode == 2 and "same file as the input" in r.stderr
    assert vec.read_text() == "2 2\na 1 0\nb 0 1\n"
