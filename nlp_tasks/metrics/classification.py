"""Classification scores as plain Python: confusion matrix, accuracy, per-class and macro
precision / recall / F1 (scikit-learn's ``zero_division=0`` rule), and their text table.

Used by the sentiment task; any many-to-one classifier can call :func:`classification_report`
with integer gold and predicted labels. Pictures of a report are in :mod:`nlp_tasks.plots`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nlp_tasks.errors import UserError


def confusion_matrix(gold: Sequence[int], predicted: Sequence[int], n_classes: int) -> np.ndarray:
    """``matrix[i, j]`` = number of examples of class ``i`` predicted as ``j``."""
    gold, predicted = np.asarray(gold, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    if gold.shape != predicted.shape:
        raise UserError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (gold, predicted), 1)
    return matrix


def classification_report(gold: Sequence[int], predicted: Sequence[int], labels: Sequence[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    A class never predicted has precision 0 (and never present, recall 0), as scikit-learn's
    ``zero_division=0``; macro-F1 averages F1 over all classes in ``labels``.
    """
    n = len(labels)
    matrix = confusion_matrix(gold, predicted, n)
    total = int(matrix.sum())
    if total == 0:
        raise UserError("no examples to evaluate")
    tp = np.diag(matrix).astype(float)
    pred_count, gold_count = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(tp, pred_count, out=np.zeros(n), where=pred_count > 0)
    recall = np.divide(tp, gold_count, out=np.zeros(n), where=gold_count > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(n), where=denom > 0)
    per_class = {
        label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                "support": int(gold_count[i])}
        for i, label in enumerate(labels)
    }
    return {
        "accuracy": float(tp.sum() / total),
        "macro_f1": float(f1.mean()),
        "examples": total,
        "per_class": per_class,
        "labels": list(labels),
        "confusion_matrix": matrix.tolist(),
    }


def format_classification_report(report: dict) -> str:
    """A plain-text table like scikit-learn's, plus the confusion matrix."""
    labels = report["labels"]
    width = max(9, *(len(x) for x in labels))
    lines = [f"{'':{width}}  precision  recall      f1  support"]
    for label in labels:
        row = report["per_class"][label]
        lines.append(f"{label:>{width}}  {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:6.4f}"
                     f"  {row['support']:7d}")
    lines.append(f"{'accuracy':>{width}}  {report['accuracy']:.4f}   ({report['examples']} examples)")
    lines.append(f"{'macro F1':>{width}}  {report['macro_f1']:.4f}")
    lines.append("")
    lines.append("confusion matrix (rows: gold, columns: predicted)")
    cell = max(5, *(len(x) for x in labels))
    lines.append(" " * (width + 2) + " ".join(f"{x:>{cell}}" for x in labels))
    for label, row in zip(labels, report["confusion_matrix"]):
        lines.append(f"{label:>{width}}  " + " ".join(f"{v:{cell}d}" for v in row))
    return "\n".join(lines)
