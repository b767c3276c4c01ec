"""Configs are dataclasses, saved as JSON beside the weights; defaults are never mutated.

Subclass :class:`Config` with typed fields and defaults; :meth:`Config.from_dict` rebuilds one
from JSON, refusing unknown keys and values of the wrong type with a :class:`UserError`, and
:meth:`Config.replace` returns a changed copy.

Each setting is declared once, with :func:`setting`: its default, a line of help, its range and
choices. That one declaration is checked when a config is made (:meth:`Config.check_settings`),
becomes the command-line option of the same name with the same default (:mod:`nlp_tasks.cli`)
and documents the field. The training settings every task shares are :class:`TrainSettings`;
a task config inherits them and may change a default with :func:`train_default`::

    @dataclasses.dataclass(frozen=True)
    class MusicConfig(TrainSettings):
        units: int = setting(256, "Recurrent units.", low=1, high=MAX_WIDTH)
        epochs: int = train_default("epochs", 200)
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from typing import Any

from nlp_tasks.errors import UserError

# Upper bounds every task config enforces (so a typo or a tampered pipeline.json cannot ask for
# terabytes): widths (units, embedding dimensions) up to MAX_WIDTH, stacked layers up to
# MAX_LAYERS, seeds up to MAX_SEED (what NumPy accepts), and models of at most MAX_PARAMETERS
# weights, estimated before anything is built (:func:`check_parameters`).
MAX_WIDTH = 65_536
MAX_LAYERS = 16
MAX_SEED = 2**32 - 1
MAX_EPOCHS = 1_000_000
MAX_BATCH_SIZE = 1_048_576
MAX_PARAMETERS = 1_000_000_000  # 4 GB of float32 weights, 16 GB with Adam's moments and gradients
# Generation: at most MAX_SAMPLES texts of MAX_SAMPLE_LENGTH tokens at once (charlm generate), and
# at most MAX_SAMPLE_TOKENS tokens in all (samples x length: each limit alone allows 10^10, 40 GB
# of token ids; 10^7 is 40 MB, e.g. 10,000 samples of 1,000 tokens), MAX_STEPS time steps of
# music (about 14 hours at one step per quarter note, 120 bpm).
MAX_SAMPLES = 10_000
MAX_SAMPLE_LENGTH = 1_000_000
MAX_SAMPLE_TOKENS = 10_000_000
MAX_STEPS = 100_000
MAX_BEAM = 1_000  # hypotheses of a beam search (each keeps its own state)
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 1e3  # besides 0 (greedy); nlp_tasks.decoding.sampling says why


def recurrent_parameters(units: int, inputs: int, layers: int, directions: int = 1) -> int:
    """Upper estimate of a recurrent stack's weights (four gates, as an LSTM has)."""
    total = 0
    for layer in range(layers):
        width = inputs if layer == 0 else units * directions
        total += directions * 4 * units * (units + width + 2)
    return total


def check_parameters(count: int, what: str = "model") -> None:
    """Refuse to build a model of more than MAX_PARAMETERS weights, with the estimate."""
    if count > MAX_PARAMETERS:
        raise UserError(f"this {what} would have about {count:,} weights ({count * 4 / 2**30:,.1f} GiB as float32), "
                        f"more than the {MAX_PARAMETERS:,} allowed; use fewer units, layers or a smaller vocabulary")


CELLS = ("gru", "lstm", "rnn", "mingru")  # the recurrent cells of nlp_tasks.layers.recurrent


def setting(default, help: str, *, low=None, high=None, low_open: bool = False, high_open: bool = False,
            choices: tuple | None = None, none: str | None = None, flag: str | None = None):
    """A config field: ``default``, one line of ``help``, the range ``low``..``high`` (open at
    either end with ``low_open``/``high_open``), the allowed ``choices``, and for a field that
    may be ``None`` what ``None`` means (``none="never stop early"``). ``flag``: a boolean
    setting's one command-line flag, which sets the opposite of the default (``"--no-unk"``);
    without it a boolean is a ``--name/--no-name`` switch."""
    meta = {"help": help, "low": low, "high": high, "low_open": low_open, "high_open": high_open,
            "choices": tuple(choices) if choices is not None else None, "none": none, "flag": flag}
    return dataclasses.field(default=default, metadata=meta)


def train_default(name: str, default):
    """A task's own default for the :class:`TrainSettings` field ``name`` (same help and range)."""
    field = {f.name: f for f in dataclasses.fields(TrainSettings)}[name]
    return dataclasses.field(default=default, metadata=field.metadata)


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


@dataclasses.dataclass(frozen=True)
class Config:
    """Base class for task configs: frozen, JSON-friendly fields only."""

    def __post_init__(self):
        self.check_settings()

    def check_settings(self) -> None:
        """Refuse a value outside its :func:`setting`'s choices or range, naming the field."""
        for field in dataclasses.fields(self):
            meta, value = field.metadata, getattr(self, field.name)
            if not meta or value is None or isinstance(value, bool):
                continue
            choices = meta.get("choices")
            if choices and value not in choices:
                raise UserError(f"{field.name} must be one of {', '.join(map(str, choices))}, got {value!r}")
            if not isinstance(value, (int, float)):
                continue
            low, high = meta.get("low"), meta.get("high")
            if not math.isfinite(value):
                raise UserError(f"{field.name} must be a finite number, got {value!r}")
            low_open, high_open = meta.get("low_open"), meta.get("high_open")
            too_low = low is not None and (value <= low if low_open else value < low)
            too_high = high is not None and (value >= high if high_open else value > high)
            if (too_low or too_high) and low is not None and high is not None and (low_open or high_open):
                interval = f"{'(' if low_open else '['}{_number(low)}, {_number(high)}{')' if high_open else ']'}"
                raise UserError(f"{field.name} must be in {interval}, got {value!r}")
            if too_low:
                raise UserError(f"{field.name} must be {'>' if low_open else '>='} {_number(low)}, got {value!r}")
            if too_high:
                raise UserError(f"{field.name} must be {'<' if high_open else '<='} {_number(high)}, got {value!r}")

    @classmethod
    def settings(cls) -> list[dataclasses.Field]:
        """The fields declared with :func:`setting` (every field of a task config)."""
        return [f for f in dataclasses.fields(cls) if f.metadata.get("help")]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> Config:
        """A copy with some fields changed (checked like :meth:`from_dict`)."""
        return type(self).from_dict({**self.to_dict(), **changes})

    @classmethod
    def from_dict(cls, data: object, source: str = "config") -> Config:
        if not isinstance(data, dict):
            raise UserError(f"{source}: expected a JSON object for {cls.__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise UserError(f"{source}: unknown {cls.__name__} field(s): {', '.join(unknown)}")
        hints = typing.get_type_hints(cls)
        values = {}
        for name, value in data.items():
            values[name] = _coerce(value, hints[name], f"{source}: {name}")
        try:
            return cls(**values)
        except UserError:
            raise  # a setting's own check already names the field
        except (TypeError, ValueError) as err:
            raise UserError(f"{source}: {err}") from None


def _coerce(value, hint, where):
    """Check ``value`` against a simple type hint; JSON lists become tuples for tuple fields."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _coerce(value, option, where)
            except UserError:
                continue
        raise UserError(f"{where} has the wrong type ({value!r})")
    if hint is type(None):
        if value is None:
            return None
        raise UserError(f"{where} must be null")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where} must be a list, got {value!r}")
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        item = args[0] if args else Any
        items = [_coerce(v, item, where) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise UserError(f"{where} must be an object, got {value!r}")
        return dict(value)
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool):
        raise UserError(f"{where} must be a number, got {value!r}")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise UserError(f"{where} must be {hint.__name__}, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class TrainSettings(Config):
    """What training does, for every task: a task config inherits these fields, and
    :func:`nlp_tasks.training.fit` reads them (they also identify a run's checkpoint)."""

    epochs: int = setting(10, "Maximum number of passes over the training data.", low=1, high=MAX_EPOCHS)
    batch_size: int = setting(32, "Examples per training step (the global batch, split across replicas).",
                              low=1, high=MAX_BATCH_SIZE)
    learning_rate: float = setting(1e-3, "Adam's step size.", low=0, low_open=True)
    clipnorm: float | None = setting(5.0, "Clip the gradients to this global norm (exploding gradients).",
                                     low=0, low_open=True, none="no clipping")
    patience: int | None = setting(3, "Stop after this many epochs without a better validation figure.",
                                   low=0, none="never stop early")
    lr_decay: float | None = setting(None, "Multiply the learning rate by this when the validation figure stalls.",
                                     low=0, high=1, low_open=True, high_open=True, none="no decay")
    lr_patience: int = setting(1, "Epochs without a better validation figure before the learning rate decays.",
                               low=0)
    seed: int = setting(0, "Seeds Python, NumPy and TensorFlow.", low=0, high=MAX_SEED)
    deterministic: bool = setting(True, "TensorFlow op determinism: the same command gives the same weights.")


@dataclasses.dataclass(frozen=True)
class GenerationSettings(Config):
    """Settings of a generation (sampling text, generating music) with a ``seed`` that may be
    None: "no seed given" means a fresh one, drawn once by :meth:`resolved` and returned with
    the result, so that any output can be made again."""

    seed: int | None = setting(None, "The same seed gives the same output.", low=0, high=MAX_SEED,
                               none="a fresh one, returned with the result")

    def resolved(self):
        """These settings with the seed drawn now where none was given."""
        if self.seed is not None:
            return self
        import secrets

        return dataclasses.replace(self, seed=secrets.randbelow(2**31))


# ---------------------------------------------------------------------- generation settings and their checks
def check_temperature(temperature) -> float:
    """``temperature`` as a float: 0 (greedy) or from :data:`MIN_TEMPERATURE` to
    :data:`MAX_TEMPERATURE`; a one-line error for anything else (NaN, infinity, a string)."""
    number = isinstance(temperature, numbers.Real) and not isinstance(temperature, bool)
    if not number or not (temperature == 0 or MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE):
        raise UserError(f"temperature must be 0 (greedy) or from {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}, "
                        f"got {temperature!r}")
    return float(temperature)


def check_options(temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                  beam: int | None = None) -> None:
    """One-line errors for values that have no meaning (top-k or top-p with beam search, which
    keeps the most likely continuations and samples nothing, is refused rather than ignored)."""
    check_temperature(temperature)
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise UserError(f"top-k must be a positive integer, got {top_k!r}")
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise UserError(f"top-p must be in (0, 1], got {top_p!r}")
    if beam is not None and (not isinstance(beam, int) or beam < 1):
        raise UserError(f"beam width must be a positive integer, got {beam!r}")
    if beam is not None and beam > MAX_BEAM:
        raise UserError(f"beam width must be <= {MAX_BEAM:,} (each hypothesis keeps its own state), got {beam!r}")
    if beam is not None and (top_k is not None or top_p is not None):
        raise UserError("top-k and top-p choose among sampled tokens; beam search samples nothing: "
                        "give --beam or --top-k/--top-p, not both")


def check_work(samples: int, length: int, prime: int = 0, beam: int | None = None,
               limit: int = MAX_SAMPLE_TOKENS, option: str = "") -> None:
    """A one-line error when one generation would run more than ``limit`` tokens through the
    model, all streams together: ``samples`` x (``prime`` + ``length``), or ``beam`` hypotheses
    x ``length`` after one reading of the prime. Each number may be within its own limit while
    their product is not (10,000 samples of 1,000,000 tokens: 40 GB of token ids), so this is
    checked before anything is allocated; ``option`` names the setting that raises ``limit``."""
    streams = samples if beam is None else beam
    total = streams * length + samples * prime
    if total <= limit:
        return
    what = (f"{samples:,} sample{'s' if samples != 1 else ''} of {length:,} tokens" if beam is None
            else f"beam search with {beam:,} hypotheses of {length:,} tokens")
    after = f" after a prime of {prime:,}" if prime else ""
    hint = f" ({option})" if option else ""
    fewer = "fewer samples" if beam is None else "a narrower beam"
    raise UserError(f"{what}{after} is {total:,} tokens in one run, more than the limit of {limit:,}{hint}: "
                    f"ask for {fewer} or a shorter length")


@dataclasses.dataclass(frozen=True)
class SampleSettings(GenerationSettings):
    """How a language model samples text, declared once for ``charlm generate``, the server's
    ``generate`` operation and the Python API (:meth:`LanguageModelPipeline.generate`). Checked as a
    whole (:func:`nlp_tasks.decoding.sampling.check_options`: top-k or top-p with beam search is refused;
    :func:`nlp_tasks.decoding.sampling.check_work`: samples x length is bounded before anything is
    allocated)."""

    length: int = setting(200, "Tokens to generate.", low=1, high=MAX_SAMPLE_LENGTH)
    temperature: float = setting(1.0, "Below 1: safer, more repetitive; above 1: more surprising; 0: always the "
                                 f"most likely token (else {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}).")
    top_k: int | None = setting(None, "Sample only among the k most likely tokens.", low=1, none="every token")
    top_p: float | None = setting(None, "Sample only among the most likely tokens whose mass reaches p.", low=0,
                                  high=1, low_open=True, none="every token")
    beam: int | None = setting(None, "Beam search with this many hypotheses instead of sampling.", low=1,
                               high=MAX_BEAM, none="sample")
    stop_at_eos: bool = setting(False, "Stop at the end-of-sequence token.", flag="--stop-at-eos")
    no_unk: bool = setting(False, "Never emit <unk>: draw again instead (a character model never does).",
                           flag="--no-unk")
    samples: int = setting(1, f"Independent samples, drawn together as one batch (at most {MAX_SAMPLE_TOKENS:,} "
                           "tokens in all: samples x length).", low=1, high=MAX_SAMPLES)

    def __post_init__(self):
        check_options(self.temperature, self.top_k, self.top_p, self.beam)  # its messages, before the ranges'
        super().__post_init__()
        check_work(self.samples, self.length, beam=self.beam)
