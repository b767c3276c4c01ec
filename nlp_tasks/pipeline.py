"""The Pipeline base class and the saved-model folder every task shares.

One interface for every task::

    pipe = SomePipeline(config)            # or SomePipeline.load("model-dir")
    pipe.fit(train, dev)                   # -> dict of training results
    pipe.evaluate(data)                    # -> dict of metrics
    pipe.predict(["a text", ...])          # plain Python in, plain Python out
    pipe("a text")                         # same as predict
    pipe.save("model-dir")

A saved model is one folder that loads with one call and never runs code from the file::

    model-dir/
      pipeline.json        format, task, nlp-tasks version, config, labels, vocabularies, metrics
      model.keras          the Keras model, loaded with safe_mode=True
      vocab-<name>.json    one file per vocabulary (words, chars, ...)

Saving writes a temporary folder beside the target and renames it into place, so an existing
model is never left half-overwritten; everything else already in the folder (the training log,
plots, the checkpoint, files of the user's) is carried over untouched (:mod:`nlp_tasks.outdir`). Loading checks that the folder holds the right task and
that vocabularies and labels match the weights (:meth:`Pipeline.check_consistency`).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import Any, ClassVar

from nlp_tasks import __version__
from nlp_tasks.config import Config
from nlp_tasks.errors import UserError
from nlp_tasks.safe_files import inspect_keras_archive, layer_sizes, parse_json
from nlp_tasks.vocab import Vocabulary

FORMAT = "nlp_tasks.pipeline"
FORMAT_VERSION = 1
META_FILE = "pipeline.json"
MODEL_FILE = "model.keras"
OUTPUT_LAYER = "output"  # name of the layer whose width must equal the number of labels
MAX_META_BYTES = 64 * 2**20  # pipeline.json holds a config, labels and metrics: kilobytes
MANY_LABELS = 1_000  # more labels than this is likely a wrong column: a warning on stderr
VOCAB_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")  # vocabulary names stay inside the folder


@dataclasses.dataclass
class TrainingData:
    """What :meth:`Pipeline.read_training_data` read: the task's own objects (examples,
    sentences, pieces) in ``train`` and ``dev``; ``fingerprint``, the parts that identify the
    data of a run (:func:`nlp_tasks.checkpoint.fingerprint`); ``counts``, figures for the
    summary (``{"train_examples": 8544}``); ``extra``, anything else the task needs later."""

    train: Any
    dev: Any = None
    fingerprint: Any = None
    counts: dict = dataclasses.field(default_factory=dict)
    extra: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class TrainingPlan:
    """How :meth:`Pipeline.fit` trains: ``batches`` (what ``keras.Model.fit`` takes), the
    ``loss`` and Keras ``metrics``; validation either as ``validation`` data for Keras or as
    ``validation_figures``, a function computing ``{name: value}`` after each epoch (a dev F1);
    and any other Keras ``callbacks``."""

    batches: Any
    loss: Any
    metrics: list = dataclasses.field(default_factory=list)
    validation: Any = None
    validation_figures: Any = None
    callbacks: list = dataclasses.field(default_factory=list)


def embedding_layer_name(vocab_name: str) -> str:
    """Name a task gives the Embedding layer that reads vocabulary ``vocab_name``."""
    return f"embed_{vocab_name}"


class Pipeline:
    """Base class: subclasses set ``task`` and ``config_class`` and implement the task API."""

    task: ClassVar[str] = ""
    config_class: ClassVar[type[Config]] = Config

    def __init__(self, config: Config | None = None):
        if config is None:
            config = self.config_class()
        if not isinstance(config, self.config_class):
            raise UserError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config
        from nlp_tasks.runtime import import_tensorflow

        import_tensorflow()  # quietly, before any task code pulls in Keras
        self.vocabs: dict[str, Vocabulary] = {}
        self.labels: list[str] = []
        self.metrics: dict[str, Any] = {}
        self.model = None  # a keras.Model once built or loaded

    # ------------------------------------------------------------ the task API
    # The validation figure that picks the best epoch (a key of the epoch logs) and its direction.
    monitor: ClassVar[str] = "val_loss"
    mode: ClassVar[str] = "min"

    def build_model(self):
        """Create ``self.model`` from the config, vocabularies and labels."""
        raise NotImplementedError

    def fit(self, train, dev=None, *, out_dir: str | Path | None = None, verbose: int = 1, run=None,
            **options) -> dict:
        """Train on ``train``, keep the epoch with the best validation figure; returns a summary.

        The same steps for every task: read the data and set the labels and vocabularies
        (:meth:`read_training_data`), seed, build the model in the distribution strategy's scope
        (:meth:`build_training_model`), say how to train it (:meth:`training_plan`), train with
        :func:`nlp_tasks.training.fit` (checkpoints in ``out_dir``, resume, early stopping), and
        record the summary in ``self.metrics["training"]`` (:meth:`finish_training`). ``run``: the
        :class:`nlp_tasks.distribute.RunContext` (strategy, precision, TensorBoard, chief; by
        default one local device). ``options`` are the task's own (``embeddings=``, NER and sentiment).
        """
        import time

        from nlp_tasks import training
        from nlp_tasks.distribute import LOCAL
        from nlp_tasks.runtime import set_seed

        cfg, run = self.config, run or LOCAL
        data = self.read_training_data(train, dev, **options)
        set_seed(cfg.seed, deterministic=cfg.deterministic)  # the weights are drawn when the model is built
        with run.scope():  # one replica per device under --strategy mirrored
            model = self.build_training_model(data, run)
        plan = self.training_plan(data, model)
        start = time.perf_counter()
        summary = training.fit(model, plan.batches, validation=plan.validation, config=cfg.training(verbose=verbose),
                               loss=plan.loss, metrics=plan.metrics, monitor=self.monitor, mode=self.mode,
                               out_dir=out_dir, callbacks=plan.callbacks, validation_figures=plan.validation_figures,
                               run_key={"task": self.task, "config": cfg.to_dict(), "data": data.fingerprint},
                               run=run)
        summary["train_seconds"] = time.perf_counter() - start
        summary.update(data.counts)
        self.metrics = {"training": {k: v for k, v in summary.items() if k != "history"}}
        self.finish_training(data, model, summary)
        return summary

    def read_training_data(self, train, dev=None, **options) -> TrainingData:
        """Read ``train`` and ``dev``, set ``self.labels`` and ``self.vocabs`` from the training
        data, and check the dev data against them."""
        raise NotImplementedError

    def build_training_model(self, data: TrainingData, run):
        """The model that :meth:`fit` trains (by default :meth:`build_model`'s), built in
        ``run``'s strategy scope."""
        return self.build_model()

    def training_plan(self, data: TrainingData, model) -> TrainingPlan:
        """Batches, loss and validation for training ``model`` on ``data``."""
        raise NotImplementedError

    def finish_training(self, data: TrainingData, model, summary: dict) -> None:
        """After training: make ``self.model`` the model to save (by default the trained one)."""
        self.model = model

    def train(self, train, dev=None, test=None, *, out: str | Path, verbose: int = 1, run=None, **options) -> dict:
        """The whole job of ``nlp-tasks TASK train``: :meth:`fit` (checkpoints in ``out``), then
        :meth:`evaluate` ``test`` once with the best weights, record it (:meth:`test_summary`)
        and :meth:`save` the model to ``out``. Returns the summary, with ``"model"`` and ``"test"``."""
        summary = self.fit(train, dev, out_dir=out, verbose=verbose, run=run, **options)
        result = {"model": str(out), **{k: v for k, v in summary.items() if k != "history"}}
        if test is not None:
            self.metrics["test"] = result["test"] = self.test_summary(self.evaluate(test, split="test"))
        self.save(out, run=run)
        return result

    def test_summary(self, report: dict) -> dict:
        """What of an :meth:`evaluate` report is kept in ``metrics["test"]`` (all of it by default)."""
        return report

    def evaluate(self, data, split: str = "test") -> dict:
        raise NotImplementedError

    def predict(self, inputs):
        raise NotImplementedError

    def __call__(self, inputs, **options):
        return self.predict(inputs, **options)

    def set_labels(self, labels: list[str], what: str = "labels") -> None:
        """Use ``labels``; more than :data:`MANY_LABELS` of them (a text column read as labels,
        say) gets a one-line warning on stderr, since the output layer grows with them."""
        if len(labels) > MANY_LABELS:
            import sys

            print(f"warning: the training data has {len(labels):,} distinct {what} (more than {MANY_LABELS:,}); "
                  "is the label column right?", file=sys.stderr)
        self.labels = list(labels)

    def require_model(self):
        if self.model is None:
            raise UserError(f"this {self.task or 'pipeline'} has no model yet: train it or load a saved one")
        return self.model

    # ------------------------------------------------------------ save / load
    def save(self, path: str | Path, run=None) -> Path:
        """Write the model folder atomically; returns its path. (A non-chief worker of a
        multi-worker ``run`` writes nothing: the chief saves the shared model.)

        The folder must be new, empty or one that nlp-tasks wrote (:func:`nlp_tasks.outdir.claim`);
        everything in it that is not the model itself (logs, plots, the checkpoint, the user's own
        files) is kept as it is. A failed save (a full disk, say) leaves the folder as it was.
        """
        model = self.require_model()
        from nlp_tasks import outdir

        if run is not None and not run.chief:
            return Path(path)
        folder = outdir.claim(path, "model folder")
        tmp = outdir.make_temporary(folder)
        try:
            model.save(tmp / MODEL_FILE)
            for name, vocab in self.vocabs.items():
                vocab.save(tmp / f"vocab-{name}.json")
            meta = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "task": self.task,
                "nlp_tasks_version": __version__,
                "config": self.config.to_dict(),
                "labels": list(self.labels),
                "vocabularies": sorted(self.vocabs),
                "metrics": self.metrics,
            }
            outdir.write_marker(tmp)
            # Written last: a temporary folder holding it is a complete model (outdir.recover).
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            outdir.replace_directory(tmp, folder, own=outdir.model_files)
        except OSError as err:
            shutil.rmtree(tmp, ignore_errors=True)
            kept = " (the training checkpoint in it is kept: run the same command again to save)" if (
                folder / "checkpoint").is_dir() else ""
            raise UserError(f"could not save the model to {folder}: {err.strerror or err}; the folder is as it "
                            f"was{kept}") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            outdir.release(folder)
        return Path(path)

    @classmethod
    def read_meta(cls, path: str | Path) -> dict:
        """``pipeline.json`` of a model folder, checked; a clear error when it is not one."""
        path = Path(path)
        if not path.exists():
            raise UserError(f"{path}: model folder not found")
        if not path.is_dir():
            raise UserError(f"{path}: not a model folder (it is a file)")
        meta_path = path / META_FILE
        if not meta_path.is_file():
            raise UserError(f"{path}: not a model folder ({META_FILE} is missing)")
        try:
            if meta_path.stat().st_size > MAX_META_BYTES:
                raise UserError(f"{meta_path}: model description larger than {MAX_META_BYTES} bytes")
            meta = parse_json(meta_path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise UserError(f"{meta_path}: corrupt model description (not valid UTF-8 JSON)") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise UserError(f"{meta_path}: not an nlp-tasks model description")
        if meta.get("version") != FORMAT_VERSION:
            raise UserError(f"{meta_path}: model format version {meta.get('version')!r} is not supported")
        if not isinstance(meta.get("task"), str):
            raise UserError(f"{meta_path}: 'task' must be a task name, got {meta.get('task')!r}"[:300])
        if not isinstance(meta.get("metrics", {}), (dict, type(None))):
            raise UserError(f"{meta_path}: 'metrics' must be an object")
        return meta

    @classmethod
    def load(cls, path: str | Path) -> Pipeline:
        """Load a saved folder: config, vocabularies, labels and weights, checked together.

        Called on :class:`Pipeline` itself it returns the right task's class (via the task
        registry); called on a task class it refuses a folder saved by another task.
        """
        path = Path(path)
        from nlp_tasks.outdir import recover_before_reading

        recover_before_reading(path)  # a save that a kill interrupted is finished or undone first
        meta = cls.read_meta(path)
        task = meta.get("task")
        target = cls
        if not cls.task:
            from nlp_tasks.registry import pipeline_class

            target = pipeline_class(task)
        elif task != cls.task:
            raise UserError(f"{path} holds a {task!r} model, not a {cls.task!r} model")
        config = target.config_class.from_dict(meta.get("config", {}), source=f"{path / META_FILE}: config")
        pipe = target(config)
        labels = meta.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise UserError(f"{path / META_FILE}: 'labels' must be a list of strings")
        pipe.labels = labels
        pipe.metrics = meta.get("metrics", {}) or {}
        names = meta.get("vocabularies", [])
        if not isinstance(names, list):
            raise UserError(f"{path / META_FILE}: 'vocabularies' must be a list of names")
        for name in names:
            if not isinstance(name, str) or not VOCAB_NAME.fullmatch(name):
                raise UserError(f"{path / META_FILE}: vocabulary name {name!r} is not a plain name "
                                "(letters, digits, _): a model folder's files never lie outside it")
        pipe.vocabs = {name: Vocabulary.load(path / f"vocab-{name}.json") for name in names}
        target.register_layers()
        keras_config, stored = inspect_keras_archive(path / MODEL_FILE)
        pipe.check_model_config(keras_config, stored, source=str(path))
        pipe.model = load_keras_model(path / MODEL_FILE)
        pipe.check_consistency(source=str(path))
        return pipe

    @classmethod
    def register_layers(cls) -> None:
        """Import the modules that register a task's own Keras layers (before loading a model).

        ``safe_mode`` loading only builds registered classes; a task with layers of its own
        overrides this to import them.
        """

    def expected_layer_sizes(self) -> dict[str, dict[str, int | None]]:
        """``{layer name: {size field: value}}`` that the config, vocabularies and labels imply
        for the saved Keras model (checked by :meth:`check_model_config`); tasks override it."""
        return {}

    def check_model_config(self, keras_config: dict, stored: int, source: str = "model") -> None:
        """Refuse a Keras model config whose sizes do not fit this pipeline, before Keras builds it.

        Three rules, so that a tampered ``model.keras`` cannot make Keras allocate more than
        its weight file holds:

        - every size field (``input_dim``, ``output_dim``, ``units``, ``vocab_size``, ``dim``,
          ``n_tags``) is a non-negative integer, and each ``embed_<name>`` layer reads as many
          tokens as vocabulary ``name`` holds;
        - the weights these sizes imply at the least (``input_dim * output_dim`` for an
          embedding, ``units * (units + 1)`` for a recurrent cell, ``units`` for any other
          layer) add up to no more than the ``stored`` values of ``model.weights.h5``;
        - each layer of :meth:`expected_layer_sizes` exists and every size field it names has
          the expected value wherever it occurs in that layer (a Bidirectional's two cells, say),
          no other layer holds a recurrent cell, and the cells are of the config's ``cell`` type.
        """
        layers = dict(layer_sizes(keras_config))
        implied = 0
        for name, parts in layers.items():
            for class_name, sizes in parts:
                for field, value in sizes.items():
                    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                        raise UserError(f"{source}: the model's layer {name!r} has {field} {value!r}, "
                                        "not a non-negative integer")
                if "input_dim" in sizes and "output_dim" in sizes:
                    implied += sizes["input_dim"] * sizes["output_dim"]
                elif "vocab_size" in sizes and "dim" in sizes:
                    implied += sizes["vocab_size"] * sizes["dim"]
                elif "units" in sizes and class_name.endswith("Cell"):
                    implied += sizes["units"] * (sizes["units"] + 1)
                else:
                    implied += max(sizes.values(), default=0)
        for vocab_name, vocab in self.vocabs.items():  # the message of check_consistency, before building
            name = embedding_layer_name(vocab_name)
            for _, sizes in layers.get(name, []):
                size = sizes.get("input_dim", sizes.get("vocab_size"))
                if size is not None and size != len(vocab):
                    raise UserError(f"{source}: vocabulary {vocab_name!r} has {len(vocab)} tokens but the model's "
                                    f"embedding {name!r} was trained for {size}")
        if implied > stored:
            raise UserError(f"{source}: the model's config implies at least {implied:,} weights but its weight "
                            f"file holds {stored:,}; the model folder is damaged or was tampered with")
        expected_layers = self.expected_layer_sizes()
        cell = getattr(self.config, "cell", None)
        if isinstance(cell, str):
            from nlp_tasks.layers.recurrent import CELL_TYPES

            wanted = CELL_TYPES[cell].__name__ if cell in CELL_TYPES else None
            found = sorted({c for parts in layers.values() for c, _ in parts if c.endswith("Cell")} - {wanted})
            if wanted and found:
                raise UserError(f"{source}: the model's recurrent cells are {', '.join(found)} but {META_FILE} says "
                                f"cell {cell!r}")
        for name, parts in layers.items():
            if expected_layers and name not in expected_layers and any(c.endswith("Cell") for c, _ in parts):
                raise UserError(f"{source}: the model has a recurrent layer {name!r} that its {self.task} config "
                                "does not imply (more layers than the config says)")
        for name, expected in expected_layers.items():
            if name not in layers:
                raise UserError(f"{source}: the model has no layer {name!r}, which this {self.task} config implies")
            for field, value in expected.items():
                found = {sizes[field] for _, sizes in layers[name] if field in sizes}
                if name == OUTPUT_LAYER and self.labels and value == len(self.labels) and len(found) == 1 \
                        and found != {value}:
                    raise UserError(f"{source}: {len(self.labels)} labels are saved but the model's output layer "
                                    f"has {found.pop()} units")
                if found != ({value} if value is not None else set()):
                    raise UserError(f"{source}: the model's layer {name!r} has {field} "
                                    f"{', '.join(map(str, sorted(found))) or 'none'} but {META_FILE} implies {value}")

    def check_consistency(self, source: str = "model") -> None:
        """Refuse a folder whose vocabularies or labels do not fit its weights.

        Every vocabulary ``name`` must match the ``input_dim`` of the Embedding layer named
        ``embed_<name>`` (when the model has one), and the labels must match the width of the
        layer named ``output``. Tasks add their own checks by extending this method.
        """
        model = self.require_model()
        layers = {layer.name: layer for layer in _all_layers(model)}
        for name, vocab in self.vocabs.items():
            layer = layers.get(embedding_layer_name(name))
            if layer is not None and getattr(layer, "input_dim", len(vocab)) != len(vocab):
                raise UserError(
                    f"{source}: vocabulary {name!r} has {len(vocab)} tokens but the model's embedding "
                    f"{layer.name!r} was trained for {layer.input_dim}"
                )
        output = layers.get(OUTPUT_LAYER)
        if output is not None and self.labels:
            width = output.output.shape[-1] if hasattr(output, "output") else None
            if width is not None and width != len(self.labels):
                raise UserError(
                    f"{source}: {len(self.labels)} labels are saved but the model's output layer has {width} units"
                )


def _all_layers(model):
    """Every layer, descending into nested models and wrappers such as Bidirectional."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def load_keras_model(path: Path):
    """``keras.saving.load_model(path, safe_mode=True, compile=False)`` with one-line errors.

    ``safe_mode`` refuses Lambda layers and any other deserialisation that would run code from
    the file; a class that is not registered (a custom layer we do not know) is refused too.
    The archive itself is checked first (:func:`nlp_tasks.safe_files.inspect_keras_archive`:
    a link, an empty, truncated or non-zip file is refused saying which).
    """
    from nlp_tasks.runtime import import_tensorflow

    import_tensorflow()
    import keras

    import nlp_tasks.layers  # noqa: F401  (registers our layers before deserialising)

    path = Path(path)
    inspect_keras_archive(path)
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # Keras raises ValueError/TypeError/OSError/zipfile errors here
        reason = " ".join(str(err).split())
        if "Lambda" in reason or "safe_mode" in reason:
            reason = "it contains a Lambda layer or other code, which nlp-tasks never executes"
        elif "Could not locate" in reason or "Unknown" in reason:
            reason = "it contains a layer or object that nlp-tasks does not know"
        raise UserError(f"{path}: refusing to load model: {reason[:300]}") from None
