"""Chunk (entity) scores as the conlleval script computes them: micro and per-type precision,
recall and F1 over chunks whose type and both boundaries match, token accuracy, and the report
laid out like conlleval's output.

Chunks are read from IOB tags by :func:`nlp_tasks.text.chunking.chunks` (conlleval's own start/end
rules); convert IOB1 or BIOES tags with :func:`nlp_tasks.text.chunking.to_iob2` first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nlp_tasks.errors import UserError
from nlp_tasks.text.chunking import chunks


def conlleval(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict:
    """Entity-level micro and per-type precision/recall/F1 plus token accuracy, as conlleval.

    ``gold`` and ``predicted`` are lists of sentences, each a list of IOB tags. A predicted
    chunk counts as correct only when its type, start and end all equal a gold chunk's.
    Scores are fractions in [0, 1].
    """
    if len(gold) != len(predicted):
        raise UserError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    return conlleval_pairs(zip(gold, predicted))


def conlleval_pairs(pairs: Iterable[tuple[Sequence[str], Sequence[str]]]) -> dict:
    """:func:`conlleval` of ``(gold tags, predicted tags)`` sentence pairs given one at a time
    (an evaluation that never holds every sentence's tags)."""
    correct_tokens = tokens = sentences = 0
    found_gold: dict[str, int] = {}
    found_pred: dict[str, int] = {}
    correct: dict[str, int] = {}
    for i, (g, p) in enumerate(pairs):
        sentences += 1
        if len(g) != len(p):
            raise UserError(f"sentence {i + 1}: {len(g)} gold tags but {len(p)} predicted")
        tokens += len(g)
        correct_tokens += sum(a == b for a, b in zip(g, p))
        g_spans, p_spans = set(chunks(g)), set(chunks(p))
        for kind, _, _ in g_spans:
            found_gold[kind] = found_gold.get(kind, 0) + 1
        for kind, _, _ in p_spans:
            found_pred[kind] = found_pred.get(kind, 0) + 1
        for kind, _, _ in g_spans & p_spans:
            correct[kind] = correct.get(kind, 0) + 1

    def prf(n_correct, n_pred, n_gold):
        precision = n_correct / n_pred if n_pred else 0.0
        recall = n_correct / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "predicted": n_pred, "gold": n_gold,
                "correct": n_correct}

    types = sorted(set(found_gold) | set(found_pred))
    total = prf(sum(correct.values()), sum(found_pred.values()), sum(found_gold.values()))
    return {
        **total,
        "accuracy": correct_tokens / tokens if tokens else 0.0,
        "tokens": tokens,
        "sentences": sentences,
        "per_type": {t: prf(correct.get(t, 0), found_pred.get(t, 0), found_gold.get(t, 0)) for t in types},
    }


def format_conlleval(report: dict) -> str:
    """The report laid out like conlleval's output (percentages)."""
    lines = [
        f"processed {report['tokens']} tokens with {report['gold']} phrases; found: {report['predicted']} "
        f"phrases; correct: {report['correct']}.",
        f"accuracy: {100 * report['accuracy']:6.2f}%; precision: {100 * report['precision']:6.2f}%; "
        f"recall: {100 * report['recall']:6.2f}%; FB1: {100 * report['f1']:6.2f}",
    ]
    for kind, row in report["per_type"].items():
        lines.append(f"{kind:>17}: precision: {100 * row['precision']:6.2f}%; recall: {100 * row['recall']:6.2f}%; "
                     f"FB1: {100 * row['f1']:6.2f}  {row['predicted']}")
    return "\n".join(lines)
