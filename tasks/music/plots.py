"""The piano-roll picture of a piece: time across, pitch up, a primer told apart from what the
model wrote (``music generate --png``, the demo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data import KEYS, LOW


def plot_roll(path: str | Path, roll: np.ndarray, primer_steps: int = 0, title: str = "") -> Path:
    """A piano-roll picture: time across, pitch up; the primer grey, the continuation blue."""
    from nlp_tasks.plots import pyplot, save_figure

    plt = pyplot()
    roll = np.asarray(roll) > 0.5
    image = np.zeros(roll.T.shape, dtype=np.float32)
    image[:, :primer_steps] = roll.T[:, :primer_steps] * 0.45
    image[:, primer_steps:] = roll.T[:, primer_steps:] * 1.0
    used = np.flatnonzero(roll.any(axis=0))
    low, high = (max(used.min() - 3, 0), min(used.max() + 3, KEYS - 1)) if len(used) else (0, KEYS - 1)
    fig, ax = plt.subplots(figsize=(min(4 + len(roll) / 12, 18), 4))
    ax.imshow(image[low:high + 1], origin="lower", aspect="auto", cmap="Blues", vmin=0, vmax=1,
              extent=(-0.5, len(roll) - 0.5, low + LOW - 0.5, high + LOW + 0.5), interpolation="nearest")
    if primer_steps:
        from matplotlib.patches import Patch

        ax.axvline(primer_steps - 0.5, color="tab:red", linewidth=1)
        cmap = plt.get_cmap("Blues")
        ax.legend(handles=[Patch(color=cmap(0.45), label=f"primer ({primer_steps} steps)"),
                           Patch(color=cmap(1.0), label="the model's continuation")],
                  loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False,
                  fontsize="small")  # below the axes: it never covers a note
    ax.set_xlabel("time step")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title or f"{len(roll)} steps" + (f" (primer: first {primer_steps})" if primer_steps else ""))
    return save_figure(fig, path)
