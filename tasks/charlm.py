"""Language models over characters or words: train, sample novel text, score sentences.

Model (the course's language model): token ids -> x<t> (a learned embedding, or one-hot) ->
1-3 stacked layers of our own GRU/LSTM/RNN cells with dropout between them -> a dense layer
giving the logits of ``P(y<t> | y<1..t-1>)`` over the vocabulary. ``x<1>`` is the zero vector
(the ``<bos>`` input) and ``a<0> = 0``.

Training minimises the cross-entropy in nats per token. Long text is trained with truncated
backpropagation through time: a stateful copy of the model carries a<t> from one window to the
next and is reset at every epoch (see :mod:`tasks.charlm_data`). Validation loss is computed
exactly (every validation token once) at the end of every epoch; the best epoch is kept.

    >>> lm = LanguageModelPipeline(LanguageModelConfig(epochs=5))        # doctest: +SKIP
    >>> lm.fit("input.txt")                                              # doctest: +SKIP
    >>> lm.sample("ROMEO:", length=200, temperature=0.8, seed=1)          # doctest: +SKIP
    >>> lm.score(["The apple and pear salad", "The apple and pair salad"])  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from nlp_tasks.batching import Batches, pad
from nlp_tasks.config import Config, check_parameters, check_upper_bounds, recurrent_parameters
from nlp_tasks.errors import UserError
from nlp_tasks.pipeline import OUTPUT_LAYER, Pipeline, embedding_layer_name
from nlp_tasks.sampling import log_softmax
from nlp_tasks.training import callback_base
from nlp_tasks.vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary
from tasks import charlm_data as cd

CELLS = ("gru", "lstm", "rnn", "mingru")
LEVELS = ("char", "word")


@dataclasses.dataclass(frozen=True)
class LanguageModelConfig(Config):
    level: str = "char"  # "char" or "word"
    mode: str = "stream"  # "stream" (one long text, truncated BPTT) or "lines" (each line a sequence)
    cell: str = "gru"
    units: int = 512
    layers: int = 2
    embedding_dim: int | None = 64  # None: one-hot inputs
    dropout: float = 0.25
    window: int = 100  # time steps per truncated-BPTT window (stream mode)
    max_vocab: int | None = 10000  # most frequent tokens kept (words); characters rarely reach it
    min_freq: int = 1
    lower: bool = False
    valid_fraction: float = 0.1  # held out from the end of the training text when no dev data is given
    text_column: str = "text"
    separator: str | None = None  # characters separated by this in the files (PTB's layout: " "); None: as written
    word_boundary: str = "_"  # with a separator: the token read as a space
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 2e-3
    clipnorm: float | None = 5.0
    patience: int | None = 3
    lr_decay: float | None = 0.5  # halve the learning rate when validation loss stalls
    seed: int = 0

    def __post_init__(self):
        if self.level not in LEVELS:
            raise UserError(f"level must be one of {', '.join(LEVELS)}, got {self.level!r}")
        if self.mode not in cd.MODES:
            raise UserError(f"mode must be one of {', '.join(cd.MODES)}, got {self.mode!r}")
        if self.cell not in CELLS:
            raise UserError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise UserError(f"valid_fraction must be in [0, 1), got {self.valid_fraction!r}")
        for name in ("units", "layers", "window", "min_freq"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.separator == "":
            raise UserError("separator must not be empty (None reads the text as written)")
        if self.embedding_dim is not None and self.embedding_dim < 1:
            raise UserError(f"embedding_dim must be >= 1 (or None for one-hot), got {self.embedding_dim!r}")
        check_upper_bounds(self, widths=("units", "embedding_dim"), layers=("layers",), window=1_000_000)


class LanguageModelPipeline(Pipeline):
    """Train, sample and score a language model; see the module docstring."""

    task = "charlm"
    config_class = LanguageModelConfig

    def __init__(self, config: LanguageModelConfig | None = None):
        super().__init__(config)
        self._step = None  # the compiled one-step function, built on first use

    # ------------------------------------------------------------------ vocabulary / model
    @property
    def vocab_name(self) -> str:
        return "chars" if self.config.level == "char" else "words"

    @property
    def vocab(self) -> Vocabulary:
        if self.vocab_name not in self.vocabs:
            raise UserError("this language model has no vocabulary yet: train it or load a saved one")
        return self.vocabs[self.vocab_name]

    def build_model(self, batch_size: int | None = None, stateful: bool = False, mask: bool = True):
        """A new Keras model; ``stateful`` ones (for TBPTT) need a fixed ``batch_size``."""
        import keras

        from nlp_tasks.layers import TokenFeatures, recurrent

        cfg = self.config
        size, dim = len(self.vocab), cfg.embedding_dim or len(self.vocab)
        check_parameters(size * dim + recurrent_parameters(cfg.units, dim, cfg.layers) + (cfg.units + 1) * size,
                         "language model")
        ids = keras.Input(batch_shape=(batch_size, None), dtype="int32", name="token_ids")
        x = TokenFeatures(len(self.vocab), cfg.embedding_dim, zero_id=BOS_ID, mask_zero=mask,
                          name=embedding_layer_name(self.vocab_name))(ids)
        x = keras.layers.Dropout(cfg.dropout, name="dropout_0")(x)
        for layer in range(1, cfg.layers + 1):
            x = recurrent(cfg.cell, cfg.units, return_sequences=True, stateful=stateful, name=f"rnn_{layer}")(x)
            x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{layer}")(x)
        logits = keras.layers.Dense(len(self.vocab), name=OUTPUT_LAYER, dtype="float32")(x)  # float32 logits, also under mixed precision
        return keras.Model(ids, logits, name="language_model")

    def expected_layer_sizes(self) -> dict:
        cfg = self.config
        size = len(self.vocabs[self.vocab_name]) if self.vocab_name in self.vocabs else 0
        sizes = {embedding_layer_name(self.vocab_name): {"vocab_size": size, "dim": cfg.embedding_dim},
                 OUTPUT_LAYER: {"units": size}}
        sizes.update({f"rnn_{i}": {"units": cfg.units} for i in range(1, cfg.layers + 1)})
        return sizes

    def check_consistency(self, source: str = "model") -> None:
        super().check_consistency(source)
        if self.vocab_name not in self.vocabs:
            raise UserError(f"{source}: the {self.vocab_name} vocabulary is missing")
        width = self.model.get_layer(OUTPUT_LAYER).output.shape[-1]
        if width != len(self.vocab):
            raise UserError(f"{source}: the vocabulary has {len(self.vocab)} tokens but the model's output "
                            f"layer predicts {width}")

    # ------------------------------------------------------------------ data
    def _build_vocab(self, docs) -> Vocabulary:
        cfg = self.config
        corpus = docs if cfg.level == "char" else cd.lines_of(docs)
        vocab = Vocabulary.build(corpus, level=cfg.level, max_size=cfg.max_vocab, min_freq=cfg.min_freq,
                                 lower=cfg.lower)
        cd.check_vocabulary(vocab)
        return vocab

    def _read(self, source, split):
        cfg = self.config
        return cd.read_corpus(source, cfg.text_column, split=split, mode=cfg.mode, separator=cfg.separator,
                              word_boundary=cfg.word_boundary)

    def _split(self, docs):
        """Training and validation documents cut from one corpus (the last ``valid_fraction``)."""
        fraction = self.config.valid_fraction
        if self.config.mode == "lines":
            train, dev = cd.split_fraction(cd.lines_of(docs), fraction)
        elif len(docs) == 1:  # one text: cut it by characters, as nanoGPT cuts tiny-shakespeare
            train, dev = (lambda t: ([t[0]], [t[1]]))(cd.split_fraction(docs[0], fraction))
        else:
            train, dev = cd.split_fraction(docs, fraction)
        if not dev or not any(d.strip() for d in dev) or not any(d.strip() for d in train):
            raise UserError("the corpus is too small to hold out a validation part; give --dev data")
        return train, dev

    def _sequences(self, docs):
        """Stream mode: one id array. Lines mode: one id list per line."""
        if self.config.mode == "stream":
            ids = cd.encode_stream(docs, self.vocab)
            if len(ids) < 2:
                raise UserError("the corpus has fewer than two tokens")
            return ids
        return cd.encode_lines(cd.lines_of(docs), self.vocab)

    def _stream_dataset(self, ids):
        import tensorflow as tf

        cfg = self.config
        inputs, targets = cd.stream_rows(ids, cfg.batch_size)
        chunks = cd.windows(inputs, targets, cfg.window, drop_last=True)
        if not chunks:
            raise UserError(f"the training text ({len(ids)} tokens) is too short for {cfg.batch_size} rows of "
                            f"{cfg.window}-step windows; lower --batch-size or --window")
        xs = np.stack([x for x, _ in chunks])  # (windows, batch, window): element k is batch k
        ys = np.stack([y for _, y in chunks])
        return tf.data.Dataset.from_tensor_slices((xs, ys))

    def _line_batches(self, sequences, shuffle, batch_size=None):
        """Padded batches ``(x, y)`` of lines, by length: a :class:`Batches` source when
        shuffled (training), a list when not."""
        import tensorflow as tf

        xs, ys = cd.line_examples(sequences)
        lengths = [len(x) for x in xs]

        def make_batch(indices, rng):  # nothing random here: dropout is the model's (its state is checkpointed)
            return pad([xs[i] for i in indices]), pad([ys[i] for i in indices])

        signature = (tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None, None), tf.int32))
        batches = Batches(make_batch, lengths, batch_size or self.config.batch_size, signature,
                          seed=self.config.seed, shuffle=shuffle)
        return batches if shuffle else list(batches.for_epoch(0))

    def _eval_batches(self, sequences, batch_size):
        """Batches that score every token exactly once (stream: stateful windows, in order)."""
        if self.config.mode == "stream":
            inputs, targets = cd.stream_rows(sequences, batch_size, pad_last=True)
            return cd.windows(inputs, targets, self.config.window, drop_last=False)
        return self._line_batches(sequences, shuffle=False, batch_size=batch_size)

    # ------------------------------------------------------------------ training
    def fit(self, train, dev=None, out_dir: str | Path | None = None, verbose: int = 1) -> dict:
        """Train on ``train`` (validation: ``dev``, or the end of ``train``); returns a summary."""
        import keras

        from nlp_tasks.checkpoint import fingerprint
        from nlp_tasks import distribute
        from nlp_tasks.runtime import set_seed
        from nlp_tasks.training import TrainConfig, fit

        cfg = self.config
        docs = self._read(train, split="train")
        self._build_vocab(docs)  # fails early on a corpus with fewer than two distinct tokens
        if dev is not None:
            dev_docs = self._read(dev, split="validation")
        elif cfg.valid_fraction > 0:
            docs, dev_docs = self._split(docs)
        else:
            dev_docs = None
        self.vocabs = {self.vocab_name: self._build_vocab(docs)}
        train_seqs = self._sequences(docs)
        dev_seqs = self._sequences(dev_docs) if dev_docs is not None else None
        if cfg.mode == "lines" and not train_seqs:
            raise UserError(f"{train}: no non-empty lines to train on")

        set_seed(cfg.seed, deterministic=True)
        stream = cfg.mode == "stream"
        if stream and distribute.replicas() > 1:
            raise UserError("--mode stream carries each row's state from batch to batch, which a split batch "
                            "cannot do; use --strategy default, or --mode lines")
        with distribute.scope():  # one replica per device under --strategy mirrored
            train_model = self.build_model(cfg.batch_size if stream else None, stateful=stream, mask=not stream)
        data = self._stream_dataset(train_seqs) if stream else self._line_batches(train_seqs, shuffle=True)
        callbacks = [_ResetStates(train_model)] if stream else []
        if dev_seqs is not None:
            callbacks.append(_ValidationLoss(self, train_model, self._eval_batches(dev_seqs, cfg.batch_size)))
        train_cfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                                clipnorm=cfg.clipnorm, patience=cfg.patience, lr_decay=cfg.lr_decay,
                                seed=cfg.seed, verbose=verbose)
        start = time.perf_counter()
        summary = fit(train_model, data, config=train_cfg,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      monitor="val_nats", mode="min", out_dir=out_dir, callbacks=callbacks,
                      run_key={"task": self.task, "config": cfg.to_dict(),
                               "data": fingerprint(self.vocab.tokens, *_as_arrays(train_seqs), *_as_arrays(dev_seqs))})
        summary["train_seconds"] = time.perf_counter() - start
        summary["train_tokens"] = int(len(train_seqs) if stream else sum(len(s) + 1 for s in train_seqs))
        # The saved model is stateless and masks padding; it shares every weight with train_model.
        self.model = self.build_model()
        self.model.set_weights(train_model.get_weights())
        self._step = None
        self.metrics = {"training": {k: v for k, v in summary.items() if k != "history"}}
        if "best" in summary:
            self.metrics["validation"] = _loss_report(summary["best"], self.config.level)
        return summary

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, data, split: str = "test", batch_size: int | None = None, **options) -> dict:
        """Cross-entropy of ``data``: nats and bits per token (and per character), perplexity.

        The same rule as :meth:`score`: a character model refuses text with characters it never
        saw (it has no probability for them); a word model reads unseen words as ``<unk>``.
        """
        self.require_model()
        cfg = self.config
        docs = self._read(data, split=split)
        if cfg.level == "char":
            text = "".join(docs) if cfg.mode == "stream" else "".join(cd.lines_of(docs))
            self._encode_text("".join(sorted(set(text))), "the evaluation data")
        sequences = self._sequences(docs)
        batch_size = batch_size or cfg.batch_size
        if cfg.mode == "stream":
            batch_size = max(1, min(batch_size, len(sequences)))
            model = self.build_model(batch_size, stateful=True, mask=True)
            model.set_weights(self.model.get_weights())
        else:
            model = self.model
        start = time.perf_counter()
        total, count = _sum_nll(model, self._eval_batches(sequences, batch_size))
        report = _loss_report(total / count, cfg.level)
        report.update(tokens=int(count), seconds=time.perf_counter() - start)
        return report

    # ------------------------------------------------------------------ scoring
    def _encode_text(self, text: str, what: str) -> list[int]:
        if not isinstance(text, str):
            raise UserError(f"{what} must be a string, got {type(text).__name__}")
        vocab = self.vocab
        if vocab.level == "char":
            unknown = sorted({c for c in vocab.tokenize(text) if c not in vocab})
            if unknown:
                shown = ", ".join(repr(c) for c in unknown[:10])
                raise UserError(f"{what} contains character(s) the model never saw: {shown}")
        return vocab.encode(text)

    @property
    def scores_end(self) -> bool:
        """Whether a sentence's probability includes ending it (``<eos>``) where it stops."""
        return self.config.mode == "lines" or self.config.level == "word"

    def score(self, texts) -> list[dict] | dict:
        """Log-probability of each text: ``log P(y<1>) + log P(y<2> | y<1>) + ...``.

        Each result: ``{"text", "log_prob" (nats), "log2_prob" (bits), "tokens", "nats_per_token",
        "perplexity", "probabilities": [[token, p], ...], "unknown": [...]}``. A sentence ends with
        ``<eos>`` when the model was trained on lines or on words (its probability then includes
        stopping there). A single text gives one dict; a list gives a list. A character model
        refuses characters it never saw; a word model scores unseen words as ``<unk>`` and lists
        them under "unknown" (:meth:`evaluate` follows the same rule).
        """
        model = self.require_model()
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        if not texts:
            raise UserError("nothing to score: give at least one text")
        encoded = []
        for i, text in enumerate(texts, start=1):
            ids = self._encode_text(text, f"text {i}") + ([EOS_ID] if self.scores_end else [])
            if not ids:
                raise UserError(f"text {i} is empty")
            encoded.append(ids)
        results = []
        for start in range(0, len(encoded), 64):
            chunk = encoded[start:start + 64]
            x = pad([[BOS_ID] + ids[:-1] for ids in chunk])
            log_probs = log_softmax(np.asarray(model(x, training=False)))
            for row, ids in enumerate(chunk):
                token_lp = log_probs[row, np.arange(len(ids)), ids]
                results.append(self._score_result(texts[start + row], ids, token_lp))
        return results[0] if single else results

    def _score_result(self, text, ids, token_lp):
        vocab = self.vocab
        total = float(token_lp.sum())
        return {
            "text": text,
            "log_prob": total,
            "log2_prob": total / math.log(2),
            "tokens": len(ids),
            "nats_per_token": -total / len(ids),
            "perplexity": math.exp(-total / len(ids)),
            "probabilities": [[vocab.id_to_token(i), float(math.exp(lp))] for i, lp in zip(ids, token_lp)],
            "unknown": [tok for tok in vocab.tokenize(text) if tok not in vocab],
        }

    def predict(self, inputs, **options):
        """Same as :meth:`score`."""
        return self.score(inputs)

    # ------------------------------------------------------------------ sampling
    def step_function(self):
        """The compiled one-step function ``(ids (n,), states) -> (logits (n, V), states)``."""
        if self._step is None:
            from tasks.charlm_sampling import compile_step

            self._step = compile_step(self.require_model(), self.vocab_name, self.config.layers)
        return self._step

    def sample(self, prime: str = "", length: int = 200, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, beam: int | None = None, seed: int | None = None,
               stop_at_eos: bool = False, no_unk: bool = False) -> str:
        """Novel text continuing ``prime`` (from a<0> = 0, x<1> = 0 when it is empty).

        Each sampled token is fed back as the next input, until ``length`` tokens or, with
        ``stop_at_eos``, the first ``<eos>``. ``seed`` fixes the output; ``beam`` returns the most
        likely continuation found by beam search instead of a random one. Returns prime + text.
        """
        return self.sample_many(1, prime, length, temperature, top_k, top_p, beam, seed, stop_at_eos, no_unk)[0]

    def sample_many(self, n: int, prime: str = "", length: int = 200, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None, beam: int | None = None,
                    seed: int | None = None, stop_at_eos: bool = False, no_unk: bool = False) -> list[str]:
        """``n`` independent samples drawn together as one batch (see :meth:`sample`)."""
        from tasks.charlm_sampling import generate

        return generate(self, n, prime, length, temperature, top_k, top_p, beam, seed, stop_at_eos, no_unk)


# ---------------------------------------------------------------------- helpers
def _as_arrays(sequences) -> list:
    """Stream ids (one array) or line ids (lists) as arrays, for the run's data fingerprint."""
    if sequences is None:
        return []
    if isinstance(sequences, np.ndarray):
        return [sequences]
    return [np.array([len(s) for s in sequences]), np.array([i for s in sequences for i in s], dtype=np.int64)]


def _loss_report(nats: float, level: str) -> dict:
    """nats, bits and perplexity per token (also named per character at character level)."""
    report = {"nats_per_token": nats, "bits_per_token": nats / math.log(2), "perplexity": math.exp(min(nats, 700))}
    if level == "char":
        report.update(nats_per_char=nats, bits_per_char=nats / math.log(2))
    return report


def _reset_states(model) -> None:
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()


def _sum_nll(model, batches) -> tuple[float, float]:
    """Summed negative log-likelihood (nats) and number of scored tokens (target id != 0)."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def batch_nll(x, y):
        logits = tf.cast(model(x, training=False), tf.float32)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        weight = tf.cast(tf.not_equal(y, PAD_ID), nll.dtype)
        return tf.reduce_sum(nll * weight), tf.reduce_sum(weight)

    _reset_states(model)
    total, count = 0.0, 0.0
    for x, y in batches:
        s, c = batch_nll(tf.constant(x), tf.constant(y))
        total, count = total + float(s), count + float(c)
    _reset_states(model)
    if count == 0:
        raise UserError("nothing to evaluate: the data has no tokens")
    return total, count


class _ResetStates(callback_base()):
    """Start every epoch from a<0> = 0 (truncated BPTT carries state only within an epoch)."""

    def __init__(self, model):
        super().__init__()
        self.stateful_model = model

    def on_epoch_begin(self, epoch, logs=None):
        _reset_states(self.stateful_model)


class _ValidationLoss(callback_base()):
    """Exact validation loss (every token once) in the epoch logs as ``val_nats`` (and bits)."""

    provides_validation = True

    def __init__(self, pipe, model, batches):
        super().__init__()
        self.pipe, self.eval_model, self.batches = pipe, model, batches

    def on_epoch_end(self, epoch, logs=None):
        total, count = _sum_nll(self.eval_model, self.batches)
        if logs is not None:  # shown on the epoch's progress line by fit()
            logs["val_nats"] = total / count
            logs["val_bits"] = total / count / math.log(2)
