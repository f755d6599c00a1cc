"""Classifiers on static word vectors: a bag of embeddings (fastText-supervised style) and a
TextCNN (Kim, 2014), with the vectors frozen or trained along.

The word table holds id 0 = padding, id 1 = unknown (a zero vector), then the words. It keeps
the vectors of the words that occur in the task's files (train, dev, test) and, when the
vectors are trainable, adds training words the vectors lack (randomly initialised at the
vectors' scale); without vectors (`dim`) every training word starts random. Text is tokenized as
the vectors' training corpus was when that is known (the sidecar nlpt writes beside vectors),
else split on whitespace, lower-cased when the vectors have no upper-case words.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict

import numpy as np
import torch
from torch import nn

from nlpt.common.errors import NlptError, UsageError
from nlpt.finetune.choices import ENCODERS
from nlpt.corpus.tokenize import TokenizerOptions, make_splitter

PAD, UNK = "<pad>", "<unk>"
def load_vectors(path: str):
    """word2vec text/binary or GloVe text (`Vectors`), or a fastText .bin model (`SubwordModel`,
    which gives words outside its vocabulary a vector from their character n-grams)."""
    from nlpt.embeddings.formats.vectors import Vectors
    from nlpt.embeddings.subword.fasttext_bin import is_fasttext_bin

    if os.path.isdir(path):
        raise NlptError(f"{path}: is a directory, expected a vectors file")
    if is_fasttext_bin(path):
        from nlpt.embeddings.subword.subword import model_from_bin

        return model_from_bin(path)  # a SubwordModel: vectors for any word from its n-grams
    return Vectors.load(path)


def tokenizer_options_for(vectors_path: str | None, vectors, lower: bool | None, split_punct: bool, nfkc: bool, cjk: bool) -> tuple[TokenizerOptions, str]:
    """How to tokenize task text for these vectors, and where that came from (for the log).

    With a sidecar (`VECTORS.json`, written by nlpt beside every vectors file) the task text is tokenized as
    the vectors' training corpus was; explicit flags win over it (`lower` not None, or a switch that is on).
    Without one: whitespace, lower-cased when the vectors have no upper-case words, plus the switches given."""
    def shown(o: TokenizerOptions) -> str:
        on = [name.replace("_", "-") for name in ("lower", "nfkc", "split_punct", "cjk") if getattr(o, name)]
        return ", ".join(on) if on else "whitespace only"

    if vectors_path is not None:
        from nlpt.embeddings.formats.sidecar import read_sidecar, sidecar_reader_options

        meta = read_sidecar(vectors_path)
        if meta is not None:
            trained = sidecar_reader_options(meta).tokenizer
            options = TokenizerOptions(lower=trained.lower if lower is None else lower, nfkc=trained.nfkc or nfkc,
                                       split_punct=trained.split_punct or split_punct, cjk=trained.cjk or cjk)
            how = f"as the vectors were trained ({os.path.basename(vectors_path)}.json: {shown(trained)})"
            if options != trained:
                how += f", changed by the options given to {shown(options)}"
            return options, how
    source = "as asked"
    if lower is None:
        lower = vectors is not None and not any(w != w.lower() for w in vectors.words[:50_000])
        source = "(no sidecar; lower-cased: the vectors have no upper-case words)" if lower else "(no sidecar)"
    options = TokenizerOptions(lower=lower, nfkc=nfkc, split_punct=split_punct, cjk=cjk)
    return options, f"{shown(options)} {source}"


class WordVocabulary:
    """Words -> ids for a static classifier; saved as `words.txt` (one word per line, id order)."""

    def __init__(self, words: list[str], options: TokenizerOptions, max_length: int):
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}
        self.options = options
        self.max_length = max_length
        self._split = make_splitter(options)

    def encode(self, text: str) -> list[int]:
        index = self.index
        ids = [index.get(token, 1) for token in self._split(text)[: self.max_length]]
        return ids or [1]

    def save(self, path: str) -> None:
        from nlpt.common.output import atomic_output

        with atomic_output(path) as fh:
            for word in self.words:
                fh.write(word + "\n")

    @classmethod
    def load(cls, path: str, options: dict, max_length: int) -> "WordVocabulary":
        with open(path, encoding="utf-8") as fh:
            words = [line.rstrip("\n") for line in fh]
        return cls(words, TokenizerOptions(**options), max_length)

    def options_dict(self) -> dict:
        return asdict(self.options)


def build_table(texts_by_split: dict[str, list[str]], vectors, options: TokenizerOptions, trainable: bool,
                dim: int | None, max_length: int, seed: int) -> tuple[WordVocabulary, np.ndarray, dict]:
    """The word table and its initial matrix, and coverage figures for the log/results."""
    split = make_splitter(options)
    train_counts: Counter = Counter()
    for text in texts_by_split["train"]:
        train_counts.update(split(text))
    seen: set = set(train_counts)
    for name, texts in texts_by_split.items():
        if name != "train":
            for text in texts:
                seen.update(split(text))
    rng = np.random.default_rng(seed)
    candidates = [w for w in sorted(seen) if w not in (PAD, UNK)]
    known: list[str] = []
    known_rows = np.zeros((0, dim or 1), np.float32)
    scale = 0.1
    if vectors is not None and hasattr(vectors, "ngram_rows"):  # fastText: a word outside the vocabulary
        dim = vectors.dim                                          # still has its n-grams' vector
        table = vectors.vectors(candidates) if candidates else np.zeros((0, dim), np.float32)
        keep = np.flatnonzero(np.abs(table).sum(axis=1) > 0)
        known, known_rows = [candidates[i] for i in keep], table[keep]
        scale = float(vectors.word_vectors().std()) or scale
    elif vectors is not None:
        dim = vectors.dim
        known = [w for w in candidates if w in vectors.index]
        known_rows = vectors.matrix[[vectors.index[w] for w in known]] if known else np.zeros((0, dim), np.float32)
        scale = float(vectors.matrix.std()) or scale
    words = [PAD, UNK] + known
    known_set = set(known)
    new_words = [w for w, _ in train_counts.most_common() if w not in known_set and w not in (PAD, UNK)] if trainable else []
    words += new_words
    matrix = np.zeros((len(words), dim), dtype=np.float32)
    matrix[2 : 2 + len(known)] = known_rows
    if new_words:
        matrix[2 + len(known) :] = rng.normal(0.0, scale, size=(len(new_words), dim)).astype(np.float32)
    covered = sum(c for w, c in train_counts.items() if w in known_set)
    coverage = {
        "train_tokens": int(sum(train_counts.values())),
        "train_tokens_with_vectors": int(covered),
        "words_from_vectors": len(known),
        "words_random": len(new_words),
    }
    return WordVocabulary(words, options, max_length), matrix, coverage


class BagOfEmbeddings(nn.Module):
    """The mean of the text's word vectors (unknown words left out), as fastText's supervised model;
    a pair becomes [u, v, |u - v|, u * v] (InferSent's features)."""

    def __init__(self, num_words: int, dim: int, pair: bool, freeze: bool):
        super().__init__()
        self.embedding = nn.Embedding(num_words, dim, padding_idx=0)
        self.embedding.weight.requires_grad_(not freeze)
        self.pair = pair
        self.output_dim = dim * (4 if pair else 1)

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids > 1).unsqueeze(-1).to(self.embedding.weight.dtype)
        return (self.embedding(ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, batch: dict) -> torch.Tensor:
        u = self.encode(batch["input_ids"])
        return combine_pair(u, self.encode(batch["pair_input_ids"])) if self.pair else u


class TextCNN(nn.Module):
    """Kim (2014): convolutions of several widths over the word vectors, ReLU, max over time."""

    def __init__(self, num_words: int, dim: int, pair: bool, freeze: bool, filters: int = 100, kernel_sizes=(3, 4, 5)):
        super().__init__()
        self.embedding = nn.Embedding(num_words, dim, padding_idx=0)
        self.embedding.weight.requires_grad_(not freeze)
        self.convs = nn.ModuleList(nn.Conv1d(dim, filters, k) for k in kernel_sizes)
        self.pair = pair
        self.min_length = max(kernel_sizes)
        features = filters * len(kernel_sizes)
        self.output_dim = features * (4 if pair else 1)

    def encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids).transpose(1, 2)  # [B, D, T]
        pooled = []
        for conv in self.convs:
            y = torch.relu(conv(x))  # [B, F, T - k + 1]
            # Windows that start inside the text (padding windows of a short text are masked out).
            valid = mask[:, : y.size(2)].unsqueeze(1).bool()
            pooled.append(y.masked_fill(~valid, 0.0).amax(dim=2))
        return torch.cat(pooled, dim=1)

    def forward(self, batch: dict) -> torch.Tensor:
        u = self.encode(batch["input_ids"], batch["attention_mask"])
        if not self.pair:
            return u
        return combine_pair(u, self.encode(batch["pair_input_ids"], batch["pair_attention_mask"]))


def combine_pair(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.cat([u, v, (u - v).abs(), u * v], dim=1)


def build_encoder(kind: str, num_words: int, dim: int, pair: bool, freeze: bool, filters: int, kernel_sizes) -> nn.Module:
    if kind == "bag":
        return BagOfEmbeddings(num_words, dim, pair, freeze)
    if kind == "cnn":
        return TextCNN(num_words, dim, pair, freeze, filters, tuple(kernel_sizes))
    raise UsageError(f"--encoder must be one of {', '.join(ENCODERS)}, not {kind!r}")


def encode_split(vocab: WordVocabulary, texts: list[str], pairs: list[str] | None) -> dict:
    fields = {"input_ids": [vocab.encode(t) for t in texts]}
    if pairs is not None:
        fields["pair_input_ids"] = [vocab.encode(t) for t in pairs]
    return fields
