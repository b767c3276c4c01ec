"""Named entity recognition: many-to-many tagging (one BIO tag per token), entity-level F1.

Model (Lample et al. 2016; Ma & Hovy 2016, with our own GRU cells)::

    word ids  -> Embedding (lower-cased words, word dropout to <unk> while training) --+
    case ids  -> Embedding (8 casing classes: lower, UPPER, Title, digits, ...)   -------+-> concat
    char ids  -> Embedding -> BiGRU over each word's characters (CharEncoder) --------+      |
                                                                        dropout -> BiGRU x layers
                                                                        -> dropout -> Dense(n_tags)
                                                                        -> CRF (Viterbi) or softmax

Data: CoNLL column files (IOB1/IOB2/BIOES, converted to IOB2), a Hugging Face dataset with
``tokens`` and ``ner_tags`` columns, or Python ``(tokens, tags)`` pairs. The best epoch by dev
entity F1 (conlleval) is kept.

    >>> ner = NERPipeline.load("models/conll")                              # doctest: +SKIP
    >>> ner("Harry Potter and Hermione Granger invented a new spell.")      # doctest: +SKIP
    [{'text': 'Harry Potter', 'type': 'PER', 'start': 0, 'end': 12, 'score': 0.99}, ...]
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from nlp_tasks.chunking import chunks, conlleval
from nlp_tasks.config import Config, check_parameters, check_upper_bounds, recurrent_parameters
from nlp_tasks.batching import Batches, pad
from nlp_tasks.data import (
    read_conll,
    read_word_vectors,
    too_long,
)
from nlp_tasks.errors import UserError
from nlp_tasks.pipeline import Pipeline, embedding_layer_name
from nlp_tasks.sources import load_hub_dataset, no_split_for_file, resolve_source
from nlp_tasks.vocab import UNK_ID, Vocabulary, tokenize_words_with_offsets

CASES = ["<pad>", "lower", "upper", "title", "numeric", "mostly_numeric", "has_digit", "other"]
MAX_WORD_CHARS = 24
HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


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


@dataclasses.dataclass(frozen=True)
class NERConfig(Config):
    cell: str = "gru"
    units: int = 200  # per direction
    layers: int = 1
    word_dim: int = 100
    char_dim: int = 30
    char_units: int = 50  # per direction; 0 turns character features off
    case_dim: int = 8
    dropout: float = 0.5
    word_dropout: float = 0.05  # share of training words replaced by <unk>
    head: str = "crf"  # or "softmax"
    min_freq: int = 1
    max_vocab: int | None = None
    scheme: str = "auto"  # tag scheme of the input files: auto, iob1, iob2, bioes
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    clipnorm: float | None = 5.0
    patience: int | None = 5
    lr_decay: float | None = None  # e.g. 0.5: halve the learning rate when dev F1 stalls for an epoch
    seed: int = 0

    def __post_init__(self):
        if self.head not in ("crf", "softmax"):
            raise UserError(f"head must be crf or softmax, got {self.head!r}")
        if self.cell not in ("gru", "lstm", "rnn", "mingru"):
            raise UserError(f"cell must be gru, lstm, rnn or mingru, got {self.cell!r}")
        for name in ("dropout", "word_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UserError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        for name in ("units", "layers", "word_dim", "char_dim", "case_dim"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.char_units < 0:
            raise UserError(f"char_units must be >= 0, got {self.char_units!r}")
        check_upper_bounds(self, widths=("units", "word_dim", "char_dim", "char_units", "case_dim"),
                           layers=("layers",))


def read_sentences(source, split: str = "train", scheme: str = "auto"):
    """``[(tokens, tags)]`` from a CoNLL file, a hub/local HF dataset, or Python pairs."""
    if isinstance(source, (list, tuple)):
        out = []
        for i, item in enumerate(source, start=1):
            if (not isinstance(item, (list, tuple)) or len(item) != 2 or len(item[0]) != len(item[1])
                    or not all(isinstance(t, str) for t in list(item[0]) + list(item[1]))):
                raise UserError(f"sentence {i}: expected (tokens, tags) of equal length")
            problem = too_long(sum(len(t) + 1 for t in item[0]))
            if problem:
                raise UserError(f"sentence {i}: {problem}")
            from nlp_tasks.chunking import to_iob2

            out.append((list(item[0]), to_iob2(list(item[1]), "iob2" if scheme == "auto" else scheme)))
        if not out:
            raise UserError("no sentences given")
        return out
    kind, name, hub_split = resolve_source(str(source))  # "conll2003:train[:5000]", "folder:test"
    if kind == "file":
        no_split_for_file(name, hub_split)
        return read_conll(name, scheme=scheme)
    data = load_hub_dataset(name, split=hub_split or HUB_SPLITS.get(split, split))
    for column in ("tokens", "ner_tags"):
        if column not in data.column_names:
            raise UserError(f"data set {name!r}: no column {column!r} (columns: {', '.join(data.column_names)})")
    feature = data.features["ner_tags"]
    names = getattr(getattr(feature, "feature", None), "names", None)
    sentences = []
    for row, (tokens, tags) in enumerate(zip(data["tokens"], data["ner_tags"]), start=1):
        problem = too_long(sum(len(str(t)) + 1 for t in tokens))
        if problem:
            raise UserError(f"data set {name!r}, row {row}: {problem}")
        tags = [names[t] if names and isinstance(t, int) else str(t) for t in tags]
        if tokens:
            sentences.append((list(tokens), tags))
    from nlp_tasks.chunking import detect_scheme, to_iob2

    scheme = detect_scheme(t for _, t in sentences) if scheme == "auto" else scheme
    return [(tokens, to_iob2(tags, scheme)) for tokens, tags in sentences]


class NERPipeline(Pipeline):
    """Token tagging with entity spans out. See the module docstring."""

    task = "ner"
    config_class = NERConfig

    @classmethod
    def register_layers(cls) -> None:
        import tasks.ner_layers  # noqa: F401  (registers CharEncoder)

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
        if self.labels and cfg.head == "crf":
            sizes.update(output={"n_tags": len(self.labels)}, emissions={"units": len(self.labels)})
        elif self.labels:
            sizes["output"] = {"units": len(self.labels)}
        return sizes

    # ------------------------------------------------------------------ model
    def build_model(self, vectors: dict | None = None):
        import keras

        from nlp_tasks.layers import CRF, recurrent
        from tasks.ner_layers import CharEncoder

        cfg = self.config
        width = cfg.word_dim + cfg.case_dim + 2 * cfg.char_units
        check_parameters(len(self.vocabs["words"]) * cfg.word_dim + len(self.vocabs.get("chars", ())) * cfg.char_dim
                         + recurrent_parameters(cfg.char_units, cfg.char_dim, 1, 2)
                         + recurrent_parameters(cfg.units, width, cfg.layers, 2)
                         + (2 * cfg.units + len(self.labels) + 1) * len(self.labels), "NER model")
        words = keras.Input((None,), dtype="int32", name="word_ids")
        cases = keras.Input((None,), dtype="int32", name="case_ids")
        chars = keras.Input((None, None), dtype="int32", name="char_ids")
        word_embed = keras.layers.Embedding(len(self.vocabs["words"]), cfg.word_dim, mask_zero=True,
                                            name=embedding_layer_name("words"))
        parts = [word_embed(words), keras.layers.Embedding(len(CASES), cfg.case_dim, name="embed_case")(cases)]
        if cfg.char_units > 0:
            char_embed = keras.layers.Embedding(len(self.vocabs["chars"]), cfg.char_dim, mask_zero=True,
                                                name=embedding_layer_name("chars"))
            parts.append(CharEncoder(cfg.cell, cfg.char_units, name="char_encoder")(char_embed(chars)))
        x = keras.layers.Concatenate()(parts)
        x = keras.layers.Dropout(cfg.dropout)(x)
        for layer in range(cfg.layers):
            x = keras.layers.Bidirectional(recurrent(cfg.cell, cfg.units, return_sequences=True),
                                           name=f"encoder_{layer + 1}")(x)
            x = keras.layers.Dropout(cfg.dropout)(x)
        if cfg.head == "crf":
            scores = keras.layers.Dense(len(self.labels), name="emissions", dtype="float32")(x)
            outputs = CRF(len(self.labels), name="output", dtype="float32")(scores)  # float32 under mixed precision
        else:
            outputs = keras.layers.Dense(len(self.labels), activation="softmax", name="output", dtype="float32")(x)
        self.model = keras.Model([words, cases, chars], outputs, name="ner")
        self._decode_fn = None  # a compiled decoder belongs to one model
        if vectors:
            _load_vectors(word_embed, self.vocabs["words"], vectors)
        return self.model

    # ------------------------------------------------------------------ encoding
    def _encode(self, sentences, indices, word_dropout: float = 0.0, rng=None):
        """Padded (words, cases, chars) arrays for the sentences at ``indices``; with
        ``word_dropout`` and a generator ``rng``, that share of the words becomes ``<unk>``."""
        words_vocab, chars_vocab = self.vocabs["words"], self.vocabs.get("chars")
        toks = [sentences[i][0] for i in indices]
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
        return words, cases, chars

    def _targets(self, sentences, indices, length):
        index = {tag: i for i, tag in enumerate(self.labels)}
        pad_id = -1 if self.config.head == "crf" else 0
        return pad([[index[t] for t in sentences[i][1]] for i in indices], length, value=pad_id)

    def _dataset(self, sentences, shuffle):
        """Training batches; each batch's word-dropout mask comes from its own generator
        (``Batches.rng``: seed, epoch, batch), so a resumed run draws the masks of an
        uninterrupted one."""
        import tensorflow as tf

        lengths = [len(t) for t, _ in sentences]
        dropout = self.config.word_dropout if shuffle else 0.0

        def make_batch(indices, rng):
            words, cases, chars = self._encode(sentences, indices, dropout, rng)
            return (words, cases, chars), self._targets(sentences, indices, words.shape[1])

        signature = ((tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None, None), tf.int32),
                      tf.TensorSpec((None, None, None), tf.int32)), tf.TensorSpec((None, None), tf.int32))
        return Batches(make_batch, lengths, self.config.batch_size, signature, seed=self.config.seed, shuffle=shuffle)

    # ------------------------------------------------------------------ decoding
    def _decoder(self):
        if getattr(self, "_decode_fn", None) is None:
            import tensorflow as tf

            model, crf = self.require_model(), self.config.head == "crf"

            @tf.function(reduce_retracing=True)
            def decode(words, cases, chars):
                out = model([words, cases, chars], training=False)
                mask = words > 0
                if crf:
                    layer = model.get_layer("output")
                    path, _ = layer.decode(out, mask)
                    probs = layer.marginals(out, mask)
                else:
                    probs = out
                    path = tf.argmax(out, axis=-1, output_type=tf.int32) * tf.cast(mask, tf.int32)
                return path, tf.reduce_max(probs, axis=-1)

            self._decode_fn = decode
        return self._decode_fn

    def tag(self, token_lists, batch_size: int = 128):
        """IOB2 tags and per-token confidence for pre-tokenised sentences."""
        sentences = [(list(t), []) for t in token_lists]
        tags, conf = [None] * len(sentences), [None] * len(sentences)
        order = np.argsort([len(t) for t, _ in sentences], kind="stable")
        decode = self._decoder()
        for start in range(0, len(order), batch_size):
            idx = [i for i in order[start:start + batch_size] if sentences[i][0]]
            if not idx:
                continue
            path, prob = (a.numpy() for a in decode(*self._encode(sentences, idx)))
            for r, i in enumerate(idx):
                n = len(sentences[i][0])
                tags[i] = [self.labels[k] for k in path[r, :n]]
                conf[i] = prob[r, :n].tolist()
        return [t or [] for t in tags], [c or [] for c in conf]

    # ------------------------------------------------------------------ API
    def fit(self, train, dev=None, test=None, embeddings: str | None = None, out_dir=None, verbose: int = 1) -> dict:
        """Train on ``train``; keep the weights with the best ``dev`` entity F1."""
        import keras

        from nlp_tasks.checkpoint import fingerprint
        from nlp_tasks.layers import crf_loss
        from nlp_tasks import distribute
        from nlp_tasks.runtime import set_seed
        from nlp_tasks.training import TrainConfig, fit

        cfg = self.config
        train_s = read_sentences(train, "train", cfg.scheme)
        dev_s = read_sentences(dev, "dev", cfg.scheme) if dev is not None else None
        tags = {t for _, ts in train_s for t in ts}
        self.set_labels(["O"] + sorted(tags - {"O"}, key=lambda t: (t[2:], t[0])), "tags")
        if dev_s:
            self._check_tags(dev_s, dev)
        self.vocabs = {"words": Vocabulary.build((tokens for tokens, _ in train_s), max_size=cfg.max_vocab,
                                                 min_freq=cfg.min_freq, lower=True)}
        if cfg.char_units > 0:
            self.vocabs["chars"] = Vocabulary.build((w for ts, _ in train_s for w in ts), level="char")
        vectors = None
        if embeddings:
            vectors = read_word_vectors(embeddings, vocabulary=set(self.vocabs["words"].tokens))[0]
        set_seed(cfg.seed, deterministic=True)
        with distribute.scope():  # one replica per device under --strategy mirrored
            self.build_model(vectors)
        output = self.model.get_layer("output")
        loss = crf_loss(output) if cfg.head == "crf" else keras.losses.SparseCategoricalCrossentropy()
        callbacks = [dev_f1_callback(self, dev_s)] if dev_s else []
        train_cfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                                clipnorm=cfg.clipnorm, patience=cfg.patience, lr_decay=cfg.lr_decay,
                                seed=cfg.seed, verbose=verbose)
        start = time.perf_counter()
        run_key = {"task": self.task, "config": cfg.to_dict(),
                   "data": fingerprint(train_s, dev_s, str(embeddings) if embeddings else None)}
        summary = fit(self.model, self._dataset(train_s, shuffle=True), config=train_cfg, loss=loss,
                      monitor="val_f1", mode="max", out_dir=out_dir, callbacks=callbacks, run_key=run_key)
        summary["train_seconds"] = time.perf_counter() - start
        summary["train_sentences"] = len(train_s)
        self._decode_fn = None
        self.metrics = {"training": {k: v for k, v in summary.items() if k != "history"}}
        return summary

    def _check_tags(self, sentences, source):
        unknown = sorted({t for _, ts in sentences for t in ts} - set(self.labels))
        if unknown:
            raise UserError(f"{source}: tag(s) {', '.join(unknown[:5])} do not occur in the training data "
                            f"(model tags: {', '.join(self.labels)})")

    def evaluate(self, data, split: str = "test", **options) -> dict:
        """conlleval entity P/R/F1 (micro and per type), token accuracy, sentences/s."""
        sentences = read_sentences(data, split, self.config.scheme)
        self._check_tags(sentences, data)
        start = time.perf_counter()
        predicted, _ = self.tag([tokens for tokens, _ in sentences])
        seconds = time.perf_counter() - start
        report = conlleval([tags for _, tags in sentences], predicted)
        report["seconds"] = seconds
        report["sentences_per_second"] = len(sentences) / seconds if seconds else None
        return report

    def predict(self, inputs, **options):
        """Raw text (tokenised here) -> entity dicts with character offsets and a score.

        A string gives one list of entities; a list of strings gives one list per string.
        Each entity: ``{"text", "type", "start", "end", "score"}`` (``end`` exclusive; score is
        the mean per-token probability of the entity's tags).
        """
        single = isinstance(inputs, str)
        texts = [inputs] if single else list(inputs)
        if not all(isinstance(t, str) for t in texts):
            raise UserError("predict takes a text or a list of texts")
        tokenized = [tokenize_words_with_offsets(text) for text in texts]
        tags, conf = self.tag([[tok for tok, _, _ in toks] for toks in tokenized])
        results = []
        for text, toks, t, c in zip(texts, tokenized, tags, conf):
            entities = []
            for kind, s, e in chunks(t):
                begin, end = toks[s][1], toks[e - 1][2]
                entities.append({"text": text[begin:end], "type": kind, "start": begin, "end": end,
                                 "score": round(float(np.mean(c[s:e])), 4)})
            results.append(entities)
        return results[0] if single else results


def _load_vectors(embed, vocab, vectors):
    weights = embed.get_weights()[0]
    dim = next(iter(vectors.values())).shape[0]
    if dim != weights.shape[1]:
        raise UserError(f"pretrained vectors have {dim} dimensions but word_dim is {weights.shape[1]}")
    for index, token in enumerate(vocab.tokens):
        if token in vectors:
            weights[index] = vectors[token]
    embed.set_weights([weights])


def dev_f1_callback(pipe: NERPipeline, sentences):
    """A Keras callback adding ``val_f1`` (conlleval entity F1 on ``sentences``) to epoch logs."""
    import keras

    class DevF1(keras.callbacks.Callback):
        provides_validation = True  # tells fit() to keep the best epoch by this metric

        def on_epoch_end(self, epoch, logs=None):
            tags, _ = pipe.tag([tokens for tokens, _ in sentences])
            report = conlleval([t for _, t in sentences], tags)
            if logs is not None:  # shown on the epoch's progress line by fit()
                logs["val_f1"] = report["f1"]

    return DevF1()
