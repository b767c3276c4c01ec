"""The model card: ``README.md`` in every saved model and export folder.

The form the Hugging Face hub and KerasHub presets use: YAML front matter (library, task,
metrics) and sections for what the model is, how it was trained (config, data, the command),
how well it does (the metrics the training run recorded), how to use it, and its limits.
Everything in it comes from the pipeline's own record (``pipeline.json``) and from its task:
the pipeline tag, the one-line summary and the limits are the task's own
(``Pipeline.card_tag``, ``card_summary``, ``card_limits``; a neutral default in the base class).
"""

from __future__ import annotations

import json

from nlp_tasks.saving.layout import CARD_MARK, META_FILE


def _front_matter(pipe, metrics: dict) -> list[str]:
    tag = pipe.card_tag or "other"
    lines = ["---", "library_name: nlp-tasks", f"pipeline_tag: {tag}", "tags:", "- keras", "- recurrent",
             f"- {pipe.config.cell if hasattr(pipe.config, 'cell') else 'rnn'}"]
    figures = {k: v for k, v in (metrics.get("test") or {}).items() if isinstance(v, (int, float))}
    if figures:
        lines += ["model-index:", f"- name: {pipe.task}", "  results:", "  - task:", f"      type: {tag}",
                  "    metrics:"]
        lines += [f"    - type: {k}\n      value: {v}" for k, v in sorted(figures.items())]
    return lines + ["---"]


def model_card(pipe, export: dict | None = None) -> str:
    """The card's Markdown for ``pipe`` (and, in an export folder, the export's ``description``)."""
    from nlp_tasks import __version__

    cfg = pipe.config.to_dict()
    metrics = pipe.metrics or {}
    training = metrics.get("training") or {}
    summary = pipe.card_summary or f"A model of the task `{pipe.task}`."
    out = _front_matter(pipe, metrics) + ["", CARD_MARK, "", f"# nlp-tasks {pipe.task} model", "", summary, ""]
    out += ["## Model", "",
            f"Task `{pipe.task}`, written by nlp-tasks {__version__}. Vocabularies: "
            + (", ".join(f"{name} ({len(v):,} tokens)" for name, v in sorted(pipe.vocabs.items())) or "none")
            + (f". Labels: {', '.join(pipe.labels)}." if pipe.labels and len(pipe.labels) <= 40 else
               f". {len(pipe.labels)} labels." if pipe.labels else "."), ""]
    if pipe.model is not None:
        out += [f"Parameters: {pipe.model.count_params():,}.", ""]
    out += [f"Configuration (`{META_FILE}`, `config`):", "", "```json", json.dumps(cfg, indent=1, sort_keys=True),
            "```", ""]
    out += ["## Training data and how it was trained", ""]
    data = training.get("data")
    if isinstance(data, dict) and data:
        parts = {"train": "Trained on", "dev": "the best epoch chosen on", "test": "tested once on"}
        out += ["; ".join(f"{words} `{data[k]}`" for k, words in parts.items() if isinstance(data.get(k), str))
                + ".", ""]
    if isinstance(training.get("command"), str):
        out += [f"Command: `{training['command']}`", ""]
    counts = {k: v for k, v in training.items() if k.startswith("train_") and isinstance(v, (int, float))}
    if counts:
        out += ["; ".join(f"{k}: {v:,}" if isinstance(v, int) else f"{k}: {v:.1f}" for k, v in sorted(counts.items()))
                + ".", ""]
    if not training:
        out += ["No training record (a model built and saved without `fit`).", ""]
    out += ["## Metrics", ""]
    shown = False
    for split in ("test", "training"):
        figures = {k: v for k, v in (metrics.get(split) or {}).items() if isinstance(v, (int, float))
                   and not isinstance(v, bool)}
        if split == "training" and "best" in figures and isinstance(training.get("monitor"), str):
            # "best | 1" says nothing: name the figure and its epoch
            epoch = figures.pop("best_epoch", None)
            figures[f"best {training['monitor']}" + (f" (epoch {epoch})" if epoch is not None else "")] = \
                figures.pop("best")
        if figures:
            shown = True
            out += [f"{split}:", "", "| metric | value |", "|---|---|"]
            out += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
                    for k, v in sorted(figures.items())]
            out += [""]
    if not shown:
        out += ["None recorded.", ""]
    out += ["## Intended use", "", _usage(pipe.task, export), "", "## Limits", "", pipe.card_limits, ""]
    return "\n".join(out)


def _usage(task: str, export: dict | None) -> str:
    if export is None:
        return (f"Load with `from nlp_tasks.pipeline import Pipeline; Pipeline.load(folder)` or use "
                f"`nlp-tasks {task} ...` (see nlp-tasks' README). `nlp-tasks {task} export` writes it as a "
                "SavedModel, LiteRT or ONNX model.")
    lines = [f"An export ({export['export_format']}) that runs without nlp-tasks. Endpoints:", ""]
    for name, e in export["endpoints"].items():
        ins = ", ".join(f"`{i['name']}` {i['dtype']} {i['shape']}" for i in e["inputs"])
        outs = ", ".join(f"`{k}`" for k in e["outputs"])
        lines.append(f"- `{name}` ({e['file']}): {e['doc']} In: {ins}. Out: {outs}.")
    lines += ["", "`export.json` describes every input and output, the state layout and the special ids."]
    return "\n".join(lines)
