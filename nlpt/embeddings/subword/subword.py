"""fastText-style subword embeddings: a word is its own row plus its character n-gram rows.

A word's input vector is the mean of the rows of the input matrix listed for it:
its own row (rows 0..V-1, one per vocabulary word) and one row per character
n-gram of `<word>` of length minn..maxn, hashed into `bucket` rows that follow
the word rows. The hash is fastText's FNV-1a over the n-gram's UTF-8 bytes read
as *signed* chars, and the n-grams are taken over whole UTF-8 characters, as in
fastText's `Dictionary::computeSubwords`, so that a given n-gram lands in the same
row as in fastText and `.bin` files are exchangeable (`fasttext_bin`). A word
that is not in the vocabulary gets the mean of its n-gram rows alone (the zero
vector when it has none).

Training is word2vec's trainer and kernel (`w2v.train`, `kernels.train_chunk`)
with `SubwordRows` as the word -> rows table; skip-gram takes the centre word as
the input, so its n-gram rows are summed once per position. The CLI trains on
fastText's epoch (`W2VConfig.epoch_all_tokens`, see `w2v.epoch_tokens`): the rate
decays over as many vocabulary tokens as the corpus has tokens, so a run reads on
past its last pass by the tokens below --min-count, as fastText does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from nlpt.common.errors import UsageError
from nlpt.common.hashing import FNV32_MASK, FNV32_OFFSET, FNV32_PRIME, fnv1a_signed
from nlpt.embeddings.formats.vectors import Vectors
from nlpt.embeddings.word2vec.kernels import gather_rows
from nlpt.embeddings.word2vec.w2v import InputRows, W2VConfig

BOW, EOW = "<", ">"
EOS = "</s>"  # fastText counts one per line


def char_ngrams(word: str, minn: int, maxn: int) -> list[str]:
    """The n-grams of `<word>` that fastText hashes, in its order (whole UTF-8 characters;
    the lone boundary markers `<` and `>` are not n-grams)."""
    data = (BOW + word + EOW).encode("utf-8")
    out = []
    size = len(data)
    for i in range(size):
        if data[i] & 0xC0 == 0x80:
            continue
        j, n = i, 1
        while j < size and n <= maxn:
            j += 1
            while j < size and data[j] & 0xC0 == 0x80:
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == size)):
                out.append(data[i:j].decode("utf-8", "replace"))
            n += 1
    return out


def ngram_buckets(word: str, minn: int, maxn: int, bucket: int) -> list[int]:
    """Bucket index (0..bucket-1) of each n-gram of `word`, in fastText's order (duplicates kept)."""
    if bucket <= 0 or maxn <= 0 or word == EOS:
        return []
    return [fnv1a_signed(g.encode("utf-8")) % bucket for g in char_ngrams(word, minn, maxn)]


@njit(cache=True)
def _ngram_rows(buf, offsets, minn, maxn, bucket, base, starts, rows, fill):
    """For each word k (bytes buf[offsets[k]:offsets[k+1]] = `<word>`): count its n-grams
    (fill=False, into starts[k+1]) or write base + hash % bucket into rows (fill=True)."""
    for k in range(offsets.shape[0] - 1):
        a = offsets[k]
        b = offsets[k + 1]
        q = starts[k] + 1  # after the word's own row
        if fill:
            rows[starts[k]] = k
        for i in range(a, b):
            if buf[i] & 0xC0 == 0x80:
                continue
            h = np.uint64(FNV32_OFFSET)
            j = i
            n = 1
            while j < b and n <= maxn:
                # add one UTF-8 character to the n-gram's hash
                while True:
                    c = np.uint64(buf[j])
                    if c >= 0x80:
                        c |= np.uint64(0xFFFFFF00)
                    h = ((h ^ c) * np.uint64(FNV32_PRIME)) & np.uint64(FNV32_MASK)  # `fnv1a_signed`, inlined
                    j += 1
                    if j >= b or buf[j] & 0xC0 != 0x80:
                        break
                if n >= minn and not (n == 1 and (i == a or j == b)):
                    if fill:
                        rows[q] = base + np.int64(h % np.uint64(bucket))
                    q += 1
                n += 1
        if not fill:
            starts[k + 1] = q


def subword_table(words: list[str], minn: int, maxn: int, bucket: int, own_rows: bool = True,
                  base: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(row_starts int64[len+1], row_ids int32) listing, for each of `words`, the rows of its input vector.

    With `own_rows`, word k's list starts with row k (vocabulary words); without,
    it holds only the n-gram rows (words outside the vocabulary). N-gram rows are
    `base` + bucket index (`base` defaults to len(words), fastText's layout).
    """
    base = len(words) if base is None else base
    # fastText's end-of-sentence token `</s>` has no n-grams
    encoded = [b"" if w == EOS else (BOW + w + EOW).encode("utf-8") for w in words]
    offsets = np.zeros(len(words) + 1, np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    buf = np.frombuffer(b"".join(encoded), np.uint8) if encoded else np.zeros(0, np.uint8)
    n_max = maxn if (maxn > 0 and bucket > 0) else 0
    starts = np.zeros(len(words) + 1, np.int64)
    rows = np.zeros(0, np.int64)
    _ngram_rows(buf, offsets, minn, n_max, max(bucket, 1), base, starts, rows, False)
    rows = np.empty(int(starts[-1]), np.int64)
    _ngram_rows(buf, offsets, minn, n_max, max(bucket, 1), base, starts, rows, True)
    if not own_rows:  # drop each word's leading own row
        keep = np.ones(rows.shape[0], bool)
        keep[starts[:-1]] = False
        rows = rows[keep]
        starts = starts - np.arange(len(words) + 1)
    return starts, rows.astype(np.int32)


@njit(nogil=True, cache=True)
def mean_rows(matrix, row_starts, row_ids):
    """out[k] = mean of matrix[row_ids[row_starts[k]:row_starts[k+1]]] (zero when the list is empty): the
    training kernels' own input vector (`gather_rows`), so a word's vector is the one it was trained as."""
    n = row_starts.shape[0] - 1
    d = matrix.shape[1]
    out = np.zeros((n, d), np.float32)
    for k in range(n):
        gather_rows(matrix, row_starts, row_ids, k, out, k, d)
    return out


@dataclass
class SubwordRows(InputRows):
    """The word -> rows table of fastText: the word's row, then its n-gram buckets."""

    minn: int = 3
    maxn: int = 6
    bucket: int = 2_000_000
    trainer = "subword"

    def settings(self) -> dict:
        return {"minn": self.minn, "maxn": self.maxn, "bucket": self.bucket}

    @property
    def uses_ngrams(self) -> bool:
        return self.maxn > 0 and self.bucket > 0

    def extra_rows(self) -> int:
        return self.bucket if self.uses_ngrams else 0

    def table(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        if not self.uses_ngrams:
            return super().table(words)
        starts, rows = subword_table(words, self.minn, self.maxn, self.bucket)
        self.rows_used = (len(words), rows)  # what `init_input` draws and lays the memory out by
        return starts, rows

    def init_input(self, n_words: int, config: W2VConfig) -> np.ndarray:
        """Every row the vocabulary uses (its words' rows and their n-gram rows, as listed by
        `table`) uniform in [-1/d, 1/d), fastText's range; the other n-gram rows zero.

        fastText means to draw every row, but its `DenseMatrix::uniform` fills only the first
        `threads` tenths of the matrix (~14% of the n-gram rows with 2 threads). Starting the
        n-gram rows at zero instead cost ~1.4 analogy points (47.0% vs 48.4%, two seeds each,
        on enwiki); rows no word uses stay zero, so an unseen word's vector holds only trained
        n-grams, and the matrix takes memory only for the rows training writes. Where the
        system backs memory with transparent huge pages, the first row written in each 2 MiB
        would make all of it resident (the whole matrix within seconds, even on a corpus with
        few n-grams): `sparse_zeros` keeps huge pages only where every page is written anyway.
        """
        from nlpt.common.anon import sparse_zeros

        rng = np.random.default_rng(config.seed)
        n_rows, d = n_words + self.extra_rows(), config.size
        listed = getattr(self, "rows_used", None)
        used = listed[1] if listed is not None and listed[0] == n_words else None
        syn0 = sparse_zeros((n_rows, d), np.float32, used)
        rows = np.arange(n_words) if used is None else np.unique(used)
        step = 1 << 16  # rows drawn per block: small temporaries
        for s in range(0, len(rows), step):
            r = rows[s:s + step]
            block = rng.random((len(r), d), dtype=np.float32)
            block -= 0.5
            block *= np.float32(2.0 / d)
            syn0[r] = block
        return syn0


INT32_MAX = 2**31 - 1


def validate_subwords(minn: int, maxn: int, bucket: int, recorded: dict | None = None) -> None:
    """Refuse n-gram settings that cannot work, and any setting the fastText .bin records as a 32-bit integer
    (`recorded`: option name -> value, with --minn, --maxn and --bucket added) that does not fit in one, before
    any work: the model is written only after training."""
    for option, value in {**(recorded or {}), "--minn": minn, "--maxn": maxn, "--bucket": bucket}.items():
        if value is not None and value > INT32_MAX:
            raise UsageError(f"{option} {value}: too large; a fastText .bin records it as a 32-bit integer "
                             f"(at most {INT32_MAX:,})")
    if minn < 0 or maxn < 0:
        raise UsageError("--minn and --maxn must be >= 0")
    if maxn > 0 and minn < 1:
        raise UsageError("--minn must be at least 1 when --maxn > 0 (use --minn 0 --maxn 0 for no subwords)")
    if maxn > 0 and minn > maxn:
        raise UsageError(f"--minn ({minn}) must not exceed --maxn ({maxn})")
    if bucket < 0:
        raise UsageError("--bucket must be between 0 and 2147483647")
    if maxn > 0 and bucket == 0:
        raise UsageError("--bucket 0 leaves no rows for the n-grams: use --maxn 0 for no subwords")


class SubwordModel:
    """Words, their counts, the input matrix (words then buckets) and the n-gram settings:
    what answers vectors and neighbours for any word, in the vocabulary or not."""

    def __init__(self, words: list[str], counts: list[int], input_matrix: np.ndarray, minn: int, maxn: int,
                 bucket: int, output: np.ndarray | None = None, args: dict | None = None):
        self.words = words
        self.counts = counts
        self.input = input_matrix
        self.output = output
        self.minn, self.maxn, self.bucket = minn, maxn, bucket
        self.args = args or {}
        self.index = {w: i for i, w in enumerate(words)}
        self._word_vectors = None
        self._unit = None

    @property
    def dim(self) -> int:
        return int(self.input.shape[1])

    @property
    def rows(self) -> SubwordRows:
        return SubwordRows(self.minn, self.maxn, self.bucket)

    def word_vectors(self) -> np.ndarray:
        """The vectors of the vocabulary words (mean of the word's row and its n-gram rows), V x d."""
        if self._word_vectors is None:
            starts, ids = self.rows.table(self.words)
            self._word_vectors = mean_rows(self.input, starts, ids)
        return self._word_vectors

    def vectors(self, words: list[str]) -> np.ndarray:
        """Vectors of any words: fastText's `getWordVector` (the mean of the word's own row, if it
        is in the vocabulary, and its n-gram rows; zero when it has none)."""
        n_max = self.maxn if self.bucket > 0 else 0
        starts, ngram_ids = subword_table(words, self.minn, n_max, self.bucket, own_rows=False, base=len(self.words))
        own = np.array([self.index.get(w, -1) for w in words], np.int64)
        counts = np.diff(starts) + (own >= 0)
        row_starts = np.zeros(len(words) + 1, np.int64)
        np.cumsum(counts, out=row_starts[1:])
        row_ids = np.empty(int(row_starts[-1]), np.int32)
        for k in range(len(words)):
            q = row_starts[k]
            if own[k] >= 0:
                row_ids[q] = own[k]
                q += 1
            row_ids[q:row_starts[k + 1]] = ngram_ids[starts[k]:starts[k + 1]]
        return mean_rows(self.input, row_starts, row_ids)

    def ngram_rows(self, word: str) -> list[int]:
        """The input rows whose mean is `word`'s vector."""
        own = [self.index[word]] if word in self.index else []
        return own + [len(self.words) + b for b in ngram_buckets(word, self.minn, self.maxn, self.bucket)]

    def neighbours(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The k vocabulary words nearest to `word` by cosine (fastText's `nn`: the word itself excluded)."""
        if self._unit is None:
            from nlpt.embeddings.formats.vectors import unit_rows

            self._unit = unit_rows(self.word_vectors())
        q = self.vectors([word])[0]
        norm = float(np.linalg.norm(q))
        if norm == 0.0:
            return []
        scores = self._unit @ (q / norm)
        order = np.argsort(-scores, kind="stable")
        out = []
        for i in order:
            if self.words[i] == word:
                continue
            out.append((self.words[i], float(scores[i])))
            if len(out) == k:
                break
        return out


# -- training and files ---------------------------------------------------------------------


def model_from_bin(path: str, writable: bool = False) -> SubwordModel:
    """A fastText `.bin` (written by fastText or nlpt) as a `SubwordModel`; its matrices are
    memory-mapped read-only unless `writable` (to continue training)."""
    from dataclasses import asdict

    from nlpt.embeddings.subword.fasttext_bin import read_bin

    ft = read_bin(path, copy=writable)
    a = ft.args
    model = SubwordModel(ft.words, ft.counts, ft.input, a.minn, a.maxn, a.bucket, output=ft.output, args=asdict(a))
    model.ntokens = ft.ntokens
    return model


def save_bin(path: str, model: SubwordModel) -> None:
    """Write `model` as a fastText `.bin` (its `args` give the training settings recorded)."""
    from nlpt.embeddings.subword.fasttext_bin import FastTextArgs, FastTextFile, write_bin

    args = FastTextArgs(**{**model.args, "dim": model.dim, "minn": model.minn, "maxn": model.maxn,
                           "bucket": model.bucket if model.rows.uses_ngrams else 0})
    if model.output is None:
        raise ValueError("the model has no output matrix")
    ntokens = getattr(model, "ntokens", None) or int(sum(model.counts))
    write_bin(path, FastTextFile(args, model.words, model.counts, ntokens, model.input, model.output))


def fasttext_args(config: W2VConfig, rows: SubwordRows) -> dict:
    return {"dim": config.size, "ws": config.window, "epoch": config.epochs, "min_count": config.min_count,
            "neg": config.negative, "word_ngrams": 1, "loss": "hs" if config.hs else "ns",
            "model": "cbow" if config.cbow else "sg", "bucket": rows.bucket if rows.uses_ngrams else 0,
            "minn": rows.minn, "maxn": rows.maxn, "lr_update_rate": 100, "t": config.sample}


def check_init(path: str, start: SubwordModel, config: W2VConfig, rows: SubwordRows) -> None:
    """A model to continue training must agree with the options given (dimension, n-grams, loss)."""
    diffs = []
    if start.dim != config.size:
        diffs.append(f"dimension {start.dim} (not --size {config.size})")
    if (start.minn, start.maxn) != (rows.minn, rows.maxn) and rows.uses_ngrams:
        diffs.append(f"n-grams {start.minn}-{start.maxn} (not --minn {rows.minn} --maxn {rows.maxn})")
    if start.bucket != rows.bucket and rows.uses_ngrams:
        diffs.append(f"{start.bucket} buckets (not --bucket {rows.bucket})")
    loss = start.args.get("loss", "ns")
    if loss != ("hs" if config.hs else "ns"):
        diffs.append(f"loss {loss}")
    if diffs:
        raise UsageError(f"{path}: the model to continue has {', '.join(diffs)}; give matching options")


def train(paths: list[str], opts, config: W2VConfig, rows: SubwordRows, init: str | None = None,
          read_vocab: str | None = None, save_vocab: str | None = None, checkpoint: str | None = None,
          quiet: bool = False) -> tuple[SubwordModel, dict]:
    """Train subword skip-gram/CBOW on `paths` (continuing the `.bin` model `init`, if given)."""
    from nlpt.embeddings.word2vec import w2v
    from nlpt.vocab.vocab import Vocab

    if config.hs and config.negative > 0:
        raise UsageError("choose one loss: negative sampling (--loss ns) or hierarchical softmax (--loss hs)")
    start = None
    if init:
        prev = model_from_bin(init, writable=True)
        check_init(init, prev, config, rows)
        n = len(prev.words)
        syn1neg = prev.output if not config.hs else None  # (read_bin's arrays are fresh and writable)
        syn1 = -prev.output[:max(n - 1, 1)] if config.hs else None
        start = w2v.W2VModel(Vocab(prev.words, prev.counts), prev.input, syn1neg, syn1, config)
        del prev
    trained = w2v.train(paths, opts, config, read_vocab=read_vocab, save_vocab=save_vocab, checkpoint=checkpoint,
                        quiet=quiet, keep_context=True, inputs=rows, start=start)
    words = trained.vocab.words
    if config.hs:
        output = np.zeros((len(words), config.size), np.float32)
        k = min(len(words) - 1, trained.syn1.shape[0])
        output[:k] = -trained.syn1[:k]
    else:
        output = trained.syn1neg
    model = SubwordModel(words, trained.vocab.counts, trained.syn0, rows.minn, rows.maxn,
                         rows.bucket if rows.uses_ngrams else 0, output=output, args=fasttext_args(config, rows))
    return model, trained.stats


class SubwordVectors(Vectors):
    """A subword model's vocabulary vectors (`Vectors`) that also answer `vectors_for` any word:
    what `Vectors.load` returns for a fastText `.bin`, so evaluation and neighbours reach unseen words."""

    def __init__(self, model: SubwordModel, limit: int | None = None):
        n = len(model.words) if limit is None else min(limit, len(model.words))
        super().__init__(model.words[:n], model.word_vectors()[:n])
        self.model = model

    @classmethod
    def load_bin(cls, path: str, limit: int | None = None) -> "SubwordVectors":
        return cls(model_from_bin(path), limit)

    def vectors_for(self, words: list[str]) -> np.ndarray:
        """fastText's word vectors of `words`, in the vocabulary or not (zero rows: no n-gram at all)."""
        return self.model.vectors(words)
