"""What a sentiment model exports (:mod:`nlp_tasks.export`): texts in, probabilities and labels out.

``serve``: ``texts`` (batch,) strings -> ``probabilities``, ``label`` (``""`` for a text with no
words, whose probabilities are uniform, as :meth:`SentimentPipeline.predict`) and ``label_id``
(-1 then); the words are split, lower-cased and looked up in the graph
(:mod:`nlp_tasks.export.text`). ``classify_ids``: ``word_ids`` (batch, T), 0 as padding (portable).
"""

from __future__ import annotations

from nlp_tasks.export import Endpoint, ExportSpec
from nlp_tasks.export import text as gtext


def export_spec(pipe) -> ExportSpec:
    import tensorflow as tf

    model, vocab, labels = pipe.require_model(), pipe.vocabs["words"], list(pipe.labels)
    table = gtext.lookup_table(vocab)
    n = len(labels)

    def probabilities(word_ids):
        probs = model(gtext.one_more_step(word_ids), training=False)
        empty = tf.reduce_all(tf.equal(word_ids, 0), axis=1)
        return tf.where(empty[:, None], tf.fill(tf.shape(probs), 1.0 / n), probs), empty

    def classify_ids(word_ids):
        return {"probabilities": probabilities(word_ids)[0]}

    def serve(texts):
        tokens = gtext.tokenize(texts)
        ids = gtext.token_ids(table, vocab, tokens).to_tensor(default_value=0)
        probs, empty = probabilities(ids)
        best = tf.argmax(probs, axis=-1, output_type=tf.int32)
        return {"probabilities": probs,
                "label": tf.where(empty, "", tf.gather(tf.constant(labels), best)),
                "label_id": tf.where(empty, -1, best)}

    return ExportSpec(
        [Endpoint("serve", serve, [tf.TensorSpec((None,), tf.string, name="texts")],
                  {"probabilities": "(batch, labels) float32, in the order of `labels`",
                   "label": "(batch,) string, '' for a text with no words", "label_id": "(batch,) int32, -1 then"},
                  "Texts in (tokenised and looked up in the graph), class probabilities and labels out.",
                  portable=False),
         Endpoint("classify_ids", classify_ids, [tf.TensorSpec((None, None), tf.int32, name="word_ids")],
                  {"probabilities": "(batch, labels) float32; uniform for a row of padding only"},
                  "Word ids (vocab-words.json, lower-cased words, 0 = padding, 1 = unknown) in, class "
                  "probabilities out.")],
        resources=[table],
        info={"tokenizer": r"\w+(?:[-'.,]\w+)*|[^\w\s] (Python re, Unicode), lower-cased" if vocab.lower else
              r"\w+(?:[-'.,]\w+)*|[^\w\s] (Python re, Unicode)", "pad_id": 0, "unk_id": 1,
              "normalization": gtext.NORMALIZATION})
