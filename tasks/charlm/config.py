"""The language model's settings (:class:`LanguageModelConfig`), each declared once
(:func:`nlp_tasks.config.setting`): the ``charlm train`` options and the Python API's defaults."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from nlp_tasks.config import CELLS, MAX_LAYERS, MAX_WIDTH, TrainSettings, setting, train_default
from nlp_tasks.errors import UserError

from . import data as cd

LEVELS = ("char", "word")
# The settings that decide a corpus's token ids: those a prepared store is made with (``charlm prepare``).
DATA_SETTINGS = ("level", "mode", "lower", "max_vocab", "min_freq", "valid_fraction", "text_column", "separator",
                 "word_boundary")


@dataclasses.dataclass(frozen=True)
class LanguageModelConfig(TrainSettings):
    level: str = setting("char", "Model characters or words.", choices=LEVELS)
    mode: str = setting("stream", "stream: one long text, truncated backpropagation through time; "
                        "lines: each line (or document) a sequence of its own.", choices=cd.MODES)
    cell: str = setting("gru", "Recurrent cell.", choices=CELLS)
    units: int = setting(512, "Units per layer.", low=1, high=MAX_WIDTH)
    layers: int = setting(2, "Stacked recurrent layers.", low=1, high=MAX_LAYERS)
    embedding_dim: int | None = setting(64, "Token embedding width.", low=1, high=MAX_WIDTH, none="one-hot inputs")
    dropout: float = setting(0.25, "Dropout between layers while training.", low=0, high=1, high_open=True)
    window: int = setting(100, "Time steps per truncated-BPTT window (stream mode).", low=1, high=1_000_000)
    max_vocab: int | None = setting(10000, "Most frequent tokens kept (words; characters rarely reach it).",
                                    low=1, none="every token")
    min_freq: int = setting(1, "Tokens seen fewer times than this become <unk>.", low=1)
    lower: bool = setting(False, "Lower-case the text first.")
    valid_fraction: float = setting(0.1, "Share held out from the end of the training text when no --dev is "
                                    "given (0: no validation).", low=0, high=1, high_open=True)
    text_column: str = setting("text", "Text column of CSV/JSON/hub data.")
    separator: str | None = setting(None, "The files' characters are separated by this (PTB's layout: ' ').",
                                    none="read the text as written")
    word_boundary: str = setting("_", "With --separator: the token read as a space.")
    reverse: bool = setting(False, "Read every text backwards, last token first: a backward language model "
                            "(scores, generates and exports text reversed; the second model of "
                            "'ner train --lm-features').")
    activation_reg: float = setting(0.0, "AR: add this times the mean square of the last layer's (dropped-out) "
                                    "outputs to the training loss, keeping its units off saturation (AWD-LSTM: 2).",
                                    low=0, high=1000)
    temporal_activation_reg: float = setting(0.0, "TAR: add this times the mean square of the last layer's "
                                             "step-to-step output change to the training loss (AWD-LSTM: 1).",
                                             low=0, high=1000)
    epochs: int = train_default("epochs", 20)
    batch_size: int = train_default("batch_size", 64)
    learning_rate: float = train_default("learning_rate", 2e-3)
    lr_decay: float | None = train_default("lr_decay", 0.5)

    # Recorded recipes (--preset): the tiny-shakespeare run of benchmarks/RESULTS.md, the teacher of its
    # section "conll2003, with character-LM features (forward only)", and the word-level teacher of
    # "sst/trees, LM-initialised encoder" (both trained on lm_corpus.py --fraction 0.2; add --reverse for the
    # backward model); teacher-words-ar: the same with AWD-LSTM's activation penalties, the teacher of
    # "sst/trees, sentences only, LM-initialised encoder, LMs pretrained with AR/TAR".
    presets: ClassVar[dict] = {"tinyshakespeare": {"epochs": 15},
                               "teacher-small": {"units": 256, "layers": 1, "epochs": 1, "max_vocab": 200},
                               "teacher-words": {"level": "word", "lower": True, "units": 128, "layers": 1,
                                                 "embedding_dim": 128, "max_vocab": 30000, "epochs": 1},
                               "teacher-words-ar": {"level": "word", "lower": True, "units": 128, "layers": 1,
                                                    "embedding_dim": 128, "max_vocab": 30000, "epochs": 1,
                                                    "activation_reg": 2.0, "temporal_activation_reg": 1.0}}

    def __post_init__(self):
        super().__post_init__()
        if self.separator == "":
            raise UserError("separator must not be empty (None reads the text as written)")
