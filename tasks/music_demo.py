"""``make demo``'s music step: a short run end to end (see :mod:`nlp_tasks.demo`)."""

from __future__ import annotations

from pathlib import Path

from nlp_tasks.demo import DemoData


DEMO_DATA = DemoData(embedded="music21's Bach chorales (its corpus ships with the package)")


def demo(out_dir: Path, folder: Path | None = None) -> dict:
    """A short run on music21's Bach chorales, then a generated MIDI file and its piano roll
    (``folder`` is unused: the corpus ships with music21)."""
    from tasks import music_data as md
    from tasks.music import MusicConfig, MusicPipeline

    out_dir.mkdir(parents=True, exist_ok=True)
    train = md.bach_chorales("train", limit=DEMO_CHORALES)
    dev = md.bach_chorales("valid", limit=DEMO_CHORALES)
    pipe = MusicPipeline(MusicConfig(units=128, epochs=DEMO_EPOCHS, patience=None))
    print(f"training a GRU on {len(train)} Bach chorales from music21's corpus for {DEMO_EPOCHS} epochs "
          "(a full run: see benchmarks/music.py)")
    summary = pipe.fit(train, dev, out_dir=out_dir, verbose=1)
    pipe.save(out_dir / "model")
    result = pipe.generate(steps=64, seed=0, temperature=0.9)
    md.write_midi(out_dir / "generated.mid", result["roll"], tempo_bpm=90)
    md.plot_roll(out_dir / "generated.png", result["roll"], title="64 quarter notes from silence (seed 0)")
    primer = dev[0][:16]
    continued = pipe.generate(steps=32, primer=primer, seed=0, temperature=0.9)
    md.write_midi(out_dir / "continued.mid", continued["roll"], tempo_bpm=90, primer_steps=16)
    md.plot_roll(out_dir / "continued.png", continued["roll"], primer_steps=16)
    print(f"validation NLL {summary['best']:.2f} per time step; wrote generated.mid/.png and continued.mid/.png "
          f"(a chorale's first 16 steps, continued by 32) to {out_dir}")
    return {"validation_nll_per_step": summary["best"]}


DEMO_CHORALES = 150
DEMO_EPOCHS = 30
