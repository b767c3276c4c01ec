"""Named entity recognition: many-to-many tagging (one BIO tag per token), entity-level F1.

Model (Lample et al. 2016; Ma & Hovy 2016, with our own GRU cells)::

    word ids  -> Embedding (lower-cased words, word dropout to <unk> while training) --+
    case ids  -> Embedding (8 casing classes: lower, UPPER, Title, digits, ...)   -------+-> concat
    char ids  -> Embedding -> BiGRU over each word's characters (CharEncoder) --------+      |
                                                                        dropout -> BiGRU x layers
                                                                        -> dropout -> Dense(n_tags)
                                                                        -> CRF (Viterbi) or softmax

Data: CoNLL column files (IOB1/IOB2/BIOES, converted to IOB2), a Hugging Face dataset with
``tokens`` and ``ner_tags`` columns, Python ``(tokens, tags)`` pairs, or ``builtin:wikigold``
(shipped with the package; :mod:`tasks.ner.data`). The best epoch by dev
entity F1 (conlleval) is kept.

    >>> ner = NERPipeline.load("models/conll")                              # doctest: +SKIP
    >>> ner("Harry Potter and Hermione Granger invented a new spell.")      # doctest: +SKIP
    [{'text': 'Harry Potter', 'type': 'PER', 'start': 0, 'end': 12, 'score': 0.99}, ...]
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar, NamedTuple

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
    train_default,
)
from nlp_tasks.data.examples import example_lengths, take
from nlp_tasks.data.vectors import read_word_vectors, with_pretrained
from nlp_tasks.errors import UserError
from nlp_tasks.metrics.chunks import conlleval_pairs
from nlp_tasks.pipeline import Pipeline, TrainingData, TrainingPlan
from nlp_tasks.saving.model_checks import OUTPUT_LAYER, embedding_layer_name
from nlp_tasks.text import chunking
from nlp_tasks.text.chunking import chunks
from nlp_tasks.text.vocab import UNK_ID, Vocabulary, normalize_token, tokenize_words_with_offsets

from . import lm_features as lmf
from .data import default_dev, sentence_table
from .features import CASES, MAX_WORD_CHARS, casing, decode_tags  # noqa: F401 - casing: tasks.ner's API

SCHEMES = ("auto", *chunking.SCHEMES)  # the tag schemes read, or detected
EVALUATION_BLOCK = 8192  # sentences tagged at a time by evaluate and the dev figure


class Sentence(NamedTuple):
    """What inference keeps of one sentence: its tokens, and for a text, the text and each
    token's ``(token, start, end)`` span in it."""

    tokens: list
    text: str | None = None
    spans: list | None = None


@dataclasses.dataclass(frozen=True)
class NERConfig(TrainSettings):
    cell: str = setting("gru", "Recurrent cell: GRU, LSTM, Elman RNN or minimal GRU (update gate only).",
                        choices=CELLS)
    units: int = setting(200, "Units per direction.", low=1, high=MAX_WIDTH)
    layers: int = setting(1, "Stacked recurrent layers.", low=1, high=MAX_LAYERS)
    word_dim: int = setting(100, "Word embedding width (--embeddings sets it to the vectors' width).",
                            low=1, high=MAX_WIDTH)
    char_dim: int = setting(30, "Character embedding width.", low=1, high=MAX_WIDTH)
    char_units: int = setting(50, "Character BiGRU units per direction (0: no character features).",
                              low=0, high=MAX_WIDTH)
    case_dim: int = setting(8, "Casing-feature embedding width.", low=1, high=MAX_WIDTH)
    dropout: float = setting(0.5, "Dropout rate between layers while training.", low=0, high=1, high_open=True)
    word_dropout: float = setting(0.05, "Share of training words replaced by <unk>.", low=0, high=1, high_open=True)
    head: str = setting("crf", "Output head: a CRF (Viterbi decoding) or a softmax per token.",
                        choices=("crf", "softmax"))
    min_freq: int = setting(1, "Words seen fewer times than this become <unk>.", low=1)
    max_vocab: int | None = setting(None, "Most frequent words kept.", low=1, none="every word")
    scheme: str = setting("auto", "Tag scheme of the input files.", choices=SCHEMES)
    lm_fine_tune: bool = setting(False, "With --lm-features: train the language models' weights with the tagger "
                                        "(default: frozen, as Akbik et al. 2018).")
    epochs: int = train_default("epochs", 30)
    patience: int | None = train_default("patience", 5)

    # Recorded recipes (--preset): the CoNLL-2003 run of benchmarks/RESULTS.md.
    presets: ClassVar[dict] = {"conll2003": {"epochs": 20, "word_dropout": 0.2}}


class NERPipeline(Pipeline):
    """Token tagging with entity spans out. See the module docstring."""

    task = "ner"
    config_class = NERConfig
    card_tag = "token-classification"
    card_summary = "Named entity recognition: one BIO tag per token, entity spans out."
    card_limits = ("Tags only the entity types of its training data, and does worse on text unlike that data (another "
                   "domain or style, lower-cased or noisy text). Input is split into words by nlp-tasks' tokenizer; "
                   "give tokens yourself for other conventions.")

    @classmethod
    def register_layers(cls) -> None:
        from . import layers  # noqa: F401  (registers CharEncoder)

    def expected_layer_sizes(self) -> dict:
        cfg = self.config
        sizes = {embedding_layer_name("words"): {"input_dim": len(self.vocabs.get("words", ())),
                                                 "output_dim": cfg.word_dim},
                 "embed_case": {"input_dim": len(CASES), "output_dim": cfg.case_dim}}
        if cfg.char_units > 0:
            sizes[embedding_layer_name("chars")] = {"input_dim": len(self.vocabs.get("chars", ())),
                                                    "output_dim": cfg.char_dim}
            sizes["char_encoder"] = {"units": cfg.char_units}
        sizes.update({f"encoder_{i}": {"units": cfg.units} for i in range(1, cfg.layers + 1)})
        sizes.update({lmf.vocab_name(d): {"vocab_size": len(self.vocabs[lmf.vocab_name(d)])}
                      for d in lmf.directions(self.vocabs)})
        if self.labels and cfg.head == "crf":
            sizes.update(output={"n_tags": len(self.labels)}, emissions={"units": len(self.labels)})
        elif self.labels:
            sizes["output"] = {"units": len(self.labels)}
        return sizes

    # ------------------------------------------------------------------ model
    def build_model(self, vectors: dict | None = None, language_models: list | None = None):
        """The tagger; ``vectors``: pretrained word vectors; ``language_models``: the
        ``(direction, model, provenance)`` of :func:`tasks.ner.lm_features.read_language_models`,
        whose weights the LM-feature layers take (:mod:`tasks.ner.lm_features`)."""
        import keras

        from nlp_tasks.layers import CRF, recurrent

        from .layers import CharEncoder

        cfg = self.config
        lms = {direction: lm for direction, lm, _ in language_models or []}
        if set(lms) != set(lmf.directions(self.vocabs)):
            raise UserError("a tagger with LM features is built from its language models: give them (--lm-features)")
        lm_layers = [lmf.lm_layer(d, lms[d], cfg.lm_fine_tune) for d in lmf.directions(self.vocabs)]
        width = cfg.word_dim + cfg.case_dim + 2 * cfg.char_units + sum(layer.units for layer in lm_layers)
        check_parameters(sum(layer.count_params() for layer in lm_layers)
                         + len(self.vocabs["words"]) * cfg.word_dim + len(self.vocabs.get("chars", ())) * cfg.char_dim
                         + recurrent_parameters(cfg.char_units, cfg.char_dim, 1, 2)
                         + recurrent_parameters(cfg.units, width, cfg.layers, 2)
                         + (2 * cfg.units + len(self.labels) + 1) * len(self.labels), "NER model")
        words = keras.Input((None,), dtype="int32", name="word_ids")
        cases = keras.Input((None,), dtype="int32", name="case_ids")
        chars = keras.Input((None, None), dtype="int32", name="char_ids")
        word_embed = keras.layers.Embedding(len(self.vocabs["words"]), cfg.word_dim, mask_zero=True,
                                            name=embedding_layer_name("words"))
        parts = [word_embed(words), keras.layers.Embedding(len(CASES), cfg.case_dim, mask_zero=True,  # case 0 = padding
                                                           name="embed_case")(cases)]
        if cfg.char_units > 0:
            char_embed = keras.layers.Embedding(len(self.vocabs["chars"]), cfg.char_dim, mask_zero=True,
                                                name=embedding_layer_name("chars"))
            parts.append(CharEncoder(cfg.cell, cfg.char_units, name="char_encoder")(char_embed(chars)))
        inputs = [words, cases, chars]
        for layer in lm_layers:  # [ids, positions] of each language model -> its states at the words
            pair = [keras.Input((None,), dtype="int32", name=f"{layer.name}_{part}") for part in ("ids", "positions")]
            inputs += pair
            parts.append(layer(pair))
        x = keras.layers.Concatenate()(parts)
        x = keras.layers.Dropout(cfg.dropout)(x)
        for layer in range(cfg.layers):
            x = keras.layers.Bidirectional(recurrent(cfg.cell, cfg.units, return_sequences=True),
                                           name=f"encoder_{layer + 1}")(x)
            x = keras.layers.Dropout(cfg.dropout)(x)
        if cfg.head == "crf":
            scores = keras.layers.Dense(len(self.labels), name="emissions", dtype="float32")(x)
            outputs = CRF(len(self.labels), name=OUTPUT_LAYER, dtype="float32")(scores)  # float32 under mixed precision
        else:
            outputs = keras.layers.Dense(len(self.labels), activation="softmax", name=OUTPUT_LAYER, dtype="float32")(x)
        self.model = keras.Model(inputs, outputs, name="ner")
        if vectors:
            word_embed.set_weights([with_pretrained(word_embed.get_weights()[0], self.vocabs["words"], vectors,
                                                    "word_dim")])
        return self.model

    # ------------------------------------------------------------------ encoding
    def encode(self, token_lists, word_dropout: float = 0.0, rng=None) -> tuple[np.ndarray, ...]:
        """The model's padded ``(word ids, case ids, char ids)`` arrays for a batch of tokenised
        sentences (none of them empty), then each language model's ``(ids, positions)`` for a tagger
        with LM features; with ``word_dropout`` and a generator ``rng``, that share of the words
        becomes ``<unk>`` (training)."""
        words_vocab, chars_vocab = self.vocabs["words"], self.vocabs.get("chars")
        toks = [[normalize_token(t) for t in tokens] for tokens in token_lists]  # words, casing and characters alike
        words = pad([words_vocab.encode(tokens) for tokens in toks])
        cases = pad([[casing(t) for t in tokens] for tokens in toks])
        if chars_vocab:
            width = max(min(len(w), MAX_WORD_CHARS) for t in toks for w in t)
            chars = pad([pad([chars_vocab.encode(token[:MAX_WORD_CHARS]) for token in tokens], width)
                         for tokens in toks], words.shape[1])
        else:
            chars = np.zeros((*words.shape, 1), dtype=np.int32)
        if word_dropout and rng is not None:
            drop = (rng.random(words.shape) < word_dropout) & (words > 0)
            words[drop] = UNK_ID
        lm_inputs = [array for d in lmf.directions(self.vocabs)
                     for array in lmf.encode(self.vocabs[lmf.vocab_name(d)], token_lists, d)]
        return (words, cases, chars, *lm_inputs)

    def _targets(self, rows, length):
        index = {tag: i for i, tag in enumerate(self.labels)}
        pad_id = -1 if self.config.head == "crf" else 0
        return pad([[index[t] for t in tags] for _, tags in rows], length, value=pad_id)

    def batches(self, sentences, shuffle: bool = True) -> Batches:
        """Training batches ``((words, cases, chars), tags)`` of ``(tokens, tags)`` sentences, by
        length (shuffled: word dropout on, a new order every epoch). Each batch's word-dropout mask
        comes from its own generator (``Batches.rng``: seed, epoch, batch), so a resumed run draws
        the masks of an uninterrupted one."""
        import tensorflow as tf

        lengths = example_lengths(sentences, "tokens")
        dropout = self.config.word_dropout if shuffle else 0.0

        def make_batch(indices, rng):
            rows = take(sentences, indices)  # one read of the table (a memory-mapped file, or a list)
            inputs = self.encode([tokens for tokens, _ in rows], dropout, rng)
            return inputs, self._targets(rows, inputs[0].shape[1])

        lm_specs = 2 * len(lmf.directions(self.vocabs)) * (tf.TensorSpec((None, None), tf.int32),)
        signature = ((tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None, None), tf.int32),
                      tf.TensorSpec((None, None, None), tf.int32), *lm_specs), tf.TensorSpec((None, None), tf.int32))
        return Batches(make_batch, lengths, self.config.batch_size, signature, seed=self.config.seed, shuffle=shuffle)

    # ------------------------------------------------------------------ inference (the base class's template)
    def preprocess(self, item: str, number: int) -> Sentence:
        """A text, tokenised here, with each token's character offsets."""
        spans = tokenize_words_with_offsets(item)
        return Sentence([tok for tok, _, _ in spans], item, spans)

    def input_length(self, features: Sentence) -> int:
        return len(features.tokens)

    def collate(self, batch: list) -> tuple:
        return self.encode([sentence.tokens for sentence in batch])

    def model_forward(self, model, *inputs):
        """The best tag path (CRF: Viterbi) and each token's probability of its tag."""
        path, score, _ = decode_tags(model, self.config.head == "crf", inputs, self.allowed_transitions())
        return path, score

    def allowed_transitions(self) -> list[list[int]]:
        """The transitions IOB2 permits between this model's tags (the CRF decodes under them:
        no ``I-X`` after ``O`` or another type, none first)."""
        from nlp_tasks.text.chunking import allowed_transitions

        return allowed_transitions(self.labels, "iob2")

    def _tags(self, sentence: Sentence, output) -> tuple[list[str], list[float]]:
        if output is None:  # no tokens
            return [], []
        path, prob = output
        n = len(sentence.tokens)
        return [self.labels[k] for k in path[:n]], prob[:n].tolist()

    def postprocess(self, features: Sentence, output) -> list[dict]:
        """The entities of a text (see :meth:`predict`)."""
        return self._entities(features, *self._tags(features, output))

    def _entities(self, sentence: Sentence, tags, conf) -> list[dict]:
        entities = []
        for kind, s, e in chunks(tags):
            begin, end = sentence.spans[s][1], sentence.spans[e - 1][2]
            entities.append({"text": sentence.text[begin:end], "type": kind, "start": begin, "end": end,
                             "score": round(float(np.mean(conf[s:e])), 4)})
        return entities

    def tag(self, token_lists, batch_size: int = 128):
        """IOB2 tags and per-token confidence for pre-tokenised sentences: a list of sentences,
        each a list of tokens (a flat list of tokens is refused: it would read as one-character
        sentences)."""
        token_lists = None if isinstance(token_lists, str) else list(token_lists)
        if token_lists is None or not all(isinstance(tokens, (list, tuple)) and all(isinstance(t, str) for t in tokens)
                                          for tokens in token_lists):
            raise UserError("tag takes a list of sentences, each a list of token strings "
                            "(e.g. [['EU', 'rejects', 'German', 'call']]), not a text or a flat list of tokens")
        self.require_model()
        sentences = [Sentence(list(tokens)) for tokens in token_lists]
        found = [self._tags(s, out) for s, out in zip(sentences, self.forward_all(sentences, batch_size))]
        return [t for t, _ in found], [c for _, c in found]

    # ------------------------------------------------------------------ training
    monitor, mode = "val_f1", "max"

    def read_training_data(self, train, dev=None, embeddings: str | None = None,
                           lm_features: str | None = None) -> TrainingData:
        """Sentences of ``train`` and ``dev`` (``builtin:wikigold`` without ``dev``: its dev part);
        tags and vocabularies from ``train``; ``embeddings``: pretrained word vectors (GloVe /
        word2vec text file) of ``word_dim`` dimensions; ``lm_features``: ``FWD[,BWD]``, saved
        character language models whose states join the features (:mod:`tasks.ner.lm_features`)."""
        from nlp_tasks.saving.checkpoint import fingerprint

        cfg = self.config
        dev = default_dev(train) if dev is None else dev
        train_s = sentence_table(train, "train", cfg.scheme)
        dev_s = sentence_table(dev, "dev", cfg.scheme) if dev is not None else None
        tags = {t for _, ts in train_s for t in ts}
        self.set_labels(["O"] + sorted(tags - {"O"}, key=lambda t: (t[2:], t[0])), "tags")
        if dev_s:
            self._check_tags(dev_s, dev)
        self.vocabs = {"words": Vocabulary.build((tokens for tokens, _ in train_s), max_size=cfg.max_vocab,
                                                 min_freq=cfg.min_freq, lower=True)}
        if cfg.char_units > 0:
            self.vocabs["chars"] = Vocabulary.build((normalize_token(w) for ts, _ in train_s for w in ts), level="char")
        vectors = None
        if embeddings:
            vectors = read_word_vectors(embeddings, vocabulary=set(self.vocabs["words"].tokens))[0]
        lms = lmf.read_language_models(lm_features) if lm_features else []
        self.vocabs.update({lmf.vocab_name(direction): lm.vocab for direction, lm, _ in lms})
        counts = {"train_sentences": len(train_s), **({"lm_features": [seen for _, _, seen in lms]} if lms else {})}
        return TrainingData(train_s, dev_s, counts=counts,
                            fingerprint=fingerprint(train_s, dev_s, str(embeddings) if embeddings else None,
                                                    *[seen["sha256"] for _, _, seen in lms]),
                            build={"vectors": vectors, **({"language_models": lms} if lms else {})})

    def training_plan(self, data: TrainingData, model) -> TrainingPlan:
        import keras

        from nlp_tasks.layers import crf_loss

        output = model.get_layer(OUTPUT_LAYER)
        loss = crf_loss(output) if self.config.head == "crf" else keras.losses.SparseCategoricalCrossentropy()
        return TrainingPlan(self.batches(data.train, shuffle=True), loss=loss,
                            validation_figures=(lambda: self._dev_figures(data.dev)) if data.dev else None)

    def _dev_figures(self, sentences) -> dict:
        """``val_f1``: conlleval entity F1 on the dev ``sentences`` with the current weights."""
        return {"val_f1": conlleval_pairs(self._gold_and_predicted(sentences))["f1"]}

    def _gold_and_predicted(self, sentences, block: int = EVALUATION_BLOCK):
        """``(gold tags, predicted tags)`` of each sentence, tagged ``block`` sentences at a time
        (an evaluation set is never held whole: it may be a memory-mapped table of millions)."""
        for start in range(0, len(sentences), block):
            part = sentences[start:start + block]
            predicted, _ = self.tag([tokens for tokens, _ in part])
            yield from zip((tags for _, tags in part), predicted)

    def test_summary(self, report: dict) -> dict:
        return {k: report[k] for k in ("precision", "recall", "f1")}

    # ------------------------------------------------------------------ API
    def _check_tags(self, sentences, source):
        unknown = sorted({t for _, ts in sentences for t in ts} - set(self.labels))
        if unknown:
            raise UserError(f"{source}: tag(s) {', '.join(unknown[:5])} do not occur in the training data "
                            f"(model tags: {', '.join(self.labels)})")

    def export_spec(self):
        """Tokens in, tags and entities out; ids in for LiteRT and ONNX (:mod:`tasks.ner.export`)."""
        from .export import export_spec

        return export_spec(self)

    def evaluate(self, data, split: str = "test") -> dict:
        """conlleval entity P/R/F1 (micro and per type), token accuracy, sentences/s."""
        sentences = sentence_table(data, split, self.config.scheme)
        self._check_tags(sentences, data)
        start = time.perf_counter()
        report = conlleval_pairs(self._gold_and_predicted(sentences))
        seconds = time.perf_counter() - start
        report["seconds"] = seconds
        report["sentences_per_second"] = len(sentences) / seconds if seconds else None
        return report

    def predict(self, inputs):
        """Raw text (tokenised here) -> entity dicts with character offsets and a score.

        A string gives one list of entities; a list of strings gives one list per string.
        Each entity: ``{"text", "type", "start", "end", "score"}`` (``end`` exclusive; score is
        the mean per-token probability of the entity's tags). The base class's template
        (:meth:`preprocess`, batched :meth:`forward_all`, :meth:`postprocess`).
        """
        return super().predict(inputs)

    def analyse(self, texts, tokens=None) -> list[dict]:
        """``{"text", "tokens", "tags", "entities"}`` for each text, in one batched pass; ``tokens``:
        each text's ``(token, start, end)`` spans, or None to tokenise it here (the server passes a user's own)."""
        self.require_model()
        tokens = tokens or [None] * len(texts)
        sentences = [self.preprocess(text, number) if t is None else Sentence([tok for tok, _, _ in t], text, t)
                     for number, (text, t) in enumerate(zip(texts, tokens), start=1)]
        results = []
        for sentence, output in zip(sentences, self.forward_all(sentences)):
            tags, conf = self._tags(sentence, output)
            results.append({"text": sentence.text, "tokens": list(sentence.tokens), "tags": tags,
                            "entities": self._entities(sentence, tags, conf)})
        return results
