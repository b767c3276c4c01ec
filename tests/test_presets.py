"""Every ``--preset`` is a recorded benchmark run: its settings, on top of the defaults, are the
configuration that ``benchmarks/results/*.json`` recorded for that row of RESULTS.md (so a changed
default, or a preset edited by hand, shows here), and every recorded row has its preset."""

from __future__ import annotations

import dataclasses
import json

from tests import REPO

RESULTS = REPO / "benchmarks" / "results"


def _run(name: str, data: str | None = None, seed: int = 0) -> dict:
    """The recorded configuration of results file ``name`` (in a multi-run file, the run on ``data``
    with ``seed``)."""
    recorded = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
    if data == "teacher":  # the first language model a run with --lm-features read
        return recorded["language_models"][0]["config"]
    if "runs" in recorded:
        (run,) = [r for r in recorded["runs"] if r["data"] == data and r["config"]["seed"] == seed]
        return run["config"]
    return (recorded.get("result") or recorded)["config"]


def _recorded():
    from tasks.charlm import LanguageModelConfig
    from tasks.g2p import G2PConfig
    from tasks.music import MusicConfig
    from tasks.ner import NERConfig
    from tasks.sentiment import SentimentConfig

    return {  # (config class, preset) -> the recorded configuration
        (NERConfig, "conll2003"): _run("ner"),
        (SentimentConfig, "sst5-trees"): _run("sentiment-trees", "sst5"),
        (SentimentConfig, "sst2-trees"): _run("sentiment-trees", "sst2"),
        (LanguageModelConfig, "tinyshakespeare"): _run("charlm"),
        (LanguageModelConfig, "teacher-small"): _run("ner-lm-forward", "teacher"),
        (LanguageModelConfig, "teacher-words"): _run("sentiment-trees-lm", "teacher"),
        (LanguageModelConfig, "teacher-words-ar"): _run("sentiment-trees-sentences-lm-ar", "teacher"),
        (MusicConfig, "jsb"): _run("music"),
        (MusicConfig, "jsb-nade"): _run("music-nade"),
        (G2PConfig, "cmudict"): _run("g2p-additive-strip"),
    }


def test_every_preset_is_the_configuration_its_benchmark_recorded():
    recorded = _recorded()
    for (config_class, preset), settings in recorded.items():
        config = config_class(**config_class.presets[preset])
        fields = {f.name for f in dataclasses.fields(config_class)}
        compared = {k: v for k, v in settings.items() if k in fields}
        assert len(compared) >= 10, (preset, compared)  # the record holds the model's settings, not a stub
        differ = {k: (getattr(config, k), v) for k, v in compared.items() if getattr(config, k) != v}
        assert differ == {}, f"--preset {preset} (preset, recorded): {differ}"


def test_every_task_with_a_recorded_run_has_its_presets_listed_here():
    recorded = _recorded()
    listed = {(cls, name) for cls in {cls for cls, _ in recorded} for name in cls.presets}
    assert listed == set(recorded)
