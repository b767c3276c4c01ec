"""nlp_tasks.saving.outdir: claiming, locking, swapping and recovering output folders, without TensorFlow.

The command-line side (a real training run into a user's folder, a held lock, a stranded model)
is in tests/faults/cases_outdir.py; these tests take each step and each kill point alone.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from nlp_tasks.errors import UserError
from nlp_tasks.saving import outdir
from nlp_tasks.saving.layout import MODEL
from tests import REPO

ROOT = str(REPO)  # the repository, as a string for cwd=


def _model(folder, label="old", vocabs=("words",)):
    folder.mkdir(parents=True, exist_ok=True)
    for name in vocabs:
        (folder / f"vocab-{name}.json").write_text(json.dumps({"v": label}))
    (folder / "model.keras").write_text(label)
    (folder / outdir.MARKER).write_text(json.dumps({"format": outdir.MARKER_FORMAT}))
    (folder / "pipeline.json").write_text(json.dumps({"format": "nlp_tasks.pipeline", "label": label,
                                                      "vocabularies": list(vocabs)}))
    return folder


def _new_version(final, label="new", vocabs=("words",)):
    tmp = outdir.make_temporary(final)
    _model(tmp, label, vocabs)
    return tmp


def _tree(folder):
    """Every entry below ``folder``: bytes for files, ('link', target) for links."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            key = os.path.relpath(path, folder)
            if os.path.islink(path):
                out[key] = ("link", os.readlink(path))
                if name in dirs:
                    dirs.remove(name)
            elif os.path.isfile(path):
                out[key] = open(path, "rb").read()
    return out


def _user_files(folder):
    (folder / ".git").mkdir(exist_ok=True)
    (folder / ".git" / "HEAD").write_bytes(b"ref\n")
    (folder / ".env").write_bytes(b"A=1\n")
    (folder / "vocab-mine.json").write_bytes(b"{}")
    (folder / "training-log.csv").write_bytes(b"epoch\n1\n")
    os.symlink("/etc/hostname", folder / "link")


def test_replace_keeps_everything_it_does_not_replace(tmp_path):
    final = _model(tmp_path / "m", vocabs=("words", "chars"))
    _user_files(final)
    before = {k: v for k, v in _tree(final).items() if not k.startswith(("pipeline", "model", "vocab-words",
                                                                          "vocab-chars", ".nlp"))}
    outdir.replace_directory(_new_version(final), final, MODEL)
    after = _tree(final)
    assert {k: after[k] for k in before} == before  # byte for byte, the link still a link
    assert json.loads(after["pipeline.json"])["label"] == "new"
    assert "vocab-chars.json" not in after  # the old model's own stale vocabulary is gone
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no backup or temporary folder left


def test_replace_refuses_a_user_file_with_a_name_it_would_write(tmp_path):
    final = tmp_path / "m"
    final.mkdir()
    (final / "model.keras").write_text("mine")  # no pipeline.json: not our model
    with pytest.raises(UserError, match="in the way"):
        outdir.replace_directory(_new_version(final), final, MODEL)
    assert (final / "model.keras").read_text() == "mine"


@pytest.mark.parametrize("kill_point", ["after backup", "after move in", "while carrying", "while writing"])
def test_recover_from_a_kill_at_each_point(tmp_path, kill_point):
    final = _model(tmp_path / "m")
    _user_files(final)
    user = {k: v for k, v in _tree(final).items() if k.startswith((".git", ".env", "vocab-mine", "training", "link"))}
    tmp = _new_version(final)
    backup = tmp_path / ".m.old-123"
    if kill_point == "while writing":
        (tmp / "pipeline.json").unlink()  # not complete: recovery must drop it and keep the old model
        expect = "old"
    else:
        os.replace(final, backup)
        expect = "new"
        if kill_point == "after backup":
            pass
        else:
            os.replace(tmp, final)
            if kill_point == "while carrying":
                os.rename(backup / ".env", final / ".env")
    outdir.recover(final, MODEL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    tree = _tree(final)
    assert {k: tree[k] for k in user} == user
    assert json.loads(tree["pipeline.json"])["label"] == expect


def test_recover_puts_the_backup_back_when_no_new_version_is_complete(tmp_path):
    final = _model(tmp_path / "m")
    tmp = _new_version(final)
    (tmp / "pipeline.json").unlink()
    os.replace(final, tmp_path / ".m.old-9")
    outdir.recover(final, MODEL)
    assert json.loads((final / "pipeline.json").read_text())["label"] == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_recover_leaves_a_temporary_folder_holding_foreign_files(tmp_path):
    final = _model(tmp_path / "m")
    odd = tmp_path / ".m.x1y2.tmp"
    odd.mkdir()
    (odd / "precious.txt").write_text("not ours")
    outdir.recover(final, MODEL)
    assert (odd / "precious.txt").read_text() == "not ours"


def test_claim_rules(tmp_path):
    assert outdir.claim(tmp_path / "new") == tmp_path / "new"  # a new folder is made and marked
    assert outdir.is_ours(tmp_path / "new")
    outdir.release(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    outdir.claim(tmp_path / "empty", lock=False)
    (tmp_path / "users").mkdir()
    (tmp_path / "users" / ".hidden").write_text("x")
    with pytest.raises(UserError, match="'.hidden' is in the way"):
        outdir.claim(tmp_path / "users", lock=False)
    assert sorted(os.listdir(tmp_path / "users")) == [".hidden"]
    assert not outdir.holds(tmp_path / "users")


def test_claim_follows_a_link_to_a_folder_and_refuses_a_dangling_one(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert outdir.claim(tmp_path / "link", lock=False) == tmp_path / "real"
    os.symlink(tmp_path / "gone", tmp_path / "dangling")
    with pytest.raises(UserError, match="which does not exist"):
        outdir.claim(tmp_path / "dangling")


def test_claim_reports_a_file_system_that_refuses_writes(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(outdir, "write_marker", read_only)
    with pytest.raises(UserError, match="Read-only file system"):
        outdir.claim(tmp_path / "out")
    assert not outdir.holds(tmp_path / "out")


def test_lock_is_exclusive_across_processes_and_reentrant_within_one(tmp_path):
    folder = tmp_path / "out"
    assert outdir.acquire(folder) is True
    assert outdir.acquire(folder) is False  # this process holds it already
    code = "import sys; from nlp_tasks.saving import outdir; outdir.acquire(sys.argv[1])"
    proc = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0 and f"pid {os.getpid()}" in proc.stderr
    outdir.release(folder)
    assert not outdir.lock_path(folder).exists()
    proc = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr


def _taken_elsewhere(folder) -> bool:
    """Whether another process can take ``folder``'s lock now (it takes it and lets it go)."""
    code = "import sys; from nlp_tasks.saving import outdir; outdir.acquire(sys.argv[1])"
    proc = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    return proc.returncode == 0


def test_held_releases_what_it_took_and_only_that(tmp_path):
    outer, inner = tmp_path / "a", tmp_path / "b"
    with outdir.held(outer) as folder:
        assert folder == outer and outdir.holds(outer) and not _taken_elsewhere(outer)
        with outdir.held(outer):  # an inner scope of the same folder (a save inside train)
            pass
        assert outdir.holds(outer)  # still the outer scope's
        with outdir.held(inner):  # another folder (fit into one, save into another)
            assert outdir.holds(inner)
        assert not outdir.holds(inner) and _taken_elsewhere(inner)
    assert not outdir.holds(outer) and _taken_elsewhere(outer)
    with pytest.raises(RuntimeError):
        with outdir.held(outer):
            raise RuntimeError("the run failed")
    assert not outdir.holds(outer)


def test_a_kept_scope_holds_what_a_claim_inside_it_took_until_it_ends(tmp_path):
    out = tmp_path / "out"
    with outdir.kept(out):  # Pipeline.train: nothing is claimed until its fit claims
        assert not outdir.holds(out) and not out.exists()
        with outdir.held(out):  # fit
            pass
        assert outdir.holds(out) and not _taken_elsewhere(out)
        with outdir.held(out):  # save
            pass
        assert outdir.holds(out)
        with outdir.held(tmp_path / "other"):  # another folder is not kept
            pass
        assert not outdir.holds(tmp_path / "other")
    assert not outdir.holds(out) and _taken_elsewhere(out)
    with pytest.raises(RuntimeError):
        with outdir.kept(out):
            with outdir.held(out):
                raise RuntimeError("the run failed")
    assert not outdir.holds(out)


def test_a_refused_claim_inside_a_scope_keeps_the_scopes_lock(tmp_path):
    folder = tmp_path / "out"
    with outdir.held(folder):
        (folder / outdir.MARKER).unlink()
        (folder / "notes.txt").write_text("mine")  # now a folder that is not ours
        with pytest.raises(UserError, match="'notes.txt' is in the way"):
            outdir.claim(folder)
        assert outdir.holds(folder)
    assert not outdir.holds(folder)


def test_the_kinds_say_what_marks_a_folder_as_ours(tmp_path):
    model = _model(tmp_path / "m")
    (model / outdir.MARKER).unlink()  # a model folder without the marker is still ours as a model folder
    assert not outdir.is_ours(model) and outdir.is_ours(model, MODEL)
    assert outdir.claim(model, lock=False, kind=MODEL) == model
    with pytest.raises(UserError, match="is in the way"):
        (model / outdir.MARKER).unlink()
        outdir.claim(model, lock=False)


def test_a_full_disk_at_the_final_save_keeps_the_checkpoint_and_a_rerun_saves(tmp_path, monkeypatch, capsys):
    import keras

    from nlp_tasks.cli import main as cli
    from tests.faults.models import sentiment_train_argv, write_sentiment_data

    argv = sentiment_train_argv(write_sentiment_data(tmp_path), tmp_path / "out")
    real_save = keras.Model.save

    def full_disk(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(keras.Model, "save", full_disk)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "checkpoint in it is kept" in err
    assert (tmp_path / "out" / "checkpoint" / "state.json").is_file()
    assert not (tmp_path / "out" / "pipeline.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "sent.txt"]  # no temporary folder, no lock
    monkeypatch.setattr(keras.Model, "save", real_save)
    assert cli.main(argv) == 0
    assert '"resumed_from_epoch": 1' in capsys.readouterr().out  # restored, not trained again
    assert (tmp_path / "out" / "pipeline.json").is_file()
