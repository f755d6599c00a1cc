"""`nlpt finetune`'s torch-free parts: task file reading, label mapping, dev split, metrics."""

from __future__ import annotations

import numpy as np
import pytest

from nlpt.common.errors import NlptError, UsageError
from nlpt.finetune import metrics
from nlpt.finetune.data import Columns, LabelMap, detect_format, read_lines, read_split, split_off_dev


# -- metrics against hand-computed values ----------------------------------------------------------


def test_accuracy_and_macro_f1_by_hand():
    assert metrics.accuracy([0, 1, 1, 0], [0, 1, 0, 0]) == 0.75
    # class 0: tp 1 fp 1 fn 1 -> 0.5; class 1: tp 2 fp 1 fn 0 -> 0.8; class 2: tp 0 fn 1 -> 0
    assert metrics.macro_f1([0, 0, 1, 1, 2], [0, 1, 1, 1, 0]) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert metrics.macro_f1([1, 1], [1, 1]) == 1.0


def test_roc_auc_by_hand_with_ties_and_one_class():
    # positive scores 0.35, 0.8 against negatives 0.1, 0.4: 3 of the 4 pairs are ordered right
    assert metrics.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert metrics.roc_auc([0, 1], [0.5, 0.5]) == 0.5  # a tie counts one half
    assert metrics.roc_auc([1, 0, 1], [0.9, 0.1, 0.2]) == 1.0
    assert metrics.roc_auc([1, 1], [0.2, 0.3]) is None  # undefined, not NaN


def test_pearson_spearman_by_hand():
    # dx = (-1, 0, 1), dy = (-7/3, -1/3, 8/3): r = 5 / sqrt(2 * 114/9)
    assert metrics.pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(5 / np.sqrt(2 * 114 / 9))
    assert metrics.spearman([1, 2, 3], [2, 4, 7]) == pytest.approx(1.0)
    # ranks with a tie: (1, 2.5, 2.5, 4) against (1, 3, 2, 4) -> 4.5 / sqrt(4.5 * 5)
    assert metrics.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / np.sqrt(22.5))
    assert metrics.pearson([1, 1, 1], [1, 2, 3]) is None  # constant column: undefined
    assert list(metrics.rankdata([10, 30, 20, 20])) == [1.0, 4.0, 2.5, 2.5]


def test_metrics_agree_with_scipy_on_random_data():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    x = rng.normal(size=200)
    y = x + rng.normal(size=200)
    y[::7] = y[0]  # ties
    assert metrics.pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0])
    assert metrics.spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0])
    labels = (rng.random(200) < 0.4).astype(int)
    scores = np.round(rng.random(200) + 0.5 * labels, 1)  # rounded: many ties
    u = stats.mannwhitneyu(scores[labels == 1], scores[labels == 0]).statistic
    assert metrics.roc_auc(labels, scores) == pytest.approx(u / (labels.sum() * (200 - labels.sum())))


def test_classification_metrics_from_probabilities():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    m = metrics.classification_metrics(np.array([0, 1, 1, 0]), probs)
    # predicted [0, 1, 0, 1]; positives score 0.8, 0.4 against negatives 0.1, 0.7: 3 of 4 pairs
    assert m["accuracy"] == 0.5 and m["roc_auc"] == 0.75
    three = metrics.classification_metrics(np.array([0, 1, 2]), np.eye(3))
    assert three == {"accuracy": 1.0, "macro_f1": 1.0}  # no ROC-AUC beyond two classes


# -- reading task files ----------------------------------------------------------------------------


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def test_glue_tsv_as_is(tmp_path):
    # GLUE SST-2: header, a trailing space before the tab, quotes are plain characters
    path = write(tmp_path, "train.tsv", 'sentence\tlabel\nit \'s "fine" \t1\na bad , bad film \t0\n')
    split, columns = read_split("train", path, None, None)
    assert columns == Columns("sentence", None, "label")
    assert split.texts == ['it \'s "fine"', "a bad , bad film"] and split.labels == ["1", "0"]
    assert split.lines == [2, 3]


def test_sick_style_pairs_crlf_and_regression(tmp_path):
    text = ("pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\r\n"
            "1\tA man runs\tA person runs\t4.5\tENTAILMENT\r\n"
            "2\tA dog sleeps\tA cat eats\t1.2\tNEUTRAL")  # no final newline, as SICK
    path = write(tmp_path, "sick.tsv", text)
    split, columns = read_split("train", path, None, None, label="relatedness_score", regression=True)
    assert columns.pair == "sentence_B"  # found beside sentence_A
    assert split.pairs == ["A person runs", "A cat eats"]
    assert LabelMap.from_training(split, True).encode(split) == [4.5, 1.2]
    split, _ = read_split("train", path, None, None, label="entailment_judgment")
    assert LabelMap.from_training(split, False).labels == ["ENTAILMENT", "NEUTRAL"]


def test_csv_quoting_and_jsonl(tmp_path):
    csv_path = write(tmp_path, "t.csv", 'text,label\n"good, really",pos\n"bad ""film""",neg\n')
    split, _ = read_split("train", csv_path, None, None)
    assert split.texts == ["good, really", 'bad "film"']
    jsonl = write(tmp_path, "t.jsonl", '{"text": "fine", "label": 1}\n\n{"text": "poor", "label": 0, "extra": true}\n')
    split, _ = read_split("train", jsonl, None, None)
    assert split.texts == ["fine", "poor"] and split.labels == ["1", "0"] and split.lines == [1, 3]


def test_malformed_csv_and_nested_jsonl_values_are_not_taken_as_rows(tmp_path):
    open_quote = write(tmp_path, "q.csv", 'text,label\ngood,1\n"bad,0\nok,1\nfine,0\n')
    with pytest.raises(NlptError, match=r"q\.csv:3: a quoted cell opened in this row is never closed"):
        read_split("train", open_quote, None, None)
    after_quote = write(tmp_path, "a.csv", 'text,label\n"a "b" c",1\n')
    with pytest.raises(NlptError, match=r"a\.csv:2: bad CSV row"):
        read_split("train", after_quote, None, None)
    spanning = write(tmp_path, "s.csv", 'text,label\n"two\nlines",1\nok,0\n')  # a quoted cell may span lines
    assert read_split("train", spanning, None, None)[0].texts == ["two\nlines", "ok"]
    nested = write(tmp_path, "n.jsonl", '{"text": "good", "label": ["pos"]}\n{"text": {"a": 1}, "label": "neg"}\n'
                                         '{"text": "ok", "label": "pos", "meta": [1, 2]}\n')
    split, _ = read_split("train", nested, None, None)
    assert split.texts == ["ok"] and split.labels == ["pos"]  # a list in a column the task does not use is fine
    assert dict(split.skipped) == {"label is a list or object": 1, "text is a list or object": 1}
    with pytest.raises(NlptError, match=r"n\.jsonl:1: label is a list or object \(--strict\)"):
        read_split("train", nested, None, None, strict=True)


def test_bad_rows_are_skipped_and_counted_or_errors_with_strict(tmp_path):
    text = "sentence\tlabel\ngood\t1\n   \t0\nmissing label\t\nshort row\nbad\t0\n"
    path = write(tmp_path, "t.tsv", text)
    split, _ = read_split("train", path, None, None)
    assert split.texts == ["good", "bad"]
    assert dict(split.skipped) == {"empty text": 1, "empty label": 1, "missing column": 1}
    with pytest.raises(NlptError, match=r"t\.tsv:3: empty text \(--strict\)"):
        read_split("train", path, None, None, strict=True)
    reg = write(tmp_path, "r.tsv", "sentence\tlabel\na\t1.5\nb\tlots\nc\tnan\nd\t2\n")
    split, _ = read_split("train", reg, None, None, regression=True)
    assert split.labels == ["1.5", "2"] and sum(split.skipped.values()) == 2


def test_missing_columns_and_unknown_format_name_the_file(tmp_path):
    path = write(tmp_path, "t.tsv", "review\tstars\ngood\t5\n")
    with pytest.raises(NlptError, match=r"t\.tsv: no text column found \(columns: review, stars\)"):
        read_split("train", path, None, None)
    with pytest.raises(NlptError, match=r"t\.tsv: no column 'sentiment' \(--label-column\)"):
        read_split("train", path, None, None, text="review", label="sentiment")
    with pytest.raises(NlptError, match=r"x\.txt: unknown task file format"):
        detect_format(str(tmp_path / "x.txt"), None)
    with pytest.raises(UsageError):
        detect_format("x.tsv", "xml")
    bad = write(tmp_path, "bad.jsonl", '{"text": "a", "label": 1}\n[1, 2]\n')
    split_rows = pytest.raises(NlptError, match=r"bad\.jsonl:2: expected a JSON object")
    with split_rows:
        read_split("train", bad, None, None)


def test_label_map_sorting_unseen_labels_and_one_class(tmp_path):
    train = write(tmp_path, "train.tsv", "text\tlabel\na\t10\nb\t2\nc\t1\nd\t2\n")
    split, columns = read_split("train", train, None, None)
    labels = LabelMap.from_training(split, False)
    assert labels.labels == ["1", "2", "10"]  # integers sort as numbers
    assert labels.encode(split) == [2, 1, 0, 1]
    dev = write(tmp_path, "dev.tsv", "text\tlabel\nx\t2\ny\t3\nz\t4\n")
    dev_split, _ = read_split("dev", dev, None, columns)
    with pytest.raises(NlptError, match=r"dev\.tsv:3: label '3' does not occur in the training data and 1 more rows"):
        labels.encode(dev_split)
    one = write(tmp_path, "one.tsv", "text\tlabel\na\tx\nb\tx\n")
    with pytest.raises(NlptError, match="only one label"):
        LabelMap.from_training(read_split("train", one, None, None)[0], False)


def test_dev_split_is_deterministic_and_disjoint(tmp_path):
    rows = "".join(f"text {i}\t{i % 2}\n" for i in range(50))
    split, _ = read_split("train", write(tmp_path, "t.tsv", "text\tlabel\n" + rows), None, None)
    train, dev = split_off_dev(split, 0.2, seed=1)
    again = split_off_dev(split, 0.2, seed=1)[1]
    assert len(dev) == 10 and len(train) == 40 and dev.texts == again.texts
    assert not set(dev.texts) & set(train.texts)
    assert split_off_dev(split, 0.2, seed=2)[1].texts != dev.texts
    with pytest.raises(UsageError):
        split_off_dev(split, 0.001, seed=1)


def test_plain_lines_for_predict(tmp_path):
    path = write(tmp_path, "in.txt", "a good one\n\nsecond\ttext\n")
    split = read_lines(path, pair=False)
    assert split.texts == ["a good one", "second\ttext"] and split.lines == [1, 3]
    pairs = read_lines(path, pair=True)
    assert pairs.texts == ["second"] and pairs.pairs == ["text"]
    assert dict(pairs.skipped) == {"missing column": 1, "empty text": 1}
