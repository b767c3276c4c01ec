"""SST benchmark: train on the sentence-level train split, select on dev, report test accuracy.

    .venv/bin/python benchmarks/sentiment.py                 # SST-5 and SST-2, default config
    .venv/bin/python benchmarks/sentiment.py --sets sst5 --epochs 12 --units 96
    .venv/bin/python benchmarks/sentiment.py --trees --seeds 0 1 2   # the parse trees, every phrase

Data comes from ``$NLP_TASKS_DATA/sst`` (default ``../shared/data/sst``). Writes
``benchmarks/results/sentiment.json`` and the ``sst`` section of ``benchmarks/RESULTS.md``:
test accuracy and macro-F1, the best dev accuracy and its epoch, training time on this machine,
and prediction throughput (texts/s, batched, over the test split).

``--trees`` trains on every labelled phrase of ``sst/trees/train.txt`` (``--phrases``; SST-2 with
``--tree-labels binary``: neutral phrases dropped) and selects and tests on the sentences of the
dev and test trees, the published setting; with ``--seeds`` it runs once per seed and reports
the mean and the range. It writes ``benchmarks/results/sentiment-trees.json`` and the
``sst/trees`` section instead; with ``--init-from FWD[,BWD]`` (saved word-level language models:
the encoder starts from them, :mod:`tasks.sentiment.init_lm`, issue 37) ``sentiment-trees-lm.json``
and the section "sst/trees, LM-initialised encoder", with each language model's shape, corpus,
cost and validation loss (with ULMFiT's ``--discriminative-lr``/``--gradual-unfreezing``:
``sentiment-trees-lm-ulmfit.json`` and "..., ULMFiT fine-tuning", so the two sit side by side).

    .venv/bin/python benchmarks/sentiment.py --trees --seeds 0 1 2 --epochs 4 --batch-size 64 \\
        --learning-rate 2e-3 --init-from WLM_FWD,WLM_BWD

``--lm-fine-tune EPOCHS`` first trains each language model further on the training trees'
sentences (``charlm train --init-from``, ULMFiT's second step: the target task's own text, the
dev and test sentences never), into ``--lm-out``, and starts the encoder from those: its own JSON
(``...-lm-tuned...``) and section ("..., LM fine-tuned on SST train"), with the pretrained and the
fine-tuned models' tables. A later run (ULMFiT's classifier options, say) reuses the models in
``--lm-out`` when they were trained from the same ``--init-from`` models for as many epochs on the
same sentences. ``--lm-penalties ALPHA,BETA`` fine-tunes them with AWD-LSTM's activation
penalties (``charlm train --activation-reg ALPHA --temporal-activation-reg BETA``): its own JSON
(``...-lm-tuned-ar...``) and section ("..., AR/TAR"); give it its own ``--lm-out``.

``--render`` added to a ``--trees`` command rewrites its section from the JSON that the same
command wrote, without training (after a change to how sections are drawn).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    RESULTS_DIR,
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
from tasks.sentiment import SentimentConfig, SentimentPipeline  # noqa: E402

PUBLISHED = {"sst5": "RNTN 45.7, CNN 48.0, Tree-LSTM 51.0", "sst2": "RNTN 85.4, CNN 87.2, Tree-LSTM 88.0"}
FLOOR = {"sst5": 40.0, "sst2": 80.0}
GOAL = {"sst5": 46.0, "sst2": 85.5}
TREE_PUBLISHED = {"sst5": "RNTN 45.7, CNN-rand 45.0, DCNN 48.5", "sst2": "RNTN 85.4, CNN-rand 82.7, DCNN 86.8"}
TREE_FLOOR = {"sst5": 45.7, "sst2": 85.4}  # RNTN (issue 19)
TREE_GOAL = {"sst5": 48.5, "sst2": 86.8}  # DCNN, random initialisation


def run(name: str, config: SentimentConfig, root: Path, trees: bool = False, init_from: str | None = None,
        phrases: bool = True) -> dict:
    if trees:
        files = {split: root / "sst" / "trees" / f"{split}.txt" for split in ("train", "dev", "test")}
        config = dataclasses.replace(config, phrases=phrases, tree_labels="binary" if name == "sst2" else "fine")
    else:
        files = {split: root / "sst" / f"{name}.{split}.txt" for split in ("train", "dev", "test")}
    pipe = SentimentPipeline(config)
    summary = pipe.fit(files["train"], files["dev"], verbose=2, init_from=init_from)
    report = pipe.evaluate(files["test"])
    texts = [text for text, _ in pipe.examples(files["test"], "test")]
    start = time.perf_counter()
    pipe.predict_proba(texts)
    throughput = report["examples"] / (time.perf_counter() - start)
    unknown = {"test_unknown_words": unknown_share(pipe.vocabs["words"], texts)}
    if init_from:  # the forward language model's vocabulary alone, without the training data's additions
        from tasks.charlm import LanguageModelPipeline

        unknown["test_unknown_words_lm"] = unknown_share(LanguageModelPipeline.load(init_from.split(",")[0]).vocab,
                                                          texts)
    return {**unknown,
        "data": name, "config": dataclasses.asdict(config), "train_examples": summary["train_examples"],
        "test_accuracy": report["accuracy"], "test_macro_f1": report["macro_f1"], "test_examples": report["examples"],
        "best_dev_accuracy": summary.get("best"), "best_epoch": summary.get("best_epoch"),
        "epochs_run": summary["epochs_run"], "train_seconds": summary["train_seconds"],
        "texts_per_second": throughput, "history": summary["history"],
    }


def unknown_share(vocab, texts) -> float:
    """The share of the words of ``texts`` that ``vocab`` maps to ``<unk>``."""
    ids = [i for text in texts for i in vocab.encode(text)]
    return sum(i == vocab.unk_id for i in ids) / max(len(ids), 1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["sst5", "sst2"], choices=["sst5", "sst2"])
    parser.add_argument("--trees", action="store_true", help="train on the parse trees' phrases (sst/trees)")
    parser.add_argument("--sentences-only", action="store_true",
                        help="with --trees: train on the training trees' sentences only, not their phrases (few "
                             "labels: where a language model's transfer should matter most)")
    parser.add_argument("--seeds", type=int, nargs="+", help="one run per seed (with --trees): mean and range")
    parser.add_argument("--init-from", default=None, metavar="FWD[,BWD]",
                        help="saved word-level language models to start the encoder from (with --trees)")
    parser.add_argument("--lm-fine-tune", type=int, default=None, metavar="EPOCHS",
                        help="first train the --init-from models further on the training sentences (ULMFiT)")
    parser.add_argument("--lm-penalties", default=None, metavar="ALPHA,BETA",
                        help="with --lm-fine-tune: AWD-LSTM's AR and TAR weights for the fine-tuning (charlm train "
                             "--activation-reg/--temporal-activation-reg)")
    parser.add_argument("--lm-out", type=Path, default=Path("/tmp/bench/sst-tuned-lms"),
                        help="where --lm-fine-tune saves the models it trains [default: %(default)s]")
    parser.add_argument("--render", action="store_true",
                        help="with --trees: rewrite the section from the JSON the same command wrote (no training)")
    parser.add_argument("--no-write", action="store_true",
                        help="print the figures only: leave RESULTS.md and benchmarks/results/ alone (screening runs)")
    add_settings(parser, SentimentConfig)
    args = parser.parse_args(argv)
    config = config_from_args(SentimentConfig, args)
    root = data_dir()
    if args.trees:
        return trees_main(args, config, root, argv)
    if args.init_from or args.lm_fine_tune:
        parser.error("--init-from and --lm-fine-tune are measured on the parse trees: add --trees")
    results = [run(name, config, root) for name in args.sets]
    if args.no_write:
        for r in results:
            print(f"{r['data']}: test accuracy {100 * r['test_accuracy']:.2f}%, best dev "
                  f"{100 * r['best_dev_accuracy']:.2f}% (epoch {r['best_epoch']}/{r['epochs_run']}, "
                  f"{r['train_seconds'] / 60:.1f} min)")
        return
    command = "python benchmarks/sentiment.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    machine = machine_info()
    write_json("sentiment.json", {"date": now(), "command": command.strip(), "machine": machine, "results": results})
    rows = []
    for r in results:
        acc = 100 * r["test_accuracy"]
        rows.append(f"| {r['data']} | {acc:.1f} | {100 * r['test_macro_f1']:.1f} | {100 * r['best_dev_accuracy']:.1f} "
                    f"(epoch {r['best_epoch']}/{r['epochs_run']}) | {r['train_seconds'] / 60:.1f} | "
                    f"{r['texts_per_second']:.0f} | {FLOOR[r['data']]} / {GOAL[r['data']]} | {PUBLISHED[r['data']]} |")
    cfg = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(config).items()
                    if k not in ("text_column", "label_column"))
    body = f"""Sentence-level SST files (`sst/`), train on train, best epoch by dev accuracy, test once.
Measured {now()} on {machine['cpu']} ({machine['cores']} cores, CPU only), TensorFlow {machine.get('tensorflow')},
commit {machine.get('commit')}. Command:

    {command.strip()}

Config: {cfg}. No pretrained embeddings.

| data | test accuracy % | test macro-F1 % | best dev accuracy % | train minutes | predict texts/s | floor / goal % \
| published (also trained on phrase labels) |
|---|---|---|---|---|---|---|---|
""" + "\n".join(rows)
    write_section("sst", body)
    for r in results:
        print(f"{r['data']}: test accuracy {100 * r['test_accuracy']:.2f}%  ({r['train_seconds'] / 60:.1f} min)")


@dataclasses.dataclass(frozen=True)
class Variant:
    """What a ``--trees`` command measures: its JSON, its section, and the settings they follow from."""

    path: Path  # the JSON
    stem: str  # the JSON without a language model (for the comparison line)
    base: str  # the section without a language model
    heading: str  # the section
    ulmfit: bool
    penalties: tuple[float, float] | None  # --lm-penalties
    teachers: tuple[dict, ...]  # the --init-from models (language_model_rows)


def variant(args, config) -> Variant:
    ulmfit = config.discriminative_lr is not None or config.gradual_unfreezing
    penalties = parse_penalties(args.lm_penalties, args.lm_fine_tune)
    stem = "sentiment-trees" + ("-sentences" if args.sentences_only else "")
    base = "sst/trees" + (", sentences only" if args.sentences_only else "")
    if not args.init_from:
        return Variant(RESULTS_DIR / f"{stem}.json", stem, base, base, ulmfit, penalties, ())
    teachers = tuple(language_model_rows(args.init_from))
    # teachers pretrained with AWD-LSTM's activation penalties: a JSON and section of their own
    pretrained_ar = any(row["config"].get("activation_reg") or row["config"].get("temporal_activation_reg")
                        for row in teachers)
    name = (stem + "-lm" + ("-ar" if pretrained_ar else "") + ("-tuned" if args.lm_fine_tune else "")
            + ("-ar" if penalties else "") + ("-ulmfit" if ulmfit else ""))
    heading = (f"{base}, LM-initialised encoder" + (", LMs pretrained with AR/TAR" if pretrained_ar else "")
               + (", LM fine-tuned on SST train" if args.lm_fine_tune else "")
               + (", AR/TAR" if penalties else "") + (", ULMFiT fine-tuning" if ulmfit else ""))
    return Variant(RESULTS_DIR / f"{name}.json", stem, base, heading, ulmfit, penalties, teachers)


def trees_main(args, config, root, argv) -> None:
    """The ``--trees`` benchmark: every phrase for training, sentences for selection and test."""
    import statistics

    seeds = args.seeds or [config.seed]
    command = "python benchmarks/sentiment.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    v = variant(args, config)
    if args.render:
        import json

        saved = json.loads(v.path.read_text(encoding="utf-8"))
        if saved["command"] != command.replace(" --render", ""):
            raise SystemExit(f"{v.path.name} was written by another command: {saved['command']}")
        return render_trees(args, saved, v)
    teachers = list(v.teachers)
    init_from = args.init_from
    if args.lm_fine_tune:
        if not args.init_from:
            raise SystemExit("--lm-fine-tune trains the --init-from models further: give --init-from")
        init_from = fine_tune_language_models(args.init_from, args.lm_fine_tune, root, args.lm_out, v.penalties)
        teachers += [{**row, "direction": f"{row['direction']}, fine-tuned"} for row in language_model_rows(init_from)]
    machine, runs = machine_info(), []
    for name in args.sets:
        for seed in seeds:
            result = run(name, dataclasses.replace(config, seed=seed), root, trees=True, init_from=init_from,
                         phrases=not args.sentences_only)
            runs.append({**result, "seed": seed})
            print(f"{name} seed {seed}: test accuracy {100 * result['test_accuracy']:.2f}%, best dev "
                  f"{100 * result['best_dev_accuracy']:.2f}% (epoch {result['best_epoch']}/{result['epochs_run']}, "
                  f"{result['train_seconds'] / 60:.1f} min)", flush=True)
            if args.no_write:
                continue
            write_json(v.path.name, {"date": now(), "command": command.strip(), "machine": machine,
                                   "language_models": teachers, "runs": runs})
    for name in args.sets:
        acc = [100 * r["test_accuracy"] for r in runs if r["data"] == name]
        dev = [100 * r["best_dev_accuracy"] for r in runs if r["data"] == name]
        print(f"{name}: test accuracy {statistics.mean(acc):.2f}% ({min(acc):.2f}-{max(acc):.2f}), best dev "
              f"{statistics.mean(dev):.2f}% over {len(acc)} run(s)", flush=True)
    if not args.no_write:
        saved = {"date": now(), "command": command.strip(), "machine": machine, "language_models": teachers,
                 "runs": runs}
        render_trees(args, saved, v)


def render_trees(args, saved, v: Variant) -> None:
    """The RESULTS.md section of a ``--trees`` run from what its JSON holds."""
    import statistics

    runs, machine, command = saved["runs"], saved["machine"], saved["command"]
    teachers = saved.get("language_models", [])  # none in a record from before --init-from
    # Trained on sentences alone, the setting of section sst (its floor, goal and published figures)
    floor, goal, published = (FLOOR, GOAL, PUBLISHED) if args.sentences_only else (TREE_FLOOR, TREE_GOAL,
                                                                                     TREE_PUBLISHED)
    rows = []
    for name in args.sets:
        mine = [r for r in runs if r["data"] == name]
        acc = [100 * r["test_accuracy"] for r in mine]
        f1 = [100 * r["test_macro_f1"] for r in mine]
        spread = f" ({min(acc):.1f}-{max(acc):.1f})" if len(acc) > 1 else ""
        epochs = ", ".join(f"{r['best_epoch']}/{r['epochs_run']}" for r in mine)
        rows.append(f"| {name} | {len(mine)} | {statistics.mean(acc):.1f}{spread} | {statistics.mean(f1):.1f} | "
                    f"{epochs} | {mine[0]['train_examples']:,} | "
                    f"{statistics.mean(r['train_seconds'] for r in mine) / 60:.1f} | {floor[name]} / "
                    f"{goal[name]} | {published[name]} |")
    seeds = list(dict.fromkeys(r["seed"] for r in runs))
    cfg = ", ".join(f"{k}={value}" for k, value in runs[0]["config"].items()  # as recorded
                    if k not in ("text_column", "label_column", "seed", "phrases", "tree_labels"))
    if teachers:
        which = " and a ".join(t["direction"] for t in teachers)
        how = ("fine-tuned as ULMFiT does (`--discriminative-lr`, `--gradual-unfreezing`: Howard and Ruder 2018)"
               if v.ulmfit else "then everything is trained on the labels")
        about = (f"The embedding table and the first layer start from a {which} word-level language model "
                 f"(`--init-from`: Dai and Le 2015; {how}); no other pretraining.")
        if args.lm_fine_tune:
            which = " and a ".join(t["direction"] for t in teachers if "fine-tuned" not in t["direction"])
            about = (f"A pretrained {which} word-level language model, each trained further for "
                     f"{args.lm_fine_tune} epochs on the {sentence_count(args.lm_out):,} training trees' sentences "
                     + (f"with AWD-LSTM's activation penalties (AR {v.penalties[0]:g}, TAR {v.penalties[1]:g}) "
                        if v.penalties else "") + "(`charlm train --init-from`, "
                     "ULMFiT's second step; never the dev or test sentences); the classifier's embedding table and "
                     f"first layer start from those (`--init-from`; {how}); no other pretraining.")
    else:
        about = "No pretrained embeddings."
    what = ("the root sentence of each training tree only (no phrase labels)" if args.sentences_only else
            "every distinct labelled phrase of the\ntraining trees")
    unit = "sentences" if args.sentences_only else "phrases"
    labels = f"(SST-2: neutral {unit} dropped, 0-1 negative, 3-4 positive)"
    body = f"""The treebank's parse trees (`sst/trees/`): train on {what} {labels}, best epoch by the
accuracy on the dev sentences, the test sentences scored once. Measured {saved['date']} on
{machine['cpu']} ({machine['cores']} cores, CPU only), TensorFlow {machine.get('tensorflow')}, commit
{machine.get('commit')}. Command:

    {command.strip()}

Config: {cfg}; seeds {', '.join(map(str, seeds))}. {about}

| data | runs | test accuracy % (mean, range) | test macro-F1 % | best epoch / run | training {unit} | train minutes \
| floor / goal % | published, no pretrained vectors{" (trained on phrase labels)" if args.sentences_only else ""} |
|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows)
    if teachers:
        lm_only = 100 * statistics.mean(r["test_unknown_words_lm"] for r in runs)
        mine = 100 * statistics.mean(r["test_unknown_words"] for r in runs)
        body += (f"\n\nTest words unknown (`<unk>`): {lm_only:.1f}% to the forward language model's vocabulary, "
                 f"{mine:.1f}% to the classifier's (the model's, extended by the training data's words it lacks)."
                 "\n\n" + language_model_table(teachers) + without_pretraining(v.stem, v.base))
    write_section(v.heading, body)


def parse_penalties(spec: str | None, fine_tune: int | None) -> tuple[float, float] | None:
    """``--lm-penalties ALPHA,BETA`` as two numbers (None without it)."""
    if spec is None:
        return None
    if not fine_tune:
        raise SystemExit("--lm-penalties applies to the --lm-fine-tune step: give --lm-fine-tune")
    try:
        alpha, beta = (float(v) for v in spec.split(","))
    except ValueError:
        raise SystemExit(f"--lm-penalties takes ALPHA,BETA (two numbers), got {spec!r}") from None
    return alpha, beta


def fine_tune_language_models(spec: str, epochs: int, root: Path, out: Path,
                              penalties: tuple[float, float] | None = None) -> str:
    """``FWD[,BWD]`` trained further on the training trees' sentences (``charlm train --init-from``,
    one process each, so each model records its command; ``penalties``: AR and TAR weights); the
    saved models' ``FWD[,BWD]``."""
    import subprocess

    pipe = SentimentPipeline(SentimentConfig())
    text = out / "sst-train-sentences.txt"
    out.mkdir(parents=True, exist_ok=True)
    sentences = "\n".join(s for s, _ in pipe.examples(root / "sst" / "trees" / "train.txt", "train")) + "\n"
    same_text = text.is_file() and text.read_text(encoding="utf-8") == sentences
    text.write_text(sentences, encoding="utf-8")
    tuned = []
    for direction, path in zip(("fwd", "bwd"), spec.split(",")):
        target = out / direction
        # a second recipe on the same fine-tuned models:
        if same_text and already_tuned(target, path, epochs, penalties or (0.0, 0.0)):
            print(f"reusing {target}: trained for {epochs} epochs from {path} on the same sentences", flush=True)
            tuned.append(str(target))
            continue
        command = [sys.executable, str(Path(__file__).resolve().parent.parent / "cli.py"), "charlm", "train",
                   "--train", str(text), "--init-from", path, "--epochs", str(epochs), "--max-vocab", "30000",
                   "--out", str(target)]
        if penalties:
            command[-2:-2] = ["--activation-reg", f"{penalties[0]:g}", "--temporal-activation-reg", f"{penalties[1]:g}"]
        print("$ " + shlex.join(command[1:]), flush=True)
        subprocess.run(command, check=True)
        tuned.append(str(target))
    return ",".join(tuned)


def sentence_count(out: Path) -> int:
    """How many sentences :func:`fine_tune_language_models` wrote for the language models."""
    return (out / "sst-train-sentences.txt").read_text(encoding="utf-8").count("\n")


def already_tuned(target: Path, source: str, epochs: int, penalties: tuple[float, float] = (0.0, 0.0)) -> bool:
    """Whether ``target`` holds a model trained for ``epochs`` from the model ``source`` (the same
    SHA-256 of its Keras file) with the same AR and TAR weights; the caller checks that the
    sentences are unchanged."""
    import json

    from nlp_tasks.teachers import model_digest

    meta = target / "pipeline.json"
    if not meta.is_file():
        return False
    saved = json.loads(meta.read_text(encoding="utf-8"))
    training = saved.get("metrics", {}).get("training", {})
    config = saved.get("config", {})
    return (training.get("init_from", {}).get("sha256") == model_digest(source) and config.get("epochs") == epochs
            and (config.get("activation_reg", 0.0), config.get("temporal_activation_reg", 0.0)) == penalties)


def without_pretraining(stem: str = "sentiment-trees", section: str = "sst/trees") -> str:
    """The recorded figures of ``section`` (``stem``.json) without a language model, for the LM section."""
    import json
    import statistics

    path = RESULTS_DIR / f"{stem}.json"
    if not path.exists():
        return ""
    base = json.loads(path.read_text(encoding="utf-8"))
    figures = []
    for name in ("sst5", "sst2"):
        acc = [100 * r["test_accuracy"] for r in base["runs"] if r["data"] == name]
        if acc:
            figures.append(f"{name} {statistics.mean(acc):.1f} (mean of {len(acc)})")
    return (f"\n\nWithout a language model (section {section}, {base['date'][:10]}, `{base['command']}`): "
            f"test accuracy {', '.join(figures)}.")

if __name__ == "__main__":
    main()
