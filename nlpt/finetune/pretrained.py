"""Pretrained Transformers as task encoders: an `nlpt pretrain` run folder or a Hugging Face folder.

Either way the weights end up in nlpt's own model for the family (`nlpt.models.build`), through
`load_run` for run folders and through the family's Hugging Face name mapping (`from_hf_config`,
`load_hf_state_dict`) for HF folders — what `--export-hf` writes, or a downloaded
`bert-base-uncased`/`gpt2` folder. The encoder feeds `model.hidden_states(...)` to a pooling:
[CLS] for BERT-style encoders, the last token for decoders, the mean of the encoder output for
encoder–decoders. Inputs are built per family: `[CLS] a [SEP] b [SEP]` with segment ids for
encoders, `a <eos> b <eos>` for decoders (so the last token has read everything), `a </s> b </s>`
for T5 and `<s> a </s></s> b </s>` for BART.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from nlpt.common.errors import NlptError, exception_reason
from nlpt.finetune.sources import read_json as _read_json, source_kind
from nlpt.objectives.classification import DEFAULT_POOLING, POOLINGS, pool

# Special tokens looked up by name, first found wins.
CLS_NAMES = ("[CLS]", "<s>", "<cls>")
SEP_NAMES = ("[SEP]", "</s>", "<sep>")
EOS_NAMES = ("<|endoftext|>", "</s>", "<eos>", "[SEP]", "<|end_of_text|>")
BOS_NAMES = ("<s>", "<|begin_of_text|>", "<bos>")
PAD_NAMES = ("[PAD]", "<pad>", "<|pad|>")


# ---------------------------------------------------------------------------------------------
# Finding and loading a pretrained model


def load_pretrained(path: str):
    """(nlpt model, `tokenizers.Tokenizer`, source description) from a run or HF folder."""
    kind = source_kind(path)
    if kind == "run":
        from nlpt.engine import load_run

        model, tokenizer, run_config = load_run(path)
        return model, tokenizer, {"kind": "run", "path": os.path.abspath(path), "objective": run_config.get("objective")}
    return _load_hf(path)


def _load_hf(path: str):
    from nlpt.models import build, family_module
    from nlpt.transformer.config import from_hf_config

    config = from_hf_config(_read_json(os.path.join(path, "config.json")), where=os.path.join(path, "config.json"))
    module = family_module(config.family)
    # Each family module names its Hugging Face tensors (export) and copies them back (import).
    export = getattr(module, "hf_state_dict", None) or getattr(module, "to_hf_state_dict", None)
    if export is None:
        raise NlptError(f"{path}: importing Hugging Face weights of the {config.family} family is not supported in this version")
    load = getattr(module, "load_hf_state_dict", None) or (lambda m, sd: load_through_export(m, export, sd))
    model = build(config)
    try:
        expected = export(model)
    except NlptError as exc:
        raise NlptError(f"{path}: cannot import this {config.family} model: {exc}") from None
    found = _normalise_names(_read_hf_weights(path), expected)
    missing = [k for k in expected if k not in found and not _is_head(k)]
    if missing:
        raise NlptError(f"{path}: weights do not match the config's {config.family} architecture "
                        f"(missing {missing[0]}{f' and {len(missing) - 1} more' if len(missing) > 1 else ''})")
    merged = {**expected, **{k: v for k, v in found.items() if k in expected}}
    for key, value in merged.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise NlptError(f"{path}: tensor {key} has shape {tuple(value.shape)}, the config says {tuple(expected[key].shape)}")
    load(model, {k: v.float() for k, v in merged.items()})
    tokenizer = _load_hf_tokenizer(path)
    return model, tokenizer, {"kind": "hf", "path": os.path.abspath(path)}


def load_through_export(model: nn.Module, export, tensors: dict) -> None:
    """Copy Hugging Face-named `tensors` into `model` using only the family's export mapping.

    For families whose module writes Hugging Face tensors but has no reader: every parameter
    element is set to a distinct whole number (in float64, exact up to 2**53), the model is exported,
    and each exported element then names the parameter element it was taken from — through any
    renaming, transposition, splitting or concatenation the export does.
    """
    params = dict(model.named_parameters())  # tied weights once
    saved = {name: p.detach().clone() for name, p in params.items()}
    starts, names, total = [], [], 0
    model.double()
    try:
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(torch.arange(total, total + p.numel(), dtype=torch.float64).view_as(p))
                starts.append(total)
                names.append(name)
                total += p.numel()
            exported = export(model)
    finally:
        model.float()
    flat = {name: saved[name].flatten() for name in names}
    start_of = torch.tensor(starts, dtype=torch.float64)
    for key, marker in exported.items():
        if key not in tensors:
            continue
        marker = marker.flatten()
        if not bool(((marker == marker.round()) & (marker >= 0) & (marker < total)).all()):
            raise NlptError(f"the {model.config.family} family's export computes {key} (not a copy of weights): cannot import it")
        owner = torch.searchsorted(start_of, marker, right=True) - 1
        values = tensors[key].flatten().to(torch.float32)
        for i in owner.unique().tolist():
            pick = owner == i
            flat[names[i]][(marker[pick] - starts[i]).long()] = values[pick]
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(flat[name].view_as(p))


# Tensors of pretraining heads that a bare HF model (BertModel, GPT2Model...) does not have;
# finetune does not use them, so they keep their fresh initialisation when absent.
_HEAD_PREFIXES = ("cls.", "lm_head.", "final_logits_bias", "model.shared.", "shared.")


def _is_head(name: str) -> bool:
    return name.startswith(_HEAD_PREFIXES)


def _read_hf_weights(path: str) -> dict:
    from safetensors.torch import load_file

    single = os.path.join(path, "model.safetensors")
    index = os.path.join(path, "model.safetensors.index.json")
    try:
        if os.path.exists(single):
            return load_file(single)
        if os.path.exists(index):
            shards = sorted(set(_read_json(index).get("weight_map", {}).values()))
            weights: dict = {}
            for shard in shards:
                weights.update(load_file(os.path.join(path, shard)))
            return weights
        # Never unpickle arbitrary objects: weights_only refuses anything but tensors and containers.
        return torch.load(os.path.join(path, "pytorch_model.bin"), map_location="cpu", weights_only=True)
    except NlptError:
        raise
    except Exception as exc:  # noqa: BLE001 - safetensors/torch raise various types for corrupt files
        raise NlptError(f"{path}: cannot read the weights ({type(exc).__name__}: {exception_reason(exc)})") from None


def _normalise_names(found: dict, expected: dict) -> dict:
    """Rename the file's tensors to the `…For…` class names `expected` uses: a bare model
    (BertModel saves `embeddings.…`, BertForPreTraining `bert.embeddings.…`) gets the prefix, and
    old TF-era LayerNorm names (gamma/beta) become weight/bias."""
    renamed = {}
    for key, value in found.items():
        key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        renamed[key] = value
    prefixes = {""} | {k.split(".", 1)[0] + "." for k in expected if "." in k}
    best = max(sorted(prefixes), key=lambda p: sum((p + k) in expected for k in renamed))
    return {best + k: v for k, v in renamed.items()}


def _load_hf_tokenizer(path: str):
    from tokenizers import Tokenizer

    tokenizer_json = os.path.join(path, "tokenizer.json")
    if os.path.exists(tokenizer_json):
        try:
            return Tokenizer.from_file(tokenizer_json)
        except Exception as exc:  # noqa: BLE001
            raise NlptError(f"{tokenizer_json}: not a tokenizers file ({exception_reason(exc)})") from None
    vocab_txt = os.path.join(path, "vocab.txt")
    if os.path.exists(vocab_txt):
        from tokenizers.implementations import BertWordPieceTokenizer

        settings = os.path.join(path, "tokenizer_config.json")
        lower = _read_json(settings).get("do_lower_case", True) if os.path.exists(settings) else True
        return BertWordPieceTokenizer(vocab_txt, lowercase=lower)._tokenizer
    vocab_json, merges = os.path.join(path, "vocab.json"), os.path.join(path, "merges.txt")
    if os.path.exists(vocab_json) and os.path.exists(merges):
        from tokenizers.implementations import ByteLevelBPETokenizer

        return ByteLevelBPETokenizer(vocab_json, merges)._tokenizer
    raise NlptError(f"{path}: no tokenizer (tokenizer.json, vocab.txt, or vocab.json + merges.txt)")


# ---------------------------------------------------------------------------------------------
# Inputs


def _find(tokenizer, names) -> int | None:
    from nlpt.engine.tokens import special_id

    return special_id(tokenizer, *names)


class InputBuilder:
    """Text (and pair) -> token ids, token types, in the family's format, cut to `max_length`."""

    def __init__(self, tokenizer, family: str, max_length: int, segments: bool):
        self.tokenizer = tokenizer
        self.family = family
        self.max_length = max_length
        self.segments = segments
        self.cls = _find(tokenizer, CLS_NAMES)
        self.sep = _find(tokenizer, SEP_NAMES)
        self.eos = _find(tokenizer, EOS_NAMES)
        self.bos = _find(tokenizer, BOS_NAMES)
        pad = _find(tokenizer, PAD_NAMES)
        self.pad = pad if pad is not None else (self.eos if self.eos is not None else 0)
        if family == "encoder" and (self.cls is None or self.sep is None):
            missing = " and ".join(n for n, v in (("[CLS]", self.cls), ("[SEP]", self.sep)) if v is None)
            raise NlptError(f"the tokenizer has no {missing} token, which an encoder's inputs need")
        if family in ("t5", "bart") and self.eos is None:
            raise NlptError("the tokenizer has no </s> token, which an encoder-decoder's inputs need")

    def _parts(self, n_pair: bool) -> tuple[list, list, list]:
        """(prefix, middle, suffix) special ids around text a and b."""
        f = self.family
        if f == "encoder":
            return [self.cls], [self.sep], [self.sep]
        if f == "bart":
            return [self.bos] if self.bos is not None else [], [self.eos, self.eos], [self.eos]
        if f == "t5":
            return [], [self.eos], [self.eos]
        end = [self.eos] if self.eos is not None else []
        return ([self.bos] if f == "llama" and self.bos is not None else []), end, end

    def encode_batch(self, texts: list[str], pairs: list[str] | None) -> dict:
        a_ids = [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]
        b_ids = [e.ids for e in self.tokenizer.encode_batch(pairs, add_special_tokens=False)] if pairs is not None else None
        prefix, middle, suffix = self._parts(pairs is not None)
        input_ids, token_types = [], []
        for i, a in enumerate(a_ids):
            if b_ids is None:
                budget = self.max_length - len(prefix) - len(suffix)
                a = a[: max(budget, 0)]
                ids = prefix + a + suffix
                types = [0] * len(ids)
            else:
                b = b_ids[i]
                budget = self.max_length - len(prefix) - len(middle) - len(suffix)
                while len(a) + len(b) > max(budget, 0):  # longest first, as BERT's truncation
                    if len(a) >= len(b):
                        a = a[:-1]
                    else:
                        b = b[:-1]
                first = prefix + a + middle[:1]
                second = middle[1:] + b + suffix
                ids = first + second
                types = [0] * len(first) + [1 if self.segments else 0] * len(second)
            input_ids.append(ids or [self.pad])
            token_types.append(types or [0])
        fields = {"input_ids": input_ids}
        if self.family == "encoder" and self.segments:
            fields["token_type_ids"] = token_types
        return fields


# ---------------------------------------------------------------------------------------------
# The encoder module


def hidden_size(config) -> int:
    return getattr(config, "hidden_size", None) or config.d_model


class PretrainedEncoder(nn.Module):
    """`model.hidden_states` + pooling -> [B, H] features."""

    def __init__(self, model: nn.Module, pooling: str):
        super().__init__()
        if pooling not in POOLINGS:
            raise NlptError(f"--pooling must be one of {', '.join(POOLINGS)}, not {pooling!r}")
        self.model = model
        self.pooling = pooling
        self.output_dim = hidden_size(model.config)

    def forward(self, batch: dict) -> torch.Tensor:
        mask = batch["attention_mask"]
        hidden = self.model.hidden_states(batch["input_ids"], attention_mask=mask, token_type_ids=batch.get("token_type_ids"))
        return pool(hidden, mask, self.pooling)


def default_pooling(family: str) -> str:
    return DEFAULT_POOLING.get(family, "mean")


def context_length(config) -> int:
    if getattr(config, "family", None) == "encoder":  # RoBERTa's positions start after the padding id
        from nlpt.models.bert import max_tokens

        return max_tokens(config)
    return int(getattr(config, "max_positions", 512) or 512)


def uses_segments(config) -> bool:
    return config.family == "encoder" and int(getattr(config, "type_vocab_size", 0) or 0) >= 2


def model_config_dict(config) -> dict:
    from nlpt.transformer.config import config_fields

    return config_fields(config)
