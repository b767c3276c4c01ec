"""``nlp-tasks charlm ...``: train, evaluate, generate (sample) text and score language models.

Each command parses its options and calls one :class:`tasks.charlm.LanguageModelPipeline`
method; TensorFlow is imported only when a command runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from nlp_tasks.cli import options
from nlp_tasks.cli.commands import evaluate_command, train_command
from nlp_tasks.config import MAX_BATCH_SIZE, SampleSettings
from nlp_tasks.errors import UserError

from .config import DATA_SETTINGS, LanguageModelConfig


@click.group()
def cli():
    """Language models over characters or words: train, generate novel text, score sentences."""


def format_train(result: dict, level: str) -> str:
    unit = "char" if level == "char" else "token"
    if "best" in result:
        lines = [f"saved to {result['model']} (best validation {result['best']:.4f} nats/{unit} at epoch "
                 f"{result['best_epoch']})"]
    else:
        lines = [f"saved to {result['model']} (no validation data)"]
    if "test" in result:
        lines.append(f"test {result['test']['nats_per_token']:.4f} nats/{unit}, "
                     f"{result['test']['bits_per_token']:.4f} bits/{unit}, "
                     f"perplexity {result['test']['perplexity']:.2f}")
    return "\n".join(lines)


def store_settings(config, values, given, train, dev, test):
    """Training on a prepared store (``charlm prepare``): its data settings, unless given here.
    ``--prepared DIR`` (or a training text of 1 GiB or more, into the cache folder) prepares the
    text into a store first, or trains on the one there when it holds the same text and settings."""
    import hashlib
    import sys

    from nlp_tasks.data.tokenstore import is_store, open_store
    from nlp_tasks.io.paths import cache_dir

    from . import prepared as stores

    folder = values.pop("prepared", None)
    if values.get("init_from"):
        from .init_from import configure as saved_shape

        if folder is not None or (train is not None and (stores.source_bytes(train) or 0) >= stores.AUTO_PREPARE_BYTES):
            raise UserError("--init-from trains on a text read into memory: a prepared store (--prepared, or a "
                            "text of 1 GiB or more) cannot be trained further yet")
        return saved_shape(values["init_from"], config, given), train, dev, test
    if train is not None and not is_store(train):
        size = stores.source_bytes(train)
        if folder is None and size is not None and size >= stores.AUTO_PREPARE_BYTES:
            key = json.dumps([str(Path(train).resolve()), {k: getattr(config, k) for k in DATA_SETTINGS}])
            folder = cache_dir() / "stores" / hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
            print(f"note: {train} is {size / 1e9:.1f} GB: preparing it once into {folder} (charlm prepare; "
                  "--prepared DIR puts it elsewhere)", file=sys.stderr)
        if folder is not None:
            train = str(stores.store_for(train, folder, config))
    if train is not None and is_store(train):
        stored = open_store(train, check_sources=False).settings
        config = config.replace(**{k: stored[k] for k in DATA_SETTINGS if k in stored and k not in given})
    return config, train, dev, test


cli.add_command(train_command(
    f"{__package__}:LanguageModelPipeline", render=lambda result, lm: format_train(result, lm.config.level),
    configure=store_settings,
    extra=[click.option("--init-from", default=None, metavar="MODEL_DIR",
                        help="Start from a saved language model and train it further on this text (ULMFiT's "
                             "fine-tuning on the target task's text): its settings (level, cell, units, layers, "
                             "embedding width, casing, direction) and weights, its vocabulary extended by the text's "
                             "new tokens (chosen by --max-vocab and --min-freq)."),
           click.option("--prepared", type=click.Path(file_okay=False), default=None, metavar="DIR",
                        help="Prepare the training text into a token store at DIR first (charlm prepare), or train on "
                             "the store there when it holds the same text and settings [default: a text of 1 GiB or "
                             "more is prepared into the cache folder].")],
    train_help="Training text: a UTF-8 file, a folder of files, a Hugging Face dataset with a text column, "
               "builtin:python-docs (ships with Python), or a store made by 'charlm prepare'.",
    dev_help="Validation text [default: the last --valid-fraction of the training text]."))


def format_evaluation(report: dict, lm) -> str:
    unit = "char" if lm.config.level == "char" else "token"
    return (f"{report['nats_per_token']:.4f} nats/{unit}  {report['bits_per_token']:.4f} bits/{unit}  "
            f"perplexity {report['perplexity']:.2f}  ({report['tokens']} {unit}s)")


cli.add_command(evaluate_command(
    f"{__package__}:LanguageModelPipeline", render=format_evaluation,
    help="Cross-entropy of MODEL_DIR on DATA: nats and bits per token (per character), perplexity.",
    extra=[click.option("--batch-size", type=click.IntRange(1, MAX_BATCH_SIZE), default=None,
                        help="Parallel rows [default: as trained].")]))


@cli.command()
@click.argument("source")
@click.option("--out", required=True, type=click.Path(), help="The store's folder (a new one, or a store to replace).")
@options.config_options(LanguageModelConfig, exclude=[f.name for f in LanguageModelConfig.settings()
                                                      if f.name not in DATA_SETTINGS])
@options.json_output
def prepare(source, out, as_json, **values):
    """Tokenise SOURCE once into a store of token ids that training reads through a memory map
    (for corpora bigger than memory): 'charlm train --train OUT' then trains on it."""
    from .prepared import prepare as prepare_store

    options.check_sources(source)
    config = options.config_from(LanguageModelConfig, values)[0]
    summary = prepare_store(source, out, config)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    parts = ", ".join(f"{name} {count:,}" for name, count in summary["tokens"].items())
    click.echo(f"prepared {out}: {parts} tokens of {summary['vocabulary']:,} ({summary['dtype']})")


def generate_command(name: str, old: bool = False) -> click.Command:
    """``charlm generate`` (and, with ``old``, its former name ``sample``: hidden, with a note)."""

    @click.command(name, hidden=old)
    @click.argument("model_dir", type=click.Path())
    @click.option("--prime", default="", help="Text to continue [default: none; a<0> = 0 and x<1> = 0].")
    @options.config_options(SampleSettings)
    @options.json_output
    def generate(model_dir, prime, as_json, **values):
        """Generate novel text from MODEL_DIR by sampling, feeding each sampled token back in."""
        from .pipeline import LanguageModelPipeline

        if old:  # one line on stderr: the output itself stays as it was
            click.echo(f"note: 'charlm {name}' is now 'charlm generate' (the old name will be removed in a later "
                       "release)", err=True)
        settings = options.config_from(SampleSettings, values)[0].resolved()  # checked before the model loads
        texts = LanguageModelPipeline.load(model_dir).generate_texts(prime, settings)
        if as_json:
            click.echo(json.dumps({"seed": settings.seed, "prime": prime, "samples": texts}, indent=2,
                                  ensure_ascii=False))
            return
        click.echo("\n\n".join(texts))

    return generate


cli.add_command(generate_command("generate"))
cli.add_command(generate_command("sample", old=True))  # its name until generation had one verb in every task


@cli.command()
@click.argument("model_dir", type=click.Path())
@options.texts()
@click.option("--per-token", is_flag=True, help="Show the probability of every token.")
@options.json_output
def score(model_dir, texts, input_file, per_token, as_json):
    """Log-probability and perplexity of TEXTS under MODEL_DIR; several texts are ranked."""
    from .pipeline import LanguageModelPipeline

    texts = options.texts_from(texts, input_file, "score")
    lm = LanguageModelPipeline.load(model_dir)
    results = rank(lm.score(texts))
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
        return
    for result in results:
        click.echo(format_score(result, per_token))


def rank(results: list[dict]) -> list[dict]:
    """Most probable first, each with its ``rank`` (1 = most probable)."""
    ordered = sorted(results, key=lambda r: -r["log_prob"])
    return [{"rank": i, **r} for i, r in enumerate(ordered, start=1)]


def format_score(result: dict, per_token: bool = False) -> str:
    line = (f"{result['rank']}. log P = {result['log_prob']:.3f} nats ({result['log2_prob']:.2f} bits)  "
            f"perplexity {result['perplexity']:.2f}  {result['text']!r}")
    if per_token:
        line += "\n   " + " ".join(f"{tok!r}:{p:.3f}" for tok, p in result["probabilities"])
    return line
