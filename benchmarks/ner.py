"""CoNLL-2003 NER benchmark: train on train, keep the best epoch by valid entity F1, test once.

    .venv/bin/python benchmarks/ner.py                      # default NERConfig
    .venv/bin/python benchmarks/ner.py --epochs 40 --units 256 --head softmax
    .venv/bin/python benchmarks/ner.py --epochs 20 --word-dropout 0.2 --lm-features LM_FWD,LM_BWD   # issue 37

Data: ``$NLP_TASKS_DATA/conll2003/{train,valid,test}.txt`` (default ``../shared/data``). No
pretrained embeddings. Writes ``benchmarks/results/ner.json`` (with the per-epoch history) and
the ``conll2003`` section of ``benchmarks/RESULTS.md``: test entity F1 (micro and per type, as
conlleval), training time on this machine, and prediction throughput (sentences/s, batched).
The trained model is saved to ``--save`` (default ``runs/ner-conll2003``, ignored by git).
With ``--lm-features FWD[,BWD]`` (saved character language models, :mod:`tasks.ner.lm_features`)
it writes ``ner-lm.json`` and the section "conll2003, with character-LM features" instead (with
one model: ``ner-lm-forward.json``, "... (forward only)"), with each language model's size, corpus,
training time and validation loss.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    RESULTS_DIR,
    ROOT,
    add_settings,
    config_from_args,
    language_model_rows,
    language_model_table,
    machine_info,
    now,
    write_json,
    write_section,
)
from nlp_tasks.io.paths import data_dir  # noqa: E402
from nlp_tasks.metrics import format_conlleval  # noqa: E402
from tasks.ner import NERConfig, NERPipeline  # noqa: E402

PUBLISHED = ("BiLSTM (random emb.) 81.11, BiLSTM-CRF (random emb.) 84.26 (Huang et al. 2015); "
             "with GloVe: BLSTM 87.00, BLSTM-CNN-CRF 91.21 (Ma & Hovy 2016); LSTM-CRF 90.94 (Lample et al. 2016)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_settings(parser, NERConfig)
    parser.add_argument("--save", default=str(ROOT / "runs" / "ner-conll2003"))
    parser.add_argument("--lm-features", default=None, metavar="FWD[,BWD]",
                        help="saved character language models whose states join the features")
    parser.add_argument("--render", default=None, metavar="JSON",
                        help="write the RESULTS.md section of a recorded run again (a file of benchmarks/results)")
    args = parser.parse_args(argv)
    if args.render:
        return render(json.loads((RESULTS_DIR / args.render).read_text(encoding="utf-8")))
    config = config_from_args(NERConfig, args)
    folder = data_dir() / "conll2003"
    pipe = NERPipeline(config)
    summary = pipe.fit(folder / "train.txt", folder / "valid.txt", verbose=2, lm_features=args.lm_features)
    report = pipe.evaluate(folder / "test.txt")
    pipe.metrics["test"] = pipe.test_summary(report)
    pipe.save(args.save)
    print(format_conlleval(report))
    command = ("python benchmarks/ner.py " + shlex.join(argv if argv is not None else sys.argv[1:])).strip()
    teachers = language_model_rows(args.lm_features) if args.lm_features else []
    record = {"date": now(), "command": command, "machine": machine_info(), "language_models": teachers,
              "config": dataclasses.asdict(config), "test": report,
              "best_dev_f1": summary.get("best"), "best_epoch": summary.get("best_epoch"),
              "epochs_run": summary["epochs_run"], "train_seconds": summary["train_seconds"],
              "history": summary["history"]}
    write_json(results_name(teachers), record)
    render(record)


def render(record: dict) -> None:
    """The RESULTS.md section of a run's record (``--render FILE`` writes it again from the JSON)."""
    report, machine, teachers = record["test"], record["machine"], record.get("language_models") or []
    rows = "\n".join(f"| {kind} | {100 * r['precision']:.2f} | {100 * r['recall']:.2f} | {100 * r['f1']:.2f} | "
                     f"{r['gold']} |"
                     for kind, r in report["per_type"].items())
    cfg = ", ".join(f"{k}={v}" for k, v in record["config"].items())
    if teachers:
        which = " and a ".join(t["direction"] for t in teachers)
        words = {"forward": "the forward model's after each word and the space after it",
                 "backward": "the backward model's before each word, read from the sentence's end"}
        about = (f"No pretrained word vectors. The states of a {which} character language model ("
                 + "; ".join(words[t["direction"]] for t in teachers)
                 + ") join the word, casing and character features (`--lm-features`, frozen; Akbik et al. 2018).")
    else:
        about = "No pretrained embeddings."
    body = f"""CoNLL-2003 English (`conll2003/`): train on train.txt, best epoch by valid.txt entity F1,
test.txt once; conlleval scoring. {about}
Measured {record['date']} on {machine['cpu']}
({machine['cores']} cores, CPU only), TensorFlow {machine.get('tensorflow')}, commit {machine.get('commit')}.
{record.get('note', '')}
Command:

    {record['command']}

Config: {cfg}.

**Test entity F1 {100 * report['f1']:.2f}** (precision {100 * report['precision']:.2f}, recall
{100 * report['recall']:.2f}; token accuracy {100 * report['accuracy']:.2f}); best valid F1
{100 * (record['best_dev_f1'] or 0):.2f} at epoch {record['best_epoch']} of {record['epochs_run']};
training {record['train_seconds'] / 60:.1f} min; prediction {report['sentences_per_second']:.0f} sentences/s
(batched, decoding included). Floor 85.0, goal 88.0. Published: {PUBLISHED}.

| type | precision | recall | F1 | gold entities |
|---|---|---|---|---|
{rows}"""
    if teachers:
        body += "\n\n" + language_model_table(teachers)
        without = RESULTS_DIR / "ner.json"
        if without.exists():
            base = json.loads(without.read_text(encoding="utf-8"))
            body += (f"\n\nWithout LM features (section conll2003, {base['date'][:10]}, "
                     f"`{base['command']}`): test F1 {100 * base['test']['f1']:.2f}, best valid "
                     f"{100 * base['best_dev_f1']:.2f}.")
    heading = "conll2003"
    if teachers:
        heading += ", with character-LM features" + (" (forward only)" if len(teachers) == 1 else "")
    write_section(heading, body)


def results_name(teachers: list) -> str:
    """``ner.json``; with LM features ``ner-lm.json`` (both directions) or ``ner-lm-forward.json``."""
    return "ner.json" if not teachers else "ner-lm.json" if len(teachers) == 2 else "ner-lm-forward.json"


if __name__ == "__main__":
    main()
