"""Load test of ``nlp-tasks serve``: the NER and sentiment endpoints under concurrent clients, with
dynamic batching on and off, in one run.

    .venv/bin/python benchmarks/serve.py                          # 32 clients, 20 s per endpoint
    .venv/bin/python benchmarks/serve.py --clients 8 --seconds 10
    .venv/bin/python benchmarks/serve.py --quick              # a smoke test: writes results/serve-quick.json only

The models: each task's default model (the quality benchmarks' config) trained for one epoch on
the first ``--train-examples`` training examples of its benchmark data set (CoNLL-2003 and SST-5;
speed does not depend on how well a model is trained), saved once. The server runs in a process
of its own on 127.0.0.1 and a free port (``nlp-tasks serve``), once with batching (the defaults:
``--max-batch 64 --batch-wait-ms 5``) and once with ``--no-batching``. Against each, this process
runs ``--clients`` concurrent clients (asyncio, one httpx connection each, a bounded number of
requests: each client sends one request at a time for ``--seconds``), first for NER (one CoNLL-2003
test sentence per request, as raw text), then for sentiment (one SST-5 test text per request),
after ``--warmup`` seconds of the same load that is not counted (TensorFlow traces the models'
functions for the shapes it meets, and the allocator grows, in the first seconds). Recorded per endpoint: requests/s,
latency p50 and p99, errors (any non-200 answer or failed request; must be 0), and the server's
resident memory (VmRSS) before and after the counted load. The speed-up is requests/s with
batching over requests/s without, both measured in this run. For reference, the same texts go
through the pipeline's own ``predict`` in this process, 64 per call and one per call (texts/s). Writes
``benchmarks/results/serve.json`` and the "Serving" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine_info, now, write_json, write_section  # noqa: E402


def train_models(data: Path, root: Path, train_examples: int) -> dict[str, Path]:
    from nlp_tasks.data.readers import read_conll
    from tasks.ner import NERConfig, NERPipeline
    from tasks.sentiment import SentimentConfig, SentimentPipeline, read_examples

    ner = NERPipeline(NERConfig(epochs=1, word_dropout=0.2))
    ner.fit(read_conll(data / "conll2003" / "train.txt")[:train_examples], None, verbose=0)
    sentiment = SentimentPipeline(SentimentConfig(epochs=1))
    sentiment.fit(read_examples(data / "sst" / "sst5.train.txt")[:train_examples], None, verbose=0)
    return {"ner": ner.save(root / "ner"), "sentiment": sentiment.save(root / "sentiment")}


def workloads(data: Path) -> dict[str, tuple[str, list[dict]]]:
    from nlp_tasks.data.readers import read_conll
    from tasks.sentiment import read_examples

    sentences = [" ".join(tokens) for tokens, _ in read_conll(data / "conll2003" / "test.txt") if tokens]
    texts = [text for text, _ in read_examples(data / "sst" / "sst5.test.txt")]
    return {"ner": ("/v1/models/ner/entities", [{"text": s} for s in sentences]),
            "sentiment": ("/v1/models/sentiment/sentiment", [{"text": t} for t in texts])}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def load(url: str, path: str, bodies: list[dict], clients: int, seconds: float) -> dict:
    """``clients`` loops, each sending one request at a time until ``seconds`` have passed."""
    import httpx

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(index: int):
        nonlocal errors
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            i = index
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    response = await http.post(path, json=bodies[i % len(bodies)])
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - start)
                errors += not ok
                i += clients

    start = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return {"requests": len(latencies), "errors": errors, "seconds": elapsed,
            "requests_per_second": len(latencies) / elapsed,
            "p50_ms": 1000 * statistics.median(ordered) if ordered else None,
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else None}


def in_process(models: dict, loads: dict, seconds: float) -> dict:
    """The same texts through the pipeline's own ``predict`` in this process, 64 per call and one per
    call: what batching can reach, and what one call per request costs (texts/s)."""
    from nlp_tasks.pipeline import Pipeline

    rates = {}
    for task, (_, bodies) in loads.items():
        pipe = Pipeline.load(models[task])
        texts = [b["text"] for b in bodies]
        rates[task] = {}
        for batch in (64, 1):
            pipe.predict(texts[:batch])  # compile
            done, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                pipe.predict(texts[done % len(texts):done % len(texts) + batch])
                done += batch
            rates[task][f"batch_{batch}"] = done / (time.perf_counter() - start)
    return rates


def run_server(models: dict, batching: bool, args, loads: dict, log: Path) -> dict:
    from tests.models import ServerProcess

    flags = [] if batching else ["--no-batching"]
    server = ServerProcess(*(f"{name}={path}" for name, path in models.items()), *flags, log=log)
    results = {}
    try:
        for task, (path, bodies) in loads.items():
            asyncio.run(load(server.url, path, bodies, args.clients, args.warmup))
            before = rss_kib(server.process.pid)
            result = asyncio.run(load(server.url, path, bodies, args.clients, args.seconds))
            result.update(rss_before_mib=before / 1024, rss_after_mib=rss_kib(server.process.pid) / 1024)
            results[task] = result
            print(f"{'batching' if batching else 'no batching'} {task}: {result['requests_per_second']:.1f} req/s, "
                  f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, {result['errors']} errors, RSS "
                  f"{result['rss_before_mib']:.0f} -> {result['rss_after_mib']:.0f} MiB", flush=True)
    finally:
        server.stop()
    return results


def main(argv=None) -> None:
    from nlp_tasks.io.paths import data_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0, help="counted load per endpoint and server")
    parser.add_argument("--warmup", type=float, default=10.0, help="uncounted load before each measurement")
    parser.add_argument("--train-examples", type=int, default=2000)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test (4 clients, 2 s, 200 examples) that writes results/serve-quick.json only")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.seconds, args.warmup, args.train_examples = 4, 2.0, 1.0, 200
    data = data_dir()
    loads = workloads(data)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        print("training one epoch of each model", flush=True)
        models = train_models(data, root, args.train_examples)
        runs = {"batching": run_server(models, True, args, loads, root / "batching.log"),
                "no_batching": run_server(models, False, args, loads, root / "no-batching.log")}
        reference = in_process(models, loads, min(args.seconds, 10.0))
    speedup = {task: runs["batching"][task]["requests_per_second"] / runs["no_batching"][task]["requests_per_second"]
               for task in loads}
    command = "python benchmarks/serve.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    result = {"date": now(), "machine": machine_info(), "command": command.strip(), "clients": args.clients,
              "seconds": args.seconds, "runs": runs, "speedup": speedup, "in_process_texts_per_second": reference}
    write_json("serve-quick.json" if args.quick else "serve.json", result)
    if args.quick:
        return
    rows = []
    for mode in ("batching", "no_batching"):
        for task, r in runs[mode].items():
            rows.append(f"| {task} | {mode.replace('_', ' ')} | {r['requests_per_second']:.1f} | {r['p50_ms']:.1f} | "
                        f"{r['p99_ms']:.1f} | {r['errors']} | {r['rss_before_mib']:.0f} -> {r['rss_after_mib']:.0f} |")
    m = result["machine"]
    body = f"""`{result['command']}` on {m['cpu']} ({m['cores']} cores), {result['date'][:10]}, commit {m['commit']}.
`nlp-tasks serve` of each task's default model (one epoch on the first {args.train_examples:,} training examples:
CoNLL-2003 for NER, SST-5 for sentiment) on 127.0.0.1; {args.clients} concurrent clients in this process, each
sending one request at a time for {args.seconds:g} s per endpoint (one CoNLL-2003 test sentence or one SST-5 test
text per request), after {args.warmup:g} s of uncounted load. The same load against the same models with
`--no-batching`, in the same run.

| endpoint | server | requests/s | p50 ms | p99 ms | errors | server RSS MiB (before -> after) |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Dynamic batching: NER {speedup['ner']:.2f}x and sentiment {speedup['sentiment']:.2f}x the requests/s without it.
For reference, the pipeline's own `predict` in the benchmark's process (no server, no HTTP), on the same
texts: NER {reference['ner']['batch_64']:.0f} texts/s at 64 per call, {reference['ner']['batch_1']:.0f} at one per
call; sentiment {reference['sentiment']['batch_64']:.0f} and {reference['sentiment']['batch_1']:.0f}.
The clients run in one Python process (httpx, asyncio) on the same {m['cores']} cores as the server, so
these rates include the clients' cost.
"""
    write_section("Serving: nlp-tasks serve under load (conll2003, sst)", body)
    print(body)


if __name__ == "__main__":
    main()
