"""Write pieces of music21's corpus as a piano-roll JSON file in JSB Chorales' layout.

    .venv/bin/python benchmarks/music_corpus.py palestrina --every 10 --out /tmp/palestrina.json
    .venv/bin/python benchmarks/music.py --data /tmp/palestrina.json --head nade

A second data set of the layout users bring (``{"train": [...], "valid": [...], "test": [...]}``,
each piece a list of time steps, each step a list of MIDI pitches), made from a corpus that ships
with a dependency: no download, no data folder. The composer's files are sorted by name, every
``--every``-th is kept, each is sampled at every quarter note as JSB Chorales was
(:func:`tasks.music.chorales._music21_roll`: every part, a note sounds at grid point t when it sounds
at time t), and the kept pieces are split by position, 8 of 10 to train, then 1 to valid, 1 to
test. Nothing is written into the repository: ``--out`` is the user's path.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tasks.music import chorales  # noqa: E402
from tasks.music import data as md  # noqa: E402


def corpus_pieces(composer: str, every: int) -> tuple[list[str], list]:
    """(file names, piano rolls) of every ``every``-th corpus file of ``composer``."""
    from music21 import corpus

    files = sorted((Path(p) for p in corpus.getComposer(composer)), key=lambda p: p.name)[::every]
    names, rolls = [], []
    for path in files:
        roll = chorales._music21_roll(corpus.parse(str(path)), 1)
        if roll is not None and roll.sum() > 0:
            names.append(path.name)
            rolls.append(roll)
    return names, rolls


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("composer", help="a music21 corpus composer (palestrina, monteverdi, bach, ...)")
    parser.add_argument("--every", type=int, default=1, help="keep every N-th file (sorted by name)")
    parser.add_argument("--out", required=True, help="the JSON file to write")
    args = parser.parse_args(argv)
    names, rolls = corpus_pieces(args.composer, args.every)
    if not rolls:
        sys.exit(f"error: no readable pieces for composer {args.composer!r}")
    splits = {"train": [], "valid": [], "test": []}
    for i, roll in enumerate(rolls):
        splits["train" if i % 10 < 8 else "valid" if i % 10 == 8 else "test"].append(md.to_steps(roll))
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(splits), encoding="utf-8")
    os.replace(tmp, out)
    sizes = ", ".join(f"{k} {len(v)} pieces / {sum(map(len, v)):,} steps" for k, v in splits.items())
    print(f"wrote {out}: {args.composer}, every {args.every}th of the corpus files ({len(names)} pieces): {sizes}")


if __name__ == "__main__":
    main()
