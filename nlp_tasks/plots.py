"""Pictures: the figure helpers (:func:`pyplot` on the Agg backend, :func:`save_figure`, atomic
PNG writes) and the project's plots (confusion matrix, training curves).

matplotlib is imported only when a picture is drawn, so importing this module is cheap; the
numbers the pictures show come from :mod:`nlp_tasks.metrics`, which never imports matplotlib.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Lay out ``fig``, write it as a PNG atomically (temporary file, then rename), close it."""
    from nlp_tasks.io.paths import atomic_write

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


def plot_training_curves(history: dict, path: str | Path, monitor: str | None = None, title: str = "",
                         mode: str = "min") -> Path:
    """Save the loss (and the monitored validation metric, when different) per epoch as a PNG,
    with a title and whole-number epoch ticks (epochs counted from 1); the best epoch by
    ``monitor`` (``mode`` min or max: the one the saved weights come from) is marked in every panel."""
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
    if monitor and history.get(monitor):
        values = history[monitor]
        best = (min if mode == "min" else max)(range(len(values)), key=values.__getitem__) + 1
        for ax in axes[0]:
            ax.axvline(best, color="grey", linestyle="--", linewidth=1, label=f"best epoch ({best})")
        axes[0, -1].legend()
    for ax in axes[0]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title or "training curves")
    return save_figure(fig, path)
