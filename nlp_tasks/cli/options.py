"""Command-line options spelled the same in every task.

Use them as decorators on a task's click commands::

    @cli.command()
    @click.argument("model_dir", type=click.Path())
    @options.data
    @options.json_output
    def evaluate(model_dir, data, as_json): ...

A ``train`` command's settings are not written here: :func:`config_options` makes one option
per field of the task's config (:mod:`nlp_tasks.cli.commands` builds the command).

Data options take a string, not a ``click.Path``: it may be a local file or folder or a
Hugging Face dataset name, and the task's reader says clearly which it could not find.
"""

from __future__ import annotations

import click

DEV_HELP = "Development (validation) data, used for early stopping and model selection."
test = click.option("--test", "test", metavar="FILE|DATASET", default=None,
                    help="Test data, evaluated once with the best model at the end.")
data = click.option("--data", "data", metavar="FILE|DATASET", required=True, help="Data to evaluate on.")
out = click.option("--out", "out", type=click.Path(file_okay=False, writable=True), required=True,
                   help="Output folder for the model, logs and metrics.")
json_output = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
quiet = click.option("--quiet", is_flag=True,
                     help="No progress while training (a bar on a terminal, else one line per epoch).")


# The arguments of the running ``nlp-tasks`` command (set by nlp_tasks.cli.main.main), recorded
# in a trained model's card as the command that made it.
COMMAND_LINE: list[str] = []


def command_line() -> str | None:
    """``nlp-tasks ARGS...`` of the running command, quoted for a shell; None outside the CLI."""
    import shlex

    return "nlp-tasks " + shlex.join(COMMAND_LINE) if COMMAND_LINE else None


def texts(input_help: str = "A file with one text per line."):
    """``TEXTS...`` arguments and ``--input FILE`` (read with :func:`texts_from`)."""

    def decorate(command):
        command = click.option("--input", "input_file", type=click.Path(dir_okay=False), default=None,
                               help=input_help)(command)
        return click.argument("texts", nargs=-1)(command)

    return decorate


def verbosity(quiet: bool, as_json: bool) -> int:
    """``Pipeline.train``'s ``verbose`` for a train command: progress unless --quiet or --json."""
    return 0 if quiet or as_json else 1


def texts_from(texts, input_file, what: str = "predict") -> list[str]:
    """The TEXTS arguments followed by the non-empty lines of ``--input``; an error if none."""
    return [text for block in text_blocks(texts, input_file, what) for text in block]


PREDICT_BLOCK = 4096  # inputs predicted, and their results written, at a time


def text_blocks(texts, input_file, what: str = "predict", block: int | None = None, items: str = "texts"):
    """The TEXTS arguments followed by the non-empty lines of ``--input``, in lists of at most
    ``block`` (default :data:`PREDICT_BLOCK`): a command predicts a block and writes its results
    before it reads the next, so an input of any size runs in the memory of one block. An error
    if there are none (raised before any block is given)."""
    from nlp_tasks.data.readers import BadLines, numbered_lines
    from nlp_tasks.errors import UserError

    def lines():
        yield from texts
        if input_file:
            bad = BadLines(input_file)
            yield from (line for _, line in numbered_lines(input_file, bad) if line.strip())
            bad.report()

    block = block or PREDICT_BLOCK
    current: list[str] = []
    found = False
    for text in lines():
        current.append(text)
        found = True
        if len(current) >= block:
            yield current
            current = []
    if current:
        yield current
    if not found:
        raise UserError(f"nothing to {what}: give {items} as arguments or --input FILE")


def echo_json_items(items, indent: int = 2) -> None:
    """Print ``items`` (an iterable, consumed as it goes) as one JSON list, byte for byte what
    ``json.dumps(list(items), indent=indent, ensure_ascii=False)`` prints, without holding the list."""
    import json

    pad = " " * indent
    first = True
    for item in items:
        text = json.dumps(item, indent=indent, ensure_ascii=False).replace("\n", "\n" + pad)
        click.echo(("[\n" if first else ",\n") + pad + text, nl=False)
        first = False
    click.echo("[]" if first else "\n]")


def check_sources(*sources) -> None:
    """Refuse a data source that names no file, folder or hub data set, before any model or
    TensorFlow is loaded (the readers would say the same after seconds of start-up). Python
    objects and ``builtin:`` names are the task readers' to check."""
    from nlp_tasks.data.sources import resolve_source

    for source in sources:
        if isinstance(source, str) and not source.startswith("builtin:"):
            resolve_source(source)


def sources_checked(command):
    """A train command whose ``--train``, ``--dev`` and ``--test`` are checked first
    (:func:`check_sources`): a mistyped path in a second, not after TensorFlow's start-up. Outside
    :func:`distribution`, which sets up TensorFlow."""
    import functools

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        check_sources(*(kwargs.get(name) for name in ("train", "dev", "test")))
        return command(*args, **kwargs)

    return wrapper


def distribution(command):
    """``--strategy``, ``--cpu-replicas``, ``--mixed-precision``, ``--tensorboard``,
    ``--worker-timeout`` for a train command; set up before anything is built, the command gets
    the :class:`nlp_tasks.distribute.RunContext` as ``run``."""
    import functools

    @click.option("--strategy", type=click.Choice(["default", "mirrored", "multi-worker"]), default="default",
                  show_default=True,
                  help="mirrored: data-parallel over every local GPU (or --cpu-replicas CPU devices); "
                       "multi-worker: over several machines, each started with its TF_CONFIG; "
                       "--batch-size is the global batch, split across replicas.")
    @click.option("--cpu-replicas", type=click.IntRange(min=1), default=None,
                  help="With --strategy mirrored and no GPU: split the CPU into this many devices.")
    @click.option("--mixed-precision", type=click.Choice(["float16", "bfloat16"]), default=None,
                  help="Compute in 16 bits, keep float32 variables (GPUs; float16 scales the loss).")
    @click.option("--tensorboard", is_flag=True, help="Also write TensorBoard logs to OUT/tensorboard.")
    @click.option("--worker-timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
                  help="With --strategy multi-worker: how long to wait for every worker of TF_CONFIG to start "
                       "[default: NLP_TASKS_WORKER_TIMEOUT or 300].")
    @functools.wraps(command)
    def wrapper(*args, strategy, cpu_replicas, mixed_precision, tensorboard, worker_timeout, **kwargs):
        from nlp_tasks import distribute
        from nlp_tasks.cluster import guarded

        # Multi-worker: SIGINT/SIGTERM and a lost peer end the whole command with one line.
        with guarded(strategy == "multi-worker"):
            run = distribute.use(strategy, cpu_replicas, mixed_precision, tensorboard, worker_timeout)
            return command(*args, run=run, **kwargs)

    return wrapper


def reading(command):
    """``--max-example-chars`` and ``--on-bad-lines`` for a command that reads data files; the
    readers use them while the command runs (:func:`nlp_tasks.data.readers.reading_options`)."""
    import functools

    # Spelled out, not imported: nlp_tasks.data.readers imports NumPy, and --help stays instant
    # (tests/nlp_tasks/data/test_sources.py checks the figures against nlp_tasks.data.readers).
    @click.option("--max-example-chars", type=click.IntRange(min=1), default=None,
                  help="Refuse an example (line, text, sentence) longer than this many characters "
                       "[default: $NLP_TASKS_MAX_EXAMPLE_CHARS or 1,000,000].")
    @click.option("--on-bad-lines", type=click.Choice(["error", "skip"]), default="error", show_default=True,
                  help="A malformed line in a line-based file (label-text, CoNLL, CSV/TSV/JSON-lines): stop "
                       "with an error, or skip it (counted in one warning).")
    @functools.wraps(command)
    def wrapper(*args, max_example_chars, on_bad_lines, **kwargs):
        from nlp_tasks.data.readers import reading_options

        with reading_options(max_example_chars=max_example_chars, on_bad_lines=on_bad_lines):
            return command(*args, **kwargs)

    return wrapper


# ---------------------------------------------------------------- options from a config's settings
class OrNone(click.ParamType):
    """A value of ``inner`` type, or ``none`` for a setting that may be None."""

    def __init__(self, inner: click.ParamType):
        self.inner, self.name = inner, f"{inner.name}|none"

    def convert(self, value, param, ctx):
        if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
            return None
        return self.inner.convert(value, param, ctx)


def _param_type(field, hint):
    """The click type of a setting: its choices, or its numeric range, or plain text."""
    import typing

    meta = field.metadata
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    if meta.get("choices"):
        return click.Choice([str(c) for c in meta["choices"]])
    if base in (int, float) and meta.get("low") is None and meta.get("high") is None:
        return click.INT if base is int else click.FLOAT
    if base in (int, float):
        kind = click.IntRange if base is int else click.FloatRange
        return kind(meta.get("low"), meta.get("high"), min_open=bool(meta.get("low_open")),
                    max_open=bool(meta.get("high_open")))
    return click.STRING


def setting_options(config_class, exclude=()) -> list[tuple[list, dict]]:
    """One click option (its declarations and attributes) per setting of ``config_class``
    (:func:`nlp_tasks.config.setting`), but
    those in ``exclude``: ``--field-name`` with the field's default, help, range and choices. A
    setting that may be None takes ``none``; a boolean one is a ``--name/--no-name`` switch, or
    the one flag its setting names. Commands take them through :func:`config_options`; scripts
    with argparse (the benchmarks) render the same options (:func:`argparse_settings`)."""
    import typing

    from nlp_tasks.config import TrainSettings

    hints = typing.get_type_hints(config_class)
    shared = {f.name for f in TrainSettings.settings()}
    fields = sorted((f for f in config_class.settings() if f.name not in exclude),
                    key=lambda f: f.name in shared)  # the task's own first
    made = []
    for field in fields:
        meta, hint = field.metadata, hints[field.name]
        flag = "--" + field.name.replace("_", "-")
        help_text = meta["help"]
        if hint is bool and meta.get("flag"):  # one flag that sets the opposite of the default
            option = ([meta["flag"], field.name], dict(is_flag=True, flag_value=not field.default,
                                                       default=field.default, help=help_text))
        elif hint is bool:
            option = ([f"{flag}/--no-{flag[2:]}", field.name], dict(default=field.default, show_default=True,
                                                                    help=help_text))
        else:
            kind = _param_type(field, hint)
            if meta.get("none"):
                kind = OrNone(kind)
                help_text += f" 'none': {meta['none']}."
            option = ([flag, field.name], dict(type=kind, default=field.default,
                                               show_default="none" if field.default is None else True,
                                               help=help_text))
        made.append(option)
    return made


def config_options(config_class, exclude=()):
    """Decorator: the options of :func:`setting_options` on a command, which receives the values
    under the field names (training settings, generation settings, the server's limits alike);
    :func:`config_from` makes the settings of them."""

    def decorate(command):
        for decls, attrs in reversed(setting_options(config_class, exclude)):
            command = click.option(*decls, **attrs)(command)
        return command

    return decorate


def argparse_settings(parser, config_class, exclude=()) -> None:
    """The options of :func:`setting_options` on an ``argparse`` parser (the benchmarks'): the
    same flags, defaults, help and checks (each value converted by the setting's click type)."""
    import argparse

    def converter(option):
        def convert(text):
            try:
                return option.type.convert(text, option, None)
            except click.BadParameter as err:
                raise argparse.ArgumentTypeError(err.message) from None
        return convert

    for decls, attrs in setting_options(config_class, exclude):
        option = click.Option(decls, **attrs)
        if option.is_flag and option.secondary_opts:
            parser.add_argument(option.opts[0], dest=option.name, action=argparse.BooleanOptionalAction,
                                default=option.default, help=option.help)
        elif option.is_flag:
            parser.add_argument(option.opts[0], dest=option.name, action="store_const", const=option.flag_value,
                                default=option.default, help=option.help)
        else:
            parser.add_argument(option.opts[0], dest=option.name, type=converter(option), default=option.default,
                                help=option.help)


def preset(presets: dict[str, dict]):
    """``--preset NAME``: a named recipe (a benchmark's recorded settings) that replaces the
    defaults; options given on the command line still win."""
    if not presets:
        return lambda command: command
    described = "; ".join(f"{name}: " + ", ".join(f"{k}={v}" for k, v in values.items())
                          for name, values in presets.items())
    return click.option("--preset", type=click.Choice(sorted(presets)), default=None,
                        help=f"Start from a recorded recipe ({described}).")


def config_from(config_class, values: dict, presets: dict[str, dict] | None = None, chosen: str | None = None):
    """``(config, given)`` of a command's ``values`` (its settings' options, popped from
    ``values``): the preset ``chosen``, then every option the user gave on the command line
    (``given``: their names)."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    settings = {f.name: values.pop(f.name) for f in config_class.settings() if f.name in values}
    given = {name for name in settings
             if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)}
    if chosen:
        settings = {**settings, **{k: v for k, v in presets[chosen].items() if k not in given}}
    return config_class(**settings), given
