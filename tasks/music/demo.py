"""``make demo``'s music step: a short run end to end (see :mod:`nlp_tasks.demo`)."""

from __future__ import annotations

from pathlib import Path

from nlp_tasks.demo import DemoData

DEMO_DATA = DemoData(embedded="music21's Bach chorales (its corpus ships with the package)")


def demo(out_dir: Path, folder: Path | None = None) -> dict:
    """A short run of each output head on music21's Bach chorales, then a generated MIDI file and
    its piano roll from each, and a chorale opening continued (``folder`` is unused: the corpus
    ships with music21). The sigmoid head's files are in ``out_dir``, the NADE's in ``out_dir/nade``."""
    from .chorales import bach_chorales

    out_dir.mkdir(parents=True, exist_ok=True)
    train = bach_chorales("train", limit=DEMO_CHORALES)
    dev = bach_chorales("valid", limit=DEMO_CHORALES)
    result = {}
    for head, where in (("sigmoid", out_dir), ("nade", out_dir / "nade")):
        result[head] = _demo_head(head, where, train, dev)
    print(f"validation NLL per time step: {result['sigmoid']:.2f} with 88 independent sigmoids, {result['nade']:.2f} "
          "with the NADE head (the same GRU, the same epochs)")
    return {"validation_nll_per_step": result["sigmoid"], "nade_validation_nll_per_step": result["nade"]}


def _demo_head(head: str, out_dir: Path, train, dev) -> float:
    from . import data as md
    from .pipeline import MusicConfig, MusicPipeline
    from .plots import plot_roll

    pipe = MusicPipeline(MusicConfig(units=128, epochs=DEMO_EPOCHS, patience=None, head=head))
    what = "88 independent sigmoids" if head == "sigmoid" else "an RNN-NADE head (the keys of a frame drawn jointly)"
    print(f"training a GRU with {what} on {len(train)} Bach chorales from music21's corpus for {DEMO_EPOCHS} epochs "
          "(a full run: see benchmarks/music.py)")
    summary = pipe.fit(train, dev, out_dir=out_dir, verbose=1)
    pipe.save(out_dir / "model")
    result = pipe.generate(steps=64, seed=0, temperature=0.9)
    md.write_midi(out_dir / "generated.mid", result["roll"], tempo_bpm=90)
    plot_roll(out_dir / "generated.png", result["roll"],
                 title=f"64 quarter notes from silence ({head} head, seed 0)")
    primer = dev[0][:16]
    continued = pipe.generate(steps=32, primer=primer, seed=0, temperature=0.9)
    md.write_midi(out_dir / "continued.mid", continued["roll"], tempo_bpm=90, primer_steps=16)
    plot_roll(out_dir / "continued.png", continued["roll"], primer_steps=16)
    print(f"{head} head: validation NLL {summary['best']:.2f} per time step; wrote generated.mid/.png and "
          f"continued.mid/.png (a chorale's first 16 steps, continued by 32) to {out_dir}")
    return summary["best"]


DEMO_CHORALES = 150
DEMO_EPOCHS = 16  # each head; make demo stays within 5 minutes on 2 cores
