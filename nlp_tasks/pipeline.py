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
      README.md            the model card (nlp_tasks.saving.card), unless the user has a README.md there

The folder has one owner, :mod:`nlp_tasks.saving`: its names (:mod:`~nlp_tasks.saving.layout`),
writing and reading it (:mod:`~nlp_tasks.saving.folder`), its card; :meth:`Pipeline.save`,
:meth:`Pipeline.read_meta` and :meth:`Pipeline.load` call into it. Saving writes a temporary
folder beside the target and renames it into place, so an existing model is never left
half-overwritten; everything else already in the folder (the training log, plots, the
checkpoint, files of the user's) is carried over untouched (:mod:`nlp_tasks.saving.outdir`). Loading
checks that the folder holds the right task and that vocabularies and labels match the weights
(:meth:`Pipeline.check_consistency`).

The output folder's lock is held by one scope: :meth:`Pipeline.train` holds it across fit, test
and save; a :meth:`Pipeline.fit` or :meth:`Pipeline.save` alone takes and releases its own.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import os
from pathlib import Path
from typing import Any, ClassVar

from nlp_tasks.config import Config
from nlp_tasks.errors import UserError
from nlp_tasks.inference import Inference
from nlp_tasks.saving import folder as saved
from nlp_tasks.saving import model_checks
from nlp_tasks.text.vocab import Vocabulary
from nlp_tasks.training import TrainingPlan  # noqa: F401 - tasks import it from here too

MANY_LABELS = 1_000  # more labels than this is likely a wrong column: a warning on stderr


@dataclasses.dataclass
class TrainingData:
    """What :meth:`Pipeline.read_training_data` read: the task's own objects (examples,
    sentences, pieces) in ``train`` and ``dev``; ``fingerprint``, the parts that identify the
    data of a run (:func:`nlp_tasks.saving.checkpoint.fingerprint`); ``counts``, figures for the
    summary (``{"train_examples": 8544}``); ``build``, keyword arguments for ``build_model``
    (pretrained ``vectors``, say)."""

    train: Any
    dev: Any = None
    fingerprint: Any = None
    counts: dict = dataclasses.field(default_factory=dict)
    build: dict = dataclasses.field(default_factory=dict)


def data_name(source) -> str:
    """How a model card names a data source: a hub or ``builtin:`` name, or a relative path, as
    given; an absolute path by its file name only (a card is shared: it does not disclose the
    trainer's file system); Python examples by their number."""
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        return Path(text).name if os.path.isabs(text) else text
    try:
        return f"{len(source):,} examples given in Python"
    except TypeError:
        return "examples given in Python"


class Pipeline(Inference):
    """Base class: subclasses set ``task`` and ``config_class`` and implement the abstract hooks:
    :meth:`build_model`, :meth:`read_training_data`, :meth:`training_plan` and :meth:`evaluate`
    (training and testing), :meth:`preprocess` and :meth:`postprocess` (the inference template,
    :meth:`predict`). The other hooks have defaults that a task overrides where they do not fit."""

    task: ClassVar[str] = ""
    config_class: ClassVar[type[Config]] = Config
    # The model card's words for this task (nlp_tasks.saving.card): the Hugging Face pipeline tag,
    # one line on what the model does, and what holds for a model trained on any data of the task.
    card_tag: ClassVar[str] = "other"
    # Whether the task's data readers take line-based text files (its train and evaluate commands
    # then have --max-example-chars and --on-bad-lines; music reads MIDI and piano-roll JSON).
    reads_lines: ClassVar[bool] = True
    card_summary: ClassVar[str] = ""  # "" -> "A model of the task `TASK`."
    card_limits: ClassVar[str] = ("It knows only what its training data shows: expect it to do worse on input "
                                  "unlike that data (another domain, style or spelling). The metrics above were "
                                  "measured on the data the training run was given, not on yours.")

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
        ``out_dir`` is claimed and locked for the run (:func:`nlp_tasks.saving.outdir.held`) and released
        when ``fit`` returns or raises, unless an enclosing scope holds it (:meth:`train`).
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
                               stream=sys.stdout if verbose else None, bar=verbose == 1,
                               title=f"{self.task}: training curves ({Path(out_dir).resolve().name})"
                               if out_dir else None)
        summary["train_seconds"] = time.perf_counter() - start
        summary.update(data.counts)
        self.metrics = {"training": {k: v for k, v in summary.items() if k != "history"}}
        self.metrics["training"]["data"] = {"train": data_name(train), **({"dev": data_name(dev)} if dev is not None
                                                                           else {})}
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

    def train(self, train, dev=None, test=None, *, out: str | Path, verbose: int = 1, run=None,
              command: str | None = None, **options) -> dict:
        """The whole job of ``nlp-tasks TASK train``: :meth:`fit` (checkpoints in ``out``), then
        :meth:`evaluate` ``test`` once with the best weights, record it (:meth:`test_summary`)
        and :meth:`save` the model to ``out``. Returns the summary, with ``"model"`` and ``"test"``.
        ``out`` is locked by one scope across fit, test and save: from fit's claim (after the data
        is read, so a data error leaves ``out`` untouched) to the end of the save
        (:func:`nlp_tasks.saving.folder.kept`); only the chief of a multi-worker ``run`` writes.
        ``command``: the command line that ran it, recorded for the model card (the CLI gives it)."""
        writes = run is None or run.chief
        with saved.kept(out) if writes else contextlib.nullcontext():
            summary = self.fit(train, dev, out_dir=out, verbose=verbose, run=run, **options)
            result = {"model": str(out), **{k: v for k, v in summary.items() if k != "history"}}
            if command:
                self.metrics["training"]["command"] = command
            if test is not None:
                self.metrics["test"] = result["test"] = self.test_summary(self.evaluate(test, split="test"))
                self.metrics["training"]["data"]["test"] = data_name(test)
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

        The folder must be new, empty or one that nlp-tasks wrote (:func:`nlp_tasks.saving.outdir.claim`);
        everything in it that is not the model itself (logs, plots, the checkpoint, the user's own
        files) is kept as it is. A failed save (a full disk, say) leaves the folder as it was. The
        folder's lock is taken for the save and released after it, unless an enclosing scope holds
        it (:meth:`train`). What is written: :func:`nlp_tasks.saving.folder.write`.
        """
        self.require_model()
        if run is not None and not run.chief:
            return Path(path)
        saved.write(self, path)
        return Path(path)

    # ------------------------------------------------------------ export
    def export(self, path: str | Path, format: str = "savedmodel", batch_size: int = 1, length: int = 128,
               quantize: str | None = None) -> dict:
        """Write the model to ``path`` as a SavedModel, LiteRT or ONNX model that runs without
        nlp-tasks (:mod:`nlp_tasks.export`); returns the export's description (``export.json``).
        ``batch_size``, ``length``: the fixed batch of a LiteRT model and the fixed time dimension
        of those of its endpoints that need one (NER's); other formats take any shape.
        ``quantize="int8"``: int8 weights, float activations (LiteRT and ONNX)."""
        from nlp_tasks.export import export

        return export(self, path, format, batch_size, length, quantize)

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
        """``pipeline.json`` of a model folder, checked; a clear error when it is not one
        (:func:`nlp_tasks.saving.folder.read_meta`)."""
        return saved.read_meta(path)

    @classmethod
    def load(cls, path: str | Path) -> Pipeline:
        """Load a saved folder: config, vocabularies, labels and weights, checked together.

        Called on :class:`Pipeline` itself it returns the right task's class (via the task
        registry); called on a task class it refuses a folder saved by another task. A save that
        a kill interrupted is finished or undone first (:func:`nlp_tasks.saving.folder.read`).
        """
        return saved.read(cls, path)

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
        it (:func:`nlp_tasks.saving.model_checks.check_model_config`)."""
        model_checks.check_model_config(self, keras_config, stored, source)

    def check_consistency(self, source: str = "model") -> None:
        """Refuse a folder whose vocabularies or labels do not fit its weights
        (:func:`nlp_tasks.saving.model_checks.check_consistency`); tasks add their own checks by
        extending this method."""
        model_checks.check_consistency(self, source)
