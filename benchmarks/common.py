"""Shared helpers for the benchmark scripts: machine description and RESULTS.md sections."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"
RESULTS_DIR = ROOT / "benchmarks" / "results"


def machine_info() -> dict:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "load_average_1min": round(os.getloadavg()[0], 2)}
    try:
        import keras
        import tensorflow as tf

        info.update(tensorflow=tf.__version__, keras=keras.__version__,
                    gpus=[d.name for d in tf.config.list_logical_devices("GPU")])
    except ImportError:
        pass
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                        cwd=ROOT, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        info["commit"] = None
    return info


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def write_json(name: str, data: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / name
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_section(heading: str, body: str, path: Path = RESULTS_MD) -> None:
    """Replace the ``## heading`` section of RESULTS.md (up to the next ``## ``), or append it."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    lines = text.splitlines(keepends=True)
    title = f"## {heading}"
    start = next((i for i, line in enumerate(lines) if line.rstrip() == title), None)
    section = f"{title}\n\n{body.strip()}\n"
    if start is None:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        text = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def add_settings(parser, config_class) -> None:
    """One flag per setting of ``config_class`` (``--field-name``), with the field's default,
    help and choices, as the ``train`` commands have (:func:`nlp_tasks.cli.options.config_options`)."""
    import argparse
    import typing

    hints = typing.get_type_hints(config_class)
    for field in config_class.settings():
        meta, hint = field.metadata, hints[field.name]
        flag = "--" + field.name.replace("_", "-")
        if hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default, help=meta["help"])
            continue
        base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)

        def convert(text, base=base, optional=bool(meta.get("none"))):
            return None if optional and text.lower() == "none" else base(text)

        parser.add_argument(flag, type=convert, default=field.default, help=meta["help"],
                            choices=meta.get("choices"))


def config_from_args(config_class, args):
    """The config of the flags :func:`add_settings` added."""
    names = {f.name for f in config_class.settings()}
    return config_class(**{k: v for k, v in vars(args).items() if k in names})
