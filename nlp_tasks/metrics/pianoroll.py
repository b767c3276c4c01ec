"""Piano-roll scores from summed counts: negative log-likelihood per time step, frame-level
accuracy and note precision / recall / F1, as the polyphonic-music literature reports them
(Boulanger-Lewandowski et al. 2012; Chung et al. 2014; Bai et al. 2018; Bay et al. 2009).

The model gives each of the 88 keys at step t a probability given the true past. Over every
time step of every piece (longer pieces weigh more):

- ``nll_per_step``: the Bernoulli NLL summed over the 88 keys, averaged over time steps;
- a key is *predicted* when its probability is above 0.5; with TP, FP, FN counted over all
  (step, key) cells, ``frame_accuracy`` = TP / (TP + FP + FN), precision = TP / (TP + FP),
  recall = TP / (TP + FN), F1 their harmonic mean (0 where a denominator is 0).

The counts come from the model (the music task sums them over its batches in TensorFlow);
:func:`frame_scores` turns the five sums into the report.
"""

from __future__ import annotations

from nlp_tasks.errors import UserError


def frame_scores(nll: float, steps: float, tp: float, fp: float, fn: float) -> dict:
    """The report from summed NLL (nats), time steps, and true-positive, false-positive and
    false-negative (step, key) cells: ``{"nll_per_step", "steps", "frame_accuracy", "precision",
    "recall", "f1"}``, plain floats and an int."""
    if steps == 0:
        raise UserError("nothing to evaluate: no time steps")
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"nll_per_step": float(nll / steps), "steps": int(steps),
            "frame_accuracy": float(tp / (tp + fp + fn)) if tp + fp + fn else 0.0,
            "precision": float(precision), "recall": float(recall),
            "f1": float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0}
