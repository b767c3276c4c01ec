"""The grapheme-to-phoneme model's settings (:class:`G2PConfig`), each declared once
(:func:`nlp_tasks.config.setting`): the future ``g2p train`` options and the Python API's defaults."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from nlp_tasks.config import CELLS, MAX_BEAM, MAX_LAYERS, MAX_WIDTH, TrainSettings, setting, train_default

from .arpabet import STRESS
from .data import LEVELS

ATTENTION = ("additive", "multiplicative", "none")
MAX_OUTPUT = 1_000  # output symbols of one word at most (CMUdict's longest pronunciation has 32)
MAX_WORD_SYMBOLS = 1_000  # input symbols of one word at most (CMUdict's longest word has 34 letters)


@dataclasses.dataclass(frozen=True)
class G2PConfig(TrainSettings):
    cell: str = setting("lstm", "Recurrent cell of the encoder and the decoder.", choices=CELLS)
    units: int = setting(256, "Units per encoder layer (and direction); the decoder has as many as the encoder's "
                         "final state (twice as many when the encoder is bidirectional).", low=1, high=MAX_WIDTH)
    layers: int = setting(2, "Stacked layers of the encoder and of the decoder.", low=1, high=MAX_LAYERS)
    bidirectional: bool = setting(True, "Read the letters in both directions.")
    attention: str = setting("additive", "Attention of the decoder over the letters (Bahdanau: additive; Luong: "
                             "multiplicative); none: the decoder sees only the encoder's final state.",
                             choices=ATTENTION)
    embedding_dim: int = setting(64, "Letter and phoneme embedding width.", low=1, high=MAX_WIDTH)
    dropout: float = setting(0.2, "Dropout between layers while training.", low=0, high=1, high_open=True)
    stress: str = setting("keep", "ARPAbet stress digits: keep them, or strip them (the published recurrent "
                          "systems strip them).", choices=STRESS)
    source_level: str = setting("char", "Split the source into characters, or into tokens at spaces.",
                                choices=LEVELS)
    target_level: str = setting("token", "Split the target into characters, or into tokens at spaces.",
                                choices=LEVELS)
    lower: bool = setting(True, "Lower-case the source (CMUdict's words are case-free).")
    beam: int = setting(5, "Beam width when predicting and evaluating (1: greedy).", low=1, high=MAX_BEAM)
    length_penalty: float = setting(0.7, "Beam search ranks by log P / length ** this (0: by probability alone).",
                                    low=0, high=10)
    max_output: int = setting(60, "Output symbols per word at most.", low=1, high=MAX_OUTPUT)
    epochs: int = train_default("epochs", 30)
    batch_size: int = train_default("batch_size", 64)
    learning_rate: float = train_default("learning_rate", 2e-3)
    lr_decay: float | None = train_default("lr_decay", 0.5)

    # Recorded recipes (--preset): the CMUdict run of benchmarks/RESULTS.md (section ``cmudict``).
    presets: ClassVar[dict] = {"cmudict": {"units": 128, "layers": 1, "epochs": 20, "stress": "strip"}}
