"""Grapheme-to-phoneme conversion: a word's letters in, its pronunciations out.

The course's machine-translation architecture on spelling: an encoder-decoder (T_x != T_y) of
our own cells with attention (:mod:`tasks.g2p.model`), trained teacher-forced on a pronouncing
dictionary (``builtin:cmudict``, or any lexicon or source/target pairs: :mod:`tasks.g2p.data`),
decoded by beam search in one compiled graph (:mod:`nlp_tasks.decoding.search`) into the n best
pronunciations with their probabilities. A word counts as right when the output equals any of
its pronunciations; the scores are WER and PER (:mod:`nlp_tasks.metrics.sequence`).

    >>> g2p = G2PPipeline(G2PConfig(epochs=10))                   # doctest: +SKIP
    >>> g2p.fit("builtin:cmudict")                                # doctest: +SKIP
    >>> g2p.predict(["nlp", "tensorflow"], nbest=3)               # doctest: +SKIP
"""

from __future__ import annotations

import math
import time

from nlp_tasks.batching import Batches, pad
from nlp_tasks.errors import UserError
from nlp_tasks.metrics.sequence import sequence_report
from nlp_tasks.pipeline import Pipeline, TrainingData, TrainingPlan
from nlp_tasks.text.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Vocabulary

from . import data as gd
from . import model as gm
from .arpabet import strip_stress
from .config import MAX_WORD_SYMBOLS, G2PConfig


class G2PPipeline(Pipeline):
    """Train, evaluate and use a grapheme-to-phoneme model; see the module docstring."""

    task = "g2p"
    config_class = G2PConfig
    card_tag = "text2text-generation"
    card_summary = "Grapheme-to-phoneme conversion: a word's letters in, its n best pronunciations out."
    card_limits = ("Pronounces words the way its training lexicon does; names and words borrowed from other "
                   "languages are the hardest. A letter it never saw is refused.")
    monitor, mode = "val_wer", "min"

    def __init__(self, config: G2PConfig | None = None):
        super().__init__(config)
        self._decoding = None  # (model, encode function, Searcher), built on first use

    # ------------------------------------------------------------------ vocabularies and model
    def vocab(self, name: str) -> Vocabulary:
        if name not in self.vocabs:
            raise UserError("this g2p model has no vocabularies yet: train it or load a saved one")
        return self.vocabs[name]

    def build_model(self):
        return gm.build_model(self.config, len(self.vocab(gm.SOURCE_VOCAB)), len(self.vocab(gm.TARGET_VOCAB)))

    def expected_layer_sizes(self) -> dict:
        sizes = [len(self.vocabs[v]) if v in self.vocabs else 0 for v in (gm.SOURCE_VOCAB, gm.TARGET_VOCAB)]
        return gm.layer_sizes(self.config, *sizes)

    def check_consistency(self, source: str = "model") -> None:
        super().check_consistency(source)
        for name in (gm.SOURCE_VOCAB, gm.TARGET_VOCAB):
            if name not in self.vocabs:
                raise UserError(f"{source}: the {name} vocabulary is missing")

    # ------------------------------------------------------------------ data
    def lexicon(self, source, split: str | None = None) -> dict[str, list[tuple[str, ...]]]:
        """``{word: [pronunciation, ...]}`` of a data option, read with this model's settings; or
        such a mapping given in Python (a pronunciation: its symbols, or one string of them
        separated by spaces), checked and stripped of stress as the model says."""
        cfg = self.config
        if isinstance(source, dict):
            return _given_lexicon(source, cfg.stress)
        lexicon = gd.read_lexicon(source, split, stress=cfg.stress, source_level=cfg.source_level,
                                  target_level=cfg.target_level)
        if not lexicon:
            raise UserError(f"{source}: no words to read")
        return lexicon

    def symbols(self, word: str) -> tuple[str, ...]:
        """The input symbols of ``word`` (its characters, lower-cased if the model is)."""
        if not isinstance(word, str):
            raise UserError(f"a word must be a string, got {type(word).__name__}")
        key = gd.source_key(word.lower() if self.config.lower else word, self.config.source_level)
        return gd.split_symbols(key, self.config.source_level)

    def encode_word(self, word: str, number: int = 1) -> list[int]:
        """The letter ids of ``word``; a one-line error for an empty word, or a letter the model
        never saw (it has no pronunciation for it)."""
        symbols = self.symbols(word)
        if not symbols:
            raise UserError(f"word {number} is empty")
        if len(symbols) > MAX_WORD_SYMBOLS:
            raise UserError(f"word {number} has {len(symbols):,} symbols, more than the {MAX_WORD_SYMBOLS:,} allowed")
        ids = self.vocab(gm.SOURCE_VOCAB).encode(list(symbols))
        unknown = sorted({s for s, i in zip(symbols, ids) if i == UNK_ID})
        if unknown:
            raise UserError(f"word {number} ({word[:60]!r}) has symbols the model never saw: "
                            f"{' '.join(repr(s) for s in unknown[:10])}")
        return ids

    def _examples(self, lexicon: dict):
        """``(letter ids, phoneme ids)`` for every pronunciation of every word."""
        letters, phonemes = self.vocab(gm.SOURCE_VOCAB), self.vocab(gm.TARGET_VOCAB)
        return [(letters.encode(list(self.symbols(word))), phonemes.encode(list(target)))
                for word, targets in lexicon.items() for target in targets]

    def batches(self, examples, shuffle: bool):
        """Teacher-forced batches ``((letters, <bos> y<1..T-1>), y<1..T> <eos>)``, by length."""
        import tensorflow as tf

        def make_batch(indices, rng):
            sources = pad([examples[i][0] for i in indices])
            inputs = pad([[BOS_ID, *examples[i][1]] for i in indices])
            targets = pad([[*examples[i][1], EOS_ID] for i in indices])
            return (sources, inputs), targets

        spec = tf.TensorSpec((None, None), tf.int32)
        batches = Batches(make_batch, [len(s) + len(t) for s, t in examples], self.config.batch_size,
                          ((spec, spec), spec), seed=self.config.seed, shuffle=shuffle)
        return batches if shuffle else list(batches.for_epoch(0))

    # ------------------------------------------------------------------ training
    def read_training_data(self, train, dev=None) -> TrainingData:
        """The training lexicon (``builtin:cmudict``: its train part, and its dev part when no
        ``dev`` is given); the letter and phoneme vocabularies from the training words."""
        from nlp_tasks.saving.checkpoint import fingerprint

        builtin = str(train) == gd.BUILTIN
        lexicon = self.lexicon(train, "train" if builtin else None)
        dev_lexicon = self.lexicon(dev) if dev is not None else self.lexicon(train, "dev") if builtin else None
        cfg = self.config
        self.vocabs = {
            gm.SOURCE_VOCAB: Vocabulary.build((list(self.symbols(w)) for w in lexicon), level="word"),
            gm.TARGET_VOCAB: Vocabulary.build((list(t) for ts in lexicon.values() for t in ts), level="word"),
        }
        examples = self._examples(lexicon)
        counts = {"train_words": len(lexicon), "train_examples": len(examples)}
        if dev_lexicon is not None:
            dev_lexicon = {w: ts for w, ts in dev_lexicon.items() if self._readable(w)}
            counts["dev_words"] = len(dev_lexicon)
        self._decoding = None
        return TrainingData(examples, dev_lexicon, counts=counts,
                            fingerprint=fingerprint(self.vocabs[gm.SOURCE_VOCAB].tokens,
                                                    self.vocabs[gm.TARGET_VOCAB].tokens,
                                                    [s for s, _ in examples], [t for _, t in examples],
                                                    sorted(dev_lexicon or ()), cfg.to_dict()))

    def _readable(self, word: str) -> bool:
        """Whether every letter of ``word`` is one the model knows (dev words are scored only then)."""
        return all(i != UNK_ID for i in self.vocab(gm.SOURCE_VOCAB).encode(list(self.symbols(word))))

    def training_plan(self, data: TrainingData, model) -> TrainingPlan:
        import keras

        figures = None
        if data.dev:
            def figures():  # dev WER and PER by greedy decoding of the model being trained
                report = self.score_lexicon(data.dev, model=model, beam=1)
                return {"val_wer": report["wer"], "val_per": report["per"]}
        return TrainingPlan(self.batches(data.train, shuffle=True),
                            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                            validation_figures=figures)

    def finish_training(self, data: TrainingData, model, summary: dict) -> None:
        self.model, self._decoding = model, None

    # ------------------------------------------------------------------ decoding
    def _searcher(self, model=None):
        """The compiled encoder and the search over the decoder's steps, for ``model``."""
        model = model or self.require_model()
        if self._decoding is None or self._decoding[0] is not model:
            import tensorflow as tf

            from nlp_tasks.decoding.search import Searcher

            decoding = gm.Decoding(model, self.config)
            encode = tf.function(decoding.encode, reduce_retracing=True)
            searcher = Searcher(decoding.step, BOS_ID, EOS_ID, banned_ids=(PAD_ID, UNK_ID, BOS_ID))
            self._decoding = (model, encode, searcher)
        return self._decoding[1:]

    def decode(self, ids: list[list[int]], beam: int | None = None, nbest: int = 1, model=None) -> list[list]:
        """The ``nbest`` hypotheses (:class:`nlp_tasks.decoding.search.Hypothesis`, best first) of
        each word's letter ids, by beam search (``beam`` 1: greedy), in batches of similar length."""
        cfg = self.config
        beam = cfg.beam if beam is None else beam
        if nbest > beam:
            raise UserError(f"nbest ({nbest}) cannot exceed the beam width ({beam})")
        encode, searcher = self._searcher(model)

        def search(batch):
            return searcher.beam(*encode(pad(batch)), cfg.max_output, beam, nbest, cfg.length_penalty)

        return self.forward_all(ids, batch_size=max(1, min(256, 4096 // beam)), forward=search)

    def pronunciations(self, hypotheses) -> list[dict]:
        phonemes = self.vocab(gm.TARGET_VOCAB)
        return [{"phonemes": " ".join(phonemes.id_to_token(i) for i in h.ids), "log_prob": round(h.log_prob, 6),
                 "probability": round(math.exp(h.log_prob), 6), "finished": h.finished} for h in hypotheses]

    def export_spec(self):
        """Words in, n-best pronunciations out (the beam search in the graph); ``encode`` and a
        decoder ``step`` for LiteRT and ONNX (:mod:`tasks.g2p.export`)."""
        from .export import export_spec

        return export_spec(self)

    # ------------------------------------------------------------------ the API
    def preprocess(self, item, number: int):
        return self.encode_word(item, number)

    def postprocess(self, features, output):
        return output

    def predict(self, inputs, nbest: int = 1, beam: int | None = None):
        """``"word"`` -> ``{"word", "pronunciations": [{"phonemes", "log_prob", "probability",
        "finished"}, ...]}`` (the ``nbest`` best first); a list of words -> a list of them."""
        self.require_model()
        single, words = self.split_inputs(inputs)
        ids = [self.encode_word(w, n) for n, w in enumerate(words, start=1)]
        found = self.decode(ids, beam, nbest)
        results = [{"word": w, "pronunciations": self.pronunciations(h)} for w, h in zip(words, found)]
        return results[0] if single else results

    def score_lexicon(self, lexicon: dict, model=None, beam: int | None = None) -> dict:
        """WER and PER (with and without stress) of the model's best output for every word of
        ``lexicon`` against all of the word's pronunciations; the words/s of the decoding."""
        words = list(lexicon)
        start = time.perf_counter()
        found = self.decode([self.encode_word(w, n) for n, w in enumerate(words, start=1)], beam, 1, model=model)
        seconds = time.perf_counter() - start
        phonemes = self.vocab(gm.TARGET_VOCAB)
        outputs = [tuple(phonemes.id_to_token(i) for i in h[0].ids) if h else () for h in found]
        report = sequence_report(outputs, [lexicon[w] for w in words], strip=strip_stress)
        report.update(seconds=seconds, words_per_second=len(words) / seconds if seconds > 0 else None)
        return report

    def evaluate(self, data, split: str = "test", beam: int | None = None) -> dict:
        """WER and PER of ``data`` (a lexicon, or ``builtin:cmudict`` whose ``split`` part is read),
        decoded with ``beam`` (default: the model's)."""
        self.require_model()
        lexicon = self.lexicon(data, split if str(data) == gd.BUILTIN else None)
        return self.score_lexicon(lexicon, beam=beam)


def _given_lexicon(lexicon: dict, stress: str) -> dict[str, list[tuple[str, ...]]]:
    """A lexicon given in Python, as the readers would give it; one-line errors otherwise."""
    out = {}
    for word, targets in lexicon.items():
        if not isinstance(word, str) or not word.strip():
            raise UserError(f"a lexicon's words must be non-empty strings, got {word!r}"[:200])
        if isinstance(targets, (str, tuple)):
            targets = [targets]
        pronunciations = []
        for target in targets:
            symbols = tuple(target.split()) if isinstance(target, str) else tuple(target)
            if not symbols or not all(isinstance(x, str) and x and not any(c.isspace() for c in x) for x in symbols):
                raise UserError(f"word {word[:60]!r}: a pronunciation must be symbols without spaces, got {target!r}"
                                [:300])
            symbols = strip_stress(symbols) if stress == "strip" else symbols
            if symbols not in pronunciations:
                pronunciations.append(symbols)
        if not pronunciations:
            raise UserError(f"word {word[:60]!r} has no pronunciation")
        out[word] = pronunciations
    return out
