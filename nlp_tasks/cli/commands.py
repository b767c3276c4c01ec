"""A task's ``train``, ``evaluate``, ``predict`` and ``export`` commands, built from its Pipeline class.

Every task gets the same three doors into its pipeline; a task's own CLI module supplies only
what differs (how results print, options of its own, extra verbs such as ``sample``)::

    cli.add_command(train_command("tasks.music:MusicPipeline", render=format_train))

A task registered without a CLI module gets all three from :func:`task_group`.

``train`` has one option per config setting (:func:`nlp_tasks.cli.options.config_options`),
so the command line and the Python API share every default; it calls
:meth:`nlp_tasks.pipeline.Pipeline.train` (fit, test, record, save) and prints the result.
Nothing here imports TensorFlow: the pipeline's own module is imported when a command is built
(task modules import TensorFlow only when a pipeline is made), TensorFlow when one runs.
"""

from __future__ import annotations

import itertools
import json
from typing import Callable

import click

from nlp_tasks.cli import options
from nlp_tasks.registry import resolve


def _default_render(result, pipe=None) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False, default=str)


def train_command(pipeline: str, *, render: Callable[[dict], str] | None = None, extra=(),
                  configure: Callable | None = None, train_help: str | None = None, dev_help: str | None = None,
                  train_required: bool = True, precheck: Callable | None = None) -> click.Command:
    """``train --train --dev --test --out [settings] [--preset]`` for the Pipeline ``"module:Class"``.

    ``extra``: click options of the task's own, passed to ``Pipeline.train`` as keyword
    arguments (``--embeddings``); ``configure(config, extra_values, given) -> (config, train,
    dev, test)`` adjusts the config or the data options before training (``given``: the
    settings set on the command line); ``render(result, pipe) -> str`` prints the result (JSON with
    ``--json`` in any case); ``precheck(options)`` refuses a wrong combination of options (a
    UserError) before TensorFlow starts."""
    cls = resolve(pipeline)
    config_class = cls.config_class
    presets = getattr(config_class, "presets", {}) or {}

    def command(train, dev, test, out, quiet, as_json, run, preset=None, **values):
        config, given = options.config_from(config_class, values, presets, preset)
        if configure is not None:
            config, train, dev, test = configure(config, values, given, train, dev, test)
        pipe = cls(config)
        result = pipe.train(train, dev, test, out=out, verbose=options.verbosity(quiet, as_json), run=run,
                            command=options.command_line(), **values)
        click.echo(json.dumps(result, indent=2) if as_json else (render or _default_render)(result, pipe))

    command.__doc__ = (f"Train a {cls.task} model on TRAIN, keep the best epoch by its validation figure "
                       f"({cls.monitor}), test it on TEST once, save it to OUT.")
    decorators = [
        click.command("train"),
        click.option("--train", "train", metavar="SOURCE", required=train_required, default=None,
                     help=train_help or "Training data: a local file or folder, or a Hugging Face dataset name."),
        click.option("--dev", "dev", metavar="SOURCE", default=None, help=dev_help or options.DEV_HELP),
        options.test, options.out,
        options.config_options(config_class), options.preset(presets), *extra,
        options.sources_checked, *([_prechecked(precheck)] if precheck else []), options.distribution,
        *_reading(cls), options.quiet, options.json_output,
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def _prechecked(check: Callable):
    """A command that calls ``check(options)`` first (placed outside :func:`options.distribution`:
    before TensorFlow starts)."""
    import functools

    def decorate(command):
        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            check(kwargs)
            return command(*args, **kwargs)

        return wrapper

    return decorate


def _reading(cls) -> list:
    """The data-reading options, for a task whose readers take line-based files."""
    return [options.reading] if cls.reads_lines else []


def evaluate_command(pipeline: str, *, render: Callable | None = None, help: str | None = None,
                     data_help: str | None = None, extra=()) -> click.Command:
    """``evaluate MODEL_DIR --data DATA``: the metrics of :meth:`Pipeline.evaluate`; ``extra``:
    click options of the task's own, passed to ``evaluate`` as keyword arguments;
    ``render(report, pipe) -> str`` prints the report (JSON with ``--json`` in any case)."""
    cls = resolve(pipeline)

    def evaluate(model_dir, data, as_json, **values):
        options.check_sources(data)  # a mistyped path in a second, not after TensorFlow's start-up
        pipe = cls.load(model_dir)
        report = pipe.evaluate(data, **values)
        click.echo(json.dumps(report, indent=2) if as_json else (render or _default_render)(report, pipe))

    decorators = [click.command("evaluate", help=help or f"Metrics of the {cls.task} model MODEL_DIR on DATA."),
                  click.argument("model_dir", type=click.Path()),
                  click.option("--data", "data", metavar="SOURCE", required=True,
                               help=data_help or "Data to evaluate on."),
                  *extra, *_reading(cls), options.json_output]
    for decorate in reversed(decorators):
        evaluate = decorate(evaluate)
    return evaluate


def predict_command(pipeline: str, *, render: Callable | None = None, help: str | None = None) -> click.Command:
    """``predict MODEL_DIR [TEXTS...] [--input FILE]``: :meth:`Pipeline.predict` of each text;
    ``render(text, result) -> str`` prints one (JSON with ``--json`` or without a renderer)."""
    cls = resolve(pipeline)

    @click.command("predict")
    @click.argument("model_dir", type=click.Path())
    @options.texts("A file with one input per line.")
    @options.json_output
    def predict(model_dir, texts, input_file, as_json):
        blocks = options.text_blocks(texts, input_file, "predict")  # written block by block: any size of --input
        first = next(blocks)  # "nothing to predict" before the model is loaded
        pipe = cls.load(model_dir)
        pairs = ((text, result) for block in itertools.chain([first], blocks)
                 for text, result in zip(block, pipe.predict(block)))
        if as_json or render is None:
            options.echo_json_items(result for _, result in pairs)
            return
        for text, result in pairs:
            click.echo(render(text, result))

    predict.help = help or f"Predictions of the {cls.task} model MODEL_DIR for TEXTS (or each line of --input)."
    return predict


def export_command(pipeline: str) -> click.Command:
    """``export MODEL_DIR --format savedmodel|litert|onnx --out PATH``: :meth:`Pipeline.export`."""
    from nlp_tasks.export import FORMATS, QUANTIZATIONS, check_quantize
    from nlp_tasks.export.int8 import quantization_line

    @click.command("export")
    @click.argument("model_dir", type=click.Path())
    @click.option("--format", "fmt", type=click.Choice(FORMATS), default="savedmodel", show_default=True,
                  help="SavedModel (TF Serving, any TensorFlow), LiteRT (model.tflite, built-in ops only) or ONNX "
                       "(one .onnx per endpoint).")
    @click.option("--out", "out", metavar="PATH", required=True,
                  help="Folder to write: new, empty, or an earlier export (which is replaced).")
    @click.option("--batch-size", "batch_size", type=int, default=1, show_default=True,
                  help="LiteRT only: the fixed number of rows per call.")
    @click.option("--length", "length", type=int, default=128, show_default=True,
                  help="LiteRT only: the fixed number of tokens per row of NER's tag_ids (the model also "
                       "holds tag_ids_8, _16, ... below it: export.json's length_buckets).")
    @click.option("--quantize", type=click.Choice(QUANTIZATIONS), default=None,
                  help="LiteRT and ONNX: int8 weights of the matrix products, float activations (dynamic range; "
                       "export.json says which weights stay float).")
    @options.json_output
    def export(model_dir, fmt, out, batch_size, length, quantize, as_json):
        check_quantize(fmt, quantize)  # before the model is read
        description = resolve(pipeline).load(model_dir).export(out, fmt, batch_size=batch_size, length=length,
                                                              quantize=quantize)
        if as_json:
            click.echo(json.dumps(description, indent=2, ensure_ascii=False))
            return
        click.echo(f"exported the {description['task']} model {model_dir} as {fmt} to {out}")
        for name, endpoint in description["endpoints"].items():
            click.echo(f"  {name:13} {endpoint['file']:16} {endpoint['doc']}")
        if quantize:
            click.echo(f"  {quantization_line(description['quantization'])}")

    export.help = ("Write the model MODEL_DIR as a SavedModel, LiteRT or ONNX model that runs "
                   "without nlp-tasks (export.json in OUT describes its inputs and outputs).")
    return export


GENERIC = {"export": export_command}


def add_generic_commands(group: click.Group, pipeline: str) -> click.Group:
    """Give a task's group the commands every task has (``export``) that it does not define."""
    for name, make in GENERIC.items():
        if name not in group.commands:
            group.add_command(make(pipeline))
    return group


def task_group(pipeline: str, help: str) -> click.Group:
    """The command group of a task registered without CLI code of its own: the generic
    ``train``, ``evaluate``, ``predict`` and ``export``, results printed as JSON."""
    group = click.Group(help=help)
    for make in (train_command, evaluate_command, predict_command):
        group.add_command(make(pipeline))
    return add_generic_commands(group, pipeline)
