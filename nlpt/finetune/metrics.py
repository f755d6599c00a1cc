"""Task metrics in numpy: accuracy, macro-F1, ROC-AUC; Pearson and Spearman for regression.

A metric that is undefined on the data (ROC-AUC with one class present, a correlation with a
constant column) is `None`, never NaN, so it shows up as missing rather than as a number.
"""

from __future__ import annotations

import numpy as np


def rankdata(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank (as scipy.stats.rankdata's default)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Start of each run of equal values, and the average rank of the run.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    average = (starts + 1 + ends) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if len(y_true) else 0.0


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean of per-class F1 over the classes seen in either gold or predictions
    (scikit-learn's `f1_score(average="macro")` with its default labels)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = np.union1d(y_true, y_pred)
    if len(classes) == 0:
        return 0.0
    scores = []
    for c in classes:
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        denominator = 2 * tp + fp + fn
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores))


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve for binary gold labels (1 = positive) and a score: the
    Mann–Whitney U statistic over n_pos·n_neg, ties counted as one half."""
    y_true = np.asarray(y_true).astype(bool)
    n_pos = int(y_true.sum())
    n_neg = len(y_true) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    u = ranks[y_true].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) < 2:
        return None
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt(np.sum(dx * dx) * np.sum(dy * dy))
    if denominator == 0 or not np.isfinite(denominator):
        return None
    return float(np.sum(dx * dy) / denominator)


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson correlation of the (tie-averaged) ranks."""
    if len(x) < 2:
        return None
    return pearson(rankdata(x), rankdata(y))


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, float | None]:
    """Metrics from gold class ids and an [N, C] matrix of class probabilities."""
    probabilities = np.asarray(probabilities)
    y_pred = probabilities.argmax(axis=1)
    result: dict[str, float | None] = {"accuracy": accuracy(y_true, y_pred), "macro_f1": macro_f1(y_true, y_pred)}
    if probabilities.shape[1] == 2:
        result["roc_auc"] = roc_auc(np.asarray(y_true) == 1, probabilities[:, 1])
    return result


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    return {
        "pearson": pearson(y_true, y_pred),
        "spearman": spearman(y_true, y_pred),
        "mse": float(np.mean((y_true - y_pred) ** 2)) if len(y_true) else 0.0,
    }


# The metric that picks the best epoch on dev (higher is better).
SELECTION_METRIC = {"classification": "accuracy", "regression": "pearson"}
