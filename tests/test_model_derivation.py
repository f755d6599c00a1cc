"""What follows from size overrides of a named model: FFN ratio, head size, both stacks, width-scaled init,
the tokenizer's vocabulary; and the `pretrain --help` Shakespeare example giving the benchmark's model."""

from __future__ import annotations

import json
import math
import re

import pytest

from _cli import char_tokenizer_file, nlpt, synthetic_head

from nlpt.common.errors import UsageError
from nlpt.transformer.flags import apply_flags
from nlpt.transformer.registry import REGISTRY, resolve


def override(name: str, **flags):
    return apply_flags(resolve(name).config, flags, derive=False)


def test_hidden_override_keeps_the_presets_ffn_ratio_and_head_split():
    c = override("gpt-mini", layers=4, heads=4, hidden=128)
    assert (c.hidden_size, c.num_layers, c.num_heads, c.ffn_size) == (128, 4, 4, 512)  # gpt-mini: FFN = 4 × H
    assert override("gpt-mini", hidden=128, heads=4, ffn=300).ffn_size == 300  # given: kept
    assert override("llama-mini", hidden=192).ffn_size == 512  # llama-mini: 1024 / 384 of H
    assert override("bart-mini", hidden=128).ffn_size == 512
    t5 = override("t5-mini", hidden=128)
    assert (t5.d_kv, t5.num_heads, t5.ffn_size) == (32, 4, 512)  # the heads split the new width
    assert override("t5-mini", hidden=128, head_dim=16).d_kv == 16
    assert override("t5-mini", heads=8).d_kv == 32
    with pytest.raises(UsageError, match="--heads 3 does not split"):
        override("t5-mini", hidden=128, heads=3)


def test_llama_heads_override_keeps_its_query_groups():
    c = override("llama-mini", heads=3)  # 6 query heads per 2 KV heads: groups of 3
    assert (c.num_heads, c.num_kv_heads) == (3, 1)
    assert override("llama-mini", heads=3, kv_heads=3).num_kv_heads == 3


@pytest.mark.parametrize("name", ["t5-mini", "bart-mini", "t5-small", "bart-base"])
def test_layers_sets_both_stacks_of_encoder_decoders(name):
    c = override(name, layers=2)
    assert (c.num_layers, c.num_decoder_layers) == (2, 2)
    assert override(name, layers=2, decoder_layers=3).num_decoder_layers == 3  # only when asked


def test_width_override_scales_the_initial_std_and_registry_models_keep_theirs():
    # GPT-2 small's 0.02 at width 768, the same variance per input at width 128: 0.02 · √(768/128) ≈ 0.049
    c = override("gpt-mini", hidden=128, heads=4)
    assert c.init_std == pytest.approx(0.02 * math.sqrt(768 / 128), rel=1e-4)
    assert REGISTRY["gpt-mini"].config.init_std == pytest.approx(0.02 * math.sqrt(768 / 384), rel=1e-4)
    assert override("gpt2", hidden=384).init_std == pytest.approx(0.02 * math.sqrt(2), rel=1e-4)
    assert override("llama-mini", hidden=96).init_std == pytest.approx(0.04, rel=1e-4)
    for name in ("gpt2", "gpt2-medium", "gpt3-small", "llama2-7b", "mistral-7b", "llama-mini"):
        assert REGISTRY[name].config.init_std == 0.02, name  # published (or Llama's) initialisation
        assert override(name, layers=2).init_std == 0.02  # depth overrides leave it
        assert override(name, hidden=REGISTRY[name].config.hidden_size).init_std == 0.02


def test_built_weights_have_the_derived_std():
    torch = pytest.importorskip("torch")
    from nlpt.models import build

    torch.manual_seed(0)
    narrow = build(override("gpt-mini", layers=1, hidden=128, heads=4, vocab=2000))
    assert narrow.wte.weight.std().item() == pytest.approx(0.049, rel=0.03)
    torch.manual_seed(0)
    published = build(override("gpt2", layers=1, vocab=2000))  # GPT-2's own width: its 0.02
    assert published.wte.weight.std().item() == pytest.approx(0.02, rel=0.03)


def test_params_cli_follows_the_same_rules():
    code, out, err = nlpt("params", "t5-mini", "--layers", "2", "--hidden", "128", "--json")
    assert code == 0, err
    config = json.loads(out)["config"]
    assert (config["num_layers"], config["num_decoder_layers"], config["ffn_size"], config["d_kv"]) == (2, 2, 512, 32)


def help_example() -> list:
    from nlpt.cli.pretrain import TRAIN_HELP

    found = re.search(r"nlpt pretrain input\.txt -o \S+ --tokenizer \S+ (.*?)\n\n", TRAIN_HELP, re.S)
    return found.group(1).split()


@pytest.mark.slow
def test_help_example_trains_the_benchmark_model_with_the_tokenizers_vocabulary(tmp_path_factory, tmp_path):
    pytest.importorskip("torch")
    corpus = synthetic_head(tmp_path_factory, 300)
    tok = char_tokenizer_file(tmp_path_factory, corpus)
    size = len(json.load(open(tok))["model"]["vocab"])
    flags = help_example()
    flags[flags.index("--max-steps") + 1] = "2"
    run = tmp_path / "run"
    code, _, err = nlpt("pretrain", corpus, "-o", run, "--tokenizer", tok, *flags, "--eval-batches", "1",
                        "--threads", "1", "--quiet")
    assert code == 0, err
    saved = json.load(open(run / "config.json"))
    model = saved["model"]
    want = {"family": "gpt", "vocab_size": size, "hidden_size": 128, "num_layers": 4, "num_heads": 4, "ffn_size": 512,
            "max_positions": 64, "dropout": 0.0}
    assert {k: model[k] for k in want} == want
    assert model["init_std"] == pytest.approx(0.049, rel=1e-3)
    assert saved["init"]["std"] == model["init_std"] and "sqrt(width_entry / width)" in saved["init"]["rule"]
    assert saved["train"]["lr"] == 1e-3 and saved["train"]["batch"] == 12

    run2 = tmp_path / "run2"  # --vocab given: kept
    code, _, err = nlpt("pretrain", corpus, "-o", run2, "--tokenizer", tok, *flags, "--vocab", size + 10,
                        "--eval-batches", "1", "--threads", "1", "--quiet")
    assert code == 0, err
    assert json.load(open(run2 / "config.json"))["model"]["vocab_size"] == size + 10


@pytest.mark.parametrize("family", ["t5", "bart"])
def test_a_model_file_with_one_depth_gives_both_stacks(family):
    from nlpt.transformer.configs import config_from_dict

    c = config_from_dict({"family": family, "num_layers": 2})
    assert (c.num_layers, c.num_decoder_layers) == (2, 2)
    assert config_from_dict({"family": family, "num_layers": 2, "num_decoder_layers": 3}).num_decoder_layers == 3
