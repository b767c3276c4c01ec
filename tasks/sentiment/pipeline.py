"""Sentiment: many-to-one classification of a text into one label, e.g. a 1-5 rating.

Model: (word dropout, ``word_dropout``: training words replaced by ``<unk>``) -> word embeddings
(``mask_zero``) -> dropout -> 1-2 bidirectional layers of our own GRU
(or LSTM, RNN, minimal GRU) cells -> pooling over time (last state, max, mean or attention) ->
dropout -> softmax over the labels. Optional pretrained vectors from a GloVe/word2vec text file,
class weights for imbalanced data, and Polyak averaging of the weights (``average_weights``).

Data (:mod:`tasks.sentiment.data`): ``LABEL text`` lines (the SST files), CSV/TSV/JSON-lines/JSON
with ``text`` and ``label`` columns (configurable), a Hugging Face dataset (hub name or local
folder), PTB trees, Python pairs ``(text, label)``, or ``builtin:rt-snippets`` (shipped with the
package; five classes ``0..4``, or ``builtin:rt-snippets-binary``). Labels are strings, each in
one canonical form (``0``, ``"0"`` and ``" 0"`` are one label); their sorted order is saved with
the model. When the labels are exactly ``0..4`` (SST-5, the snippets' five classes) they are
shown to users as ratings 1..5.

    >>> pipe = SentimentPipeline(SentimentConfig(epochs=5))          # doctest: +SKIP
    >>> pipe.fit("sst5.train.txt", "sst5.dev.txt")                     # doctest: +SKIP
    >>> pipe.predict(["a gorgeous , witty film"])                      # doctest: +SKIP
    [{'label': '4', 'rating': 5, 'probabilities': {...}}]
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import ClassVar

import numpy as np

from nlp_tasks.batching import Batches, pad
from nlp_tasks.config import (
    CELLS,
    MAX_LAYERS,
    MAX_WIDTH,
    TrainSettings,
    check_parameters,
    recurrent_parameters,
    setting,
)
from nlp_tasks.data.examples import take
from nlp_tasks.data.vectors import read_word_vectors, with_pretrained
from nlp_tasks.errors import UserError
from nlp_tasks.pipeline import Pipeline, TrainingData, TrainingPlan
from nlp_tasks.saving.model_checks import OUTPUT_LAYER, embedding_layer_name
from nlp_tasks.text.labels import LABEL_INT_DIGITS, look_alike_labels
from nlp_tasks.text.vocab import Vocabulary

from . import init_lm
from .data import default_dev, example_table
from .sst_trees import TREE_LABELS

POOLINGS = ("last", "max", "mean", "attention")
RATING_LABELS = ["0", "1", "2", "3", "4"]
EVALUATION_BLOCK = 8192  # texts scored at a time by evaluate


@dataclasses.dataclass(frozen=True)
class SentimentConfig(TrainSettings):
    cell: str = setting("gru", "Recurrent cell of the bidirectional encoder.", choices=CELLS)
    embedding_dim: int = setting(128, "Word embedding width (must match the vectors of --embeddings).",
                                 low=1, high=MAX_WIDTH)
    units: int = setting(128, "Units per direction.", low=1, high=MAX_WIDTH)
    layers: int = setting(1, "Stacked encoder layers.", low=1, high=MAX_LAYERS)
    pooling: str = setting("max", "How the encoder's outputs are summarised.", choices=POOLINGS)
    dropout: float = setting(0.5, "Dropout rate between layers while training.", low=0, high=1, high_open=True)
    word_dropout: float = setting(0.0, "Probability that a training word is replaced by <unk> (word dropout; "
                                        "never at prediction). 0: off.", low=0, high=1, high_open=True)
    average_weights: float | None = setting(None, "Polyak averaging: validate, keep and save the moving average of the "
                                                  "weights with this momentum per step (e.g. 0.999).",
                                            low=0, high=1, low_open=True, high_open=True, none="the last weights")
    discriminative_lr: float | None = setting(
        None, "Each layer group learns at the rate of the group above it divided by this (ULMFiT's discriminative "
              "fine-tuning: 2.6), for a model started by --init-from or --embeddings. Groups, lowest first: the "
              "embedding, each encoder layer, the rest.", low=1, none="one rate for all")
    gradual_unfreezing: bool = setting(False, "The first epoch trains the top group only (pooling and output), each "
                                              "later epoch one group more, downwards (ULMFiT's gradual unfreezing; "
                                              "groups as for --discriminative-lr).")
    max_vocab: int | None = setting(30000, "Most frequent words kept.", low=1, none="every word")
    min_freq: int = setting(1, "Words seen fewer times than this become <unk>.", low=1)
    lower: bool = setting(True, "Lower-case the words.")
    class_weights: bool = setting(False, "Weigh classes by inverse frequency.")
    text_column: str = setting("text", "Text column of CSV/JSON/hub data.")
    label_column: str = setting("label", "Label column of CSV/JSON/hub data.")
    phrases: bool = setting(False, "Train on every labelled phrase of PTB-tree data (sst/trees, a ptb_tree "
                                   "column), not only on whole sentences; validation and test stay sentences.")
    tree_labels: str = setting("fine", "Labels of PTB-tree data: fine (0..4) or binary (SST-2: 0-1 -> 0, 3-4 -> 1, "
                                       "neutral dropped).", choices=TREE_LABELS)

    # Recorded recipes (--preset): the parse-tree runs of benchmarks/RESULTS.md (section ``sst/trees``),
    # with --train sst/trees/train.txt --dev sst/trees/dev.txt.
    presets: ClassVar[dict] = {
        "sst5-trees": {"phrases": True, "tree_labels": "fine", "epochs": 4, "batch_size": 64, "learning_rate": 2e-3},
        "sst2-trees": {"phrases": True, "tree_labels": "binary", "epochs": 4, "batch_size": 64, "learning_rate": 2e-3}}


class SentimentPipeline(Pipeline):
    """Text in, label out (many-to-one). See the module docstring."""

    task = "sentiment"
    config_class = SentimentConfig
    card_tag = "text-classification"
    card_summary = "Sentence classification (many-to-one): one label of its training data per text, e.g. a 1-5 rating."
    card_limits = ("Knows the labels and the domain of its training data only: other domains, sarcasm and negation "
                   "across clauses are hard. A text with no known words gets uniform probabilities.")

    def expected_layer_sizes(self) -> dict:
        cfg = self.config
        sizes = {embedding_layer_name("words"): {"input_dim": len(self.vocabs.get("words", ())),
                                                 "output_dim": cfg.embedding_dim}}
        sizes.update({f"encoder_{i}": {"units": cfg.units} for i in range(1, cfg.layers + 1)})
        if self.labels:
            sizes[OUTPUT_LAYER] = {"units": len(self.labels)}
        return sizes

    # ------------------------------------------------------------------ model
    def build_model(self, vectors: dict | None = None, language_models: list | None = None):
        """The classifier; ``vectors``: pretrained word vectors; ``language_models``: those of
        ``--init-from`` (:mod:`tasks.sentiment.init_lm`), whose weights it starts from."""
        import keras

        from nlp_tasks.layers import AttentionPooling, MaskedMaxPooling, MaskedMeanPooling, WordDropout, recurrent

        cfg = self.config
        vocab = self.vocabs["words"]
        check_parameters(len(vocab) * cfg.embedding_dim
                         + recurrent_parameters(cfg.units, cfg.embedding_dim, cfg.layers, 2)
                         + 2 * cfg.units * (len(self.labels) + 1), "sentiment model")
        inputs = keras.Input((None,), dtype="int32", name="word_ids")
        embed = keras.layers.Embedding(len(vocab), cfg.embedding_dim, mask_zero=True,
                                       name=embedding_layer_name("words"))
        x = inputs
        if cfg.word_dropout:  # training only; no layer at all when off (the models saved before it are unchanged)
            x = WordDropout(cfg.word_dropout, unk_id=vocab.unk_id, name="word_dropout")(x)
        x = embed(x)
        if vectors:
            embed.set_weights([with_pretrained(embed.get_weights()[0], vocab, vectors, "embedding_dim")])
        x = keras.layers.Dropout(cfg.dropout)(x)
        for layer in range(cfg.layers):
            last = layer == cfg.layers - 1
            rnn = recurrent(cfg.cell, cfg.units, return_sequences=not (last and cfg.pooling == "last"))
            x = keras.layers.Bidirectional(rnn, name=f"encoder_{layer + 1}")(x)
        if cfg.pooling == "max":
            x = MaskedMaxPooling()(x)
        elif cfg.pooling == "mean":
            x = MaskedMeanPooling()(x)
        elif cfg.pooling == "attention":
            x = AttentionPooling(cfg.units)(x)
        x = keras.layers.Dropout(cfg.dropout)(x)
        outputs = keras.layers.Dense(len(self.labels), activation="softmax", name=OUTPUT_LAYER,
                                     dtype="float32")(x)  # float32 probabilities, also under mixed precision
        self.model = keras.Model(inputs, outputs, name="sentiment")
        if language_models:
            init_lm.copy_weights(self.model, language_models)
        return self.model

    # ------------------------------------------------------------------ data
    def examples(self, source, split: str = "test", with_labels: bool = True, training: bool = False):
        """``(text, label)`` pairs of ``source`` read with this model's columns and tree settings
        (label None without ``with_labels``); ``training``: as training reads them (every phrase
        of trees with ``phrases``). A file's or a data set's in a memory-mapped table
        (:func:`tasks.sentiment.data.example_table`), others in a list."""
        cfg = self.config
        return example_table(source, split, cfg.text_column, cfg.label_column if with_labels else None,
                             cfg.tree_labels, phrases=training and cfg.phrases,
                             trees_only=training and (cfg.phrases or cfg.tree_labels != "fine"))

    def _dataset(self, examples, shuffle, weights=None):
        import tensorflow as tf

        vocab = self.vocabs["words"]
        y = self._label_ids(examples)
        w = np.ones(len(y), dtype=np.float32) if weights is None else weights[y].astype(np.float32)
        # Each text's ids are made again with its batch: held for all, they would grow with the data.
        lengths = np.fromiter((max(len(vocab.encode(text)), 1) for text, _ in examples), dtype=np.int64,
                              count=len(examples))

        def make_batch(indices, rng):  # nothing random here: dropout is the model's (its state is checkpointed)
            return pad([vocab.encode(text) or [vocab.unk_id] for text, _ in take(examples, indices)]), y[indices], \
                w[indices]

        signature = (tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None,), tf.int32),
                     tf.TensorSpec((None,), tf.float32))
        return Batches(make_batch, lengths, self.config.batch_size, signature, seed=self.config.seed, shuffle=shuffle)

    def _label_ids(self, examples) -> np.ndarray:
        """Each example's label as its index in :attr:`labels`."""
        index = {label: i for i, label in enumerate(self.labels)}
        return np.fromiter((index[label] for _, label in examples), dtype=np.int32, count=len(examples))

    def _check_labels(self, examples, source):
        unknown = sorted({label for _, label in examples} - set(self.labels))
        if unknown:
            raise UserError(f"{source}: label(s) {', '.join(map(repr, unknown[:5]))} not in the model's "
                            f"label set ({', '.join(self.labels)})")

    # ------------------------------------------------------------------ training
    monitor, mode = "val_accuracy", "max"

    def read_training_data(self, train, dev=None, embeddings: str | None = None,
                           init_from: str | None = None) -> TrainingData:
        """Examples of ``train`` and ``dev`` (the built-in snippets without ``dev``: their dev part);
        labels and vocabulary from ``train``; ``embeddings``: pretrained word vectors (GloVe /
        word2vec text file) to start the embedding from; ``init_from``: ``FWD[,BWD]``, word-level
        language models to start from, whose vocabulary the classifier takes (:mod:`tasks.sentiment.init_lm`)."""
        from nlp_tasks.saving.checkpoint import fingerprint

        cfg = self.config
        dev = default_dev(train) if dev is None else dev
        train_examples = self.examples(train, "train", training=True)
        dev_examples = self.examples(dev, "dev") if dev is not None else None
        self.set_labels(sorted({label for _, label in train_examples}, key=_label_key))
        twins = look_alike_labels(self.labels)
        if twins:
            raise UserError(f"{train}: labels {ascii(twins[0])} and {ascii(twins[1])} differ only in invisible "
                            "characters and would print the same; write them alike")
        if len(self.labels) < 2:
            raise UserError(f"{train}: training data needs at least two labels, found {self.labels}")
        if dev_examples is not None:
            self._check_labels(dev_examples, dev)
        if init_from and embeddings:
            raise UserError("--init-from and --embeddings both start the embedding table: give one of them")
        lms = init_lm.read(init_from, cfg) if init_from else []
        texts = (t for t, _ in train_examples)
        self.vocabs = {"words": init_lm.vocabulary(lms, texts, cfg) if lms else Vocabulary.build(
            texts, level="word", max_size=cfg.max_vocab, min_freq=cfg.min_freq, lower=cfg.lower)}
        vectors = read_word_vectors(embeddings, vocabulary=_VocabProbe(self.vocabs["words"]))[0] if embeddings else None
        counts = {"train_examples": len(train_examples), **({"init_from": [seen for _, _, seen in lms]} if lms else {})}
        return TrainingData(train_examples, dev_examples, counts=counts,
                            fingerprint=fingerprint(train_examples, dev_examples,
                                                    str(embeddings) if embeddings else None,
                                                    *[seen["sha256"] for _, _, seen in lms]),
                            build={"vectors": vectors, **({"language_models": lms} if lms else {})})

    def training_plan(self, data: TrainingData, model) -> TrainingPlan:
        import keras

        weights = None
        if self.config.class_weights:
            counts = np.bincount(self._label_ids(data.train), minlength=len(self.labels))
            weights = len(data.train) / (len(self.labels) * np.maximum(counts, 1))
        return TrainingPlan(
            self._dataset(data.train, shuffle=True, weights=weights),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            validation=self._dataset(data.dev, shuffle=False) if data.dev else None,
            average_weights=self.config.average_weights, layer_rates=self.layer_rates())

    def layer_rates(self):
        """The layer groups of ``discriminative_lr`` and ``gradual_unfreezing`` (None: neither)."""
        from nlp_tasks.layer_rates import LayerRates

        cfg = self.config
        if cfg.discriminative_lr is None and not cfg.gradual_unfreezing:
            return None
        groups = ((embedding_layer_name("words"),), *((f"encoder_{i}",) for i in range(1, cfg.layers + 1)), ())
        return LayerRates(groups, cfg.discriminative_lr, cfg.gradual_unfreezing)

    def test_summary(self, report: dict) -> dict:
        return {k: report[k] for k in ("accuracy", "macro_f1", "examples")}

    # ------------------------------------------------------------------ API
    def inference_batch_size(self) -> int:
        return max(self.config.batch_size, 128)

    def preprocess(self, item: str, number: int) -> tuple[str, list[int]]:
        """``(text, word ids)``; a text with no tokens has no ids (and never reaches the model)."""
        return item, self.vocabs["words"].encode(item)

    def input_length(self, features) -> int:
        return len(features[1])

    def collate(self, batch: list) -> tuple:
        return (pad([ids for _, ids in batch]),)

    def _uniform(self) -> np.ndarray:
        """A text with no tokens at all: the defined answer is "no evidence", uniform probabilities."""
        return np.full(len(self.labels), 1.0 / len(self.labels), dtype=np.float32)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(labels)), in the order of ``self.labels``."""
        self.require_model()
        outputs = self.forward_all([self.preprocess(text, number) for number, text in enumerate(texts, start=1)])
        probs = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for row, out in enumerate(outputs):
            probs[row] = self._uniform() if out is None else out
        return probs

    def rating(self, label: str) -> int | None:
        """1..5 for SST-5 style labels 0..4; None for other label sets."""
        return int(label) + 1 if self.labels == RATING_LABELS else None

    def predict(self, inputs):
        """``"text"`` -> one result dict; a list of texts -> a list of them.

        Each result: ``{"text", "label", "rating", "probabilities": {label: p}}``. A text with no
        tokens at all has no evidence either way: uniform probabilities, ``"label": None`` and
        ``"rating": None`` (not the first label, which would read as a confident "very negative"),
        flagged ``"empty": True``. The base class's template (:meth:`preprocess`, batched
        :meth:`forward_all`, :meth:`postprocess`).
        """
        return super().predict(inputs)

    def postprocess(self, features, output) -> dict:
        """One text's result (see :meth:`predict`); ``output`` None: a text with no tokens."""
        text, _ = features
        empty = output is None
        row = self._uniform() if empty else output
        label = None if empty else self.labels[int(row.argmax())]
        result = {"text": text, "label": label, "rating": None if empty else self.rating(label),
                  "probabilities": {lab: round(float(p), 6) for lab, p in zip(self.labels, row)}}
        if empty:
            result["empty"] = True
        return result

    def export_spec(self):
        """Texts in, probabilities and labels out; word ids in for LiteRT and ONNX (:mod:`tasks.sentiment.export`)."""
        from .export import export_spec

        return export_spec(self)

    def evaluate(self, data, split: str = "test") -> dict:
        """Accuracy, macro-F1, per-class P/R/F1 and the confusion matrix on labelled data."""
        from nlp_tasks.metrics import classification_report

        examples = self.examples(data, split)
        self._check_labels(examples, data)
        start = time.perf_counter()
        predicted = np.concatenate([  # a block at a time: an evaluation set is never held whole
            self.predict_proba([text for text, _ in examples[i:i + EVALUATION_BLOCK]]).argmax(axis=1)
            for i in range(0, len(examples), EVALUATION_BLOCK)] or [np.zeros(0, np.int64)])
        seconds = time.perf_counter() - start
        report = classification_report(self._label_ids(examples).tolist(), predicted.tolist(), self.labels)
        report["seconds"] = seconds
        report["texts_per_second"] = len(examples) / seconds if seconds > 0 else None
        return report


class _VocabProbe:
    """``in`` test for reading only the vectors of words the vocabulary knows (any case)."""

    def __init__(self, vocab):
        self.words = set(vocab.tokens) | {t.lower() for t in vocab.tokens}

    def __contains__(self, word):
        return word in self.words


_INTEGER = re.compile(rf"-?[0-9]{{1,{LABEL_INT_DIGITS}}}")  # an integer label


def _label_key(label: str):
    """Integers in numeric order (so 10 follows 9), then other labels alphabetically (a longer
    run of digits, or digits of other scripts, among them)."""
    return (0, int(label), "") if _INTEGER.fullmatch(label) else (1, 0, label)
