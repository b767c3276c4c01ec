"""Work bounds and the tempo range reachable from the CLI (issue 38 items 2 and 3).

Each limit of ``charlm generate`` alone (10,000 samples, 1,000,000 tokens) allows a run that asks
TensorFlow for 40 GB: the product is bounded (``MAX_SAMPLE_TOKENS``) before anything is
allocated, by the command and again by the pipeline once the prime's tokens are known. A MIDI
file cannot hold a tempo below 3.58 bpm, so ``music generate --tempo`` takes 4 to 1000.
"""

from __future__ import annotations

from pathlib import Path

from tests.faults.harness import Case


def sample(models: dict, *options: str) -> list[str]:
    return ["charlm", "generate", str(models["charlm"]), *options]


def generate(tmp: Path, models: dict, tempo: str) -> list[str]:
    return ["music", "generate", str(models["music"]), "--steps", "4", "--seed", "1", "--tempo", tempo,
            "--out", str(tmp / "piece.mid")]


def midi_tempo(path: Path) -> int:
    import mido

    return next(m.tempo for track in mido.MidiFile(path).tracks for m in track if m.type == "set_tempo")


def written_at_4_bpm(tmp: Path, result) -> None:
    assert midi_tempo(tmp / "piece.mid") == 15_000_000  # microseconds per quarter note


CASES = [
    # A regression allocates 40 GB: in a child process, so that it fails the case, not the run.
    Case("38.2", "charlm generate: samples x length over the bound",
         setup=lambda tmp, models: sample(models, "--samples", "10000", "--length", "1000000"),
         error=r"10,000 samples of 1,000,000 tokens is 10,000,000,000 tokens in one run, more than the limit of "
               r"10,000,000: ask for fewer samples", subprocess=True, timeout=90),
    Case("38.2", "charlm generate: the prime's tokens take it over the bound",
         setup=lambda tmp, models: sample(models, "--samples", "10000", "--length", "1000", "--prime", "abc"),
         error=r"after a prime of 3 is 10,030,000 tokens in one run, more than the limit of 10,000,000"),
    Case("38.3", "music generate --tempo below what MIDI can hold",
         setup=lambda tmp, models: generate(tmp, models, "3.5"),
         error=r"--tempo': 3\.5 is not in the range 4<=x<=1000"),
    Case("38.3", "music generate --tempo 4, the slowest, is written",
         setup=lambda tmp, models: generate(tmp, models, "4"), exit=0, check=written_at_4_bpm),
]
