"""The lecture's taxonomy of Transformer language models, derived from a registry config.

GPT-like (autoregressive decoder, causal attention, next-token prediction),
BERT-like (autoencoding encoder, bidirectional attention, masked-LM) and
BART/T5-like (encoder–decoder, denoising) models, plus decoders whose MLPs are
mixtures of experts. The objective follows the published recipe of each
variant (BERT: MLM + NSP, RoBERTa: MLM only, ALBERT: MLM + SOP, ...).

Pure Python, no heavy imports.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from nlpt.transformer.configs import BartConfig, DeepSeekConfig, EncoderConfig, LlamaConfig, ModelConfig, T5Config

DECODER = "autoregressive decoder"
ENCODER = "autoencoding encoder"
ENCODER_DECODER = "encoder–decoder"
MOE_DECODER = "MoE decoder"

_GENERATION = "text generation, dialogue, code, few-shot prompting"
_UNDERSTANDING = "classification, tagging (NER), extractive QA, sentence embeddings"
_SEQ2SEQ = "translation, summarisation, generative QA"

_ENCODER_OBJECTIVES = {
    "bert": "masked LM + next-sentence prediction (NSP)",
    "roberta": "masked LM, dynamic masking (no NSP)",
    "albert": "masked LM + sentence-order prediction (SOP)",
    "distilbert": "masked LM + distillation from BERT",
}


@dataclass(frozen=True)
class Taxon:
    kind: str  # DECODER | ENCODER | ENCODER_DECODER | MOE_DECODER
    attention_pattern: str
    objective: str
    applications: str
    adaptation: str  # how the pretrained model is put to a task: task-specific head vs task-agnostic prompting
    nlpt_family: str  # the `family` of nlpt.models that builds it ("" when none can)

    def as_dict(self) -> dict:
        return asdict(self)


def classify(cfg: ModelConfig) -> Taxon:
    """The taxonomy row of one architecture."""
    if isinstance(cfg, EncoderConfig):
        return Taxon(ENCODER, "bidirectional (every token sees every token)",
                     _ENCODER_OBJECTIVES.get(cfg.variant, _ENCODER_OBJECTIVES["bert"]), _UNDERSTANDING,
                     "task head + fine-tuning (task-specific models)", "encoder")
    if isinstance(cfg, (T5Config, BartConfig)):
        t5 = isinstance(cfg, T5Config)
        objective = ("span corruption (sentinel-masked spans, text-to-text)" if t5
                     else "denoising: text infilling + sentence permutation")
        applications = _SEQ2SEQ + (", any task as text-to-text" if t5 else ", generation from corrupted input")
        return Taxon(ENCODER_DECODER, "bidirectional encoder + causal decoder with cross-attention", objective,
                     applications, "fine-tuning as text-to-text (task named in the input)" if t5
                     else "fine-tuning (sequence-to-sequence or classification head)", cfg.family)
    moe = isinstance(cfg, DeepSeekConfig) or (isinstance(cfg, LlamaConfig) and cfg.num_experts > 0)
    objective = "causal LM (next token)"
    if isinstance(cfg, DeepSeekConfig) and cfg.mtp_layers:
        objective += " + multi-token prediction"
    pattern = "causal (each token sees the ones before it)"
    if isinstance(cfg, LlamaConfig) and cfg.sliding_window:
        pattern += f", sliding window {cfg.sliding_window:,}"
    return Taxon(MOE_DECODER if moe else DECODER, pattern, objective,
                 _GENERATION + (" at a fraction of the compute per token" if moe else ""),
                 "prompting (zero/few-shot) or fine-tuning: one task-agnostic model",
                 "" if isinstance(cfg, DeepSeekConfig) else cfg.family)


def nlpt_builder(taxon: Taxon) -> str:
    """Whether `nlpt pretrain` can build this family in this installation (file check, nothing imported)."""
    if not taxon.nlpt_family:
        return "no"
    module = {"encoder": "bert"}.get(taxon.nlpt_family, taxon.nlpt_family)
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", f"{module}.py")
    return f"yes (nlpt/models/{module}.py)" if os.path.exists(here) else "not yet"
