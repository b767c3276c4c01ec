"""Language models over characters or words: train, sample novel text, score sentences.

Model (the course's language model): token ids -> x<t> (a learned embedding, or one-hot) ->
1-3 stacked layers of our own GRU/LSTM/RNN cells with dropout between them -> a dense layer
giving the logits of ``P(y<t> | y<1..t-1>)`` over the vocabulary. ``x<1>`` is the zero vector
(the ``<bos>`` input) and ``a<0> = 0``.

Training minimises the cross-entropy in nats per token. Long text is trained with truncated
backpropagation through time: a stateful copy of the model carries a<t> from one window to the
next and is reset at every epoch (see :mod:`tasks.charlm.data`). Validation loss is computed
exactly (every validation token once) at the end of every epoch; the best epoch is kept.

    >>> lm = LanguageModelPipeline(LanguageModelConfig(epochs=5))        # doctest: +SKIP
    >>> lm.fit("input.txt")                                              # doctest: +SKIP
    >>> lm.generate("ROMEO:", length=200, temperature=0.8, seed=1)        # doctest: +SKIP
    >>> lm.score(["The apple and pear salad", "The apple and pair salad"])  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time

import numpy as np

from nlp_tasks.batching import pad
from nlp_tasks.config import SampleSettings, check_parameters, recurrent_parameters
from nlp_tasks.data.tokenstore import is_store
from nlp_tasks.decoding.sampling import log_softmax
from nlp_tasks.errors import UserError
from nlp_tasks.metrics.language import loss_report, text_score
from nlp_tasks.pipeline import Pipeline, TrainingData, TrainingPlan
from nlp_tasks.saving.model_checks import OUTPUT_LAYER, embedding_layer_name
from nlp_tasks.text.vocab import BOS_ID, EOS_ID, Vocabulary

from . import batches
from . import data as cd
from . import init_from as start_from
from .config import LanguageModelConfig
from .prepared import store_part
from .sampling import FormerNames
from .scoring import reset_states, sum_nll, validation_figures


class LanguageModelPipeline(FormerNames, Pipeline):
    """Train, sample and score a language model; see the module docstring."""

    task = "charlm"
    config_class = LanguageModelConfig
    card_tag = "text-generation"
    card_summary = "A recurrent language model: scores texts and generates new ones."
    card_limits = ("Generates text that resembles its training corpus; it knows no facts and may reproduce passages "
                   "of the corpus. A character model refuses characters it never saw.")

    def __init__(self, config: LanguageModelConfig | None = None):
        super().__init__(config)
        self._steps = {}  # the compiled one-step functions (with XLA and without), built on first use
        self._generators = {}  # the compiled sampling loops, one per set of sampling options

    # ------------------------------------------------------------------ vocabulary / model
    @property
    def vocab_name(self) -> str:
        return "chars" if self.config.level == "char" else "words"

    @property
    def vocab(self) -> Vocabulary:
        if self.vocab_name not in self.vocabs:
            raise UserError("this language model has no vocabulary yet: train it or load a saved one")
        return self.vocabs[self.vocab_name]

    def build_model(self, batch_size: int | None = None, stateful: bool = False, mask: bool = True,
                    penalties: bool = False):
        """A new Keras model; ``stateful`` ones (for TBPTT) need a fixed ``batch_size``; ``penalties``:
        with the training-only AR/TAR terms of the config on the last layer (no weights of their own)."""
        import keras

        from nlp_tasks.layers import ActivationPenalty, TokenFeatures, recurrent

        cfg = self.config
        size, dim = len(self.vocab), cfg.embedding_dim or len(self.vocab)
        check_parameters(size * dim + recurrent_parameters(cfg.units, dim, cfg.layers) + (cfg.units + 1) * size,
                         "language model")
        ids = keras.Input(batch_shape=(batch_size, None), dtype="int32", name="token_ids")
        x = TokenFeatures(len(self.vocab), cfg.embedding_dim, zero_id=BOS_ID, mask_zero=mask,
                          name=embedding_layer_name(self.vocab_name))(ids)
        x = keras.layers.Dropout(cfg.dropout, name="dropout_0")(x)
        for layer in range(1, cfg.layers + 1):
            outputs = recurrent(cfg.cell, cfg.units, return_sequences=True, stateful=stateful, name=f"rnn_{layer}")(x)
            x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{layer}")(outputs)
        if penalties and (cfg.activation_reg or cfg.temporal_activation_reg):
            x = ActivationPenalty(cfg.activation_reg, cfg.temporal_activation_reg, name="activation_penalty")(
                [outputs, x])
        logits = keras.layers.Dense(len(self.vocab), name=OUTPUT_LAYER,
                                    dtype="float32")(x)  # float32 logits, also under mixed precision
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
    def _build_vocab(self, docs, start=None) -> Vocabulary:
        """The vocabulary of ``docs``; with ``start`` (``--init-from``): its model's, extended."""
        cfg = self.config
        corpus = docs if cfg.level == "char" else cd.lines_of(docs)
        if start is not None:
            return start_from.vocabulary(start[0], corpus, cfg)
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
        elif len(docs) == 1:  # one text: cut it by characters, as nanoGPT cuts tiny-shakespeare (words: at a space)
            text = docs[0]
            cut = len(cd.split_fraction(text, fraction)[0])
            if self.config.level == "word":
                cut = cd.word_cut(text, cut)
            train, dev = [text[:cut]], [text[cut:]]
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

    # ------------------------------------------------------------------ training
    monitor, mode = "val_nats", "min"

    def read_training_data(self, train, dev=None, init_from: str | None = None) -> TrainingData:
        """Text of ``train`` and ``dev`` (or the last ``valid_fraction`` of ``train``) as token-id
        sequences; the vocabulary from the training part. ``init_from``: a saved language model to
        train further, whose vocabulary, extended by the text's new tokens, the model takes
        (:mod:`tasks.charlm.init_from`)."""
        from nlp_tasks.saving.checkpoint import fingerprint

        cfg = self.config
        if is_store(train) and init_from:
            raise UserError("--init-from takes the training text itself, not a store prepared by 'charlm prepare' "
                            "(a store's token ids are its own vocabulary's)")
        if is_store(train):  # prepared by `charlm prepare`: ids read through a memory map
            from .prepared import training_data

            ids, dev_ids, identity = training_data(self, train, dev)
            tokens = len(ids) if cfg.mode == "stream" else int(cd.line_lengths(ids).sum()) + len(ids)
            return TrainingData(*self._oriented(ids, dev_ids), counts={"train_tokens": int(tokens)},
                                fingerprint=fingerprint(self.vocab.tokens, *identity))
        docs = self._read(train, split="train")
        start = start_from.read(init_from, cfg) if init_from else None
        if start is None:
            self._build_vocab(docs)  # fails early on a corpus with fewer than two distinct tokens
        if dev is not None:
            dev_docs = self._read(dev, split="dev")
        elif cfg.valid_fraction > 0:
            docs, dev_docs = self._split(docs)
        else:
            dev_docs = None
        self.vocabs = {self.vocab_name: self._build_vocab(docs, start)}
        train_seqs = self._sequences(docs)
        dev_seqs = self._sequences(dev_docs) if dev_docs is not None else None
        if cfg.mode == "lines" and not train_seqs:
            raise UserError(f"{train}: no non-empty lines to train on")
        stream = cfg.mode == "stream"
        tokens = int(len(train_seqs) if stream else sum(len(s) + 1 for s in train_seqs))
        return TrainingData(*self._oriented(train_seqs, dev_seqs),
                            counts={"train_tokens": tokens, **({"init_from": start[1]} if start else {})},
                            fingerprint=fingerprint(self.vocab.tokens, *cd.as_arrays(train_seqs),
                                                    *cd.as_arrays(dev_seqs), *([start[1]["sha256"]] if start else [])),
                            build={"start": start[0]} if start else {})

    def _oriented(self, *sequences):
        """``sequences`` as the model reads them: backwards with ``reverse``."""
        return [cd.backwards(s) for s in sequences] if self.config.reverse else list(sequences)

    def build_training_model(self, data: TrainingData, run):
        """Stream mode trains a stateful copy (truncated BPTT needs a fixed batch size)."""
        stream = self.config.mode == "stream"
        if stream and run.replicas > 1:
            raise UserError("--mode stream carries each row's state from batch to batch, which a split batch "
                            "cannot do; use --strategy default, or --mode lines")
        model = self.build_model(self.config.batch_size if stream else None, stateful=stream, mask=not stream,
                                 penalties=True)
        if "start" in data.build:  # --init-from: every weight of the saved model
            start_from.copy_weights(model, data.build["start"])
        return model

    def training_plan(self, data: TrainingData, model) -> TrainingPlan:
        import keras

        cfg = self.config
        stream = cfg.mode == "stream"
        figures = None
        if data.dev is not None:
            dev = batches.eval_batches(data.dev, cfg, cfg.batch_size)
            figures = lambda: validation_figures(model, dev)  # noqa: E731
        return TrainingPlan(
            batches.stream_dataset(data.train, cfg) if stream else batches.line_batches(data.train, cfg, shuffle=True),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), validation_figures=figures,
            # Every epoch starts from a<0> = 0: truncated BPTT carries state only within an epoch.
            callbacks=[keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: reset_states(model))]
            if stream else [])

    def finish_training(self, data: TrainingData, model, summary: dict) -> None:
        # The saved model is stateless and masks padding; it shares every weight with the trained one.
        self.model = self.build_model()
        self.model.set_weights(model.get_weights())
        self._steps, self._generators = {}, {}
        if "best" in summary:
            self.metrics["validation"] = loss_report(summary["best"], self.config.level)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, data, split: str = "test", batch_size: int | None = None) -> dict:
        """Cross-entropy of ``data``: nats and bits per token (and per character), perplexity.

        The same rule as :meth:`score`: a character model refuses text with characters it never
        saw (it has no probability for them); a word model reads unseen words as ``<unk>``.
        """
        self.require_model()
        cfg = self.config
        sequences = store_part(self, data)  # STORE[:valid|:train], prepared by `charlm prepare`; else text:
        if sequences is None:
            docs = self._read(data, split=split)
            if cfg.level == "char":
                text = "".join(docs) if cfg.mode == "stream" else "".join(cd.lines_of(docs))
                self.encode_text("".join(sorted(set(text))), "the evaluation data")
            sequences = self._sequences(docs)
        (sequences,) = self._oriented(sequences)
        batch_size = batch_size or cfg.batch_size
        if cfg.mode == "stream":
            batch_size = max(1, min(batch_size, len(sequences)))
            model = self.build_model(batch_size, stateful=True, mask=True)
            model.set_weights(self.model.get_weights())
        else:
            model = self.model
        start = time.perf_counter()
        total, count = sum_nll(model, batches.eval_batches(sequences, cfg, batch_size))
        report = loss_report(total / count, cfg.level)
        report.update(tokens=int(count), seconds=time.perf_counter() - start)
        return report

    # ------------------------------------------------------------------ scoring
    def encode_text(self, text: str, what: str = "the text") -> list[int]:
        """The token ids of ``text`` (no ``<bos>`` or ``<eos>``); a character model refuses characters
        it never saw, naming the text ``what`` in the message."""
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
        stopping there). A single text gives one dict; a list gives a list, in the input's order. A
        character model refuses characters it never saw; a word model scores unseen words as
        ``<unk>`` and lists them under "unknown" (:meth:`evaluate` follows the same rule). A backward
        model (``reverse``) scores the text read last token first, and lists its tokens in that order. The base
        class's inference template (:meth:`preprocess`, batched :meth:`forward_all`, :meth:`postprocess`).
        """
        return super().predict(texts)

    def predict(self, inputs):
        """Same as :meth:`score`."""
        return self.score(inputs)

    # ------------------------------------------------------------------ inference (the base class's template)
    def split_inputs(self, inputs) -> tuple[bool, list]:
        single = isinstance(inputs, str)
        texts = [inputs] if single else list(inputs)
        if not texts:
            raise UserError("nothing to score: give at least one text")
        return single, texts

    def preprocess(self, item: str, number: int) -> tuple[str, list[int]]:
        """``(text, ids)``: the ids scored (``<eos>`` last where :attr:`scores_end`); an empty text is refused."""
        ids = self.encode_text(item, f"text {number}")
        ids = (ids[::-1] if self.config.reverse else ids) + ([EOS_ID] if self.scores_end else [])  # reverse: last first
        if not ids:
            raise UserError(f"text {number} is empty")
        return item, ids

    def input_length(self, features) -> int:
        return len(features[1])

    def collate(self, batch: list) -> tuple:
        return (pad([[BOS_ID] + ids[:-1] for _, ids in batch]),)  # x<1> = <bos>: each token given those before it

    def inference_batch_size(self) -> int:
        return 64  # a batch's logits are (64, length, vocabulary)

    def postprocess(self, features, output) -> dict:
        text, ids = features
        token_lp = log_softmax(output[:len(ids)])[np.arange(len(ids)), ids]
        return self._score_result(text, ids, token_lp)

    def _score_result(self, text, ids, token_lp):
        vocab = self.vocab
        total = float(token_lp.sum())
        return {
            "text": text,
            **text_score(total, len(ids)),
            "probabilities": [[vocab.id_to_token(i), float(math.exp(lp))] for i, lp in zip(ids, token_lp)],
            "unknown": [tok for tok in vocab.tokenize(text) if tok not in vocab],
        }

    def export_spec(self):
        """A streaming ``step`` and ``score`` (:mod:`tasks.charlm.export`)."""
        from .export import export_spec

        return export_spec(self)

    # ------------------------------------------------------------------ sampling
    def step_function(self, jit_compile: bool = True):
        """The compiled one-step function ``(ids (n,), states) -> (logits (n, V), states)``;
        ``jit_compile=False``: the same step without XLA."""
        if jit_compile not in self._steps:
            from .sampling import compile_step

            self._steps[jit_compile] = compile_step(self.require_model(), self.vocab_name, self.config.layers,
                                                    jit_compile=jit_compile)
        return self._steps[jit_compile]

    def generate(self, prime: str = "", length: int = 200, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, beam: int | None = None, seed: int | None = None,
                 stop_at_eos: bool = False, no_unk: bool = False, n: int = 1) -> str | list[str]:
        """Novel text continuing ``prime`` (from a<0> = 0, x<1> = 0 when it is empty), by sampling.

        Each sampled token is fed back as the next input, until ``length`` tokens or, with
        ``stop_at_eos``, the first ``<eos>``. ``seed`` fixes the output; ``beam`` returns the most
        likely continuation found by beam search instead of a random one. Returns prime + text (a
        backward model, ``reverse``: the text it wrote before ``prime``, then ``prime``);
        with ``n`` > 1, a list of ``n`` independent texts drawn together as one batch (text ``i``
        draws with seed ``seed + i``, so it is the same alone or in a batch), as
        :meth:`tasks.music.MusicPipeline.generate` returns ``n`` pieces. The options are
        :class:`nlp_tasks.config.SampleSettings` (their help and ranges), those of ``charlm generate``.
        """
        settings = SampleSettings(length=length, temperature=temperature, top_k=top_k, top_p=top_p, beam=beam,
                                  seed=seed, stop_at_eos=stop_at_eos, no_unk=no_unk, samples=n)
        texts = self.generate_texts(prime, settings)
        return texts[0] if n == 1 else texts

    def generate_texts(self, prime: str, settings: SampleSettings) -> list[str]:
        """``settings.samples`` texts continuing ``prime``, drawn as ``settings`` say (the CLI's and
        the server's way in: the settings were checked when they were made)."""
        from .sampling import generate

        return generate(self, prime, settings)

