"""What a grapheme-to-phoneme model exports (:mod:`nlp_tasks.export`): words in, the n best
pronunciations out, the whole beam search in the SavedModel's graph; an ``encode`` and a decoder
``step`` in every format, for clients that run the search themselves.

- ``serve`` (SavedModel only): ``words`` (batch,) strings -> ``phonemes`` (batch, nbest) strings
  (the symbols separated by spaces, best first), ``log_probs`` (batch, nbest) float64 (nats, as
  :meth:`G2PPipeline.predict`'s ``log_prob``), ``finished`` (batch, nbest) bool (False: cut at
  ``max_output``) and ``valid`` (batch,) bool. The letters are read as the pipeline reads them
  (lower-cased if the model is, surrounding spaces stripped, no Unicode normalisation, since the
  pipeline applies none either) and looked up in a ``tf.lookup`` table; the search is
  :func:`nlp_tasks.decoding.search.beam_decode` with the model's ``beam``, ``length_penalty`` and
  ``max_output``, fixed at export. ``nbest`` is the whole beam (column 0 is the best). A word the
  pipeline refuses (empty, more than 1,000 letters, or a letter the model never saw) cannot raise
  an error in a graph: its row has ``valid`` False, ``phonemes`` ``""`` and ``log_probs`` -inf.
  A row with fewer possible hypotheses than ``nbest`` is filled the same way (an empty
  pronunciation, ``<eos>`` first, is ``""`` too, but with a finite log-probability).
- ``encode(letter_ids (batch, T_x) int32, 0 = padding) -> state (batch, S)`` and, with attention,
  ``memory (batch, T_x, H)``, ``mask (batch, T_x)`` float32 (1 at a letter) and ``keys (batch,
  T_x, K)``: the decoder's initial state and what every step reads.
- ``step(token (batch,) int32, state (batch, S)[, memory, mask, keys]) -> logits (batch, V),
  next_state``: one decoder step. Start from ``<bos>`` and ``encode``'s state, pass ``encode``'s
  other outputs to every step under the same names (``context`` in ``export.json``), never pick
  ``never_drawn`` (``<pad>``, ``<unk>``, ``<bos>``), stop at ``<eos>``. Greedy decoding so gives
  the pipeline's ``beam=1`` output.

``S``, the state size, and the layout of the decoder layers' states within it are in
``export.json``.
"""

from __future__ import annotations

from nlp_tasks.export import Endpoint, ExportSpec, join_state, split_state, state_layout
from nlp_tasks.export import text as gtext
from nlp_tasks.text.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

from . import model as gm
from .config import MAX_WORD_SYMBOLS

NEVER_DRAWN = (PAD_ID, UNK_ID, BOS_ID)
CONTEXT = ("memory", "mask", "keys")  # encode's outputs that every step reads (with attention)


def export_spec(pipe) -> ExportSpec:
    import tensorflow as tf

    model, cfg = pipe.require_model(), pipe.config
    letters, phonemes = pipe.vocab(gm.SOURCE_VOCAB), pipe.vocab(gm.TARGET_VOCAB)
    decoding = gm.Decoding(model, cfg)
    layout = state_layout(decoding.cells)
    attention = cfg.attention != "none"
    context_names = CONTEXT if attention else ()
    table = gtext.lookup_table(letters)
    beam, nbest = cfg.beam, cfg.beam

    def encode(letter_ids):
        states, (memory, mask, keys) = decoding.encode(letter_ids)
        out = {"state": tf.cast(join_state(states), tf.float32)}
        if attention:
            out.update({name: tf.cast(x, tf.float32) for name, x in zip(CONTEXT, (memory, mask, keys))})
        return out

    def step(token, state, *context):
        memory, mask, keys = (context[0], context[1] > 0.5, context[2]) if attention else (None, None, None)
        logits, states = decoding.step(token, split_state(state, decoding.cells), (memory, mask, keys))
        return {"logits": tf.cast(logits, tf.float32), "next_state": join_state(states)}

    def word_ids(words):
        """``(batch, T_x)`` letter ids as :meth:`G2PPipeline.encode_word` makes them, and whether
        the pipeline would read the word at all."""
        if cfg.lower:
            words = tf.strings.lower(words, encoding="utf-8")
        space = gtext.char_class("space")
        words = tf.strings.regex_replace(words, f"^{space}+|{space}+$", "")  # str.strip()
        if cfg.source_level == "char":
            symbols = tf.strings.unicode_split(words, "UTF-8")
        else:
            symbols = tf.strings.split(tf.strings.regex_replace(words, f"{space}+", " "), sep=" ")
            symbols = tf.ragged.boolean_mask(symbols, tf.not_equal(symbols, ""))
        ids = tf.ragged.map_flat_values(table.lookup, symbols)
        count = ids.row_lengths()
        known = tf.reduce_all(tf.not_equal(ids, UNK_ID), axis=1)
        valid = known & (count > 0) & (count <= MAX_WORD_SYMBOLS)
        return gtext.one_more_step(ids.to_tensor(default_value=0)), valid  # one column at least

    def serve(words):
        from nlp_tasks.decoding.search import beam_decode

        ids, valid = word_ids(words)
        states, context = decoding.encode(ids)
        found = beam_decode(decoding.step, states, context, BOS_ID, EOS_ID, beam, cfg.max_output, nbest,
                            length_penalty=cfg.length_penalty, banned_ids=NEVER_DRAWN)
        possible = valid[:, None] & (found.log_probs > float("-inf"))  # (batch, nbest)
        tokens = tf.gather(tf.constant(phonemes.tokens), found.ids)  # (batch, nbest, capacity)
        lengths = found.lengths - tf.cast(found.finished, tf.int32)  # without the <eos>
        rows = tf.RaggedTensor.from_tensor(tf.reshape(tokens, [-1, tf.shape(tokens)[-1]]),
                                           lengths=tf.reshape(lengths, [-1]))
        joined = tf.reshape(tf.strings.reduce_join(rows, axis=1, separator=" "), tf.shape(lengths))
        return {"phonemes": tf.where(possible, joined, ""),
                "log_probs": tf.where(possible, found.log_probs, float("-inf")),
                "finished": possible & found.finished, "valid": valid}

    state_spec = tf.TensorSpec((None, layout["state_size"]), tf.float32, name="state")
    width = gm.decoder_units(cfg)
    context_specs = [tf.TensorSpec((None, None, width), tf.float32, name="memory"),
                     tf.TensorSpec((None, None), tf.float32, name="mask"),
                     tf.TensorSpec((None, None, int(decoding.attention.key_kernel.shape[-1])), tf.float32,
                                   name="keys")] if attention else []
    context_doc = {"memory": "(batch, T_x, H) float32, the encoder's outputs",
                   "mask": "(batch, T_x) float32, 1 at a letter, 0 at padding",
                   "keys": "(batch, T_x, K) float32, the attention's keys of the encoder's outputs"}
    return ExportSpec(
        [Endpoint("serve", serve, [tf.TensorSpec((None,), tf.string, name="words")],
                  {"phonemes": f"(batch, {nbest}) string, a pronunciation's symbols separated by spaces, best first; "
                               "'' for no hypothesis (log_probs -inf)",
                   "log_probs": f"(batch, {nbest}) float64, log P(pronunciation) in nats; -inf for no hypothesis",
                   "finished": f"(batch, {nbest}) bool, False where the output was cut at max_output symbols",
                   "valid": "(batch,) bool, False for a word the pipeline refuses (empty, too long, a letter "
                            "never seen): its row has no hypothesis"},
                  f"Words in, their {nbest} best pronunciations out (beam search of width {beam} in the graph).",
                  portable=False),
         Endpoint("encode", encode, [tf.TensorSpec((None, None), tf.int32, name="letter_ids")],
                  {"state": "(batch, state_size) float32, the decoder's initial state",
                   **{name: context_doc[name] for name in context_names}},
                  "Letter ids (vocab-letters.json, 0 = padding) in; the decoder's initial state"
                  + (" and what every step reads out." if attention else " out.")),
         Endpoint("step", step, [tf.TensorSpec((None,), tf.int32, name="token"), state_spec, *context_specs],
                  {"logits": "(batch, phonemes) float32, the next phoneme's unnormalised log-probabilities",
                   "next_state": "(batch, state_size) float32, the state to pass to the next step"},
                  "One decoder step: the next phoneme's logits and the new state (start: encode's state, token "
                  "<bos>; " + ("encode's memory, mask and keys at every step)." if attention else "no context)."))],
        resources=[table],
        info={**layout, "context": list(context_names), "bos_id": BOS_ID, "eos_id": EOS_ID, "pad_id": PAD_ID,
              "unk_id": UNK_ID, "never_drawn": list(NEVER_DRAWN), "beam": beam, "nbest": nbest,
              "length_penalty": cfg.length_penalty, "max_output": cfg.max_output, "lower": cfg.lower,
              "source_level": cfg.source_level, "target_level": cfg.target_level,
              "normalization": "none: the letters are read as given (lower-cased if `lower`, surrounding spaces "
                               "stripped), as the pipeline reads them; give words spelt as the lexicon spells them",
              "unknown_letters": "serve: the word's row has valid False and no hypothesis (the pipeline refuses "
                                 "it); encode and step: id 1 (<unk>) is read like any letter"})
