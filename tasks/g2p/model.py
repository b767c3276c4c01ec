"""The encoder-decoder: the course's machine-translation architecture (many-to-many, T_x != T_y).

::

    letters x<1..T_x> -> embedding -> encoder: ``layers`` stacked layers of our cells (each
        bidirectional by default) -> h<1..T_x> and each layer's final state
    phonemes <bos> y<1..T_y-1> -> embedding -> decoder: ``layers`` stacked layers of our cells,
        layer l starting from encoder layer l's final state (forward and backward halves side by
        side) -> s<t>
    attention (optional): c<t> = Σ_j α<t,j> h<j> (:class:`nlp_tasks.layers.Attention`), and
        s~<t> = tanh(W_c [s<t>; c<t>] + b_c) (Luong et al. 2015's attentional state)
    logits of P(y<t> | y<t, x) = W_y s~<t> + b_y   (s<t> itself without attention)

Training is teacher-forced: the decoder reads the true previous phoneme, every target step in
one pass. Without attention the decoder sees only the encoder's final state, exactly the course's
picture. :func:`build_model` makes the training model (its layers named as below);
:class:`Decoding` runs the same layers one step at a time, for greedy and beam search.
"""

from __future__ import annotations

from nlp_tasks.saving.model_checks import OUTPUT_LAYER, embedding_layer_name

SOURCE_VOCAB, TARGET_VOCAB = "letters", "phonemes"
SOURCE_EMBEDDING, TARGET_EMBEDDING = embedding_layer_name(SOURCE_VOCAB), embedding_layer_name(TARGET_VOCAB)
ATTENTION_LAYER, ATTENTIONAL_LAYER = "attention", "attentional"


def encoder_name(layer: int) -> str:
    return f"encoder_{layer}"


def decoder_name(layer: int) -> str:
    return f"decoder_{layer}"


def decoder_units(cfg) -> int:
    """The decoder's width: the encoder's final state, both directions side by side."""
    return cfg.units * (2 if cfg.bidirectional else 1)


def build_model(cfg, n_source: int, n_target: int):
    """The training model ``[source ids (batch, T_x), decoder inputs (batch, T_y)] -> logits
    (batch, T_y, n_target)``; id 0 is padding on both sides."""
    import keras

    from nlp_tasks.layers import Attention, TokenFeatures, recurrent

    source = keras.Input((None,), dtype="int32", name="source_ids")
    target = keras.Input((None,), dtype="int32", name="decoder_ids")
    x = TokenFeatures(n_source, cfg.embedding_dim, zero_id=None, name=SOURCE_EMBEDDING)(source)
    finals = []
    for layer in range(1, cfg.layers + 1):
        rnn = recurrent(cfg.cell, cfg.units, return_sequences=True, return_state=True,
                        name=encoder_name(layer) if not cfg.bidirectional else None)
        if cfg.bidirectional:
            out = keras.layers.Bidirectional(rnn, name=encoder_name(layer))(x)
            half = (len(out) - 1) // 2
            states = [keras.layers.Concatenate(name=f"{encoder_name(layer)}_final_{k}")([f, b])
                      for k, (f, b) in enumerate(zip(out[1:1 + half], out[1 + half:]))]
        else:
            out = rnn(x)
            states = list(out[1:])
        finals.append(states)
        x = out[0]
        if layer < cfg.layers:
            x = keras.layers.Dropout(cfg.dropout, name=f"{encoder_name(layer)}_dropout")(x)
    memory = x
    y = TokenFeatures(n_target, cfg.embedding_dim, zero_id=None, name=TARGET_EMBEDDING)(target)
    y = keras.layers.Dropout(cfg.dropout, name="decoder_input_dropout")(y)
    for layer in range(1, cfg.layers + 1):
        y = recurrent(cfg.cell, decoder_units(cfg), return_sequences=True,
                      name=decoder_name(layer))(y, initial_state=finals[layer - 1])
        y = keras.layers.Dropout(cfg.dropout, name=f"{decoder_name(layer)}_dropout")(y)
    if cfg.attention != "none":
        context, _ = Attention(cfg.attention, name=ATTENTION_LAYER)(y, memory)
        y = keras.layers.Dense(decoder_units(cfg), activation="tanh", name=ATTENTIONAL_LAYER)(
            keras.layers.Concatenate(name="query_and_context")([y, context]))
    logits = keras.layers.Dense(n_target, name=OUTPUT_LAYER, dtype="float32")(y)  # float32 under mixed precision
    return keras.Model([source, target], logits, name="encoder_decoder")


def layer_sizes(cfg, n_source: int, n_target: int) -> dict:
    """``Pipeline.expected_layer_sizes`` of this model (the load-time checks)."""
    sizes = {SOURCE_EMBEDDING: {"vocab_size": n_source, "dim": cfg.embedding_dim},
             TARGET_EMBEDDING: {"vocab_size": n_target, "dim": cfg.embedding_dim},
             OUTPUT_LAYER: {"units": n_target}}
    sizes.update({encoder_name(i): {"units": cfg.units} for i in range(1, cfg.layers + 1)})
    sizes.update({decoder_name(i): {"units": decoder_units(cfg)} for i in range(1, cfg.layers + 1)})
    return sizes


class Decoding:
    """The trained model's layers, run for decoding (no dropout): :meth:`encode` once per batch of
    sources, then :meth:`step` once per output symbol; graph ops both, for a compiled search.

    ``encode(source_ids) -> (states, context)``: the decoder's initial states (a tuple, every
    layer's in order) and what every step reads (the encoder outputs, the source mask and the
    attention keys). ``step(tokens, states, context) -> (logits (batch, n_target), states)``.
    """

    def __init__(self, model, cfg):
        self.cfg = cfg
        self.source_embedding = model.get_layer(SOURCE_EMBEDDING)
        self.target_embedding = model.get_layer(TARGET_EMBEDDING)
        self.encoders = [model.get_layer(encoder_name(i)) for i in range(1, cfg.layers + 1)]
        self.cells = [model.get_layer(decoder_name(i)).cell for i in range(1, cfg.layers + 1)]
        self.attention = model.get_layer(ATTENTION_LAYER) if cfg.attention != "none" else None
        self.attentional = model.get_layer(ATTENTIONAL_LAYER) if cfg.attention != "none" else None
        self.output = model.get_layer(OUTPUT_LAYER)

    def encode(self, source_ids):
        import tensorflow as tf

        mask = tf.not_equal(source_ids, 0)
        x = self.source_embedding(source_ids)
        states = []
        for encoder in self.encoders:
            out = encoder(x, mask=mask, training=False)
            if self.cfg.bidirectional:
                half = (len(out) - 1) // 2
                states += [tf.concat([f, b], axis=-1) for f, b in zip(out[1:1 + half], out[1 + half:])]
            else:
                states += list(out[1:])
            x = out[0]
        keys = self.attention.keys(x, mask) if self.attention is not None else tf.zeros_like(x[:, :, :1])
        return tuple(states), (x, mask, keys)

    def step(self, tokens, states, context):
        import tensorflow as tf

        memory, mask, keys = context
        x = self.target_embedding.call(tokens)  # the vectors alone: a cell takes no Keras mask
        new_states, k = [], 0
        for cell in self.cells:
            size = cell.N_STATES
            x, cell_states = cell(x, list(states[k:k + size]), training=False)
            new_states.extend(cell_states if isinstance(cell_states, (list, tuple)) else [cell_states])
            k += size
        if self.attention is not None:
            context_vector, _ = self.attention.attend(x, keys, memory, mask)
            x = self.attentional(tf.concat([x, context_vector], axis=-1))
        return self.output(x), tuple(new_states)

