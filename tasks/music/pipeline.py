"""Music: one-to-many generation of polyphonic piano rolls with our recurrent cells.

Model: the frame x<t> (88 piano keys, multi-hot) -> 1-3 stacked GRU (or LSTM, Elman RNN) layers
with dropout -> an output head (:mod:`tasks.music.heads`): ``--head sigmoid``, 88 independent
sigmoid outputs ``P(key k sounds at t | frames < t)``, or ``--head nade``, RNN-NADE: a<t> sets the
biases of a NADE that draws the 88 keys of a frame jointly, each given the keys below it. Training
minimises each frame's NLL (sigmoid head: the binary cross-entropy summed over the 88 keys); x<1>
is the silent frame and a<0> = 0, so generation starts from nothing and feeds each frame back in.

A piece from silence does not draw its first frame from the model: that step is seen once per
piece in training, and 88 keys drawn independently from its spread-out probabilities gave
clusters of 7-39 notes, pitches the data never uses among them. Training records the first frames
of the training pieces (``metrics["training"]["openings"]``: keys and counts, saved with the
model), and generation starts from one of them, drawn by its frequency (the most frequent at
temperature 0); the model continues from there. A model saved without them samples step 1.

Evaluation reports what the literature reports (Boulanger-Lewandowski et al. 2012; Chung et
al. 2014; Bai et al. 2018): the negative log-likelihood per time step, i.e. the Bernoulli NLL
summed over the 88 keys (for the NADE head: the sum of its 88 conditionals, the exact NLL of
the frame), averaged over every time step of every piece (longer pieces weigh more); also
frame-level accuracy TP / (TP + FP + FN) (Bay et al. 2009) and note precision / recall, predicting
each key when its probability is above 0.5 given the true past (for the NADE head: key by key,
given the keys it predicted below).

    >>> pipe = MusicPipeline(MusicConfig(epochs=50))                               # doctest: +SKIP
    >>> pipe.fit("jsb-chorales-quarter.json")                                    # doctest: +SKIP
    >>> roll = pipe.generate(steps=64, seed=1)["roll"]      # 64 lists of 88 zeros and ones  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
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
    train_default,
)
from nlp_tasks.data.sources import split_source
from nlp_tasks.errors import UserError
from nlp_tasks.pipeline import Pipeline, TrainingData, TrainingPlan
from nlp_tasks.saving.model_checks import OUTPUT_LAYER

from . import data as md
from .generation import GenerateSettings, generate_frames, opening_frames
from .heads import HEADS, head_class
from .scoring import PieceScorer, frame_metrics, validation_figures
from .sources import read_pieces


@dataclasses.dataclass(frozen=True)
class MusicConfig(TrainSettings):
    cell: str = setting("gru", "Recurrent cell.", choices=CELLS)
    units: int = setting(256, "Recurrent units per layer.", low=1, high=MAX_WIDTH)
    layers: int = setting(1, "Stacked recurrent layers.", low=1, high=MAX_LAYERS)
    dropout: float = setting(0.3, "Dropout rate while training.", low=0, high=1, high_open=True)
    head: str = setting("sigmoid", "Output head: 88 independent sigmoids, or an RNN-NADE drawing the keys of "
                        "a frame jointly.", choices=HEADS)
    nade_units: int = setting(150, "Hidden units of the NADE head (with --head nade).", low=1, high=MAX_WIDTH)
    input_dropout: float = setting(0.1, "Share of the sounding keys of input frames dropped while training "
                                   "(robustness to its own mistakes).", low=0, high=1, high_open=True)
    transpose: int = setting(0, "Transposition augmentation: each training piece shifted by a random number of "
                             "semitones from -N to N (drawn per piece and epoch, kept within the 88 keys); 0: off.",
                             low=0, high=24)
    steps_per_quarter: int = setting(1, "Time grid for MIDI input and output (JSB Chorales: 1 frame per quarter).",
                                     low=1, high=96)
    epochs: int = train_default("epochs", 200)
    batch_size: int = train_default("batch_size", 8)
    learning_rate: float = train_default("learning_rate", 2e-3)
    patience: int | None = train_default("patience", 20)
    lr_decay: float | None = train_default("lr_decay", 0.5)
    lr_patience: int = train_default("lr_patience", 4)

    # Recorded recipes (--preset): the JSB Chorales runs of benchmarks/RESULTS.md (section ``jsb_chorales``).
    presets: ClassVar[dict] = {"jsb": {"head": "sigmoid", "dropout": 0.3, "input_dropout": 0.1},
                               "jsb-nade": {"head": "nade", "dropout": 0.5, "input_dropout": 0.2, "transpose": 3}}


class MusicPipeline(Pipeline):
    """Piano rolls in, NLL and generated music out; see the module docstring."""

    task = "music"
    config_class = MusicConfig
    card_tag = "audio-generation"
    reads_lines = False  # MIDI files and piano-roll JSON: no --max-example-chars or --on-bad-lines
    card_summary = "Polyphonic piano-roll generation (88 keys per time step), written as MIDI."
    card_limits = ("Generates in the style of its training pieces, one time step at a time; no notion of long-range "
                   "form beyond what the recurrent state keeps.")

    def __init__(self, config: MusicConfig | None = None):
        super().__init__(config)
        self._step = self._head = None
        self._generators = {}  # the compiled generation loops, one per temperature and openings
        self._scorer = None  # (model, PieceScorer): predict's chunked scoring, made once per model

    @property
    def head(self):
        """The output head of the current model (:mod:`tasks.music.heads`)."""
        model = self.require_model()
        if self._head is None or self._head.model is not model:
            self._head = head_class(self.config.head)(model)
        return self._head

    @classmethod
    def register_layers(cls) -> None:
        import nlp_tasks.layers  # noqa: F401  (the NADE head)

    # ------------------------------------------------------------------ model
    def build_model(self):
        import keras

        from nlp_tasks.layers import recurrent

        cfg = self.config
        head = head_class(cfg.head)
        check_parameters(recurrent_parameters(cfg.units, md.KEYS, cfg.layers)
                         + head.parameters(cfg.units, cfg.nade_units),
                         "music model")
        frames = keras.Input((None, md.KEYS), name="frames")
        x = keras.layers.Dropout(cfg.input_dropout, name="dropout_0")(frames)
        for layer in range(1, cfg.layers + 1):
            x = recurrent(cfg.cell, cfg.units, return_sequences=True, name=f"rnn_{layer}")(x)
            x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{layer}")(x)
        outputs = head.layer(cfg.nade_units)(x)  # logits, or the NADE's conditional biases
        self.model = keras.Model(frames, outputs, name="music")
        return self.model

    def expected_layer_sizes(self) -> dict:
        sizes = {f"rnn_{i}": {"units": self.config.units} for i in range(1, self.config.layers + 1)}
        return {**sizes, OUTPUT_LAYER: head_class(self.config.head).layer_sizes(self.config.nade_units)}

    def check_consistency(self, source: str = "model") -> None:
        super().check_consistency(source)
        from nlp_tasks.layers import NADE

        output = self.model.get_layer(OUTPUT_LAYER)
        is_nade = isinstance(output, NADE)
        width = output.n_visible if is_nade else output.output.shape[-1]
        if width != md.KEYS or is_nade != (self.config.head == "nade"):
            raise UserError(f"{source}: the model's output layer ({type(output).__name__}, {width} keys) is not a "
                            f"{self.config.head} head over {md.KEYS} keys")

    # ------------------------------------------------------------------ data
    def _pieces(self, source, split):
        return read_pieces(source, split, self.config.steps_per_quarter)

    @staticmethod
    def _examples(pieces):
        """Inputs ``[silence] + frames[:-1]`` and targets ``frames`` for each piece."""
        xs = [np.concatenate([np.zeros((1, md.KEYS), np.float32), p[:-1]]) for p in pieces]
        return xs, list(pieces)

    def _batches(self, pieces, shuffle: bool, batch_size: int | None = None):
        """Padded batches ``(x, y, w)`` of pieces, by length: a :class:`Batches` source when
        shuffled (training), a list when not."""
        import tensorflow as tf

        xs, ys = self._examples(pieces)
        lengths = [len(y) for y in ys]
        spread = self.config.transpose if shuffle else 0
        ranges = [md.transpositions(p, spread) for p in pieces] if spread else None

        def make_batch(indices, rng):  # (input) dropout is the model's, checkpointed; the shifts come from rng
            if ranges:  # transposition: one shift per piece, from this batch's generator (seed, epoch, batch)
                ys_ = [md.transposed(ys[i], int(rng.integers(*ranges[i], endpoint=True))) for i in indices]
                xs_, _ = self._examples(ys_)
            else:
                xs_, ys_ = [xs[i] for i in indices], [ys[i] for i in indices]
            x = pad(xs_, dtype=np.float32)
            y = pad(ys_, dtype=np.float32)
            w = pad([np.ones(lengths[i], np.float32) for i in indices], dtype=np.float32)  # 1 on real steps
            return x, y, w

        signature = (tf.TensorSpec((None, None, md.KEYS), tf.float32),) * 2 + (tf.TensorSpec((None, None), tf.float32),)
        batches = Batches(make_batch, lengths, batch_size or self.config.batch_size, signature,
                          seed=self.config.seed, shuffle=shuffle)
        return batches if shuffle else list(batches.for_epoch(0))

    # ------------------------------------------------------------------ training
    monitor, mode = "val_nll", "min"

    def read_training_data(self, train, dev=None) -> TrainingData:
        """Pieces of ``train`` and ``dev`` (by default the validation split of ``train``'s source)."""
        from nlp_tasks.saving.checkpoint import fingerprint

        train_pieces = self._pieces(train, "train")
        if dev is None:
            dev = _default_dev(train)
        dev_pieces = self._pieces(dev, "dev") if dev is not None else None
        return TrainingData(train_pieces, dev_pieces, fingerprint=fingerprint(*train_pieces, *(dev_pieces or [])),
                            counts={"train_pieces": len(train_pieces),
                                    "train_steps": int(sum(len(p) for p in train_pieces))})

    def training_plan(self, data: TrainingData, model) -> TrainingPlan:
        figures = None
        head = head_class(self.config.head)(model)
        if data.dev:
            batches = self._batches(data.dev, shuffle=False)
            figures = lambda: validation_figures(model, head, batches)  # noqa: E731
        return TrainingPlan(self._batches(data.train, shuffle=True), loss=head.loss(), validation_figures=figures)

    def finish_training(self, data: TrainingData, model, summary: dict) -> None:
        # the stepper and the scorer hold copies of the recurrent weights: made again from the new ones
        self.model, self._step, self._generators, self._scorer = model, None, {}, None
        self.metrics["training"]["openings"] = opening_frames(data.train)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, data, split: str = "test") -> dict:
        """NLL per time step (summed over keys), frame accuracy, note precision / recall / F1; in
        chunks of time steps, so a piece of any length is scored in bounded memory
        (:mod:`tasks.music.scoring`)."""
        self.require_model()
        pieces = self._pieces(data, split)
        start = time.perf_counter()
        report = frame_metrics(self.model, self.head, self._batches(pieces, shuffle=False, batch_size=32))
        report.update(pieces=len(pieces), seconds=time.perf_counter() - start)
        return report

    def predict(self, inputs):
        """Per-step key probabilities given the true past, for each piece of ``inputs`` (a data
        source, as :meth:`evaluate` reads): ``T`` lists of 88 floats (plain Python, like every public
        result), a list of them always. For the NADE head each key's probability is also given
        the true keys below it at that step (:meth:`NadeHead.probabilities`). The base class's
        template: pieces of similar length scored in batches, in chunks of time steps (:meth:`forward`)."""
        return super().predict(inputs)

    # ------------------------------------------------------------------ inference (the base class's template)
    def split_inputs(self, inputs) -> tuple[bool, list]:
        return False, self._pieces(inputs, "test")

    def preprocess(self, item, number: int) -> tuple[np.ndarray, np.ndarray]:
        """A piece's inputs ``[silence] + frames[:-1]`` and its frames."""
        (x,), (y,) = self._examples([item])
        return x, y

    def input_length(self, features) -> int:
        return len(features[1])

    def forward(self, batch: list) -> list:
        """A batch of pieces (of similar length: the template sorts them) scored together, in
        chunks of time steps, so pieces of any length are scored in bounded memory; one
        :class:`tasks.music.scoring.PieceScorer` per model object."""
        model = self.require_model()
        cached = self._scorer
        if cached is None or cached[0] is not model:
            self._scorer = cached = (model, PieceScorer(model, self.head))
        return cached[1]([x for x, _ in batch], [y for _, y in batch])

    def postprocess(self, features, output) -> list:
        return [] if output is None else output.tolist()

    def export_spec(self):
        """A streaming ``step`` and ``score`` (:mod:`tasks.music.export`)."""
        from .export import export_spec

        return export_spec(self)

    # ------------------------------------------------------------------ generation
    def step_function(self):
        if self._step is None:
            from nlp_tasks.decoding.stepper import RecurrentStepper

            model = self.require_model()
            self._step = RecurrentStepper([model.get_layer(f"rnn_{i}").cell for i in range(1, self.config.layers + 1)],
                                          model.get_layer(OUTPUT_LAYER))
        return self._step

    def generate(self, steps: int = 64, primer=None, seed: int | None = None, temperature: float = 1.0,
                 n: int = 1) -> dict:
        """Continue ``primer`` by ``steps``: a piano roll, time steps of MIDI pitches, a MIDI file,
        or nothing (the silent frame).

        Each step's 88 keys are drawn from ``sigmoid(logit / temperature)`` (independently by the
        sigmoid head; in order, each given the keys drawn below it, by the NADE head) and the drawn
        frame is fed back in, all in one compiled loop. Stream ``i`` of ``n`` draws its random
        numbers with key ``seed + i``, so the same seed gives the same piece on every run, alone
        or in a batch. ``temperature`` 0 keeps every key above probability 0.5 (the options are
        :class:`tasks.music.generation.GenerateSettings`: their help and ranges). Without a primer,
        the first frame is a training piece's opening, drawn by frequency (the module docstring says why).
        Returns ``{"roll": P + steps lists of 88 zeros and ones (or n such rolls),
        "primer_steps": P}``; the primer's own frames come first, unchanged.
        """
        settings = GenerateSettings(steps=steps, temperature=temperature, seed=seed, samples=n)  # checked
        if primer is None:
            primer_roll = np.zeros((0, md.KEYS), np.float32)
        elif isinstance(primer, list) and not all(isinstance(f, list) and len(f) == md.KEYS for f in primer):
            primer_roll = md.to_roll(primer, "primer")  # time steps of MIDI pitches, like a piece
        elif isinstance(primer, (np.ndarray, list)):  # a piano roll: T frames of 88 keys
            primer_roll = np.asarray(primer, np.float32)
            if primer_roll.ndim != 2 or primer_roll.shape[1] != md.KEYS:
                raise UserError(f"a primer piano roll must have shape (T, {md.KEYS}), got {primer_roll.shape}")
        else:
            primer_roll = read_pieces(primer, "train", self.config.steps_per_quarter)[0]
        frames = generate_frames(self, n, steps, primer_roll, settings.seed, settings.temperature)
        out = np.swapaxes(frames, 0, 1).astype(np.float32)  # (n, steps, 88)
        rolls = [np.concatenate([primer_roll, o]) for o in out]
        rolls = [roll.astype(int).tolist() for roll in rolls]  # plain Python: T lists of 88 zeros and ones
        return {"roll": rolls[0] if n == 1 else rolls, "primer_steps": len(primer_roll)}


def _default_dev(train):
    """The validation split that travels with the training data (JSON ``valid``, built-in corpus)."""
    name = str(train) if not isinstance(train, (list, tuple)) else ""
    if name.startswith("builtin:"):
        return md.BUILTIN + ":valid"
    path = Path(split_source(name)[0])
    if path.is_file() and path.suffix.lower() == ".json" and "valid" in md.json_splits(path):
        return f"{path}:valid"
    return None
