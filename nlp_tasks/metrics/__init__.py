"""Every score the tasks report, as plain Python (floats, ints, lists, dicts), in one package:

- :mod:`~nlp_tasks.metrics.classification`: confusion matrix, accuracy, per-class and macro
  precision / recall / F1, and their text table (sentiment);
- :mod:`~nlp_tasks.metrics.chunks`: conlleval-compatible entity precision / recall / F1, micro
  and per type, and conlleval's report layout (NER);
- :mod:`~nlp_tasks.metrics.language`: nats -> bits -> perplexity, the evaluation report and one
  text's log-probability summary (language model);
- :mod:`~nlp_tasks.metrics.pianoroll`: NLL per time step, frame accuracy, note P/R/F1 (music);
- :mod:`~nlp_tasks.metrics.sequence`: edit distance, word and phoneme (symbol) error rates against
  several acceptable references, n-best oracle WER (sequence-to-sequence: grapheme-to-phoneme).

NumPy and the standard library only: no TensorFlow (a task sums what needs its model, then
calls these) and no matplotlib (pictures are in :mod:`nlp_tasks.plots`). The names below are
importable from ``nlp_tasks.metrics`` directly.
"""

from nlp_tasks.metrics.chunks import conlleval, format_conlleval
from nlp_tasks.metrics.classification import classification_report, confusion_matrix, format_classification_report
from nlp_tasks.metrics.language import loss_report, nats_to_bits, perplexity, text_score
from nlp_tasks.metrics.pianoroll import frame_scores
from nlp_tasks.metrics.sequence import (
    closest_reference,
    edit_distance,
    oracle_wer,
    phoneme_error_rate,
    sequence_report,
    word_error_rate,
)

__all__ = ["classification_report", "closest_reference", "confusion_matrix", "conlleval", "edit_distance",
           "format_classification_report", "format_conlleval", "frame_scores", "loss_report", "nats_to_bits",
           "oracle_wer", "perplexity", "phoneme_error_rate", "sequence_report", "text_score", "word_error_rate"]
