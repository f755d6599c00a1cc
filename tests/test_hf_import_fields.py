"""Hugging Face folders read field by field: every config.json field that changes what the model computes is
either read (activations) or refused with one line naming it, never silently replaced by nlpt's default; and
weights holding NaN or infinity are neither exported nor imported.

Tiny models are made by transformers here (nothing downloaded).
"""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")
pytest.importorskip("tokenizers")

from _cli import nlpt, perturbed  # noqa: E402

V = 301  # not a multiple of 8
SMALL = dict(num_hidden_layers=1, hidden_size=32, num_attention_heads=2, intermediate_size=64, vocab_size=V,
             max_position_embeddings=64)
BART = dict(encoder_layers=1, decoder_layers=1, d_model=32, encoder_attention_heads=2, decoder_attention_heads=2,
            encoder_ffn_dim=64, decoder_ffn_dim=64, vocab_size=V, max_position_embeddings=64)


def _save(tmp_path, cls, config, name="hf", tokenizer=None):
    """A transformers model saved with perturbed weights (so norms and biases matter), and a tokenizer.json."""
    torch.manual_seed(0)
    model = perturbed(cls(config).eval(), 0.05)
    path = tmp_path / name
    model.save_pretrained(str(path))
    if tokenizer:
        with open(tokenizer, "rb") as src, open(path / "tokenizer.json", "wb") as dst:
            dst.write(src.read())
    return str(path), model


def _import(path):
    """nlpt's model of a folder through the loader --init, finetune and compare share."""
    from nlpt.models import build
    from nlpt.models.hf import load_hf_weights
    from nlpt.transformer.config_file import config_from_path

    model = build(config_from_path(path))
    load_hf_weights(model, path)
    return model.eval()


ACTIVATIONS = {
    "gpt2-relu": lambda: (transformers.GPT2LMHeadModel,
                          transformers.GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=V, n_positions=64,
                                                  activation_function="relu")),
    "llama-gelu": lambda: (transformers.LlamaForCausalLM,
                           transformers.LlamaConfig(**SMALL, num_key_value_heads=1, hidden_act="gelu")),
    "bert-relu": lambda: (transformers.BertForPreTraining, transformers.BertConfig(**SMALL, hidden_act="relu")),
    # ALBERT's default (and albert-base-v2's) is gelu_new, the tanh approximation
    "albert-default": lambda: (transformers.AlbertForPreTraining,
                               transformers.AlbertConfig(**SMALL, embedding_size=16)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_imported_activation_is_the_folders(name, tmp_path):
    cls, config = ACTIVATIONS[name]()
    path, hf = _save(tmp_path, cls, config)
    model = _import(path)
    ids = torch.tensor([[4, 17, 93, 250, 31, 8, 77, 5]])
    with torch.no_grad():
        out = hf(input_ids=ids)
        theirs = (out.prediction_logits if hasattr(out, "prediction_logits") else out.logits)[0]
        mine = model(ids)
        mine = mine["logits"][0] if isinstance(mine, dict) else mine[0]
    torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=0)


def test_exported_encoder_names_its_activation(tmp_path):
    """An encoder built with ALBERT's tanh GELU exports it as gelu_new, and transformers computes the same."""
    import dataclasses

    from nlpt.models.hf import export_hf

    path, _ = _save(tmp_path, transformers.AlbertForPreTraining, transformers.AlbertConfig(**SMALL, embedding_size=16))
    model = _import(path)
    assert dataclasses.asdict(model.config)["activation"] == "gelu_tanh"
    out = str(tmp_path / "out")
    export_hf(model.eval(), out)
    with open(os.path.join(out, "config.json")) as fh:
        assert json.load(fh)["hidden_act"] == "gelu_new"
    back = transformers.AlbertForPreTraining.from_pretrained(out).eval()
    ids = torch.tensor([[4, 17, 93, 250, 31]])
    with torch.no_grad():
        torch.testing.assert_close(model(ids)[0], back(input_ids=ids).prediction_logits[0], atol=1e-5, rtol=0)


REFUSED = {
    "bart-scale-embedding": (lambda: (transformers.BartForConditionalGeneration,
                                      transformers.BartConfig(**BART, scale_embedding=True)), "scale_embedding"),
    "bart-relu": (lambda: (transformers.BartForConditionalGeneration,
                           transformers.BartConfig(**BART, activation_function="relu")), "activation_function"),
    "bart-decoder-heads": (lambda: (transformers.BartForConditionalGeneration,
                                    transformers.BartConfig(**{**BART, "decoder_attention_heads": 4})),
                           "decoder_attention_heads"),
    "bart-untied": (lambda: (transformers.BartForConditionalGeneration,
                             transformers.BartConfig(**BART, tie_word_embeddings=False)), "tie_word_embeddings"),
    "t5-epsilon": (lambda: (transformers.T5ForConditionalGeneration,
                            transformers.T5Config(num_layers=1, d_model=32, d_kv=16, num_heads=2, d_ff=64, vocab_size=V,
                                                  layer_norm_epsilon=1e-3)), "layer_norm_epsilon"),
    "gpt2-layer-scaled-attention": (lambda: (transformers.GPT2LMHeadModel,
                                             transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=V,
                                                                     n_positions=64,
                                                                     scale_attn_by_inverse_layer_idx=True)),
                                    "scale_attn_by_inverse_layer_idx"),
    "llama-relu": (lambda: (transformers.LlamaForCausalLM, transformers.LlamaConfig(**SMALL, hidden_act="relu")),
                   "hidden_act"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_init_refuses_a_field_nlpt_would_compute_otherwise(name, documents, tmp_path):
    make, field = REFUSED[name]
    cls, config = make()
    path, _ = _save(tmp_path, cls, config, tokenizer=documents["bpe"])
    run = tmp_path / "run"
    code, _, err = nlpt("pretrain", documents["corpus"], "--init", path, "-o", run, "--context", 32, "--max-steps", 1,
                        "--batch", 4, "--threads", 1, "--quiet", "--cpu-matmul", "torch")
    assert code == 1, err
    assert field in err and "internal error" not in err and len(err.strip().splitlines()) == 1, err
    assert not run.exists()


def test_a_diverged_run_is_not_exported(documents, tmp_path):
    """NaN weights in a run's checkpoint: the export is refused naming the tensor, and no folder is written; the
    same weights in a Hugging Face folder are refused by --init."""
    from safetensors.torch import load_file, save_file

    run, out = tmp_path / "run", tmp_path / "hf"
    code, _, err = nlpt("pretrain", documents["corpus"], "-o", run, "--tokenizer", documents["bpe"], "--arch", "gpt-mini",
                        "--layers", 1, "--hidden", 32, "--heads", 2, "--ffn", 64, "--vocab", 320, "--context", 32,
                        "--max-steps", 1, "--batch", 4, "--eval-every", 0, "--threads", 1, "--quiet",
                        "--cpu-matmul", "torch")
    assert code == 0, err
    (weights,) = run.glob("checkpoints/step-*/model.safetensors")
    tensors = load_file(str(weights))
    name = sorted(tensors)[0]
    tensors[name][0] = float("nan")
    save_file(tensors, str(weights))
    code, _, err = nlpt("pretrain", "export", run, "--export-hf", out)
    assert code == 1 and "NaN" in err, err
    assert not out.exists()

    path, hf = _save(tmp_path, transformers.GPT2LMHeadModel,
                     transformers.GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=V, n_positions=64),
                     tokenizer=documents["bpe"])
    tensors = load_file(os.path.join(path, "model.safetensors"))
    tensors["transformer.h.0.mlp.c_fc.bias"][3] = float("inf")
    save_file(tensors, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    code, _, err = nlpt("pretrain", documents["corpus"], "--init", path, "-o", tmp_path / "run2", "--context", 32,
                        "--max-steps", 1, "--batch", 4, "--threads", 1, "--quiet", "--cpu-matmul", "torch")
    assert code == 1 and "transformer.h.0.mlp.c_fc.bias" in err and "NaN or infinite" in err, err
