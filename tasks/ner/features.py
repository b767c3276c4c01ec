"""What the NER model reads of a word, and how its tags are read off the model: shared by the
pipeline (:mod:`tasks.ner.pipeline`) and its exported graph (:mod:`tasks.ner.export`).

Each word is looked up (lower-cased), classed by its casing (:func:`casing`: Reimers & Gurevych
2017) and spelled out in its first :data:`MAX_WORD_CHARS` characters; :func:`decode_tags` turns the
model's output into tag ids (Viterbi for the CRF head) with each token's probability.
"""

from __future__ import annotations

from nlp_tasks.saving.model_checks import OUTPUT_LAYER

CASES = ["<pad>", "lower", "upper", "title", "numeric", "mostly_numeric", "has_digit", "other"]
MAX_WORD_CHARS = 24


def casing(token: str) -> int:
    """Casing class id of a token (Reimers & Gurevych 2017), 1..7; 0 is padding."""
    digits = sum(c.isdigit() for c in token)
    if token.isdigit():
        return CASES.index("numeric")
    if digits / max(len(token), 1) > 0.5:
        return CASES.index("mostly_numeric")
    if token.islower():
        return CASES.index("lower")
    if token.isupper():
        return CASES.index("upper")
    if token[:1].isupper():
        return CASES.index("title")
    if digits:
        return CASES.index("has_digit")
    return CASES.index("other")


def decode_tags(model, crf: bool, inputs, allowed=None):
    """``(path, score, mask)``: the best tag ids (CRF: Viterbi), each token's probability of its
    most likely tag (CRF: its marginal) and the mask of real tokens, as tensors, for the model's
    ``inputs`` (word ids first, as :meth:`tasks.ner.NERPipeline.encode` makes them). ``allowed``:
    the CRF's permitted transitions (:func:`nlp_tasks.text.chunking.allowed_transitions`), so
    the path and the marginals keep to the tag scheme."""
    import tensorflow as tf

    out = model(list(inputs), training=False)
    mask = inputs[0] > 0
    if crf:
        layer = model.get_layer(OUTPUT_LAYER)
        path, _ = layer.decode(out, mask, allowed)
        probs = layer.marginals(out, mask, allowed)
    else:
        probs = out
        path = tf.argmax(out, axis=-1, output_type=tf.int32) * tf.cast(mask, tf.int32)
    return path, tf.reduce_max(probs, axis=-1), mask
