"""`config_from_path`: the one reader of model config.json files (an nlpt run's, a bare nlpt dict, Hugging Face's)."""

import gzip
import json

import pytest

from _cli import nlpt
from nlpt.common.errors import NlptError
from nlpt.transformer.config_file import config_from_path
from nlpt.transformer.configs import config_fields
from nlpt.transformer.registry import resolve

GPT2_HF = {"model_type": "gpt2", "vocab_size": 64, "n_positions": 32, "n_embd": 32, "n_layer": 2, "n_head": 4,
           "n_inner": 64}


def test_every_kind_of_config_file_and_folder_gives_the_same_config(tmp_path):
    want = resolve("gpt-mini").config
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"format": "nlpt-run/1", "model": config_fields(want)}))
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(config_fields(want)))
    packed = tmp_path / "bare.json.gz"
    packed.write_bytes(gzip.compress(bare.read_bytes()))
    assert config_from_path(str(run)) == want  # the folder holding it
    assert config_from_path(str(run / "config.json")) == want
    assert config_from_path(str(bare)) == want
    assert config_from_path(str(packed)) == want
    hf = tmp_path / "hf.json"
    hf.write_text(json.dumps(GPT2_HF))
    got = config_from_path(str(hf))
    assert (got.family, got.num_layers, got.hidden_size, got.ffn_size) == ("gpt", 2, 32, 64)


@pytest.mark.parametrize("content, problem", [
    ('{"model_type": "gpt2",', "not valid JSON (line 1"),
    (b"\xff\xfe{}", "not UTF-8 text"),
    (json.dumps({**GPT2_HF, "n_head": 5}), "num_heads 5 does not divide hidden_size 32"),
    (json.dumps({"family": "gpt", "hidden_size": "wide"}), "field 'hidden_size' has the wrong type"),
    (json.dumps({"model_type": "xlnet"}), "field 'model_type' = 'xlnet' is not supported"),
])
def test_a_bad_file_is_one_message_naming_it(tmp_path, content, problem):
    path = tmp_path / "config.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(NlptError) as err:
        config_from_path(str(path))
    assert str(err.value).startswith(f"{path}: ") and problem in str(err.value), str(err.value)
    with pytest.raises(NlptError, match="no such file"):
        config_from_path(str(tmp_path / "absent.json"))


def test_params_counts_a_run_folders_model(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"format": "nlpt-run/1", "model": config_fields(resolve("gpt-mini").config)}))
    code, out, err = nlpt("params", run, "--json")
    assert code == 0, err
    code, want, err = nlpt("params", "gpt-mini", "--json")
    assert json.loads(out)["parameters"] == json.loads(want)["parameters"]


GPT_NLPT = {"family": "gpt", "vocab_size": 64, "hidden_size": 32, "num_layers": 1, "num_heads": 2, "ffn_size": 64,
            "max_positions": 32}
LLAMA_NLPT = {"family": "llama", "vocab_size": 64, "hidden_size": 32, "num_layers": 1, "num_heads": 2,
              "num_kv_heads": 2, "ffn_size": 64, "max_positions": 32}


@pytest.mark.parametrize("content, problem", [
    ({**GPT_NLPT, "dropout": 5}, "dropout must be at most 1"),
    ('{"family": "gpt", "vocab_size": 64, "init_std": NaN}', "init_std must be a finite number"),
    ({**GPT_NLPT, "init_std": -1}, "init_std must be above 0"),
    ({**GPT_NLPT, "layer_norm_eps": 0}, "layer_norm_eps must be above 0"),
    ({**GPT_NLPT, "activation": "swish"}, "activation 'swish' is not supported"),
    ({**GPT_NLPT, "variant": "gpt5"}, "variant must be one of gpt2, openai-gpt"),
    ({**GPT_NLPT, "pad_token_id": 64}, "pad_token_id 64 is not below vocab_size 64"),
    ({**LLAMA_NLPT, "head_dim": "16"}, "head_dim must be an integer"),
    ({**LLAMA_NLPT, "rope_scaling": "x"}, "rope_scaling must be a number"),
    ({**LLAMA_NLPT, "router_jitter": -1.0}, "router_jitter must be at least 0"),
    ('{"model_type": "gpt2", "vocab_size": 64, "n_positions": 32, "n_embd": 32, "n_layer": 1, "n_head": 2, '
     '"layer_norm_epsilon": NaN}', "field 'layer_norm_epsilon' must be a finite positive number"),
    ({**GPT2_HF, "initializer_range": -0.02}, "field 'initializer_range' must be a finite positive number"),
    ({"model_type": "llama", "vocab_size": 64, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
      "intermediate_size": 64, "max_position_embeddings": 32, "rope_scaling": "linear"}, "field 'rope_scaling' must be an object"),
    ({"model_type": "llama", "vocab_size": 64, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
      "intermediate_size": 64, "max_position_embeddings": 32, "rope_scaling": {"type": "linear", "factor": "2"}},
     "factor '2' is not a positive number"),
])
def test_a_config_value_of_the_wrong_type_or_range_is_one_line_naming_the_file(tmp_path, content, problem):
    """Every value is checked where the file is read (wrong types, NaN, out-of-range numbers, unknown names), for
    `nlpt params` and `nlpt pretrain --arch` alike: never a crash deep in the model builder, never a silent NaN."""
    path = tmp_path / "arch.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    code, out, err = nlpt("params", path)
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"nlpt: error: {path}: ") and problem in err, err
    assert "internal error" not in err


def test_dropout_one_is_planned_as_the_command_line_allows(tmp_path):
    """`--dropout` takes 0 to 1 inclusive; the memory arithmetic of --dry-run and `nlpt params` accepts 1 too."""
    path = tmp_path / "arch.json"
    path.write_text(json.dumps({**GPT_NLPT, "dropout": 1.0}))
    code, out, err = nlpt("params", path, "--json")
    assert code == 0, err
