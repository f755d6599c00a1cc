#!/usr/bin/env python3
"""Generate nlpt's embedded default data: a small synthetic English-like corpus with
planted word-analogy regularities, the matching analogy questions and a word-pair
similarity set.

Standalone (standard library only) and deterministic: the same ``--seed`` gives
byte-identical files on any platform and Python >= 3.10.

    python data/generate.py                  # writes into the data/ folder
    python data/generate.py --out-dir /tmp/x --seed 7

How the regularities are planted
--------------------------------
Every analogy relation (country-capital, male-female, singular-plural, verb forms,
adjective degrees) is a list of *groups*; a group is one concept in two or three
surface forms (``france``/``paris``, ``walk``/``walking``/``walked``). Each group owns
a few private *concept* context words, and each form ("side") of a relation owns a
set of *marker* context words shared by all groups (``capital``, ``mayor`` for
capitals; ``she``, ``her`` for female words; ``yesterday``, ``ago`` for past tense).
A sentence about a word mixes the word with markers of its side, concept words of its
group and Zipf-distributed filler, so ``vec(paris) - vec(france)`` is (mostly) the
marker difference and ``paris - france + italy ~ rome`` holds by construction. Some
noise is added (markers of the wrong side, target words inside filler sentences,
unequal group frequencies) so the task is not trivial.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
from pathlib import Path

DEFAULT_SEED = 20240601
DATA_DIR = Path(__file__).resolve().parent

CORPUS_NAME = "synthetic.txt"
QUESTIONS_NAME = "synthetic-questions.txt"
SIMILARITY_NAME = "synthetic-similarity.tsv"
README_NAME = "README.md"

# ---------------------------------------------------------------------------
# Planted relations. Each relation: sides (form names with their marker words) and
# groups (one tuple of surface forms per concept, in side order).
# ---------------------------------------------------------------------------

COUNTRY_CAPITAL = [
    ("france", "paris"), ("germany", "berlin"), ("italy", "rome"), ("spain", "madrid"),
    ("japan", "tokyo"), ("china", "beijing"), ("russia", "moscow"), ("egypt", "cairo"),
    ("greece", "athens"), ("norway", "oslo"), ("sweden", "stockholm"), ("finland", "helsinki"),
    ("denmark", "copenhagen"), ("poland", "warsaw"), ("austria", "vienna"), ("hungary", "budapest"),
    ("portugal", "lisbon"), ("ireland", "dublin"), ("canada", "ottawa"), ("australia", "canberra"),
    ("kenya", "nairobi"), ("peru", "lima"), ("chile", "santiago"), ("cuba", "havana"),
    ("iran", "tehran"), ("iraq", "baghdad"), ("thailand", "bangkok"), ("vietnam", "hanoi"),
    ("turkey", "ankara"), ("belgium", "brussels"), ("nigeria", "abuja"), ("ghana", "accra"),
    ("morocco", "rabat"), ("syria", "damascus"), ("nepal", "kathmandu"), ("romania", "bucharest"),
]

MALE_FEMALE = [
    ("king", "queen"), ("man", "woman"), ("boy", "girl"), ("father", "mother"),
    ("son", "daughter"), ("brother", "sister"), ("husband", "wife"), ("uncle", "aunt"),
    ("nephew", "niece"), ("grandfather", "grandmother"), ("grandson", "granddaughter"),
    ("prince", "princess"), ("emperor", "empress"), ("actor", "actress"), ("god", "goddess"),
    ("lord", "lady"), ("stepfather", "stepmother"), ("stepson", "stepdaughter"),
    ("policeman", "policewoman"), ("waiter", "waitress"), ("host", "hostess"), ("hero", "heroine"),
    ("duke", "duchess"), ("monk", "nun"), ("groom", "bride"), ("headmaster", "headmistress"),
    ("schoolboy", "schoolgirl"), ("dad", "mom"), ("grandpa", "grandma"), ("sultan", "sultana"),
]

SINGULAR_PLURAL = [
    ("car", "cars"), ("dog", "dogs"), ("cat", "cats"), ("house", "houses"), ("tree", "trees"),
    ("bird", "birds"), ("book", "books"), ("apple", "apples"), ("window", "windows"),
    ("river", "rivers"), ("mountain", "mountains"), ("bottle", "bottles"), ("computer", "computers"),
    ("table", "tables"), ("chair", "chairs"), ("horse", "horses"), ("road", "roads"),
    ("flower", "flowers"), ("bridge", "bridges"), ("ship", "ships"), ("train", "trains"),
    ("shoe", "shoes"), ("pencil", "pencils"), ("garden", "gardens"), ("island", "islands"),
    ("forest", "forests"), ("candle", "candles"), ("door", "doors"), ("cloud", "clouds"),
    ("machine", "machines"), ("church", "churches"), ("box", "boxes"), ("child", "children"),
    ("mouse", "mice"), ("knife", "knives"), ("banana", "bananas"),
]

VERB_FORMS = [  # base, present participle, past tense
    ("walk", "walking", "walked"), ("play", "playing", "played"), ("jump", "jumping", "jumped"),
    ("talk", "talking", "talked"), ("cook", "cooking", "cooked"), ("dance", "dancing", "danced"),
    ("sing", "singing", "sang"), ("swim", "swimming", "swam"), ("run", "running", "ran"),
    ("write", "writing", "wrote"), ("eat", "eating", "ate"), ("drive", "driving", "drove"),
    ("fly", "flying", "flew"), ("go", "going", "went"), ("listen", "listening", "listened"),
    ("look", "looking", "looked"), ("paint", "painting", "painted"), ("climb", "climbing", "climbed"),
    ("sleep", "sleeping", "slept"), ("speak", "speaking", "spoke"), ("think", "thinking", "thought"),
    ("fall", "falling", "fell"), ("grow", "growing", "grew"), ("sit", "sitting", "sat"),
    ("shout", "shouting", "shouted"), ("decrease", "decreasing", "decreased"),
    ("increase", "increasing", "increased"), ("describe", "describing", "described"),
    ("predict", "predicting", "predicted"), ("vanish", "vanishing", "vanished"),
    ("hide", "hiding", "hid"), ("sell", "selling", "sold"),
]

ADJECTIVE_FORMS = [  # base, comparative, superlative
    ("big", "bigger", "biggest"), ("small", "smaller", "smallest"), ("fast", "faster", "fastest"),
    ("slow", "slower", "slowest"), ("tall", "taller", "tallest"), ("short", "shorter", "shortest"),
    ("old", "older", "oldest"), ("young", "younger", "youngest"), ("strong", "stronger", "strongest"),
    ("weak", "weaker", "weakest"), ("warm", "warmer", "warmest"), ("cold", "colder", "coldest"),
    ("hot", "hotter", "hottest"), ("bright", "brighter", "brightest"), ("dark", "darker", "darkest"),
    ("cheap", "cheaper", "cheapest"), ("rich", "richer", "richest"), ("poor", "poorer", "poorest"),
    ("large", "larger", "largest"), ("long", "longer", "longest"), ("high", "higher", "highest"),
    ("low", "lower", "lowest"), ("deep", "deeper", "deepest"), ("wide", "wider", "widest"),
    ("quick", "quicker", "quickest"), ("quiet", "quieter", "quietest"), ("loud", "louder", "loudest"),
    ("easy", "easier", "easiest"), ("heavy", "heavier", "heaviest"), ("good", "better", "best"),
    ("bad", "worse", "worst"), ("smart", "smarter", "smartest"),
]

# relation name -> (side names, marker words per side, groups)
RELATIONS = [
    ("capital", ("country", "capital"), (
        ("country", "nation", "border", "province", "citizens", "government", "territory"),
        ("capital", "city", "mayor", "downtown", "streets", "metro", "suburbs"),
    ), COUNTRY_CAPITAL),
    ("gender", ("male", "female"), (
        ("he", "his", "him", "himself", "male", "mr"),
        ("she", "her", "hers", "herself", "female", "mrs"),
    ), MALE_FEMALE),
    ("number", ("singular", "plural"), (
        ("one", "single", "this", "each", "every", "lone"),
        ("these", "many", "several", "two", "those", "numerous"),
    ), SINGULAR_PLURAL),
    ("verb", ("base", "participle", "past"), (
        ("will", "can", "must", "should", "might", "shall"),
        ("currently", "busy", "keeps", "still", "now", "ongoing"),
        ("yesterday", "ago", "already", "last", "once", "earlier"),
    ), VERB_FORMS),
    ("adjective", ("base", "comparative", "superlative"), (
        ("very", "quite", "rather", "too", "fairly", "truly"),
        ("than", "more", "even", "compared", "relatively", "somewhat"),
        ("most", "ever", "all", "among", "absolutely", "record"),
    ), ADJECTIVE_FORMS),
]

# analogy section name -> (relation, side of a/c, side of b/d)
SECTIONS = [
    ("capital-world", "capital", 0, 1),
    ("family", "gender", 0, 1),
    ("gram3-comparative", "adjective", 0, 1),
    ("gram4-superlative", "adjective", 0, 2),
    ("gram5-present-participle", "verb", 0, 1),
    ("gram7-past-tense", "verb", 1, 2),
    ("gram8-plural", "number", 0, 1),
]

FUNCTION_WORDS = (
    "the", "of", "and", "to", "a", "in", "that", "it", "was", "for", "on", "is", "with", "as",
    "at", "by", "from", "or", "an", "be", "this", "which", "are", "not", "but", "they", "we",
    "you", "were", "there", "been", "has", "have", "had", "would", "their", "so", "if", "into",
    "about", "who", "what", "when", "some", "them", "other", "its", "also", "then", "over",
    "after", "up", "out", "no", "only", "could", "like", "our", "just", "where", "through",
)

# Markers must not be ordinary filler, so words used as markers are dropped from the
# filler function-word list ("this", "all" ...).

ONSETS = ("b", "bl", "br", "c", "ch", "cl", "cr", "d", "dr", "f", "fl", "fr", "g", "gl", "gr",
          "h", "j", "k", "l", "m", "n", "p", "pl", "pr", "r", "s", "sh", "sl", "sp", "st", "t",
          "th", "tr", "v", "w", "y", "z", "", "", "")
VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ai", "ea", "ee", "oo", "ou", "ie", "y")
CODAS = ("", "", "", "", "n", "r", "l", "s", "t", "m", "nd", "st", "ng", "ck", "rd", "sh",
         "th", "x", "nt", "lt")

N_FILLER = 3000          # pseudo-word filler types (plus the function words)
N_CONCEPT = 4            # private context words per group
FILLER_TOKENS = 240_000  # tokens in pure filler sentences
SENTENCES_PER_FORM = 150 # mean number of sentences per target word form
WRONG_MARKER_P = 0.08    # chance that a marker comes from another side of the relation
CONCEPT_NOISE = 0.03     # chance that a concept word comes from another concept of the relation
TARGET_IN_FILLER = 0.02  # chance that a filler sentence also contains a random target word
QUESTIONS_PER_SECTION = 260
N_SIM_PAIRS = 240


def _pseudo_word(rng: random.Random) -> str:
    n = rng.choice((1, 1, 2, 2, 2, 3))
    parts = []
    for i in range(n):
        parts.append(rng.choice(ONSETS) if i == 0 or rng.random() < 0.8 else "")
        parts.append(rng.choice(VOWELS))
        parts.append(rng.choice(CODAS) if i == n - 1 or rng.random() < 0.35 else "")
    return "".join(parts)


def _fresh_words(rng: random.Random, n: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        w = _pseudo_word(rng)
        if len(w) < 4 or w in taken:
            continue
        taken.add(w)
        out.append(w)
    return out


class _Zipf:
    """Sampler over a word list with P(rank r) ~ 1 / (r + offset) ** s."""

    def __init__(self, words: list[str], s: float = 1.05, offset: float = 2.7):
        self.words = words
        acc, cum = 0.0, []
        for r in range(len(words)):
            acc += 1.0 / (r + 1 + offset) ** s
            cum.append(acc)
        self.cum = cum

    def sample(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cum, k=k)


def build(seed: int = DEFAULT_SEED) -> dict[str, str]:
    """Return {file name: text} for the corpus, questions and similarity files."""
    rng = random.Random(seed)

    markers = [w for _, _, sides, _ in RELATIONS for side in sides for w in side]
    targets = [w for _, _, _, groups in RELATIONS for g in groups for w in g]
    for name, words in (("marker", markers), ("target", targets)):
        if len(set(words)) != len(words):
            dup = sorted({w for w in words if words.count(w) > 1})
            raise AssertionError(f"duplicate {name} words: {dup}")
    reserved = set(markers) | set(targets)
    if set(markers) & set(targets):
        raise AssertionError("a word is both a marker and a target")
    function_words = [w for w in FUNCTION_WORDS if w not in reserved]
    taken = set(reserved) | set(function_words)

    filler = function_words + _fresh_words(rng, N_FILLER, taken)
    zipf = _Zipf(filler)

    # Groups: (relation index, group index, forms, concept words, weight).
    groups = []
    for ri, (_, _, sides, rel_groups) in enumerate(RELATIONS):
        for gi, forms in enumerate(rel_groups):
            assert len(forms) == len(sides)
            concept = _fresh_words(rng, N_CONCEPT, taken)
            weight = rng.uniform(0.6, 1.4)  # unequal group frequencies
            groups.append((ri, gi, forms, concept, weight))

    rel_concepts: list[list[list[str]]] = [[] for _ in RELATIONS]
    for ri, _, _, concept, _ in groups:
        rel_concepts[ri].append(concept)

    sentences: list[str] = []
    for ri, gi, forms, concept, weight in groups:
        sides = RELATIONS[ri][2]
        for si, word in enumerate(forms):
            n_sent = max(20, round(SENTENCES_PER_FORM * weight * rng.uniform(0.85, 1.15)))
            for _ in range(n_sent):
                toks = [word]
                for _ in range(rng.randint(1, 3)):
                    side = si
                    if rng.random() < WRONG_MARKER_P:
                        side = rng.randrange(len(sides))
                    toks.append(rng.choice(sides[side]))
                for _ in range(rng.randint(1, 3)):
                    if rng.random() < CONCEPT_NOISE:  # a context word of another concept
                        toks.append(rng.choice(rng.choice(rel_concepts[ri])))
                    else:
                        toks.append(rng.choice(concept))
                toks.extend(zipf.sample(rng, rng.randint(2, 6)))
                rng.shuffle(toks)
                sentences.append(" ".join(toks))

    n_tok = 0
    while n_tok < FILLER_TOKENS:
        toks = zipf.sample(rng, rng.randint(6, 22))
        if rng.random() < TARGET_IN_FILLER:
            toks[rng.randrange(len(toks))] = rng.choice(targets)
        n_tok += len(toks)
        sentences.append(" ".join(toks))
    rng.shuffle(sentences)
    corpus = "\n".join(sentences) + "\n"

    # Analogy questions: a b c d with (a, b) and (c, d) from different groups.
    q_lines: list[str] = []
    rel_index = {name: i for i, (name, _, _, _) in enumerate(RELATIONS)}
    for section, rel, sa, sb in SECTIONS:
        rel_groups = RELATIONS[rel_index[rel]][3]
        pairs = [(i, j) for i in range(len(rel_groups)) for j in range(len(rel_groups)) if i != j]
        chosen = sorted(rng.sample(range(len(pairs)), min(QUESTIONS_PER_SECTION, len(pairs))))
        q_lines.append(f": {section}")
        for k in chosen:
            i, j = pairs[k]
            q_lines.append(f"{rel_groups[i][sa]} {rel_groups[i][sb]} {rel_groups[j][sa]} {rel_groups[j][sb]}")
    questions = "\n".join(q_lines) + "\n"

    # Similarity pairs: same group high, same relation and side medium, otherwise low.
    sim_rows: list[tuple[str, str, float]] = []
    seen: set[tuple[str, str]] = set()
    kinds = ("same-group", "same-side", "same-relation", "unrelated")
    while len(sim_rows) < N_SIM_PAIRS:
        kind = kinds[len(sim_rows) % len(kinds)]
        ri, gi, forms, _, _ = rng.choice(groups)
        si = rng.randrange(len(forms))
        w1 = forms[si]
        rel_groups = RELATIONS[ri][3]
        if kind == "same-group":
            w2 = forms[rng.choice([s for s in range(len(forms)) if s != si])]
            score = rng.uniform(7.8, 9.6)
        elif kind == "same-side":
            w2 = rel_groups[rng.choice([g for g in range(len(rel_groups)) if g != gi])][si]
            score = rng.uniform(4.2, 6.0)
        elif kind == "same-relation":
            other = rng.choice([g for g in range(len(rel_groups)) if g != gi])
            w2 = rel_groups[other][rng.choice([s for s in range(len(forms)) if s != si])]
            score = rng.uniform(2.8, 4.2)
        else:
            oi, _, oforms, _, _ = rng.choice(groups)
            if oi == ri:
                continue
            w2 = rng.choice(oforms)
            score = rng.uniform(0.2, 1.8)
        key = (min(w1, w2), max(w1, w2))
        if w1 == w2 or key in seen:
            continue
        seen.add(key)
        sim_rows.append((w1, w2, score))
    sim_lines = [
        "# Synthetic word-similarity set for nlpt (data/generate.py; see data/README.md)",
        "# Word 1\tWord 2\tHuman (mean)",
    ] + [f"{a}\t{b}\t{s:.2f}" for a, b, s in sim_rows]
    similarity = "\n".join(sim_lines) + "\n"

    return {CORPUS_NAME: corpus, QUESTIONS_NAME: questions, SIMILARITY_NAME: similarity}


def _stats(files: dict[str, bytes]) -> dict[str, tuple[int, int, str]]:
    return {n: (len(b), b.count(b"\n"), hashlib.sha256(b).hexdigest()) for n, b in files.items()}


def render_readme(files: dict[str, bytes], seed: int) -> str:
    st = _stats(files)
    corpus = files[CORPUS_NAME].decode()
    tokens = corpus.split()
    n_types = len(set(tokens))
    questions = files[QUESTIONS_NAME].decode().splitlines()
    counts: dict[str, int] = {}
    cur = None
    for line in questions:
        if line.startswith(": "):
            cur = line[2:]
            counts[cur] = 0
        elif line.strip():
            counts[cur] += 1
    seed_opt = "" if seed == DEFAULT_SEED else f" --seed {seed}"
    rows = "\n".join(
        f"| `{n}` | {st[n][0]:,} | {st[n][1]:,} | `{st[n][2]}` |"
        for n in (CORPUS_NAME, QUESTIONS_NAME, SIMILARITY_NAME)
    )
    sec_rows = "\n".join(f"| `{name}` | {n} |" for name, n in counts.items())
    return f"""# Embedded default data (synthetic)

Everything in this folder is **synthetic**: generated by `data/generate.py` (standard
library only, deterministic), not taken from any real corpus. Regenerate with

    python data/generate.py{seed_opt}

(seed {seed}; `--out-dir DIR` writes elsewhere). The same seed gives byte-identical
files; `tests/test_synthetic_data.py` checks that the committed files match.

## Files

| file | bytes | lines | sha256 |
| --- | ---: | ---: | --- |
{rows}

- `{CORPUS_NAME}`: English-like corpus, one sentence per line, lower-case,
  whitespace-tokenised: {len(tokens):,} tokens, {n_types:,} word types.
- `{QUESTIONS_NAME}`: word analogies in the word2vec `questions-words.txt` format
  (`: section` lines, then `a b c d` lines), {sum(counts.values()):,} questions; every word
  occurs at least 5 times in the corpus.
- `{SIMILARITY_NAME}`: {st[SIMILARITY_NAME][1] - 2} word pairs with a gold similarity
  score 0-10, laid out like WordSim-353's tsv (two `#` lines, then
  `word1<TAB>word2<TAB>score`).

## What is planted

Five relations, each a list of concepts in two or three surface forms (real words):
country-capital ({len(COUNTRY_CAPITAL)} pairs, `france paris`), male-female
({len(MALE_FEMALE)} pairs, `king queen`), singular-plural ({len(SINGULAR_PLURAL)} pairs,
`car cars`), verb base/-ing/past ({len(VERB_FORMS)} verbs, `walk walking walked`) and
adjective base/comparative/superlative ({len(ADJECTIVE_FORMS)} adjectives,
`big bigger biggest`).

Each concept has {N_CONCEPT} private context words (pseudo-words) shared by all its forms;
each form of a relation has its own marker words shared by all concepts (countries:
`country nation border ...`; capitals: `capital city mayor ...`; female words:
`she her ...`; plurals: `these many several ...`; past tense: `yesterday ago ...`;
comparatives: `than more ...`; superlatives: `most ever ...`). A sentence about a word
mixes the word, 1-3 markers of its form, 1-3 of its concept words and 2-6 filler words,
so `vec(paris) - vec(france) + vec(italy)` lands near `vec(rome)` by construction.
Noise: {WRONG_MARKER_P:.0%} of markers come from the wrong form, concept frequencies vary
about 3x, and {TARGET_IN_FILLER:.0%} of the filler sentences contain a random target word.
About {FILLER_TOKENS:,} tokens are plain filler sentences: {len(FUNCTION_WORDS)} English
function words plus {N_FILLER:,} pseudo-words drawn from a Zipf-like distribution.

Analogy sections (named like the Google set; questions use all ordered pairs of
distinct concepts, sampled):

| section | questions |
| --- | ---: |
{sec_rows}

Similarity gold scores follow the construction: two forms of the same concept
7.8-9.6, same form of different concepts in one relation 4.2-6.0, different forms of
different concepts in one relation 2.8-4.2, words from different relations 0.2-1.8.

## Learnability check

{LEARNABILITY}
"""


LEARNABILITY = """Measured with gensim 4.4 (only for this check; the generator does not use it) on
2 CPU cores, default seed files:

    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence
    m = Word2Vec(LineSentence("data/synthetic.txt"), vector_size=100, window=5, min_count=5,
                 sg=1, negative=5, epochs=5, workers=2, seed=1)
    m.wv.evaluate_word_analogies("data/synthetic-questions.txt")

| section | skip-gram | CBOW (`sg=0`) |
| --- | ---: | ---: |
| `capital-world` | 99.6% | 61.5% |
| `family` | 99.6% | 36.2% |
| `gram3-comparative` | 100.0% | 79.6% |
| `gram4-superlative` | 100.0% | 82.7% |
| `gram5-present-participle` | 100.0% | 81.5% |
| `gram7-past-tense` | 100.0% | 84.2% |
| `gram8-plural` | 99.6% | 50.8% |
| **total** | **99.8%** | **68.1%** |
| training time | 5.3 s | 2.8 s |

With one epoch instead of five: skip-gram 34%, CBOW 10%. Random vectors: 0.0%.
`evaluate_word_pairs` on the similarity file (skip-gram): Spearman 0.87, no OOV pairs.
Figures vary by a few points with gensim's seed and thread scheduling."""


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def generate(out_dir: str | os.PathLike = DATA_DIR, seed: int = DEFAULT_SEED) -> dict[str, Path]:
    """Write all data files (and README.md) into out_dir; return {name: path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {n: t.encode("utf-8") for n, t in build(seed).items()}
    files[README_NAME] = render_readme(files, seed).encode("utf-8")
    paths = {}
    for name, data in files.items():
        _write_atomic(out / name, data)
        paths[name] = out / name
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", default=str(DATA_DIR), help="output folder (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    args = ap.parse_args(argv)
    for name, path in generate(args.out_dir, args.seed).items():
        print(f"{path}\t{path.stat().st_size} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
