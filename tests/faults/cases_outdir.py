"""Output folders (issue 22 items 1-3 and the --out parts of 7): nothing of the user's is lost,
one run per folder, an interrupted save is recovered, an unusable --out is refused up front."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.faults.harness import ROOT, Case
from tests.faults.models import sentiment_train_argv, write_sentiment_data

USER_FILES = {".env": b"SECRET=1\n", ".git/HEAD": b"ref: refs/heads/main\n", "notes.txt": b"my notes\n",
              "vocab-mine.json": b'{"mine": true}\n', "sub/deep.bin": bytes(range(256))}


def _user_entries(folder: Path) -> None:
    for name, data in USER_FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    outside = folder.parent / "outside.txt"
    outside.write_bytes(b"outside\n")
    os.symlink(outside, folder / "link-to-file")
    os.symlink(folder.parent, folder / "link-to-dir")
    os.symlink(folder.parent / "nowhere", folder / "dangling")


def _user_entries_intact(folder: Path) -> None:
    for name, data in USER_FILES.items():
        assert (folder / name).read_bytes() == data, name
    for name, target in (("link-to-file", folder.parent / "outside.txt"), ("link-to-dir", folder.parent),
                         ("dangling", folder.parent / "nowhere")):
        assert (folder / name).is_symlink(), f"{name} is no longer a link"
        assert Path(os.readlink(folder / name)) == target
    assert (folder.parent / "outside.txt").read_bytes() == b"outside\n"


def _no_leftovers(tmp: Path, name: str = "out") -> None:
    hidden = [p.name for p in tmp.iterdir() if p.name.startswith(f".{name}.")]
    assert not hidden, hidden


def user_folder(tmp, models):
    out = tmp / "out"
    out.mkdir()
    _user_entries(out)
    return sentiment_train_argv(write_sentiment_data(tmp), out)


def user_folder_check(tmp, result):
    _user_entries_intact(tmp / "out")
    assert not (tmp / "out" / "pipeline.json").exists() and not (tmp / "out" / "checkpoint").exists()


def model_folder_with_user_files(tmp, models):
    out = tmp / "out"
    shutil.copytree(models["sentiment"], out)
    _user_entries(out)
    return sentiment_train_argv(write_sentiment_data(tmp), out)


def model_folder_check(tmp, result):
    out = tmp / "out"
    _user_entries_intact(out)
    assert (out / "pipeline.json").is_file() and (out / "checkpoint" / "state.json").is_file()
    _no_leftovers(tmp)


def _hold_lock(folder: Path) -> subprocess.Popen:
    code = ("import sys, time; from nlp_tasks.saving import outdir; outdir.claim(sys.argv[1]); "
            "print('held', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


_holders: dict[str, subprocess.Popen] = {}


def locked_folder(tmp, models):
    out = tmp / "out"
    _holders[str(tmp)] = _hold_lock(out)
    return sentiment_train_argv(write_sentiment_data(tmp), out)


def locked_check(tmp, result):
    holder = _holders.pop(str(tmp))
    try:
        assert f"pid {holder.pid}" in result.err
        assert not (tmp / "out" / "checkpoint").exists()
    finally:
        holder.kill()
        holder.wait(10)


def stale_lock(tmp, models):
    out = tmp / "out"
    holder = _hold_lock(out)
    os.kill(holder.pid, signal.SIGKILL)  # the lock file stays behind; the kernel dropped the lock
    holder.wait(10)
    assert (tmp / ".out.lock").exists()
    return sentiment_train_argv(write_sentiment_data(tmp), out)


def stale_check(tmp, result):
    assert (tmp / "out" / "pipeline.json").is_file()
    assert not (tmp / ".out.lock").exists()


def stranded_backup(tmp, models):
    """A kill right after the old folder was moved aside and before the new one was moved in."""
    out = tmp / "out"
    shutil.copytree(models["sentiment"], out)
    (out / "notes.txt").write_text("mine\n")
    os.rename(out, tmp / ".out.old-4242")
    partial = tmp / ".out.abcd1234.tmp"  # an unfinished new version: no pipeline.json yet
    partial.mkdir()
    (partial / "model.keras").write_bytes(b"PK partial")
    return ["sentiment", "predict", str(out), "good film", "--json"]


def stranded_check(tmp, result):
    assert '"label"' in result.out
    assert (tmp / "out" / "notes.txt").read_text() == "mine\n"
    _no_leftovers(tmp)


def unfinished_carry(tmp, models):
    """A kill after the new folder was moved in, before the user's files were carried across."""
    out = tmp / "out"
    shutil.copytree(models["sentiment"], tmp / ".out.old-4243")
    (tmp / ".out.old-4243" / "notes.txt").write_text("mine\n")
    (tmp / ".out.old-4243" / "training-log.csv").write_text("epoch,loss\n")
    shutil.copytree(models["sentiment"], out)
    return ["sentiment", "predict", str(out), "good film", "--json"]


def unfinished_check(tmp, result):
    assert (tmp / "out" / "notes.txt").read_text() == "mine\n"
    assert (tmp / "out" / "training-log.csv").is_file()
    _no_leftovers(tmp)


def retrain_after_stranded(tmp, models):
    """The next training run, not only a load, puts a stranded model back (and resumes it)."""
    data = write_sentiment_data(tmp)
    argv = sentiment_train_argv(data, tmp / "out")
    from nlp_tasks.cli import main as cli

    assert cli.main(argv) == 0
    os.rename(tmp / "out", tmp / ".out.old-4244")
    return argv


def retrain_check(tmp, result):
    assert "resumed_from_epoch" in result.out  # the checkpoint came back with the model: no retraining
    _no_leftovers(tmp)


def dangling_out(tmp, models):
    os.symlink(tmp / "missing-target", tmp / "out")
    return sentiment_train_argv(write_sentiment_data(tmp), tmp / "out")


def linked_out(tmp, models):
    (tmp / "real").mkdir()
    os.symlink(tmp / "real", tmp / "out")
    return sentiment_train_argv(write_sentiment_data(tmp), tmp / "out")


def linked_check(tmp, result):
    assert (tmp / "out").is_symlink(), "the link was replaced by a folder"
    assert (tmp / "real" / "pipeline.json").is_file()


def file_out(tmp, models):
    (tmp / "out").write_text("a file of mine\n")
    return sentiment_train_argv(write_sentiment_data(tmp), tmp / "out")


def unwritable_out(tmp, models):
    # /proc refuses new entries even to root: a real unwritable place, no mock.
    return sentiment_train_argv(write_sentiment_data(tmp), Path("/proc") / f"nlp-tasks-{time.time_ns()}" / "out")


CASES = [
    Case("22.1", "train refuses a user's non-empty folder and leaves it as it was", user_folder,
         error=r"not empty and was not written by nlp-tasks", check=user_folder_check),
    Case("22.1", "retraining into our model folder keeps the user's files byte for byte, links as links",
         model_folder_with_user_files, exit=0, check=model_folder_check),
    Case("22.1", "a file as --out is refused", file_out, error=r"is a file|exists and is not a folder",
         check=lambda tmp, r: (tmp / "out").read_text() == "a file of mine\n"),
    Case("22.2", "a second run into a locked folder is refused naming the holder's pid", locked_folder,
         error=r"in use by another nlp-tasks run \(pid \d+", check=locked_check),
    Case("22.2", "a killed run's stale lock is taken over", stale_lock, exit=0, check=stale_check),
    Case("22.3", "a model stranded in its backup is restored on load", stranded_backup, exit=0,
         check=stranded_check),
    Case("22.3", "a swap killed before carrying the user's files is finished on load", unfinished_carry, exit=0,
         check=unfinished_check),
    Case("22.3", "a model stranded in its backup is restored by the next training run", retrain_after_stranded,
         exit=0, check=retrain_check),
    Case("22.7", "a dangling link as --out is refused before training", dangling_out,
         error=r"is a link to .*which does not exist", check=lambda tmp, r: not (tmp / "missing-target").exists()),
    Case("22.7", "a link to a folder as --out saves into the folder and keeps the link", linked_out, exit=0,
         check=linked_check),
    Case("22.7", "an --out that cannot be created is refused before training", unwritable_out,
         error=r"cannot (create|write to) output folder"),
]
