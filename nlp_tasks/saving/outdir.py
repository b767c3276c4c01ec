"""Output folders that nlp-tasks owns: claimed, locked, swapped atomically and recovered.

A training run or a save writes into one folder, ``OUT`` (``--out``). The rules, which the fault
suite tests (``tests/faults/cases_outdir.py``):

- **Only our folders are written.** :func:`claim` accepts a folder that does not exist, an empty
  one, or one that nlp-tasks made (it holds our marker file ``.nlp-tasks``, or what marks a folder
  of its kind: a model description, a training checkpoint). Any other non-empty folder is refused in one line
  that names an entry in the way. A link to a folder is followed (the link stays a link); a
  dangling link, a file, or a folder that cannot be written is refused before any training starts.
- **Nothing we did not write is deleted or rewritten.** When a folder is replaced by a newer
  version of itself (:func:`replace_directory`), every entry that is not one of the files being
  replaced (the user's notes, dot-files, ``.git``, links, other vocabularies) is moved, by
  ``rename``, into the new folder: byte for byte, links as links.
- **One run per folder.** :func:`acquire` takes an exclusive lock (``flock``) on ``.OUT.lock``
  beside the folder (:mod:`nlp_tasks.saving.folder_lock`). :func:`held` holds it for one block (a
  standalone fit, a save, an export) and releases only what it took; :func:`kept` makes one scope
  keep it across several steps (``Pipeline.train``: fit, test and save). A second run refuses in
  one line naming the holder's pid. The kernel drops the lock of a killed process, so a stale
  lock file is simply taken over.
- **A kill at any moment is recoverable.** The swap renames ``OUT`` to ``.OUT.old-PID``, the
  fully written ``.OUT.XXXX.tmp`` to ``OUT``, then carries the user's entries across and deletes
  the superseded files. :func:`recover` (run by every claim and load) finishes or undoes a swap
  that a kill interrupted: with ``OUT`` missing, the newest complete temporary folder is moved in
  (or, if there is none, the backup is put back); with ``OUT`` present, the backup's remaining
  entries are carried over; leftover temporary folders are removed, but only files that
  nlp-tasks writes: anything else makes it leave the folder where it is.

It spells no names but its own (marker, lock, temporary folders): what a kind of folder holds is
its owner's :class:`FolderKind` (``nlp_tasks.saving.layout.MODEL``, ``checkpoint.KIND``, ``export.KIND``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from nlp_tasks.errors import UserError
from nlp_tasks.saving.folder_lock import acquire, holds, kept, kept_by_scope, lock_path, reason, release  # noqa: F401

MARKER = ".nlp-tasks"  # written into every folder we claim: {"format": "nlp_tasks.folder"}
MARKER_FORMAT = "nlp_tasks.folder"
SCRATCH = ".scratch"  # a writer's intermediate files inside its temporary folder (nlp_tasks.export)

OwnNames = Callable[[Path], Iterable[str]]


@dataclasses.dataclass(frozen=True)
class FolderKind:
    """What one kind of folder that nlp-tasks writes is made of, as the module that owns it says.

    ``complete``: the file written last into a temporary folder (one holding it is a complete new
    version; "" for none); ``own(folder)``: the entries of an existing folder that a new version
    replaces (deleted; everything else is carried over); ``writes(name)``: True for a name this
    kind writes into a temporary folder (a leftover one holding only such names is removed);
    ``marks(folder)``: True for a folder that holds one (ours even without the marker file)."""

    complete: str = ""
    own: OwnNames = lambda folder: ()
    writes: Callable[[str], bool] = lambda name: False
    marks: Callable[[Path], bool] = lambda folder: False


PLAIN = FolderKind()  # a folder of ours that holds nothing known: only the marker is ours


# ------------------------------------------------------------------ what a folder is
def resolve(path: str | os.PathLike, what: str = "output folder") -> Path:
    """``path`` with a link to a folder followed; a one-line error for a dangling link."""
    path = Path(path).expanduser()
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        if not target.exists():
            raise UserError(f"{what} {path} is a link to {os.readlink(path)}, which does not exist")
        return target
    return path.absolute()


def json_format(path: Path) -> str | None:
    """The ``format`` field of a small JSON file, None when it is not one of ours."""
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > 16 * 1024 * 1024:
            return None
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value.get("format") if isinstance(value, dict) else None


def is_ours(folder: Path, kind: FolderKind = PLAIN) -> bool:
    """True for a folder that nlp-tasks made: our marker, or what marks a folder of ``kind``."""
    return json_format(folder / MARKER) == MARKER_FORMAT or kind.marks(folder)


def _visible_entry(folder: Path) -> str | None:
    """One entry of ``folder`` to name in an error (hidden ones last), None when it is empty."""
    names = sorted(os.listdir(folder), key=lambda n: (n.startswith("."), n))
    return names[0] if names else None


def write_marker(folder: Path) -> None:
    from nlp_tasks import __version__
    from nlp_tasks.io.paths import atomic_write

    if json_format(folder / MARKER) != MARKER_FORMAT:
        with atomic_write(folder / MARKER) as handle:
            json.dump({"format": MARKER_FORMAT, "written_by": f"nlp-tasks {__version__}",
                       "note": "this folder was written by nlp-tasks; other files here are kept as they are"},
                      handle, indent=1)
            handle.write("\n")


def claim(path: str | os.PathLike, what: str = "output folder", lock: bool = True, kind: FolderKind = PLAIN) -> Path:
    """Make ``path`` ready for nlp-tasks to write: checked, locked, recovered, marked.

    Returns the resolved folder. Refuses (``UserError``, one line) a file, a dangling link, a
    non-empty folder nlp-tasks did not make, a folder another run holds, and one that cannot be
    written (read-only or full file system, no permission), before any work is done. ``kind``:
    what the folder holds (:class:`FolderKind`). With ``lock`` the lock stays held (if this call
    took it) until :func:`release`; :func:`held` is the scoped form."""
    return _claim(path, what, lock, kind)[0]


@contextlib.contextmanager
def held(path: str | os.PathLike, what: str = "output folder", kind: FolderKind = PLAIN):
    """``with held(path) as folder:`` :func:`claim` ``path`` for the block, its lock held until the
    block ends (or raises), then released if this scope took it: an enclosing scope of the same
    process that holds it already keeps it (``Pipeline.train`` across fit, test and save)."""
    folder, mine = _claim(path, what, True, kind)
    try:
        yield folder
    finally:
        if mine and not kept_by_scope(folder):
            release(folder)


def _claim(path, what: str, lock: bool, kind: FolderKind) -> tuple[Path, bool]:
    """:func:`claim`, and whether it took the lock (False when this process held it already)."""
    folder = resolve(path, what)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{what} {folder} exists and is not a folder")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create {what} {folder}: {reason(err)}") from None
    mine = acquire(folder) if lock else False
    try:
        recover(folder, kind)
    except BaseException:
        if mine:
            release(folder)
        raise
    if folder.is_dir() and not is_ours(folder, kind):
        entry = _visible_entry(folder)
        if entry is not None:
            if mine:
                release(folder)
            raise UserError(f"{what} {folder} is not empty and was not written by nlp-tasks ({entry!r} is in the "
                            "way); give a new or empty folder")
    try:
        folder.mkdir(exist_ok=True)
        write_marker(folder)  # also proves the folder can be written
    except OSError as err:
        if mine:
            release(folder)
        raise UserError(f"cannot write to {what} {folder}: {reason(err)}") from None
    return folder, mine


# ------------------------------------------------------------------ swap and recovery
def make_temporary(final_dir: Path) -> Path:
    """A new empty folder beside ``final_dir`` for writing its next version into."""
    return Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.", suffix=".tmp", dir=final_dir.parent))


def _backup_name(final_dir: Path) -> Path:
    return final_dir.with_name(f".{final_dir.name}.old-{os.getpid()}")


def replace_directory(tmp_dir: Path, final_dir: Path, kind: FolderKind = PLAIN) -> None:
    """Move a fully written ``tmp_dir`` into place at ``final_dir``, keeping everything else.

    ``kind.own(final_dir)`` names the entries of the existing folder that the new version replaces
    (besides those of the same names in ``tmp_dir``); they are deleted. Every other entry is
    carried into the new folder by ``rename``. At every moment one complete version exists
    under ``final_dir`` or its backup name, and :func:`recover` can finish the job.
    """
    from nlp_tasks.io.paths import default_mode

    final_dir = Path(final_dir)
    os.chmod(tmp_dir, default_mode(directory=True))  # mkdtemp makes 0700
    if not final_dir.exists():
        os.replace(tmp_dir, final_dir)
        return
    new_names = set(os.listdir(tmp_dir))
    owned = set(kind.own(final_dir))
    check_in_the_way(final_dir, new_names, owned)  # before touching anything: nothing of the user's is overwritten
    replaced = new_names | owned
    backup = _backup_name(final_dir)
    if backup.exists():
        recover(final_dir, kind)
    os.replace(final_dir, backup)
    os.replace(tmp_dir, final_dir)
    _finish(backup, final_dir, replaced)


def check_in_the_way(folder: Path, names: Iterable[str], owned: Iterable[str]) -> None:
    """Refuse (one line naming it) an entry of ``folder`` that a new version would replace
    although nlp-tasks did not write it: one of ``names`` that exists and is not in ``owned``."""
    owned = set(owned) | {MARKER}
    for name in sorted(names):
        entry = Path(folder) / name
        if name not in owned and (entry.exists() or entry.is_symlink()):
            raise UserError(f"{entry} is in the way: nlp-tasks did not write it and will not replace it; move it "
                            "elsewhere or give another output folder")


def _finish(backup: Path, final_dir: Path, replaced: set[str]) -> None:
    """Carry the backup's other entries into ``final_dir``, then delete the replaced ones."""
    for name in sorted(os.listdir(backup)):
        if name in replaced:
            continue
        target = final_dir / name
        if target.exists() or target.is_symlink():
            continue  # a name both versions have and that is not ours: leave the backup in place
        os.rename(backup / name, target)
    _remove_own(backup, replaced)


def _remove_own(folder: Path, names: Iterable[str]) -> bool:
    """Delete the named entries (files, or folders of ours such as ``checkpoint``) and then the
    folder itself if that left it empty; True when the folder is gone."""
    import shutil

    for name in names:
        entry = folder / name
        if entry.is_symlink() or entry.is_file():
            entry.unlink()
        elif entry.is_dir():
            shutil.rmtree(entry)
    try:
        folder.rmdir()
    except OSError:
        return False
    return True


def leftovers(final_dir: Path) -> tuple[list[Path], list[Path]]:
    """(backups, temporary folders) that an interrupted swap of ``final_dir`` left beside it."""
    parent = final_dir.parent
    if not parent.is_dir():
        return [], []
    backups, temps = [], []
    prefix = f".{final_dir.name}."
    for entry in parent.iterdir():
        if not entry.name.startswith(prefix) or entry.is_symlink() or not entry.is_dir():
            continue
        rest = entry.name[len(prefix):]
        if re.fullmatch(r"old-\d+", rest):
            backups.append(entry)
        elif rest.endswith(".tmp") and "." not in rest[:-4]:
            temps.append(entry)
    return sorted(backups), sorted(temps, key=lambda p: p.stat().st_mtime)


def recover(final_dir: Path, kind: FolderKind = PLAIN) -> None:
    """Finish or undo a swap of ``final_dir`` that a kill interrupted (see the module docstring).

    ``kind.complete`` names the file written last into a temporary folder: one that holds it is a
    complete new version; ``kind.own`` and ``kind.writes`` say which entries are ours. Call it
    with the folder's lock held (or no other writer alive).
    """
    own, complete = kind.own, kind.complete
    final_dir = Path(final_dir)
    backups, temps = leftovers(final_dir)
    if not backups and not temps:
        return
    for backup in backups:
        if not final_dir.exists():
            finished = [t for t in temps if complete and (t / complete).is_file()]
            if finished:  # the new version was complete: finish the swap
                newest = finished[-1]
                replaced = set(os.listdir(newest)) | set(own(backup))
                os.replace(newest, final_dir)
                temps.remove(newest)
                _finish(backup, final_dir, replaced)
            else:  # put the old version back
                os.replace(backup, final_dir)
        else:
            _finish(backup, final_dir, set(os.listdir(final_dir)) | set(own(backup)))
    for temp in temps:  # incomplete or superseded new versions: our files only (the marker, scratch, the kind's)
        names = set(os.listdir(temp))
        if all(n in (MARKER, SCRATCH) or kind.writes(n) for n in names):
            _remove_own(temp, names)


def recover_before_reading(folder: str | os.PathLike, kind: FolderKind = PLAIN, wait: float = 5.0) -> None:
    """Before loading ``folder``: if a killed save left its traces, finish or undo it (under the
    folder's lock; skipped when another live run holds it or the file system is read-only)."""
    folder = Path(folder).absolute()
    backups, temps = leftovers(folder)
    if not backups and not temps:
        return
    try:
        mine = acquire(folder, wait=wait)
    except UserError:
        return  # a live run is writing it: it finishes its own swap
    try:
        recover(folder, kind)
    except OSError:
        pass  # read-only: load what is there
    finally:
        if mine:
            release(folder)
