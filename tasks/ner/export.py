"""What an NER model exports (:mod:`nlp_tasks.export`): tokens in, tags and entities out, in the graph.

``serve``: ``tokens`` (batch, T) strings, ``""`` as padding -> the IOB2 ``tags``, each token's
``token_scores`` (its tag's probability: CRF marginals or softmax), and the entities as
conlleval reads them off the tags (``entity_types``, ``entity_starts``, ``entity_ends``
exclusive, in tokens, and ``entity_scores``, the mean token score; padded with ``""``/-1/0).
Word ids (lower-cased), casing classes and character ids are computed in the graph
(:mod:`nlp_tasks.export.text`). ``tag_ids`` takes the three id tensors instead (portable).

A tagger with LM features (:mod:`tasks.ner.lm_features`) also computes each language model's
character ids and word positions in the ``serve`` graph; its ``tag_ids`` takes them as two more
inputs per model (``lm_forward_ids``, ``lm_forward_positions``, ...), and it exports as a
SavedModel or to ONNX, not to LiteRT (a fixed length of characters per sentence would be needed).
"""

from __future__ import annotations

import numpy as np

from nlp_tasks.export import Endpoint, ExportSpec
from nlp_tasks.export import text as gtext


def export_spec(pipe) -> ExportSpec:
    import tensorflow as tf

    from . import lm_features as lmf
    from .features import CASES, MAX_WORD_CHARS, decode_tags

    model, cfg, labels = pipe.require_model(), pipe.config, list(pipe.labels)
    words_vocab, chars_vocab = pipe.vocabs["words"], pipe.vocabs.get("chars")
    word_table = gtext.lookup_table(words_vocab)
    char_table = gtext.lookup_table(chars_vocab) if chars_vocab else None
    directions = lmf.directions(pipe.vocabs)  # the language models of a tagger with LM features
    lm_vocabs = [pipe.vocabs[lmf.vocab_name(d)] for d in directions]
    lm_tables = [gtext.lookup_table(vocab) for vocab in lm_vocabs]
    crf = cfg.head == "crf"
    # Decoded as the pipeline does. A NumPy array, made a constant inside each traced graph: an
    # eager tensor would be captured, and tf2onnx turns a captured tensor into an input.
    allowed = np.asarray(pipe.allowed_transitions(), np.int32) if crf else None
    prefixes = tf.constant([{"B": 1, "I": 2}.get(t[:1], 0) if t != "O" else 0 for t in labels], tf.int32)
    kinds = sorted({t[2:] for t in labels if t != "O"})
    kind_ids = tf.constant([kinds.index(t[2:]) + 1 if t != "O" else 0 for t in labels], tf.int32)

    def decode(*inputs):  # words, cases, chars, then each language model's ids and positions
        length = tf.shape(inputs[0])[1]
        path, score, mask = decode_tags(model, crf, [gtext.one_more_step(x) for x in inputs], allowed)
        score = score * tf.cast(mask, score.dtype)
        return path[:, :length], score[:, :length]

    def tag_ids(*inputs):
        path, score = decode(*inputs)
        return {"tag_ids": path, "token_scores": score}

    def entities(path, score, mask):
        """conlleval's chunks of IOB tags: a chunk starts at B-, or at I- after O or another type."""
        prefix, kind = tf.gather(prefixes, path), tf.gather(kind_ids, path)
        kind = tf.where(mask, kind, 0)
        prev_kind = tf.pad(kind[:, :-1], [[0, 0], [1, 0]])
        inside = kind > 0
        start = inside & ((prefix == 1) | tf.not_equal(prev_kind, kind))
        chunk = tf.cumsum(tf.cast(start, tf.int32), axis=1) * tf.cast(inside, tf.int32)  # 1.. per row, 0 outside
        count = tf.reduce_max(tf.pad(chunk, [[0, 0], [0, 1]]), axis=1)
        e = tf.reduce_max(tf.pad(count, [[0, 1]]))
        rows = tf.shape(path)[0]
        slots = tf.range(1, e + 1)[None, :, None]  # (1, E, 1)
        member = tf.equal(chunk[:, None, :], slots)  # (batch, E, T)
        positions = tf.range(tf.shape(path)[1])[None, None, :]
        size = tf.reduce_sum(tf.cast(member, tf.int32), axis=2)
        present = size > 0
        starts = tf.where(present, tf.reduce_min(tf.where(member, positions, 2**30), axis=2), -1)
        ends = tf.where(present, tf.reduce_max(tf.where(member, positions, -1), axis=2) + 1, -1)
        mean = (tf.reduce_sum(tf.where(member, score[:, None, :], 0.0), axis=2)
                / tf.cast(tf.maximum(size, 1), score.dtype))
        first_kind = tf.gather(kind, tf.maximum(starts, 0), batch_dims=1)
        names = tf.constant([""] + kinds)
        del rows
        return {"entity_types": tf.where(present, tf.gather(names, first_kind), ""),
                "entity_starts": starts, "entity_ends": ends,
                "entity_scores": tf.where(present, mean, 0.0)}

    def serve(tokens):
        tokens = gtext.strip_format(tokens, keep_empty=True)
        mask = tf.not_equal(tokens, "")
        words = tf.where(mask, gtext.token_ids(word_table, words_vocab, tokens), 0)
        cases = gtext.casing_ids(tokens, CASES)
        if char_table is not None:
            chars = gtext.char_ids(char_table, tokens, MAX_WORD_CHARS)
        else:
            chars = tf.zeros(tf.concat([tf.shape(tokens), [1]], 0), tf.int32)
        lm_inputs = [x for d, table, vocab in zip(directions, lm_tables, lm_vocabs)
                     for x in lmf.graph_inputs(table, vocab, tokens, d)]
        path, score = decode(words, cases, chars, *lm_inputs)
        mask = mask & (words > 0)
        tags = tf.where(mask, tf.gather(tf.constant(labels), path), "")
        return {"tags": tags, "tag_ids": path, "token_scores": score, **entities(path, score, mask)}

    id_inputs = [tf.TensorSpec((None, None), tf.int32, name="word_ids"),
                 tf.TensorSpec((None, None), tf.int32, name="case_ids"),
                 tf.TensorSpec((None, None, None), tf.int32, name="char_ids")]
    id_inputs += [tf.TensorSpec((None, None), tf.int32, name=f"{lmf.vocab_name(d)}_{part}")
                  for d in directions for part in ("ids", "positions")]
    lm_doc = ("; then each language model's character ids after <bos> (vocab-lm_forward.json, vocab-lm_backward."
              "json) and each word's position in them, as tasks.ner.lm_features computes them" if directions else "")
    return ExportSpec(
        [Endpoint("serve", serve, [tf.TensorSpec((None, None), tf.string, name="tokens")],
                  {"tags": "(batch, T) string IOB2 tags, '' at padding",
                   "tag_ids": "(batch, T) int32, index into `labels`",
                   "token_scores": "(batch, T) float32, the probability of each token's tag",
                   "entity_types": "(batch, E) string, '' past a row's last entity",
                   "entity_starts": "(batch, E) int32 first token, -1 past the last",
                   "entity_ends": "(batch, E) int32 token after the last, -1 past the last",
                   "entity_scores": "(batch, E) float32, mean token score of the entity"},
                  "Tokens in (a padded batch of strings, '' as padding), tags and entities out.",
                  portable=False),
         Endpoint("tag_ids", tag_ids, id_inputs,
                  {"tag_ids": "(batch, T) int32, index into `labels`", "token_scores": "(batch, T) float32"},
                  "Word ids (vocab-words.json, lower-cased), casing classes (`cases`) and character ids "
                  f"(vocab-chars.json, first {MAX_WORD_CHARS} characters){lm_doc} in, tag ids out.",
                  fixed_length=char_table is not None,
                  not_for_litert="a tagger with LM features exports as savedmodel or onnx, not litert (its character "
                                 "inputs have no fixed length)" if directions else None)],
        resources=[t for t in (word_table, char_table, *lm_tables) if t is not None],
        info={"cases": list(CASES), "max_word_chars": MAX_WORD_CHARS, "pad_id": 0, "unk_id": 1,
              "lm_features": [{"direction": d, "start": lmf.START if lmf.START in v else "", "lower": v.lower}
                              for d, v in zip(directions, lm_vocabs)],
              "head": cfg.head, "normalization": gtext.NORMALIZATION})
