"""Piano rolls: reading them (JSON, MIDI, music21's Bach chorales), caching, writing MIDI and PNG.

A piece is a piano roll: ``(T, 88)`` float32, one row per time step, 1 where a piano key (MIDI
pitch 21..108, column ``pitch - 21``) sounds. Sources:

- the Boulanger-Lewandowski layout stored as JSON: ``{"train": [...], "valid": [...],
  "test": [...]}``, each piece a list of time steps, each a list of MIDI pitches (JSB Chorales);
  ``file.json:valid`` picks a split;
- a MIDI file, or a folder of them, quantised to ``steps_per_quarter`` frames per quarter note
  (a bad file in a folder is reported and skipped);
- ``builtin:bach-chorales``: the Bach chorales in the ``music21`` package's corpus (offline),
  quantised the same way and split deterministically into train / valid / test
  (:mod:`tasks.music.chorales`); :func:`tasks.music.sources.read_pieces` reads any of them.

Parsed MIDI folders and the built-in corpus are cached as JSON under ``$NLP_TASKS_CACHE`` (else
``$XDG_CACHE_HOME/nlp-tasks`` or ``~/.cache/nlp-tasks``: :func:`nlp_tasks.io.paths.cache_dir`), keyed
by the files' names, sizes and modification times, so a second run does not parse again.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import sys
from pathlib import Path

import numpy as np

from nlp_tasks.data.readers import check_json_depth, read_text
from nlp_tasks.data.sources import pick_split
from nlp_tasks.errors import UserError
from nlp_tasks.io.json_data import parse_data_json, show_value
from nlp_tasks.io.paths import atomic_write

LOW, HIGH = 21, 108  # the 88 piano keys, A0..C8
KEYS = HIGH - LOW + 1
BUILTIN = "builtin:bach-chorales"
SPLITS = ("train", "valid", "test")  # the split names of JSB's piano-roll JSON (nlp_tasks.data.sources.pick_split)
MIDI_SUFFIXES = (".mid", ".midi")
MAX_STEPS = 200_000  # about 14 hours at 120 bpm in quarter steps: beyond it a file is damaged, not music


def cache_dir() -> Path:
    """The cache folder (:func:`nlp_tasks.io.paths.cache_dir`)."""
    from nlp_tasks.io.paths import cache_dir as shared

    return shared()


def to_roll(steps, where: str) -> np.ndarray:
    """A list of time steps (lists of MIDI pitches) -> ``(T, 88)`` multi-hot; checked."""
    if not isinstance(steps, list) or not steps:
        raise UserError(f"{where}: "
                        f"{'empty piece' if isinstance(steps, list) else 'a piece must be a list of time steps'}")
    roll = np.zeros((len(steps), KEYS), dtype=np.float32)
    for t, step in enumerate(steps):
        if not isinstance(step, list):
            raise UserError(f"{where}, time step {t + 1}: expected a list of MIDI pitches, got {show_value(step)}")
        for pitch in step:
            if isinstance(pitch, float) and math.isfinite(pitch) and pitch.is_integer():
                pitch = int(pitch)  # 60.0; not NaN or Infinity (which Python's json reads)
            if isinstance(pitch, bool) or not isinstance(pitch, int):  # a LongInteger of JSON too
                raise UserError(f"{where}, time step {t + 1}: {show_value(pitch)} is not a MIDI pitch number")
            if not LOW <= pitch <= HIGH:
                raise UserError(f"{where}, time step {t + 1}: pitch {show_value(pitch)} is outside the piano's 21..108")
            roll[t, pitch - LOW] = 1.0
    return roll


def to_steps(roll: np.ndarray) -> list[list[int]]:
    return [[int(k) + LOW for k in np.flatnonzero(frame > 0.5)] for frame in np.asarray(roll)]


# ---------------------------------------------------------------------- JSON piano rolls
def read_pianoroll_json(path: str | Path, split: str = "train") -> list[np.ndarray]:
    """One split of a Boulanger-Lewandowski JSON file (or every piece of a plain list)."""
    path = Path(path)
    text = read_text(path)
    check_json_depth(text, str(path))
    try:
        data = parse_data_json(text)  # an integer too long to convert: refused as a pitch, in one line
    except json.JSONDecodeError as err:
        raise UserError(f"{path}, line {err.lineno}: invalid JSON ({err.msg})") from None
    if isinstance(data, dict):
        key = pick_split(split, data)
        if key not in data:
            raise UserError(f"{path}: no {key!r} split (has: {', '.join(map(str, data)) or 'nothing'})")
        pieces, where = data[key], f"{path} [{key}]"
    else:
        pieces, where = data, str(path)
    if not isinstance(pieces, list) or not pieces:
        raise UserError(f"{where}: expected a non-empty list of pieces")
    return [to_roll(piece, f"{where} piece {i + 1}") for i, piece in enumerate(pieces)]


def json_splits(path: str | Path) -> list[str]:
    """The split names of a piano-roll JSON file ([] for a plain list or unreadable file)."""
    try:
        text = read_text(path)
        check_json_depth(text, str(path))
        data = parse_data_json(text)
    except (UserError, json.JSONDecodeError):
        return []
    return [k for k in SPLITS if isinstance(data, dict) and k in data]


# ---------------------------------------------------------------------- MIDI
def read_midi(path: str | Path, steps_per_quarter: int = 1) -> np.ndarray:
    """A MIDI file -> piano roll, every non-drum note quantised to the grid."""
    import mido

    from nlp_tasks.io.files import read_bytes

    path = Path(path)
    data = read_bytes(path, "a MIDI file")  # a FIFO or device is refused, never opened by mido
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
        events = list(mido.merge_tracks(midi.tracks))
    except Exception as err:  # mido raises OSError, EOFError, ValueError, KeyError on corrupt data
        raise UserError(f"{path}: not a readable MIDI file "
                        f"({' '.join(str(err).split())[:120] or type(err).__name__})") from None
    if midi.type == 2:
        raise UserError(f"{path}: MIDI type 2 (independent sequences) is not supported")
    per_quarter = midi.ticks_per_beat or 480
    tick, sounding, notes = 0, {}, []
    for message in events:
        tick += message.time
        if message.type not in ("note_on", "note_off") or message.channel == 9:  # channel 10: drums
            continue
        key = (message.channel, message.note)
        if message.type == "note_on" and message.velocity > 0:
            sounding.setdefault(key, tick)
        elif key in sounding:
            notes.append((message.note, sounding.pop(key), tick))
    notes += [(note, start, tick) for (_, note), start in sounding.items()]  # never released: to the end
    if not notes:
        raise UserError(f"{path}: no notes")
    grid = per_quarter / steps_per_quarter
    length = max(int(round(end / grid)) for _, _, end in notes)
    if length > MAX_STEPS:
        raise UserError(f"{path}: {length} time steps of {steps_per_quarter} per quarter note, more than "
                        f"{MAX_STEPS}; the file's timing is damaged")
    roll = np.zeros((max(length, 1), KEYS), dtype=np.float32)
    for pitch, start, end in notes:
        if not LOW <= pitch <= HIGH:
            raise UserError(f"{path}: pitch {pitch} is outside the piano's 21..108")
        first = int(round(start / grid))
        last = max(int(round(end / grid)), first + 1)  # a note shorter than a step still sounds once
        roll[first:last, pitch - LOW] = 1.0
    return roll


def midi_tempo(path: str | Path) -> float | None:
    """The tempo (beats per minute) a MIDI file starts at: its first ``set_tempo``, or MIDI's
    default of 120 when it has none; None when ``path`` is not a MIDI file. Kept within
    ``MIN_TEMPO_BPM..MAX_TEMPO_BPM``. (A continuation keeps its primer's tempo.)"""
    import mido

    from nlp_tasks.io.files import read_bytes

    if Path(path).suffix.lower() not in MIDI_SUFFIXES:
        return None
    midi = mido.MidiFile(file=io.BytesIO(read_bytes(Path(path), "a MIDI file")))  # read_midi has read it
    for message in mido.merge_tracks(midi.tracks):
        if message.type == "set_tempo":
            return float(min(max(round(mido.tempo2bpm(message.tempo), 3), MIN_TEMPO_BPM), MAX_TEMPO_BPM))
    return 120.0


def read_midi_folder(folder: Path, steps_per_quarter: int = 1) -> list[np.ndarray]:
    """Every MIDI file under ``folder``; unreadable ones reported on stderr and skipped."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())
    if not files:
        raise UserError(f"{folder}: no MIDI files (.mid, .midi) in the folder")
    key = _files_key(files, steps_per_quarter)
    cached = _read_cache(key)
    if cached is not None:
        return cached
    pieces, problems = [], []
    for path in files:
        try:
            pieces.append(read_midi(path, steps_per_quarter))
        except UserError as err:
            problems.append(err.message)
            print(f"warning: skipped {err.message}", file=sys.stderr)
    if not pieces:
        raise UserError(f"{folder}: none of the {len(files)} MIDI files is usable (first problem: {problems[0]})")
    _write_cache(key, pieces)
    return pieces


# ---------------------------------------------------------------------- the cache
def _files_key(files, steps_per_quarter, extra="") -> str:
    digest = hashlib.sha256(f"v2|{steps_per_quarter}|{extra}".encode())
    for path in files:
        stat = Path(path).stat()
        digest.update(f"{Path(path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


MAX_CACHE_BYTES = 256 * 2**20  # the parsed pieces of a large MIDI collection; a larger cache is not written


def _read_cache(key: str) -> list[np.ndarray] | None:
    """The pieces cached under ``key``, checked like data (at most :data:`MAX_STEPS` steps each);
    None when the cache is absent, damaged in any way (:func:`nlp_tasks.io.safe_files.read_cache_json`)
    or holds no piece (a source that gives none is an error, never cached): parsed again."""
    from nlp_tasks.io.safe_files import read_cache_json

    path = cache_dir() / f"pianorolls-{key}.json"
    data = read_cache_json(path, MAX_CACHE_BYTES)
    try:
        if isinstance(data, list) and data and all(isinstance(p, list) and len(p) <= MAX_STEPS for p in data):
            return [to_roll(piece, str(path)) for piece in data]
    except UserError:
        pass
    return None


def _write_cache(key: str, pieces) -> None:
    text = json.dumps([to_steps(p) for p in pieces], separators=(",", ":"))
    if not pieces or len(text) > MAX_CACHE_BYTES:
        return  # nothing worth caching, or more than a cache is read back
    try:
        with atomic_write(cache_dir() / f"pianorolls-{key}.json") as handle:
            handle.write(text)
    except OSError:
        pass  # a read-only home: no cache, still correct


# ---------------------------------------------------------------------- writing
def notes(roll: np.ndarray, start: int = 0, stop: int | None = None) -> list[tuple[int, int, int]]:
    """``(MIDI pitch, first step, step after the last)`` of every note of ``roll[start:stop]``: a key
    held over consecutive steps is one note (steps counted from the roll's start)."""
    part = np.asarray(roll)[start:stop] > 0.5
    found = []
    for key in range(KEYS):
        column = np.concatenate([[False], part[:, key], [False]]).astype(np.int8)
        onsets, offsets = np.flatnonzero(np.diff(column) == 1), np.flatnonzero(np.diff(column) == -1)
        found += [(key + LOW, start + int(on), start + int(off)) for on, off in zip(onsets, offsets)]
    return found


# Tempi in bpm, wherever one is given (music generate, the server): MIDI holds microseconds per
# quarter note in 3 bytes (at most 16,777,215), so nothing below 3.58 bpm fits; 4 is the round number.
MIN_TEMPO_BPM, MAX_TEMPO_BPM = 4, 1000


def midi_bytes(roll: np.ndarray, steps_per_quarter: int = 1, tempo_bpm: float = 100.0, primer_steps: int = 0,
               velocity: int = 80) -> bytes:
    """A standard MIDI file (type 1) of ``roll``: the primer and the continuation on separate tracks
    (a piece without a primer has one track, named "generated")."""
    import io

    import mido

    if not MIN_TEMPO_BPM <= tempo_bpm <= MAX_TEMPO_BPM:
        raise UserError(f"tempo must be between {MIN_TEMPO_BPM} and {MAX_TEMPO_BPM} BPM, got {tempo_bpm!r}")
    ticks_per_quarter = 480
    step_ticks = ticks_per_quarter // steps_per_quarter
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_quarter)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0),
                           mido.MetaMessage("end_of_track", time=0)])
    midi.tracks.append(meta)
    parts = (("primer", 0, primer_steps), ("continuation" if primer_steps else "generated", primer_steps, len(roll)))
    for name, start, stop in parts:
        if stop <= start:
            continue
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        events = []  # (tick, order, message): note-offs before note-ons at the same tick
        for pitch, on, off in notes(roll, start, stop):
            events.append((on * step_ticks, 1, mido.Message("note_on", note=pitch, velocity=velocity)))
            events.append((off * step_ticks, 0, mido.Message("note_off", note=pitch, velocity=0)))
        now = 0
        for tick, _, message in sorted(events, key=lambda e: (e[0], e[1], e[2].note)):
            track.append(message.copy(time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        midi.tracks.append(track)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def write_midi(path: str | Path, roll: np.ndarray, steps_per_quarter: int = 1, tempo_bpm: float = 100.0,
               primer_steps: int = 0, velocity: int = 80) -> Path:
    """:func:`midi_bytes` written to ``path`` (atomically)."""
    data = midi_bytes(roll, steps_per_quarter, tempo_bpm, primer_steps, velocity)
    path = Path(path)
    with atomic_write(path, mode="wb") as handle:
        handle.write(data)
    return path


def transpositions(roll: np.ndarray, spread: int) -> tuple[int, int]:
    """``(low, high)``: the shifts in semitones from ``-spread`` to ``spread`` that keep every
    sounding key of ``roll (T, 88)`` on the keyboard (``(0, 0)`` for a silent piece)."""
    keys = np.flatnonzero(roll.any(axis=0))
    if not len(keys):
        return 0, 0
    return max(-spread, -int(keys[0])), min(spread, KEYS - 1 - int(keys[-1]))


def transposed(roll: np.ndarray, shift: int) -> np.ndarray:
    """``roll`` with every key moved ``shift`` semitones (up when positive); keys moved off the
    keyboard are dropped (:func:`transpositions` gives the shifts that drop none)."""
    if shift == 0:
        return roll
    out = np.zeros_like(roll)
    if shift > 0:
        out[:, shift:] = roll[:, :-shift]
    else:
        out[:, :shift] = roll[:, -shift:]
    return out
