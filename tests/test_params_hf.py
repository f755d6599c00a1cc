"""Every registry entry's exact count against the Hugging Face `transformers` class built on the meta device.

The Hugging Face configs below are typed independently of the registry, from the
published `config.json` files, so they also check the registry's numbers and
`from_hf_config` (the config.json path of `nlpt params`).
"""

from __future__ import annotations

import dataclasses

import pytest

from nlpt.transformer.hf_config import from_hf_config
from nlpt.transformer.registry import REGISTRY
from nlpt.transformer.params import count


def _bert(h, layers, heads, ffn, **kw):
    return {"model_type": "bert", "vocab_size": 30522, "hidden_size": h, "num_hidden_layers": layers,
            "num_attention_heads": heads, "intermediate_size": ffn, "max_position_embeddings": 512,
            "type_vocab_size": 2, **kw}


def _roberta(h, layers, heads, ffn):
    return {**_bert(h, layers, heads, ffn), "model_type": "roberta", "vocab_size": 50265, "max_position_embeddings": 514,
            "type_vocab_size": 1, "layer_norm_eps": 1e-5, "pad_token_id": 1}


def _albert(h, layers, heads, ffn):
    return {**_bert(h, layers, heads, ffn), "model_type": "albert", "vocab_size": 30000, "embedding_size": 128}


def _gpt2(h, layers, heads, ctx=1024):
    return {"model_type": "gpt2", "vocab_size": 50257, "n_embd": h, "n_layer": layers, "n_head": heads, "n_positions": ctx}


def _t5(d, d_kv, ffn, layers, heads, **kw):
    return {"model_type": "t5", "vocab_size": 32128, "d_model": d, "d_kv": d_kv, "d_ff": ffn, "num_layers": layers,
            "num_heads": heads, **kw}


def _bart(d, layers, heads, ffn):
    return {"model_type": "bart", "vocab_size": 50265, "d_model": d, "encoder_layers": layers, "decoder_layers": layers,
            "encoder_attention_heads": heads, "decoder_attention_heads": heads, "encoder_ffn_dim": ffn,
            "decoder_ffn_dim": ffn, "max_position_embeddings": 1024}


def _llama(mt, vocab, h, layers, heads, kv, ffn, ctx, **kw):
    return {"model_type": mt, "vocab_size": vocab, "hidden_size": h, "num_hidden_layers": layers,
            "num_attention_heads": heads, "num_key_value_heads": kv, "intermediate_size": ffn,
            "max_position_embeddings": ctx, "tie_word_embeddings": False, "rms_norm_eps": 1e-5, **kw}


HF_CONFIGS = {
    "bert-base": _bert(768, 12, 12, 3072),
    "bert-large": _bert(1024, 24, 16, 4096),
    "roberta-base": _roberta(768, 12, 12, 3072),
    "roberta-large": _roberta(1024, 24, 16, 4096),
    "distilbert-base": {"model_type": "distilbert", "vocab_size": 30522, "dim": 768, "n_layers": 6, "n_heads": 12,
                        "hidden_dim": 3072, "max_position_embeddings": 512},
    "albert-base-v2": _albert(768, 12, 12, 3072),
    "albert-large-v2": _albert(1024, 24, 16, 4096),
    "albert-xxlarge-v2": _albert(4096, 12, 64, 16384),
    "gpt": {"model_type": "openai-gpt", "vocab_size": 40478, "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 512},
    "gpt2": _gpt2(768, 12, 12),
    "gpt2-medium": _gpt2(1024, 24, 16),
    "gpt2-large": _gpt2(1280, 36, 20),
    "gpt2-xl": _gpt2(1600, 48, 25),
    "gpt3-small": _gpt2(768, 12, 12, 2048),
    "gpt3-medium": _gpt2(1024, 24, 16, 2048),
    "gpt3-large": _gpt2(1536, 24, 16, 2048),
    # The paper's head counts (24 for XL, 40 for 13B) do not divide d_model, which Hugging Face refuses;
    # the count of this architecture does not depend on the head split, so build with one that divides.
    "gpt3-xl": _gpt2(2048, 24, 16, 2048),
    "gpt3-2.7b": _gpt2(2560, 32, 32, 2048),
    "gpt3-6.7b": _gpt2(4096, 32, 32, 2048),
    "gpt3-13b": _gpt2(5140, 40, 20, 2048),
    "gpt3-175b": _gpt2(12288, 96, 96, 2048),
    "t5-small": _t5(512, 64, 2048, 6, 8),
    "t5-base": _t5(768, 64, 3072, 12, 12),
    "t5-large": _t5(1024, 64, 4096, 24, 16),
    "t5-3b": _t5(1024, 128, 16384, 24, 32),
    "t5-11b": _t5(1024, 128, 65536, 24, 128),
    "flan-t5-base": _t5(768, 64, 2048, 12, 12, feed_forward_proj="gated-gelu", tie_word_embeddings=False),
    "bart-base": _bart(768, 6, 12, 3072),
    "bart-large": _bart(1024, 12, 16, 4096),
    "llama2-7b": _llama("llama", 32000, 4096, 32, 32, 32, 11008, 4096),
    "llama2-13b": _llama("llama", 32000, 5120, 40, 40, 40, 13824, 4096),
    "llama2-70b": _llama("llama", 32000, 8192, 80, 64, 8, 28672, 4096),
    "llama3-8b": _llama("llama", 128256, 4096, 32, 32, 8, 14336, 8192, rope_theta=500000.0),
    "llama3-70b": _llama("llama", 128256, 8192, 80, 64, 8, 28672, 8192, rope_theta=500000.0),
    "llama3.1-405b": _llama("llama", 128256, 16384, 126, 128, 8, 53248, 131072, rope_theta=500000.0),
    "mistral-7b": _llama("mistral", 32000, 4096, 32, 32, 8, 14336, 32768, sliding_window=4096),
    "qwen2.5-7b": _llama("qwen2", 152064, 3584, 28, 28, 4, 18944, 131072, rope_theta=1000000.0, rms_norm_eps=1e-6),
    "mixtral-8x7b": _llama("mixtral", 32000, 4096, 32, 32, 8, 14336, 32768, num_local_experts=8, num_experts_per_tok=2,
                           rope_theta=1000000.0, sliding_window=None),
    "mixtral-8x22b": _llama("mixtral", 32768, 6144, 56, 48, 8, 16384, 65536, num_local_experts=8, num_experts_per_tok=2,
                            rope_theta=1000000.0, sliding_window=None),
    "gpt-mini": {**_gpt2(384, 6, 6, 256), "vocab_size": 8192, "initializer_range": 0.0282843},
    "bert-mini": {**_bert(256, 4, 4, 1024), "vocab_size": 8192, "max_position_embeddings": 128},
    "t5-mini": _t5(256, 64, 1024, 4, 4, vocab_size=8192, n_positions=128),
    "bart-mini": {**_bart(256, 4, 4, 1024), "vocab_size": 8192, "max_position_embeddings": 256},
    "llama-mini": _llama("llama", 8192, 384, 6, 6, 2, 1024, 256),
    "moe-mini": _llama("mixtral", 8192, 384, 4, 6, 2, 512, 256, num_local_experts=4, num_experts_per_tok=2,
                       sliding_window=None),
    "deepseek-v3": {"model_type": "deepseek_v3", "vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432,
                    "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_attention_heads": 128,
                    "num_key_value_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256, "kv_lora_rank": 512,
                    "q_lora_rank": 1536, "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128,
                    "n_group": 8, "topk_group": 4, "num_experts_per_tok": 8, "first_k_dense_replace": 3,
                    "moe_layer_freq": 1, "max_position_embeddings": 163840, "tie_word_embeddings": False,
                    "num_nextn_predict_layers": 1, "rms_norm_eps": 1e-6, "rope_theta": 10000},
}

HF_CLASSES = {  # model_type → (config class, model class)
    "bert": ("BertConfig", "BertModel"), "roberta": ("RobertaConfig", "RobertaModel"),
    "distilbert": ("DistilBertConfig", "DistilBertModel"), "albert": ("AlbertConfig", "AlbertModel"),
    "openai-gpt": ("OpenAIGPTConfig", "OpenAIGPTLMHeadModel"), "gpt2": ("GPT2Config", "GPT2LMHeadModel"),
    "t5": ("T5Config", "T5ForConditionalGeneration"), "bart": ("BartConfig", "BartForConditionalGeneration"),
    "llama": ("LlamaConfig", "LlamaForCausalLM"), "mistral": ("MistralConfig", "MistralForCausalLM"),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM"), "mixtral": ("MixtralConfig", "MixtralForCausalLM"),
    "deepseek_v3": ("DeepseekV3Config", "DeepseekV3ForCausalLM"),
}
PRETRAINING = {"bert": "BertForPreTraining", "roberta": "RobertaForMaskedLM", "distilbert": "DistilBertForMaskedLM",
               "albert": "AlbertForPreTraining"}


def _hf_count(model_type: str, cfg: dict, cls_name: str | None = None) -> int:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    conf_name, model_name = HF_CLASSES[model_type]
    kw = {k: v for k, v in cfg.items() if k != "model_type"}
    hf_config = getattr(transformers, conf_name)(**kw)
    with torch.device("meta"):
        model = getattr(transformers, cls_name or model_name)(hf_config)
    total = sum(p.numel() for p in model.parameters())
    if cfg.get("tie_word_embeddings") is False and hf_config.tie_word_embeddings:
        # transformers >= 5 always ties T5's LM head (T5Config forces tie_word_embeddings=True), although
        # T5 v1.1 / Flan-T5 checkpoints ship a separate one; add back the head the released model has.
        assert model_type == "t5" and model.lm_head.weight is model.shared.weight
        total += model.lm_head.weight.numel()
    return total


def test_every_registry_entry_has_a_hf_config():
    assert set(HF_CONFIGS) == set(REGISTRY)


@pytest.mark.parametrize("name", sorted(HF_CONFIGS))
def test_total_matches_huggingface_meta_model(name):
    cfg = HF_CONFIGS[name]
    c = count(REGISTRY[name].config)
    assert c.hf_class == HF_CLASSES[cfg["model_type"]][1]
    assert c.total == _hf_count(cfg["model_type"], cfg)
    if cfg["model_type"] in PRETRAINING:
        assert c.pretraining_class == PRETRAINING[cfg["model_type"]]
        assert c.pretraining_total == _hf_count(cfg["model_type"], cfg, c.pretraining_class)


@pytest.mark.parametrize("name", sorted(HF_CONFIGS))
def test_config_json_path_reproduces_registry_entry(name):
    got = from_hf_config(dict(HF_CONFIGS[name]))
    want = REGISTRY[name].config
    if name in ("gpt3-xl", "gpt3-13b"):  # built with another head split above
        want = dataclasses.replace(want, num_heads=got.num_heads)
    assert got == want
    assert count(got).total == count(want).total
