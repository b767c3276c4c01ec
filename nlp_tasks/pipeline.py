"""The Pipeline base class and the saved-model folder every task shares.

One interface for every task::

    pipe = SomePipeline(config)            # or SomePipeline.load("model-dir")
    pipe.fit(train, dev)                   # -> dict of training results
    pipe.evaluate(data)                    # -> dict of metrics
    pipe.predict(["a text", ...])          # plain Python in, plain Python out
    pipe("a text")                         # same as predict
    pipe.save("model-dir")

Inference is one template, written once (:class:`nlp_tasks.inference.Inference`, which
``Pipeline`` extends): ``predict`` splits one input or a list, and a task writes ``preprocess``
and ``postprocess`` (and, where the defaults do not fit, the batching hooks).

A saved model is one folder that loads with one call and never runs code from the file::

    model-dir/
      pipeline.json        format, task, nlp-tasks version, config, labels, vocabularies, metrics
      model.keras          the Keras model, loaded with safe_mode=True
      vocab-<name>.json    one file per vocabulary (words, chars, ...)
      README.md            the model card (nlp_tasks.export.card), unless the user has a README.md there

Saving writes a temporary folder beside the target and renames it into place, so an existing
model is never left half-overwritten; everything else already in the folder (the training log,
plots, the checkpoint, files of the user's) is carried over untouched (:mod:`nlp_tasks.outdir`).
Loading checks that the folder holds the right task and
that vocabularies and labels match the weights (:meth:`Pipeline.check_consistency`).
"""

from __future__ import annotations

import abc
import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import Any, ClassVar

from nlp_tasks import __version__, model_checks
from nlp_tasks.config import Config
from nlp_tasks.errors import UserError
from nlp_tasks.inference import Inference
from nlp_tasks.model_checks import META_FILE, load_keras_model
from nlp_tasks.safe_files import inspect_keras_archive, parse_json
from nlp_tasks.training import TrainingPlan  # noqa: F401 - tasks import it from here too
from nlp_tasks.vocab import Vocabulary

FORMAT = "nlp_tasks.pipeline"
FORMAT_VERSION = 1
MODEL_FILE = "model.keras"
MAX_META_BYTES = 64 * 2**20  # pipeline.json holds a config, labels and metrics: kilobytes
MANY_LABELS = 1_000  # more labels than this is likely a wrong column: a warning on stderr
VOCAB_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")  # vocabulary names stay inside the folder


@dataclasses.dataclass
class TrainingData:
    """What :meth:`Pipeline.read_training_data` read: the task's own objects (examples,
    sentences, pieces) in ``train`` and ``dev``; ``fingerprint``, the parts that identify the
    data of a run (:func:`nlp_tasks.checkpoint.fingerprint`); ``counts``, figures for the
    summary (``{"train_examples": 8544}``); ``build``, keyword arguments for ``build_model``
    (pretrained ``vectors``, say)."""

    train: Any
    dev: Any = None
    fingerprint: Any = None
    counts: dict = dataclasses.field(default_factory=dict)
    build: dict = dataclasses.field(default_factory=dict)


class Pipeline(Inference):
    """Base class: subclasses set ``task`` and ``config_class`` and implement the abstract hooks:
    :meth:`build_model`, :meth:`read_training_data`, :meth:`training_plan` and :meth:`evaluate`
    (training and testing), :meth:`preprocess` and :meth:`postprocess` (the inference template,
    :meth:`predict`). The other hooks have defaults that a task overrides where they do not fit."""

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

    @abc.abstractmethod
    def build_model(self):
        """Create ``self.model`` from the config, vocabularies and labels."""

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
        import sys
        import time

        from nlp_tasks import training
        from nlp_tasks.distribute import LOCAL
        from nlp_tasks.runtime import set_seed

        cfg, run = self.config, run or LOCAL
        data = self.read_training_data(train, dev, **options)
        set_seed(cfg.seed, deterministic=cfg.deterministic)  # once: the weights are drawn when the model is built
        with run.scope():  # one replica per device under --strategy mirrored
            model = self.build_training_model(data, run)
        plan = self.training_plan(data, model)
        start = time.perf_counter()
        summary = training.fit(model, plan, cfg, monitor=self.monitor, mode=self.mode, out_dir=out_dir, run=run,
                               run_key={"task": self.task, "config": cfg.to_dict(), "data": data.fingerprint},
                               stream=sys.stdout if verbose else None, bar=verbose == 1)
        summary["train_seconds"] = time.perf_counter() - start
        summary.update(data.counts)
        self.metrics = {"training": {k: v for k, v in summary.items() if k != "history"}}
        self.finish_training(data, model, summary)
        return summary

    @abc.abstractmethod
    def read_training_data(self, train, dev=None, **options) -> TrainingData:
        """Read ``train`` and ``dev``, set ``self.labels`` and ``self.vocabs`` from the training
        data, and check the dev data against them."""

    def build_training_model(self, data: TrainingData, run):
        """The model that :meth:`fit` trains (by default ``build_model(**data.build)``), built in
        ``run``'s strategy scope."""
        return self.build_model(**data.build)

    @abc.abstractmethod
    def training_plan(self, data: TrainingData, model) -> TrainingPlan:
        """Batches, loss and validation for training ``model`` on ``data``."""

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

    @abc.abstractmethod
    def evaluate(self, data, split: str = "test") -> dict:
        """Figures of the model on labelled ``data`` (a path, a hub name, Python examples)."""

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
            from nlp_tasks.export import card

            existing = folder / card.CARD
            if not (existing.exists() or existing.is_symlink()) or card.is_ours(existing):
                (tmp / card.CARD).write_text(card.model_card(self), encoding="utf-8")  # a user's README.md stays
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

    # ------------------------------------------------------------ export
    def export(self, path: str | Path, format: str = "savedmodel", batch_size: int = 1, length: int = 128) -> dict:
        """Write the model to ``path`` as a SavedModel, LiteRT or ONNX model that runs without
        nlp-tasks (:mod:`nlp_tasks.export`); returns the export's description (``export.json``).
        ``batch_size``, ``length``: the fixed batch of a LiteRT model and the fixed time dimension
        of those of its endpoints that need one (NER's); other formats take any shape."""
        from nlp_tasks.export import export

        return export(self, path, format, batch_size, length)

    def export_spec(self):
        """What an export of this task offers: a :class:`nlp_tasks.export.ExportSpec` of graph
        endpoints (tasks override it)."""
        raise UserError(f"a {self.task or 'pipeline'} model cannot be exported")

    def serve_spec(self):
        """What ``nlp-tasks serve`` offers for this model over HTTP: a
        :class:`nlp_tasks.serve.spec.ServeSpec`, made by the function its task registered
        (``TaskEntry.serve``)."""
        from nlp_tasks.registry import entries, resolve

        entry = entries().get(self.task)
        if entry is None or not entry.serve:
            raise UserError(f"a {self.task or 'pipeline'} model cannot be served (its task registers no serve spec)")
        return resolve(entry.serve)(self)

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
        if meta_path.stat().st_size > MAX_META_BYTES:
            raise UserError(f"{meta_path}: model description larger than {MAX_META_BYTES} bytes")
        try:
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
        """Refuse a Keras model config whose sizes do not fit this pipeline, before Keras builds
        it (:func:`nlp_tasks.model_checks.check_model_config`)."""
        model_checks.check_model_config(self, keras_config, stored, source)

    def check_consistency(self, source: str = "model") -> None:
        """Refuse a folder whose vocabularies or labels do not fit its weights
        (:func:`nlp_tasks.model_checks.check_consistency`); tasks add their own checks by
        extending this method."""
        model_checks.check_consistency(self, source)
