"""``builtin:bach-chorales``: the Bach chorales of the ``music21`` package's corpus (offline),
quantised to piano rolls as the JSB Chorales data set was made, split by position (8 of 10
train, then valid, test).

Each chorale is parsed once and cached on its own (:mod:`tasks.music.data`'s cache, keyed by the
file and music21's version), so a run that reads the first 150 (the demo) leaves them for a run
that reads them all, which parses only the rest. Parsing prints a line at least every few
seconds (music21 takes about a third of a second per chorale).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

from nlp_tasks.data.sources import split_role
from nlp_tasks.errors import UserError

from .data import BUILTIN, HIGH, KEYS, LOW, _files_key, _read_cache, _write_cache, cache_dir

PROGRESS_EVERY_S = 4.0  # seconds between the lines that say how far parsing has got
VOICES = ("soprano", "alto", "tenor", "bass")


def bach_chorales(split: str = "train", steps_per_quarter: int = 1, limit: int | None = None) -> list[np.ndarray]:
    """The music21 corpus's Bach chorales (the first ``limit`` files), quantised; split by
    position (8 of 10 train)."""
    pieces = _all_bach_chorales(steps_per_quarter, limit)
    role = split_role(split)
    if role is None:
        raise UserError(f"{BUILTIN}: no split {split!r} (train, valid, test)")
    index = {"train": range(0, 8), "dev": (8,), "test": (9,)}[role]
    return [piece for i, piece in enumerate(pieces) if i % 10 in index]


def _all_bach_chorales(steps_per_quarter: int, limit: int | None) -> list[np.ndarray]:
    try:
        import music21
        from music21 import corpus
    except ImportError:  # pragma: no cover - a dependency of the package
        raise UserError(f"{BUILTIN} needs the music21 package") from None
    files = sorted(corpus.getComposer("bach"), key=lambda p: Path(p).name)
    files = [Path(p) for p in files if Path(p).suffix in (".mxl", ".xml", ".krn")][:limit]
    keys = [_files_key([path], steps_per_quarter, extra=f"chorale|{music21.__version__}") for path in files]
    found = {key: _read_cache(key) for key in keys}
    missing = [(path, key) for path, key in zip(files, keys) if found[key] is None]
    if missing:
        print(f"parsing {len(missing)} of {len(files)} Bach chorales from music21's corpus (once each; cached in "
              f"{cache_dir()})", file=sys.stderr, flush=True)
    said = time.monotonic()
    for done, (path, key) in enumerate(missing, start=1):
        try:
            roll = _music21_roll(corpus.parse(str(path)), steps_per_quarter)
        except Exception as err:  # a corpus file music21 cannot read: skip it, say so
            print(f"warning: skipped {path.name}: {type(err).__name__}", file=sys.stderr)
            roll = None
        found[key] = [roll] if roll is not None else []
        if roll is not None:
            _write_cache(key, [roll])  # one by one: an interrupted parse keeps what it did
        if time.monotonic() - said >= PROGRESS_EVERY_S and done < len(missing):
            print(f"  {done} of {len(missing)} parsed", file=sys.stderr, flush=True)
            said = time.monotonic()
    pieces = [piece for key in keys for piece in found[key]]
    if not pieces:
        raise UserError(f"{BUILTIN}: none of the {len(files)} corpus files of music21 gave a piece")
    return pieces


def _music21_roll(score, steps_per_quarter: int) -> np.ndarray | None:
    """The four voices sampled at every grid point, as the JSB Chorales data set was made: a
    note sounds in frame t when it sounds at time t / steps_per_quarter (passing notes between
    grid points drop out). Instrumental doubling parts, when a score has them, are left out."""
    parts = list(score.parts)
    voices = [p for p in parts if str(p.partName or p.id or "").strip().lower() in VOICES]
    notes = []
    for part in voices if len(voices) == 4 else parts:
        for element in part.flatten().notes:
            start, length = float(element.offset), float(element.quarterLength)
            for pitch in getattr(element, "pitches", ()):
                notes.append((pitch.midi, start, start + length))
    if not notes:
        return None
    eps = 1e-6
    length = max(int(math.ceil(end * steps_per_quarter - eps)) for _, _, end in notes)
    roll = np.zeros((max(length, 1), KEYS), dtype=np.float32)
    for pitch, start, end in notes:
        if LOW <= pitch <= HIGH:
            roll[int(math.ceil(start * steps_per_quarter - eps)):int(math.ceil(end * steps_per_quarter - eps)),
                 pitch - LOW] = 1.0
    return roll
