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
