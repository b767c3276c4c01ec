"""Scores for sequence-to-sequence output checked against one or more acceptable references:
word error rate, symbol (phoneme) error rate, n-best oracle word error rate.

An output is one sequence of symbols (a tuple or list of phonemes, or a string of characters);
``references[i]`` is the non-empty list of outputs that count as right for item ``i`` (every
pronunciation a lexicon gives a word). Sequences compare symbol by symbol, so a list and a tuple
of the same symbols are the same output.

- WER: the share of items whose output equals none of its references.
- PER: for each item, the edit distance (Levenshtein: insertions, deletions and substitutions,
  each costing 1) from the output to its closest reference, summed over the items, over the
  summed lengths of those closest references. The closest reference is the one at the smallest
  distance and, among those, the shortest (then the first). Over characters this is the
  character error rate.
- Oracle WER: the share of items none of whose ``n`` best outputs equals a reference.

    >>> word_error_rate([("K", "AE1", "T")], [[("K", "AE1", "T")]])
    0.0
    >>> phoneme_error_rate([("K", "AE1")], [[("K", "AE1", "T"), ("K", "AA1", "T")]])
    0.3333333333333333
"""

from __future__ import annotations

from nlp_tasks.errors import UserError


def edit_distance(a, b) -> int:
    """The Levenshtein distance between two symbol sequences: the fewest insertions, deletions and
    substitutions that turn ``a`` into ``b``. Dynamic programming over two rows: O(len(a) * len(b))
    time, O(len(b)) memory."""
    a, b = tuple(a), tuple(b)
    if len(a) < len(b):
        a, b = b, a  # the shorter one along the row
    previous = list(range(len(b) + 1))  # distances from a[:0] to every prefix of b
    for i, symbol in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(min(previous[j] + 1,  # delete a[i-1]
                               current[j - 1] + 1,  # insert b[j-1]
                               previous[j - 1] + (symbol != other)))  # substitute, or match
        previous = current
    return previous[-1]


def closest_reference(prediction, references) -> tuple[int, tuple]:
    """``(distance, reference)``: the reference at the smallest edit distance from ``prediction``,
    the shortest among equals, then the first."""
    best = None
    for reference in references:
        reference = tuple(reference)
        key = (edit_distance(prediction, reference), len(reference))
        if best is None or key < best[0]:
            best = (key, reference)
    return best[0][0], best[1]


def _checked(predictions, references, what: str = "predictions") -> tuple[list, list]:
    predictions, references = list(predictions), [list(r) for r in references]
    if len(predictions) != len(references):
        raise UserError(f"{len(predictions)} {what} but {len(references)} reference lists")
    if not references:
        raise UserError("no examples to evaluate")
    empty = next((i for i, r in enumerate(references, start=1) if not r), None)
    if empty is not None:
        raise UserError(f"example {empty}: no reference to compare with")
    return predictions, references


def _matches(output, references) -> bool:
    output = tuple(output)
    return any(output == tuple(reference) for reference in references)


def word_error_rate(predictions, references) -> float:
    """The share of items whose prediction equals none of its references (0.0 to 1.0)."""
    predictions, references = _checked(predictions, references)
    return sum(not _matches(p, r) for p, r in zip(predictions, references)) / len(predictions)


def _symbol_errors(predictions, references) -> tuple[int, int]:
    """Summed edit distances to the closest references, and the summed lengths of those references."""
    errors = length = 0
    for prediction, refs in zip(predictions, references):
        distance, reference = closest_reference(prediction, refs)
        errors += distance
        length += len(reference)
    return errors, length


def _rate(errors: int, length: int) -> float:
    if length == 0:
        raise UserError("the symbol error rate is undefined: the closest references hold no symbols")
    return errors / length


def phoneme_error_rate(predictions, references) -> float:
    """Edit distances to the closest references, summed, over those references' summed lengths
    (may exceed 1.0 when predictions are longer than their references)."""
    predictions, references = _checked(predictions, references)
    return _rate(*_symbol_errors(predictions, references))


def oracle_wer(nbest_lists, references, n: int | None = None) -> float:
    """The share of items none of whose ``n`` best outputs (all given, when ``n`` is None) equals a
    reference; each list holds the outputs best first. An empty list counts as an error."""
    if n is not None and n < 1:
        raise UserError(f"n must be at least 1, got {n!r}")
    nbest_lists, references = _checked(nbest_lists, references, "n-best lists")
    return sum(not any(_matches(output, refs) for output in list(outputs)[:n])
               for outputs, refs in zip(nbest_lists, references)) / len(nbest_lists)


def sequence_report(predictions, references, strip=None, nbest=None, strip_name: str = "no_stress") -> dict:
    """WER, PER and their counts in one dict: ``examples``, ``word_errors``, ``wer``,
    ``symbol_errors``, ``reference_symbols``, ``per``.

    ``strip`` (a function from a sequence to a sequence, such as ARPAbet's ``strip_stress``) adds
    ``wer_<strip_name>`` and ``per_<strip_name>``: the same scores with it applied to predictions
    and references alike. ``nbest`` (a list of outputs, best first, for each item) adds
    ``oracle_wer`` and ``nbest`` (the longest list's length).
    """
    predictions, references = _checked(predictions, references)
    word_errors = sum(not _matches(p, r) for p, r in zip(predictions, references))
    errors, length = _symbol_errors(predictions, references)
    report = {"examples": len(predictions), "word_errors": word_errors, "wer": word_errors / len(predictions),
              "symbol_errors": errors, "reference_symbols": length, "per": _rate(errors, length)}
    if strip is not None:
        stripped = [tuple(strip(p)) for p in predictions]
        stripped_refs = [[tuple(strip(r)) for r in refs] for refs in references]
        report[f"wer_{strip_name}"] = word_error_rate(stripped, stripped_refs)
        report[f"per_{strip_name}"] = phoneme_error_rate(stripped, stripped_refs)
    if nbest is not None:
        nbest = [list(outputs) for outputs in nbest]
        report["oracle_wer"] = oracle_wer(nbest, references)
        report["nbest"] = max((len(outputs) for outputs in nbest), default=0)
    return report
