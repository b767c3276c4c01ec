"""``nlp-tasks sentiment ...``: train, evaluate and predict from the command line.

Each command parses its options and calls one :class:`tasks.sentiment.SentimentPipeline`
method; TensorFlow is imported only when a command runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from nlp_tasks.cli import options
from nlp_tasks.cli.commands import predict_command, train_command


@click.group()
def cli():
    """Sentiment classification (many-to-one): a text in, one label or 1-5 rating out."""


def format_train(result: dict, pipe=None) -> str:
    best = (f"best dev accuracy {result['best']:.4f} at epoch {result['best_epoch']}" if "best" in result
            else "no validation data")
    lines = [f"saved to {result['model']} ({best})"]
    if "test" in result:
        lines.append(f"test accuracy {result['test']['accuracy']:.4f}, macro-F1 {result['test']['macro_f1']:.4f}")
    return "\n".join(lines)


EMBEDDINGS = click.option("--embeddings", type=click.Path(dir_okay=False), default=None,
                          help="Pretrained word vectors (GloVe / word2vec text file).")
TRAIN_HELP = ("Training data: a LABEL-text file, a CSV/TSV/JSON table, PTB trees, a Hugging Face data set, or "
              "builtin:rt-snippets (five classes) or builtin:rt-snippets-binary (their train part; ship with "
              "nlp-tasks).")
DEV_HELP = ("Development data for early stopping and model selection [default: the built-in snippets' dev part "
            "when training on them, else none].")
INIT_FROM = click.option("--init-from", default=None, metavar="FWD_MODEL[,BWD_MODEL]",
                         help="Start from saved word-level language models (charlm train --level word; the second "
                              "with --reverse): their vocabulary, embedding table and first recurrent layer (Dai and "
                              "Le 2015); sets --cell, --units and --embedding-dim unless given.")


def configure(config, values, given, train, dev, test):
    """--init-from sets the encoder's shape from the forward language model."""
    if values.get("init_from"):
        from .init_lm import configure as lm_shape

        config = lm_shape(values["init_from"], config, given)
    return config, train, dev, test


cli.add_command(train_command(f"{__package__}:SentimentPipeline", render=format_train, configure=configure,
                              extra=[EMBEDDINGS, INIT_FROM], train_help=TRAIN_HELP, dev_help=DEV_HELP))


@cli.command()
@click.argument("model_dir", type=click.Path())
@options.data
@click.option("--png", type=click.Path(dir_okay=False), default=None,
              help="Also save the confusion matrix as a picture here [default: no picture; the model "
                   "folder is never written to].")
@options.reading
@options.json_output
def evaluate(model_dir, data, png, as_json):
    """Accuracy, macro-F1, per-class P/R/F1 and the confusion matrix of MODEL_DIR on DATA
    (builtin:rt-snippets: its test part; builtin:rt-snippets:dev for the dev part)."""
    from nlp_tasks.metrics import format_classification_report
    from nlp_tasks.plots import plot_confusion_matrix

    from .pipeline import SentimentPipeline

    pipe = SentimentPipeline.load(model_dir)
    report = pipe.evaluate(data)
    if png:
        plot_confusion_matrix(report, Path(png), title=f"{Path(str(data)).name}")
        report["confusion_png"] = str(png)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(format_classification_report(report))
        if png:
            click.echo(f"\nconfusion matrix picture: {png}")


def format_prediction(result: dict) -> str:
    probs = "  ".join(f"{label}:{p:.2f}" for label, p in result["probabilities"].items())
    if result.get("empty"):
        return f"{'-':>6}  no label: the text has no words  [{probs}]  {result['text']!r}"
    rating = f"rating {result['rating']}  " if result["rating"] is not None else ""
    return f"{result['label']:>6}  {rating}[{probs}]  {result['text']}"


cli.add_command(predict_command(f"{__package__}:SentimentPipeline",
                                render=lambda text, result: format_prediction(result),
                                help="Label, rating and class probabilities for TEXTS (or each line of --input)."))
