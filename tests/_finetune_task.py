"""The synthetic sentiment task shared by the finetune tests: three-word sentences in which one word decides
the label, and 16-d word vectors in which sentiment is one direction."""

from __future__ import annotations

POS = ["good", "great", "fine", "nice", "superb"]
NEG = ["bad", "awful", "poor", "dull", "boring"]
FILLER = [f"w{i}" for i in range(20)]


def labelled_sentence(rng) -> tuple[str, str]:
    """Two fillers and one sentiment word, shuffled; the label follows the sentiment word."""
    y = rng.random() < 0.5
    words = rng.sample(FILLER, 2) + [rng.choice(POS if y else NEG)]
    rng.shuffle(words)
    return " ".join(words), "pos" if y else "neg"


def write_task(folder, seed: int, sizes: dict) -> None:
    """train/dev/test TSV files (`sizes`: split name -> rows) of labelled sentences, and vec.txt, in `folder`."""
    import random

    rng = random.Random(seed)
    for name, n in sizes.items():
        with open(folder / f"{name}.tsv", "w", encoding="utf-8") as fh:
            fh.write("sentence\tlabel\n")
            for _ in range(n):
                fh.write("%s\t%s\n" % labelled_sentence(rng))
    write_sentiment_vectors(folder / "vec.txt")


def write_sentiment_vectors(path) -> None:
    """word2vec text vectors of every task word: normal noise, +3/-3 on the first axis for POS/NEG words."""
    import numpy as np

    vrng = np.random.default_rng(0)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"{len(POS + NEG + FILLER)} 16\n")
        for w in POS + NEG + FILLER:
            v = vrng.normal(size=16)
            v[0] += 3 if w in POS else -3 if w in NEG else 0
            fh.write(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n")
