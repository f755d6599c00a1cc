"""Subword (fastText-style) embeddings: hashing, vectors for unseen words, training, .bin files, CLI."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from _cli import SYNTHETIC, needs_synthetic, nlpt, synthetic_head
from nlpt.common.hashing import fnv1a_signed
from nlpt.corpus.reader import ReaderOptions
from nlpt.embeddings import evaluate as ev
from nlpt.embeddings.subword import subword as S
from nlpt.embeddings.subword.fasttext_bin import read_bin
from nlpt.embeddings.formats.vectors import Vectors
from nlpt.embeddings.loading import load_vectors
from nlpt.embeddings.word2vec.w2v import W2VConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUESTIONS = os.path.join(ROOT, "data", "synthetic-questions.txt")
WORDS = ["cat", "naïve", "café", "Ærøskøbing", "中文", "中国人", "über", "x", "é", "a-b", "supercalifragilistic"]


def _fasttext():
    try:
        import fasttext  # noqa: F401
    except ImportError:
        pytest.skip("pip package fasttext not installed (pip install -e '.[dev]'): fastText comparison skipped")
    return fasttext


def _ft_train(fasttext, path, **kw):
    """fastText's train_unsupervised; on a tiny corpus its main thread can read the loss before the worker's
    first update and raise "Encountered NaN" (a race in fastText): retried."""
    for attempt in range(5):
        try:
            return fasttext.train_unsupervised(path, verbose=0, **kw)
        except RuntimeError as exc:
            if "NaN" not in str(exc) or attempt == 4:
                raise


# -- hashing and n-grams ----------------------------------------------------------------------


def test_hash_reads_bytes_as_signed_chars():
    # one ASCII byte: plain FNV-1a
    assert fnv1a_signed(b"a") == ((2166136261 ^ 0x61) * 16777619) & 0xFFFFFFFF
    # a byte >= 0x80 is sign-extended before the xor (fastText's int8_t cast), unlike textbook FNV-1a
    assert fnv1a_signed(b"\xc3") == ((2166136261 ^ 0xFFFFFFC3) * 16777619) & 0xFFFFFFFF


def test_ngrams_take_whole_characters_and_skip_lone_markers():
    assert S.char_ngrams("ab", 1, 2) == ["<a", "a", "ab", "b", "b>"]
    assert S.char_ngrams("中国", 2, 3) == ["<中", "<中国", "中国", "中国>", "国>"]
    assert S.char_ngrams("x", 3, 6) == ["<x>"]


def test_table_equals_the_python_reference():
    starts, rows = S.subword_table(WORDS, 2, 5, 997)
    for k, w in enumerate(WORDS):
        assert list(rows[starts[k]:starts[k + 1]]) == [k] + [len(WORDS) + b for b in S.ngram_buckets(w, 2, 5, 997)]
    starts, rows = S.subword_table(WORDS, 0, 0, 997)  # --minn 0 --maxn 0: the word's own row only
    assert list(starts) == list(range(len(WORDS) + 1)) and list(rows) == list(range(len(WORDS)))


def test_subwords_equal_fasttexts_get_subwords(tmp_path):
    fasttext = _fasttext()
    corpus = tmp_path / "c.txt"
    corpus.write_text(("the cat sat on the mat naïve café 中文 über\n" * 50), encoding="utf-8")
    # fastText computes the subwords itself from the settings in the file; the model is nlpt's, because
    # pip fastText's own training on a tiny corpus sporadically stops with "Encountered NaN"
    out = tmp_path / "m.bin"
    r = nlpt("train-subword", str(corpus), "-o", str(out), "--size", "4", "--minn", "2", "--maxn", "5", "--bucket",
             "5000", "--min-count", "1", "--epochs", "1", "--threads", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    m = fasttext.load_model(str(out))
    assert (m.f.getArgs().minn, m.f.getArgs().maxn, m.f.getArgs().bucket) == (2, 5, 5000)
    nwords = len(m.words)
    for w in WORDS + ["cat", "naïve"]:
        subs, ids = m.get_subwords(w)
        ngram_ids = [int(i) - nwords for i in ids if i >= nwords]
        assert ngram_ids == S.ngram_buckets(w, 2, 5, 5000), w
        assert list(subs[-len(ngram_ids):]) == S.char_ngrams(w, 2, 5), w


# -- a model trained on the synthetic corpus --------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Skip-gram with subwords on data/synthetic.txt (small settings), written as .bin."""
    if not os.path.exists(SYNTHETIC):
        pytest.skip("data/synthetic.txt missing")
    config = W2VConfig(size=32, epochs=2, alpha=0.05, min_alpha_ratio=0.0, sample=1e-4, ns_exponent=0.5,
                       threads=1, seed=3, centre_input=True)  # one thread: deterministic
    model, _ = S.train([SYNTHETIC], ReaderOptions(), config, S.SubwordRows(3, 6, 50_000), quiet=True)
    path = str(tmp_path_factory.mktemp("model") / "model.bin")
    S.save_bin(path, model)
    return model, path


def test_planted_analogies_are_learnt(trained):
    model, _ = trained
    acc = ev.analogy(Vectors(model.words, model.word_vectors()), QUESTIONS).accuracy
    assert acc >= 0.5, acc
    untrained = S.SubwordRows(3, 6, 50_000).init_input(len(model.words), W2VConfig(size=32))
    base = ev.analogy(Vectors(model.words, S.mean_rows(untrained, *S.subword_table(model.words, 3, 6, 50_000))),
                      QUESTIONS)
    # untrained, shared n-grams alone answer a few plurals (cat : cats), nothing semantic
    assert base.semantic_accuracy < 0.02 and acc > base.accuracy + 0.3, (acc, base)


def test_misspelt_words_find_the_word(trained):
    model, _ = trained
    for wrong, right in (("capitall", "capital"), ("countryy", "country"), ("kingg", "king")):
        assert wrong not in model.index and right in model.index
        assert model.neighbours(wrong, 1)[0][0] == right


def test_unseen_word_vector_is_the_mean_of_its_ngram_rows(trained):
    model, _ = trained
    word = "unseenwordé"
    rows = model.ngram_rows(word)
    assert word not in model.index and len(rows) == len(S.char_ngrams(word, 3, 6))
    assert np.allclose(model.vectors([word])[0], model.input[rows].mean(axis=0), atol=1e-6)
    known = model.words[7]
    rows = model.ngram_rows(known)
    assert rows[0] == 7  # a known word's own row comes first
    assert np.allclose(model.vectors([known])[0], model.input[rows].mean(axis=0), atol=1e-6)


def test_bin_opens_in_fasttext_and_gensim_with_the_same_vectors(trained):
    model, path = trained
    words = model.words[:200] + ["capitall", "misspeling", "中文", "zzzq"]
    ours = S.SubwordVectors.load_bin(path).vectors_for(words)
    assert np.array_equal(ours, model.vectors(words))
    fasttext = _fasttext()
    ft = fasttext.load_model(path)
    assert list(ft.words) == model.words
    assert np.allclose(np.array([ft.get_word_vector(w) for w in words]), ours, atol=1e-6)
    gensim_ft = pytest.importorskip("gensim.models.fasttext", reason="gensim not installed")
    g = gensim_ft.load_facebook_model(path)
    assert np.allclose(np.array([g.wv[w] for w in words]), ours, atol=1e-6)


def test_fasttext_written_bin_reads_the_same_and_trains_on(tmp_path):
    fasttext = _fasttext()
    corpus = tmp_path / "c.txt"
    with open(SYNTHETIC, encoding="utf-8") as fh:
        corpus.write_text("".join(next(fh) for _ in range(3000)), encoding="utf-8")
    m = _ft_train(fasttext, str(corpus), model="skipgram", dim=16, epoch=1, thread=1, bucket=20_000)
    src = str(tmp_path / "ft.bin")
    m.save_model(src)
    ours = S.model_from_bin(src)
    words = ours.words[:100] + ["capitall", "中文"]
    assert np.allclose(ours.vectors(words), np.array([m.get_word_vector(w) for w in words]), atol=1e-6)
    # continue training it with nlpt, then fastText opens the result
    out = tmp_path / "more.bin"
    r = nlpt("train-subword", str(corpus), "-o", str(out), "--init", src, "--size", "16", "--bucket", "20000",
             "--epochs", "1", "--threads", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    more = S.model_from_bin(str(out))
    assert more.words == ours.words and not np.array_equal(more.input, ours.input)
    assert np.allclose(fasttext.load_model(str(out)).get_word_vector("capitall"), more.vectors(["capitall"])[0],
                       atol=1e-6)
    r = nlpt("train-subword", str(corpus), "-o", str(tmp_path / "x.bin"), "--init", src, "--size", "16",
             "--bucket", "1000", "--quiet")
    assert r.returncode == 2 and "1000" in r.stderr and "buckets" in r.stderr


# -- the CLI ----------------------------------------------------------------------------------


@needs_synthetic
def test_cli_train_query_and_compare(tmp_path_factory, tmp_path):
    corpus = synthetic_head(tmp_path_factory, 4000, "small.txt")
    out, vec = tmp_path / "m.bin", tmp_path / "m.vec"
    r = nlpt("train-subword", corpus, "-o", str(out), "--vec", str(vec), "--size", "16", "--bucket", "20000",
             "--epochs", "1", "--threads", "1", "--cbow", "--quiet")
    assert r.returncode == 0, r.stderr
    model = S.model_from_bin(str(out))
    assert model.args["model"] == "cbow" and model.bucket == 20_000
    v = Vectors.load(str(vec))
    assert v.words == model.words and np.allclose(v.matrix, model.word_vectors(), atol=1e-6)
    # vectors for any word, from arguments or stdin
    r = nlpt("query", "vectors", str(out), input="capital capitall\nzzzq\n")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["capital", "capitall", "zzzq"]
    got = np.array([[float(x) for x in line.split()[1:]] for line in lines], np.float32)
    assert np.allclose(got, model.vectors(["capital", "capitall", "zzzq"]), atol=1e-6)
    r = nlpt("query", "nn", str(out), "capitall", "-k", "3")
    assert r.returncode == 0, r.stderr
    assert [line.split("\t")[1] for line in r.stdout.splitlines()] == [n for n, _ in model.neighbours("capitall", 3)]
    r = nlpt("compare", str(out), "--neighbours", "capitall", "--json")
    assert r.returncode == 0 and '"capitall"' in r.stdout and '"oov_mode": "ngrams"' in r.stdout, r.stderr


def test_hs_and_plain_word2vec_bins(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat and the dog sat on the log\n" * 300)
    for extra in (["--loss", "hs"], ["--minn", "0", "--maxn", "0"]):
        out = tmp_path / "m.bin"
        r = nlpt("train-subword", str(corpus), "-o", str(out), "--size", "8", "--bucket", "1000", "--epochs", "1",
                 "--threads", "1", "--quiet", *extra)
        assert r.returncode == 0, r.stderr
        ft = read_bin(str(out))
        assert ft.input.shape == (len(ft.words) + ft.args.bucket, 8) and ft.output.shape == (len(ft.words), 8)
        if "hs" in extra:
            assert ft.args.loss == "hs" and np.abs(ft.output).sum() > 0
        else:
            assert ft.args.bucket == 0 and not S.SubwordVectors.load_bin(str(out)).vectors_for(["zebra"]).any()


def _bad_bins(good: str, tmp_path) -> dict:
    with open(good, "rb") as fh:
        data = fh.read()
    ft = read_bin(good)
    dict_end = data.index(b"\0", 8 + 56 + 28)  # somewhere in the dictionary: find the input matrix flag
    words_bytes = sum(len(w.encode()) + 1 + 9 for w in ft.words)
    flag = 8 + 56 + 28 + words_bytes
    assert data[flag] == 0 and dict_end < flag
    cases = {
        "magic": b"\0\0\0\0" + data[4:],
        "version": data[:4] + struct.pack("<i", 13) + data[8:],
        "truncated": data[:-100],
        "bucket": data[:8 + 32] + struct.pack("<i", ft.args.bucket + 1) + data[8 + 36:],
        "quantised": data[:flag] + b"\x01" + data[flag + 1:],
    }
    paths = {}
    for name, blob in cases.items():
        p = tmp_path / f"{name}.bin"
        p.write_bytes(blob)
        paths[name] = str(p)
    return paths


def test_bad_bin_files_fail_in_one_line_and_write_nothing(trained, tmp_path):
    from nlpt.common.errors import NlptError

    _, good = trained
    expected = {"magic": "wrong magic", "version": "version 13", "truncated": "truncated",
                "bucket": "bucket count does not match", "quantised": ".ftz"}
    bad = _bad_bins(good, tmp_path)
    for name, path in bad.items():
        with pytest.raises(NlptError, match=expected[name].replace(".", r"\.")):
            read_bin(path)
    # through the CLI: one line, no traceback, nothing written under the output name
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\n")
    out = tmp_path / "out.bin"
    r = nlpt("train-subword", str(corpus), "-o", str(out), "--init", bad["bucket"], "--size", "40", "--bucket", "50000", "-q")
    assert r.returncode == 1 and expected["bucket"] in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr and not out.exists()
    r = nlpt("query", "vectors", bad["quantised"], "cat")
    assert r.returncode == 1 and "not supported" in r.stderr and r.stdout == "", r.stderr


def test_bad_options_are_usage_errors(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\n")
    for args, msg in ((["--minn", "5", "--maxn", "3"], "--minn"), (["--loss", "softmax"], "--loss"),
                      (["--maxn", "6", "--bucket", "0"], "--bucket")):
        r = nlpt("train-subword", str(corpus), "-o", str(tmp_path / "m.bin"), *args)
        assert r.returncode == 2 and msg in r.stderr, (args, r.stderr)
        assert not (tmp_path / "m.bin").exists()


def test_resume_with_other_reader_options_is_refused(tmp_path):
    from nlpt.embeddings.training.driver import Checkpoint, CorpusStream, reader_settings
    from nlpt.embeddings.word2vec.w2v import _config_key

    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat\n" * 50)
    ck = tmp_path / "state.ckpt"
    config = W2VConfig(size=8, min_count=1, epochs=2)
    from nlpt.cli.options import reader_options

    inputs = CorpusStream([str(corpus)], [], ReaderOptions(), 1).fingerprint()
    Checkpoint(str(ck), "w2v", {"config": _config_key(config), "reader": reader_settings(reader_options(lower=True)),
                                "inputs": inputs}).save({"syn0": np.zeros((6, 8), np.float32), "syn1neg": np.zeros((6, 8), np.float32),
                                    "counts": np.ones(6, np.int64)},
                      ["the", "cat", "sat", "on", "mat", "x"], 1, None, 300)
    r = nlpt("train-w2v", str(corpus), "-o", str(tmp_path / "v.txt"), "--size", "8", "--min-count", "1",
             "--epochs", "2", "--checkpoint", str(ck), "--threads", "1")
    assert r.returncode == 1 and "reader.lower" in r.stderr and not (tmp_path / "v.txt").exists(), r.stderr
    r = nlpt("train-w2v", str(corpus), "-o", str(tmp_path / "v.txt"), "--size", "8", "--min-count", "1",
             "--epochs", "2", "--checkpoint", str(ck), "--threads", "1", "--lower")
    assert r.returncode == 0 and "resuming" in r.stderr, r.stderr


def test_one_option_vocabulary_with_hidden_old_names():
    r = nlpt("vocab", "count", "--help")
    assert r.returncode == 0 and "--max-vocab" in r.stdout and "--max-size" not in r.stdout
    r = nlpt("train-glove", "--help")
    assert r.returncode == 0 and "--checkpoint" in r.stdout and "--save-state" not in r.stdout


def test_oov_words_are_scored_through_ngrams_in_ngram_mode(trained, tmp_path):
    _, path = trained
    v = load_vectors(path)  # a .bin: SubwordVectors
    assert isinstance(v, S.SubwordVectors)
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("capital city 8\ncapitall city 8\nking queen 7\nkingg kingdom 2\n")
    assert "kingdom" not in v.index
    skip, ngrams = ev.similarity(v, str(pairs)), ev.similarity(v, str(pairs), oov="ngrams")
    assert (skip.pairs, skip.oov, skip.ngram_words) == (2, 2, 0)
    assert (ngrams.pairs, ngrams.oov, ngrams.ngram_words) == (4, 0, 3)
    questions = tmp_path / "q.txt"
    questions.write_text(": capital-common\nking queen kingg queen\n")
    a_skip, a_ng = ev.analogy(v, str(questions)), ev.analogy(v, str(questions), oov="ngrams")
    assert a_skip.total == 0 and a_skip.oov == 1 and a_ng.total == 1 and a_ng.ngram_words == 1
    with pytest.raises(Exception, match="subword"):
        ev.similarity(Vectors(v.words, v.matrix), str(pairs), oov="ngrams")


# -- memory -----------------------------------------------------------------------------------


def _rss_mb() -> float:
    from nlpt.common.process import rss_bytes

    rss = rss_bytes()
    if not rss:
        pytest.skip("no /proc/self/status here: resident memory cannot be read")
    return rss / 2**20


def test_scattered_ngram_rows_cost_their_pages_not_the_matrix():
    """The input matrix (here 2M buckets x 100, 800 MB) takes memory for the rows written only,
    even where transparent huge pages are on (with them, one row written per 2 MiB made the whole
    matrix resident); stretches that the rows fill anyway may stay on huge pages."""
    from nlpt.common.anon import sparse_zeros

    rng = np.random.default_rng(0)
    scattered = rng.integers(100_000, 2_000_000, 5_000)
    dense = np.arange(50_000)  # the first 20 MB: every page written
    m = sparse_zeros((2_000_000, 100), np.float32, np.concatenate([dense, scattered]))
    assert m.shape == (2_000_000, 100) and m.dtype == np.float32 and m.flags.writeable
    before = _rss_mb()
    m[dense] = 1.0
    m[scattered] = 2.0
    grown = _rss_mb() - before
    # 20 MB dense + at most 2 pages per scattered row (40 MB); the whole matrix would be 800 MB
    assert grown < 120, f"writing 55k rows grew resident memory by {grown:.0f} MB"
    assert float(m[dense].sum()) == 50_000 * 100 and float(m[scattered].sum()) == 2 * 100 * len(scattered)
    assert not m[np.setdiff1d(np.arange(0, 2_000_000, 997), np.concatenate([dense, scattered]))].any()


def test_input_matrix_draws_the_rows_the_vocabulary_uses_and_leaves_the_rest_zero():
    rows = S.SubwordRows(3, 6, 100_000)
    starts, ids = rows.table(["cat", "cats", "dog"])
    m = rows.init_input(3, W2VConfig(size=16, seed=3))
    assert m.shape == (3 + 100_000, 16)
    used = np.unique(ids)
    assert set(range(3)) <= set(used.tolist()) and len(used) > 3 + 10  # own rows and n-gram rows
    assert np.all(np.abs(m[used]) <= 1 / 16) and np.all(m[used] != 0)
    unused = np.setdiff1d(np.arange(m.shape[0]), used)
    assert not m[unused].any()
    again = S.SubwordRows(3, 6, 100_000)
    again.table(["cat", "cats", "dog"])
    assert np.array_equal(m, again.init_input(3, W2VConfig(size=16, seed=3)))  # the seed gives the same start
    # without a table for this vocabulary (another size), only the word rows are drawn
    plain = rows.init_input(2, W2VConfig(size=16, seed=3))
    assert np.all(plain[:2] != 0) and not plain[2:].any()


def test_non_finite_rows_are_refused_in_blocks(tmp_path):
    """The NaN/inf check before writing a .bin looks at every row (in blocks, so it needs no
    matrix-sized temporaries) and names how many rows are bad; nothing is written."""
    from nlpt.common.errors import NlptError
    from nlpt.embeddings.subword.fasttext_bin import FastTextArgs, FastTextFile, write_bin

    words = [f"w{i}" for i in range(3)]
    inp = np.zeros((3 + 50_000, 8), np.float32)
    inp[[1, 49_000, 50_002], 2] = [np.nan, np.inf, -np.inf]  # rows in different blocks
    ft = FastTextFile(FastTextArgs(dim=8, bucket=50_000), words, [3, 2, 1], 6, inp, np.zeros((3, 8), np.float32))
    out = tmp_path / "m.bin"
    with pytest.raises(NlptError, match="3 rows contain NaN"):
        write_bin(str(out), ft)
    assert not out.exists()


# -- fastText's epoch: every token of the corpus counts -----------------------------------------


def test_an_epoch_is_every_corpus_token_as_fasttext_counts_it(tmp_path):
    """fastText decays the rate over all the corpus's tokens (those below --min-count included) but
    counts only vocabulary tokens as done: after the passes it reads on until the count is reached.
    word2vec's epoch stays one pass."""
    from nlpt.embeddings.word2vec import w2v

    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(f"the cat sat on the mat rare{k}\n" for k in range(400)))  # 2,800 tokens, 400 rare
    rows = S.SubwordRows(3, 4, 1000)
    for threads in (1, 2):
        config = W2VConfig(size=8, min_count=2, epochs=2, threads=threads, centre_input=True, epoch_all_tokens=True)
        _, stats = S.train([str(corpus)], ReaderOptions(), config, rows, quiet=True)
        assert stats["train_words"] == 2400
        # 2 passes (4,800) and 800 more, stopped at the first line that reaches the count (6 tokens a line)
        assert 5600 <= stats["words_processed"] <= 5600 + 6 * threads, stats
    config = W2VConfig(size=8, min_count=2, epochs=2, threads=1, centre_input=True)
    assert S.train([str(corpus)], ReaderOptions(), config, rows, quiet=True)[1]["words_processed"] == 4800
    assert w2v.epoch_tokens(W2VConfig(epoch_all_tokens=True), 2400, None) == 2400  # vocabulary read from a file


def test_interrupted_in_the_last_pass_resumes_it():
    from nlpt.embeddings.training import driver

    class Stream:  # 5 chunks of 2 sentences of 5 tokens; a position is the index of the next chunk
        def chunks(self, tid, resume=None, stop=None):
            for i in range(resume or 0, 5):
                yield driver.Chunk(np.zeros(10, np.int32), np.array([0, 5, 10]), 10, i + 1)

    def run(shared, interrupt_at=None, **kw):
        saved = []

        def step(chunk, tid):
            if shared.counters[0, 0] == interrupt_at:
                raise KeyboardInterrupt
            shared.counters[tid, 0] += len(chunk.ids)
            return 0

        try:
            driver.train_epochs(Stream(), shared, 1, step, "t", True, save=lambda e, p: saved.append((e, p)),
                                until_total=True, **kw)
        except KeyboardInterrupt:
            pass
        return saved

    shared = driver.Shared(1, 73)  # one pass is 50 units
    assert run(shared) == [] and shared.done() == 75  # 50 + 2 chunks + the first sentence of the third
    shared = driver.Shared(1, 73)
    saved = run(shared, interrupt_at=60)  # in the last pass, after its first chunk
    assert saved == [(1, [1])] and shared.done() == 60
    resumed = driver.Shared(1, 73)
    resumed.offset = 60
    assert run(resumed, start_epoch=1, positions=[1]) == [] and resumed.done() == 75


def test_a_vocabulary_file_keeps_one_pass_per_epoch(tmp_path):
    """Counts read from a file may come from another corpus: the run does not read on to reach them."""
    corpus, vocab = tmp_path / "c.txt", tmp_path / "v.txt"
    corpus.write_text("the cat sat on the mat\n" * 100)
    vocab.write_text("the 9000\ncat 9000\nsat 9000\non 9000\nmat 9000\n")
    config = W2VConfig(size=8, min_count=1, epochs=1, threads=1, centre_input=True, epoch_all_tokens=True)
    _, stats = S.train([str(corpus)], ReaderOptions(), config, S.SubwordRows(3, 4, 1000), read_vocab=str(vocab),
                       quiet=True)
    assert stats["words_processed"] == 600, stats
