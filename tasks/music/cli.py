"""``nlp-tasks music ...``: train, evaluate and generate piano-roll music.

Each command parses its options and calls one :class:`tasks.music.MusicPipeline` method;
TensorFlow is imported only when a command runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from nlp_tasks.cli import options
from nlp_tasks.cli.commands import evaluate_command, train_command
from nlp_tasks.errors import UserError

from .generation import GenerateSettings

DATA_HELP = ("a piano-roll JSON file (FILE.json:valid picks a split), a MIDI file or folder, "
             "or builtin:bach-chorales (music21's corpus, offline)")


@click.group()
def cli():
    """Music generation (one-to-many): polyphonic piano rolls with 88 sigmoid outputs, MIDI in and out."""


def format_train(result: dict, pipe=None) -> str:
    best = (f"best validation NLL {result['best']:.3f} per step at epoch {result['best_epoch']}" if "best" in result
            else "no validation data")
    lines = [f"saved to {result['model']} ({best})"]
    if "test" in result:
        lines.append(format_report(result["test"]))
    return "\n".join(lines)


def format_report(report: dict) -> str:
    return (f"NLL {report['nll_per_step']:.3f} per time step over {report['steps']} steps; frame accuracy "
            f"{report['frame_accuracy']:.3f}; notes P {report['precision']:.3f} R {report['recall']:.3f} "
            f"F1 {report['f1']:.3f}")


cli.add_command(train_command(
    f"{__package__}:MusicPipeline", render=format_train, train_help=f"Training pieces: {DATA_HELP}.",
    dev_help="Validation pieces [default: the JSON file's 'valid' split, or the corpus's]."))


cli.add_command(evaluate_command(
    f"{__package__}:MusicPipeline", render=lambda report, pipe: format_report(report),
    data_help=f"Pieces to evaluate: {DATA_HELP}.",
    help="NLL per time step (summed over the 88 keys), frame accuracy and note P/R/F1 of MODEL_DIR on DATA."))


@cli.command()
@click.argument("model_dir", type=click.Path())
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="The MIDI file to write.")
@click.option("--primer", type=click.Path(dir_okay=False), default=None,
              help="A MIDI file (or piano-roll JSON) to continue; its notes stay on their own track.")
@options.config_options(GenerateSettings, exclude=("samples",))
@click.option("--png", is_flag=True, help="Also save a piano-roll picture next to the MIDI file.")
@options.json_output
def generate(model_dir, out, primer, png, as_json, **values):
    """Generate music from MODEL_DIR (from silence, or continuing --primer) and write it as MIDI."""
    import numpy as np

    from . import data as md
    from .pipeline import MusicPipeline
    from .plots import plot_roll

    settings, given = options.config_from(GenerateSettings, values)
    settings = settings.resolved()  # checked before the model loads
    if Path(out).suffix.lower() not in md.MIDI_SUFFIXES:
        raise UserError(f"{out}: the output file must end in .mid or .midi")
    pipe = MusicPipeline.load(model_dir)
    result = pipe.generate(steps=settings.steps, primer=primer, seed=settings.seed, temperature=settings.temperature)
    spq = pipe.config.steps_per_quarter
    # A continuation plays at its primer's tempo unless --tempo says otherwise.
    tempo = settings.tempo if "tempo" in given or primer is None else (md.midi_tempo(primer) or settings.tempo)
    md.write_midi(out, result["roll"], spq, tempo, primer_steps=result["primer_steps"])
    report = {"midi": str(out), "seed": settings.seed, "steps": settings.steps, "tempo": tempo,
              "primer_steps": result["primer_steps"],
              "notes_per_step": float(np.asarray(result["roll"])[result["primer_steps"]:].sum(axis=1).mean())}
    if png:
        report["png"] = str(plot_roll(Path(out).with_suffix(".png"), result["roll"], result["primer_steps"]))
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(f"wrote {out} ({settings.steps} steps, seed {settings.seed}" + (
            f", primer {result['primer_steps']} steps" if result["primer_steps"] else "") + ")" + (
            f" and {report['png']}" if png else ""))
