"""Context sensitivity: one word in several contexts ("a crane is flying" / "a crane driver came").

A static embedding (word2vec, GloVe, fastText vector files) is a lookup table:
the word has one vector whatever surrounds it, so the cosine between its
occurrences is exactly 1.0. A contextual model gives each occurrence its own
vector: here the model's last layer (after the final norm; for
encoder–decoders the encoder's output), averaged over the word's tokens.

Nearest neighbours of an occurrence are searched among vocabulary words, each
represented the same way from a context of its own (the word alone): for a
static file its row, for a contextual model its last-layer vector when fed
alone, so both sides of every cosine come from the same layer. Cosines are
rounded to 6 decimals.

numpy here; torch, tokenizers and (for Hugging Face folders without an nlpt
loader) transformers only when a contextual model is loaded.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

from nlpt.common.errors import NlptError, UsageError
from nlpt.common.runfolder import is_run_dir
from nlpt.compare.table import Column, Table

LAYER = "last layer after the final norm (encoder output for encoder–decoders), mean over the word's tokens"
DECIMALS = 6
_WORD_CHARS = re.compile(r"^[^\W\d_]{2,}$")  # alphabetic, at least 2 characters


def read_contexts(path: str) -> list:
    """Contexts from a file: one per line; blank lines and lines starting with '#' skipped."""
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such contexts file")
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [line.strip() for line in fh]
    except UnicodeDecodeError as exc:
        raise NlptError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    out = [line for line in lines if line and not line.startswith("#")]
    if not out:
        raise NlptError(f"{path}: no contexts (one per line)")
    return out


def word_span(context: str, word: str) -> tuple:
    """(start, end) of the first whole-word, case-insensitive occurrence of `word`; UsageError if none."""
    m = re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", context, flags=re.IGNORECASE)
    if m is None:
        raise UsageError(f"context {context!r} does not contain the word {word!r}")
    return m.span()


def check_contexts(word: str, contexts: list) -> list:
    """The word's span in each context, validated before any model is loaded."""
    if not word.strip() or any(ch.isspace() for ch in word.strip()):
        raise UsageError("--word must be one word")
    if len(contexts) < 2:
        raise UsageError("give at least two contexts (--context twice, or --contexts FILE)")
    return [word_span(c, word.strip()) for c in contexts]


def _cos(a: np.ndarray, b: np.ndarray) -> Optional[float]:
    a, b = a.astype(np.float64), b.astype(np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0 or not (np.isfinite(na) and np.isfinite(nb)):
        return None
    return round(float(np.clip(a @ b / (na * nb), -1.0, 1.0)), DECIMALS)


def _unit(m: np.ndarray) -> np.ndarray:
    m = m.astype(np.float64)
    n = np.linalg.norm(m, axis=-1, keepdims=True)
    n[n == 0] = 1.0
    return m / n


def _top(query: np.ndarray, words: list, unit: np.ndarray, k: int, exclude: str) -> list:
    scores = unit @ _unit(query[None])[0]
    order = np.argsort(-scores, kind="stable")
    out = []
    for i in order:
        if words[i].lower() != exclude.lower():
            out.append([words[i], round(float(scores[i]), DECIMALS)])
        if len(out) == k:
            break
    return out


# ----------------------------------------------------------------------------------------------------------------
# static vector files


def static_row(path: str, word: str, contexts: list, k: int, fmt: Optional[str] = None) -> dict:
    """A vector file: the same row in every context."""
    from nlpt.embeddings import evaluate as ev
    from nlpt.embeddings.loading import load_vectors

    v = load_vectors(path, fmt)
    i = ev.lookup(v, word)
    row = {"model": path, "type": "static", "loader": "vector file", "representation": "the word's row (lookup)",
           "dim": v.dim, "tokens": [[v.words[i]] if i is not None else None for _ in contexts]}
    if i is None:
        return {**row, "note": f"{word!r} is not in the vocabulary", "vectors": None}
    vec = v.matrix[i]
    nb = [[w, round(s, DECIMALS)] for w, s in ev.neighbours(v, word, k)]
    return {**row, "vectors": [vec for _ in contexts], "neighbours": [nb for _ in contexts]}


# ----------------------------------------------------------------------------------------------------------------
# contextual models: an nlpt run folder, or a Hugging Face folder (config.json + weights + tokenizer.json)


@dataclass
class Encoder:
    """A tokenizer (`tokenizers.Tokenizer`, its own special tokens added) and a callable (ids, mask) -> the last
    layer's hidden states [B, T, H]."""

    tokenizer: object
    hidden: object
    loader: str

    def spans(self, texts: list, spans: list, batch_size: int = 256) -> tuple:
        """(vectors [n, H], token strings per text): mean last-layer vector of the tokens covering each span."""
        import torch

        out, pieces = [], []
        pad = next((i for i in map(self.tokenizer.token_to_id, ("[PAD]", "<pad>")) if i is not None), 0)
        for start in range(0, len(texts), batch_size):
            encs = self.tokenizer.encode_batch(texts[start:start + batch_size])
            T = max(len(e.ids) for e in encs)
            ids = torch.full((len(encs), T), pad, dtype=torch.long)
            mask = torch.zeros((len(encs), T), dtype=torch.long)
            for b, e in enumerate(encs):
                ids[b, :len(e.ids)] = torch.tensor(e.ids)
                mask[b, :len(e.ids)] = 1
            with torch.no_grad():
                h = self.hidden(ids, mask).float().numpy()
            for b, e in enumerate(encs):
                s, t = spans[start + b]
                idx = [j for j, (a, z) in enumerate(e.offsets) if z > a and a < t and z > s
                       and not (e.special_tokens_mask and e.special_tokens_mask[j])]
                if not idx:
                    raise NlptError(f"no token of {texts[start + b]!r} covers characters {s}-{t}")
                out.append(h[b, idx].mean(axis=0))
                pieces.append([e.tokens[j] for j in idx])
        return np.stack(out), pieces


def _tokenizer(path: str):
    from nlpt.tokenizer.files import load_tokenizer

    return load_tokenizer(path, missing=f"{os.path.dirname(path) or '.'}: no tokenizer.json (needed to read contexts)")


def _nlpt_hidden(model):
    model.eval()
    return lambda ids, mask: model.hidden_states(ids, attention_mask=mask)


def _nlpt_can_load(path: str) -> str:
    """"" when nlpt's own loader reads this folder (a run, or Hugging Face weights of a family nlpt builds and
    maps), else the reason it does not."""
    if is_run_dir(path):
        return ""
    from nlpt.transformer.config_file import config_from_path

    try:
        cfg = config_from_path(path)
    except NlptError as exc:
        return str(exc)
    from nlpt.models import FAMILY_MODULES

    if cfg.family not in FAMILY_MODULES:
        return f"nlpt builds no {cfg.family} model in this version"
    return ""


def load_encoder(path: str, prefer: str = "nlpt") -> Encoder:
    """An nlpt run folder or a Hugging Face folder (config.json, weights, tokenizer).

    nlpt's own loader (the one `nlpt finetune` uses) when it reads the folder; a Hugging Face folder of a family
    nlpt does not build yet is read with transformers' AutoModel (`prefer="transformers"` forces that)."""
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise NlptError(f"{path}: neither an nlpt run folder nor a Hugging Face model folder (no config.json)")
    reason = _nlpt_can_load(path) if prefer == "nlpt" else "asked for transformers"
    if not reason:
        from nlpt.engine import load_pretrained

        model, tokenizer, source = load_pretrained(path)
        loader = ("nlpt run (nlpt.engine.load_run)" if source["kind"] == "run"
                  else f"nlpt.models ({type(model).__name__}, Hugging Face weights)")
        return Encoder(tokenizer, _nlpt_hidden(model), loader)
    if is_run_dir(path):
        raise NlptError(f"{path}: {reason}")
    tokenizer = _tokenizer(os.path.join(path, "tokenizer.json"))
    try:
        import transformers
    except ImportError:
        raise NlptError(f"{path}: {reason}, and transformers is not installed") from None
    model = transformers.AutoModel.from_pretrained(path)
    model.eval()
    body = model.get_encoder() if getattr(model.config, "is_encoder_decoder", False) else model

    def hidden(ids, mask):
        return body(input_ids=ids, attention_mask=mask).last_hidden_state

    return Encoder(tokenizer, hidden, f"transformers {type(model).__name__} ({reason})")


def candidate_words(tokenizer, limit: int) -> list:
    """Up to `limit` whole alphabetic words of the vocabulary, lowest ids first (BPE/WordPiece ids ≈ frequency)."""
    vocab = tokenizer.get_vocab(with_added_tokens=False)
    seen, out = set(), []
    for tok, i in sorted(vocab.items(), key=lambda kv: kv[1]):
        if tok.startswith("##"):
            continue
        w = tokenizer.decode([i]).strip()
        if _WORD_CHARS.match(w) and w.lower() not in seen:
            seen.add(w.lower())
            out.append(w)
            if len(out) == limit:
                break
    return out


def contextual_row(path: str, word: str, contexts: list, spans: list, k: int, candidates: int,
                   prefer: str = "nlpt") -> dict:
    enc = load_encoder(path, prefer)
    vecs, pieces = enc.spans(contexts, spans)
    row = {"model": path, "type": "contextual", "loader": enc.loader, "representation": LAYER,
           "dim": int(vecs.shape[1]), "tokens": pieces, "vectors": list(vecs)}
    words = [w for w in candidate_words(enc.tokenizer, candidates) if w.lower() != word.lower()]
    if words:
        cand, _ = enc.spans(words, [(0, len(w)) for w in words])
        unit = _unit(cand)
        row["neighbours"] = [_top(v, words, unit, k, word) for v in vecs]
        row["candidates"] = len(words)
    else:
        row["note"] = "no whole words in the tokenizer's vocabulary to search for neighbours (a character tokenizer?)"
    return row


# ----------------------------------------------------------------------------------------------------------------


def compare(items: list, word: str, contexts: list, *, k: int = 5, candidates: int = 5000,
            is_static=None, fmt: Optional[str] = None, prefer: str = "nlpt") -> Table:
    """One record per model: cosines between the word's occurrences, neighbours of each occurrence."""
    spans = check_contexts(word, contexts)
    word = word.strip()
    rows = []
    for item in items:
        static = is_static(item) if is_static else os.path.isfile(item)
        r = static_row(item, word, contexts, k, fmt) if static else contextual_row(item, word, contexts, spans, k,
                                                                                     candidates, prefer)
        vecs = r.pop("vectors")
        pairs = [(i, j) for i in range(len(contexts)) for j in range(i + 1, len(contexts))]
        r["cosines"] = [{"contexts": [i + 1, j + 1], "cosine": _cos(vecs[i], vecs[j]) if vecs else None}
                        for i, j in pairs]
        r.update({f"cosine_{i + 1}_{j + 1}": c["cosine"] for (i, j), c in zip(pairs, r["cosines"])})
        known = [c["cosine"] for c in r["cosines"] if c["cosine"] is not None]
        r["mean_cosine"] = round(sum(known) / len(known), DECIMALS) if known and len(known) == len(pairs) else None
        r.setdefault("neighbours", None)
        r.setdefault("note", None)
        rows.append(r)
    columns = [Column("model", "model", align="left"), Column("type", "type", align="left"),
               Column("dim", "dim")]
    for i in range(len(contexts)):
        for j in range(i + 1, len(contexts)):
            columns.append(Column(f"cosine_{i + 1}_{j + 1}", f"cos {i + 1}-{j + 1}", fmt=_num))
    if len(contexts) > 2:
        columns.append(Column("mean_cosine", "mean cos", fmt=_num))
    for c in range(len(contexts)):
        columns.append(Column(f"neighbours_{c + 1}", f"neighbours in context {c + 1}", align="left",
                              text=lambda r, c=c: _neighbours(r, c)))
    notes = [f"context {i + 1}: {c}" for i, c in enumerate(contexts)]
    notes.append(f"representation: static files: the word's row; contextual models: {LAYER}")
    for r in rows:
        if r["type"] == "contextual":
            toks = " | ".join(" ".join(p) for p in r["tokens"])
            notes.append(f"{r['model']}: {r['loader']}; tokens of {word!r}: {toks}; neighbours among "
                         f"{r.get('candidates', 0):,} vocabulary words, each fed alone")
        if r["note"]:
            notes.append(f"{r['model']}: {r['note']}")
    meta = {"word": word, "contexts": contexts, "layer": LAYER}
    return Table("context", rows, columns, notes=notes, meta=meta)


def _num(v: float) -> str:
    return f"{v:.6f}"


def _neighbours(r: dict, c: int) -> Optional[str]:
    if r["neighbours"] is None:
        return None
    return "  ".join(f"{w} {s:.3f}" for w, s in r["neighbours"][c])  # two spaces: a word may hold a comma
