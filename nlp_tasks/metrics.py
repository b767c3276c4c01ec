"""Metrics returned as plain Python: classification (accuracy, per-class and macro F1, confusion
matrix) and a confusion-matrix picture. NumPy only; matplotlib is imported when drawing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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


def pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Lay out ``fig``, write it as a PNG atomically (temporary file, then rename), close it."""
    from nlp_tasks.paths import atomic_write

    fig.tight_layout()
    path = Path(path)
    with atomic_write(path, mode="wb") as handle:
        fig.savefig(handle, format="png", dpi=dpi)
    pyplot().close(fig)
    return path


def plot_confusion_matrix(report: dict, path: str | Path, title: str = "Confusion matrix") -> Path:
    """Save the confusion matrix as a PNG (row-normalised colours, counts written in cells)."""
    plt = pyplot()

    matrix = np.asarray(report["confusion_matrix"], dtype=float)
    labels = report["labels"]
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    size = 1.2 + 0.7 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels=labels)
    ax.set_yticks(range(len(labels)), labels=labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(f"{title}\naccuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f}")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, int(matrix[i, j]), ha="center", va="center",
                    color="white" if share[i, j] > 0.5 else "black", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the gold row")
    return save_figure(fig, path, dpi=110)


def plot_training_curves(history: dict, path: str | Path, monitor: str | None = None, title: str = "") -> Path:
    """Save the loss (and the monitored validation metric, when different) per epoch as a PNG,
    with a title and whole-number epoch ticks (epochs counted from 1)."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()

    panels = [key for key in ("loss", "val_loss") if key in history]
    extra = monitor if monitor and monitor in history and monitor not in panels else None
    fig, axes = plt.subplots(1, 2 if extra else 1, figsize=(10 if extra else 5.5, 3.8), squeeze=False)
    for key in panels:
        epochs = range(1, len(history[key]) + 1)
        axes[0, 0].plot(epochs, history[key], marker="o", label=key)
    axes[0, 0].set_xlabel("epoch")
    axes[0, 0].set_ylabel("loss")
    axes[0, 0].legend()
    if extra:
        axes[0, 1].plot(range(1, len(history[extra]) + 1), history[extra], marker="o", color="tab:green")
        axes[0, 1].set_xlabel("epoch")
        axes[0, 1].set_ylabel(extra)
    for ax in axes[0]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title or "training curves")
    return save_figure(fig, path)
