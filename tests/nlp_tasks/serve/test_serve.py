"""``nlp-tasks serve``: the real server on 127.0.0.1 and a free port, real HTTP clients (httpx and
urllib), every endpoint against the same pipeline in this process, every bad-input case, start-up
failures, and the dynamic batching of concurrent requests."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import threading
import time
import urllib.request
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests import REPO as ROOT
from tests import forked

TEXT = "Harry Potter visited Paris with Hermione Granger."


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def pipes(trained_models):
    from nlp_tasks.pipeline import Pipeline

    return {task: Pipeline.load(path) for task, path in trained_models.items()}


def post(client, model, operation, body):
    return client.post(f"/v1/models/{model}/{operation}", json=body)


# ---------------------------------------------------------------------- endpoints
def test_health_and_models(client, trained_models):
    assert client.get("/health").json() == {"status": "ok", "models": sorted(trained_models)}
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert {name: m["task"] for name, m in models.items()} == {t: t for t in trained_models}
    assert [op["name"] for op in models["charlm"]["operations"]] == ["generate", "score"]
    assert [op["name"] for op in models["g2p"]["operations"]] == ["pronounce"]
    assert models["g2p"]["info"]["beam"] == 3 and "SH" in models["g2p"]["info"]["phonemes"]
    assert models["ner"]["labels"][0] == "O" and models["sentiment"]["info"]["ratings"] is True
    assert models["music"]["config"]["units"] == 16 and "training" in models["music"]["metrics"]
    described = client.get("/v1/models/ner").json()
    assert described["folder"] == trained_models["ner"].name and "path" not in described  # no server paths
    assert str(trained_models["ner"].parent) not in client.get("/v1/models").text
    assert "/v1/models/ner/entities" in client.get("/openapi.json").json()["paths"]


def test_an_empty_text_gets_the_apis_empty_result(client, pipes):
    """As the CLI and the Python API: NER finds no entities, sentiment has no label ("empty")."""
    assert post(client, "ner", "entities", {"text": ""}).json()["entities"] == pipes["ner"].predict("") == []
    out = post(client, "sentiment", "sentiment", {"texts": ["good", "   "]})
    assert out.status_code == 200
    assert out.json()["results"] == pipes["sentiment"].predict(["good", "   "])
    assert out.json()["results"][1]["empty"] is True and out.json()["results"][1]["label"] is None


def test_entities_match_the_pipeline(client, pipes):
    out = post(client, "ner", "entities", {"text": TEXT}).json()
    assert out["entities"] == pipes["ner"].predict(TEXT)
    assert [e["text"] for e in out["entities"]] == [TEXT[e["start"]:e["end"]] for e in out["entities"]]
    assert {"type": "PER", "text": "Harry Potter"}.items() <= out["entities"][0].items()
    assert len(out["tags"]) == len(out["tokens"]) == 8
    many = post(client, "ner", "entities", {"texts": [TEXT, "Anna Berg left Rome ."]}).json()["results"]
    assert [r["entities"] for r in many] == pipes["ner"].predict([TEXT, "Anna Berg left Rome ."])


def test_entities_of_tokens_have_offsets_into_the_joined_tokens(client, pipes):
    tokens = ["Anna", "Berg", "visited", "U.S.", "Rome", "."]
    out = post(client, "ner", "entities", {"tokens": tokens}).json()
    assert out["text"] == " ".join(tokens) and out["tokens"] == tokens
    tags, _ = pipes["ner"].tag([tokens])
    assert out["tags"] == tags[0]
    assert all(out["text"][e["start"]:e["end"]] == e["text"] for e in out["entities"])


def test_sentiment_matches_the_pipeline(client, pipes):
    one = post(client, "sentiment", "sentiment", {"text": "a wonderful , moving film"}).json()
    assert one == pipes["sentiment"].predict("a wonderful , moving film")
    assert one["label"] == "4" and one["rating"] == 5 and abs(sum(one["probabilities"].values()) - 1) < 1e-4
    many = post(client, "sentiment", "sentiment", {"texts": ["a dull film", "a good film"]}).json()["results"]
    assert many == pipes["sentiment"].predict(["a dull film", "a good film"])


def test_sample_is_seeded_and_matches_the_pipeline(client, pipes):
    body = {"prime": "the ", "length": 40, "temperature": 0.8, "top_k": 5, "seed": 11, "samples": 2}
    first, again = post(client, "charlm", "generate", body).json(), post(client, "charlm", "generate", body).json()
    assert first == again and first["seed"] == 11 and first["prime"] == "the "
    assert first["samples"] == pipes["charlm"].generate("the ", 40, 0.8, 5, None, None, 11, n=2)
    fresh = post(client, "charlm", "generate", {"length": 5}).json()
    assert isinstance(fresh["seed"], int) and len(fresh["samples"]) == 1  # a fresh seed, returned
    beam = post(client, "charlm", "generate", {"prime": "the ", "length": 10, "beam": 3}).json()
    assert beam["samples"][0] == pipes["charlm"].generate("the ", 10, beam=3)
    # the operation's former name is still served, and says it is deprecated (issue 35 item 9)
    old = post(client, "charlm", "sample", body)
    assert old.json() == first and old.headers["Deprecation"] == "true"
    assert old.headers["Link"] == '</v1/models/charlm/generate>; rel="successor-version"'
    assert "Deprecation" not in post(client, "charlm", "generate", body).headers
    assert client.get("/openapi.json").json()["paths"]["/v1/models/charlm/sample"]["post"]["deprecated"] is True


def test_score_ranks_in_the_order_given(client, pipes):
    texts = ["the cat sat on the mat.", "tac eht"]
    out = post(client, "charlm", "score", {"texts": texts}).json()["results"]
    expected = pipes["charlm"].score(texts)
    assert [r["text"] for r in out] == texts and [r["rank"] for r in out] == [1, 2]
    assert [r["log_prob"] for r in out] == pytest.approx([r["log_prob"] for r in expected], rel=1e-5)
    assert "probabilities" not in out[0]
    one = post(client, "charlm", "score", {"text": "the dog.", "per_token": True}).json()
    assert one["rank"] == 1 and [t for t, _ in one["probabilities"]][:3] == ["t", "h", "e"]


def same_pronunciations(served, expected) -> bool:
    """The same words, phonemes and order; the numbers to float32 noise (another process: its own
    thread pool and batch)."""
    def exact(results):
        return [(r["word"], [(p["phonemes"], p["finished"]) for p in r["pronunciations"]]) for r in results]

    def numbers(results):
        return [p[k] for r in results for p in r["pronunciations"] for k in ("log_prob", "probability")]

    return exact(served) == exact(expected) and numbers(served) == pytest.approx(numbers(expected), abs=1e-4)


def test_pronounce_matches_the_pipeline(client, pipes):
    words = ["kit", "shim", "dot", "bad"]
    for nbest in (1, 2, 3):
        out = post(client, "g2p", "pronounce", {"words": words, "nbest": nbest}).json()["results"]
        assert same_pronunciations(out, pipes["g2p"].predict(words, nbest=nbest))
        assert [len(r["pronunciations"]) for r in out] == [nbest] * len(words)
    one = post(client, "g2p", "pronounce", {"word": "Shot"}).json()
    assert same_pronunciations([one], [pipes["g2p"].predict("Shot")])
    assert one["word"] == "Shot" and one["pronunciations"][0]["phonemes"] == "SH AA1 T"
    greedy = post(client, "g2p", "pronounce", {"word": "mask", "beam": 1}).json()
    assert same_pronunciations([greedy], [pipes["g2p"].predict("mask", beam=1)])
    best = post(client, "g2p", "pronounce", {"word": "kit", "nbest": 3}).json()["pronunciations"]
    assert [p["log_prob"] for p in best] == sorted((p["log_prob"] for p in best), reverse=True)
    assert all(0 < p["probability"] <= 1 and p["finished"] for p in best)


def test_pronounce_batches_requests_of_other_beams_and_nbest(pipes):
    """The words of several requests in one ``run`` (the worker's batch): each beam width searched
    once, each word cut to its own ``nbest``, every answer as if its request ran alone (but for
    float32 noise: a batch of another size rounds differently)."""
    from nlp_tasks.serve.spec import Limits
    from tasks.g2p.serve import PronounceBody

    pipe = pipes["g2p"]
    op = pipe.serve_spec().operations[0]
    bodies = [{"words": ["kit", "dot"], "nbest": 2}, {"word": "shim", "beam": 1}, {"words": ["bad"], "nbest": 3},
              {"words": ["mask"], "beam": 2, "nbest": 2}]
    items = [op.items(PronounceBody(**body), Limits()) for body in bodies]
    results = op.run([item for one in items for item in one])
    expected = [pipe.predict(b.get("words") or [b["word"]], nbest=b.get("nbest", 1), beam=b.get("beam"))
                for b in bodies]
    assert same_pronunciations(results, [r for one in expected for r in one])


def test_music_as_midi_wav_and_json(client, pipes):
    import mido
    import numpy as np

    body = {"steps": 12, "seed": 5, "tempo": 120}
    midi = post(client, "music", "generate", body)
    assert midi.headers["content-type"] == "audio/midi" and midi.headers["x-seed"] == "5"
    parsed = mido.MidiFile(file=io.BytesIO(midi.content))
    assert [t.name for t in parsed.tracks[1:]] == ["generated"]
    expected = pipes["music"].generate(steps=12, seed=5)["roll"]
    notes = sum(1 for m in parsed.tracks[1] if m.type == "note_on")
    from tasks.music.data import notes as roll_notes

    assert notes == len(roll_notes(np.asarray(expected)))
    wav = post(client, "music", "generate", {**body, "format": "wav"})
    with wave.open(io.BytesIO(wav.content)) as w:
        seconds = w.getnframes() / w.getframerate()
    assert (wav.headers["content-type"] == "audio/wav"
            and 12 * 0.5 <= seconds <= 12 * 0.5 + 0.2)  # 12 quarters at 120 bpm
    out = post(client, "music", "generate", {**body, "format": "json", "primer": [[60, 64], [62]]}).json()
    assert out["primer_steps"] == 2 and len(out["roll"]) == 14 and out["seed"] == 5
    assert out["roll"] == pipes["music"].generate(steps=12, primer=[[60, 64], [62]], seed=5)["roll"]
    assert out["midi_base64"] and out["wav_base64"]


def test_urllib_client(server):
    request = urllib.request.Request(f"{server.url}/v1/models/sentiment/sentiment", method="POST",
                                     data=json.dumps({"text": "a good film"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200 and json.load(response)["label"] == "3"


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "<textarea" in page.text and "/static/app.js" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN: nothing outside this server
    assert client.get("/static/app.js").status_code == 200 and client.get("/static/style.css").status_code == 200


# ---------------------------------------------------------------------- bad input
BAD = [
    ("sentiment", "sentiment", b'{"text": ', 400, "malformed JSON"),
    ("sentiment", "sentiment", b"", 400, "the request needs a JSON body"),
    ("sentiment", "sentiment", b'[1, 2]', 422, "body: Input should be a valid dictionary"),
    ("sentiment", "sentiment", {"text": 3}, 422, "text: Input should be a valid string"),
    ("sentiment", "sentiment", {"texts": "one"}, 422, "texts: Input should be a valid list"),
    ("charlm", "score", {"text": "   "}, 400, "text is empty"),
    ("charlm", "score", {"texts": ["the", ""]}, 400, "text 2 is empty"),
    ("sentiment", "sentiment", {"texts": []}, 400, "'texts' is empty"),
    ("sentiment", "sentiment", {}, 400, "give either 'text'"),
    ("sentiment", "sentiment", {"text": "a", "texts": ["b"]}, 400, "give either 'text'"),
    ("sentiment", "sentiment", {"text": "a", "lang": "en"}, 422, "lang: Extra inputs are not permitted"),
    ("sentiment", "sentiment", {"texts": ["a film"] * 257}, 413,
     "257 texts in one request, more than the limit of 256"),
    ("sentiment", "sentiment", {"text": "film " * 20_001}, 413, "more than the limit of 20,000 (--max-tokens)"),
    ("sentiment", "sentiment", {"text": "x" * 1_000_001}, 413, "larger than the limit of 1,000,000 bytes"),
    ("ner", "entities", {"tokens": ["Anna", ""]}, 400, "token 2 ('') is empty"),
    ("ner", "entities", {"tokens": ["Anna"], "text": "Anna"}, 400, "give one of 'text', 'texts' or 'tokens'"),
    ("charlm", "generate", {"length": 2001}, 413, "length must be from 1 to 2,000 (--max-length), got 2001"),
    ("charlm", "generate", {"temperature": -1}, 400, "temperature must be 0 (greedy) or from 0.001 to 1000, got -1"),
    ("charlm", "generate", {"beam": 2, "top_k": 3}, 400, "give --beam or --top-k/--top-p, not both"),
    ("charlm", "generate", {"length": "5"}, 422, "length: Input should be a valid integer"),
    ("charlm", "generate", {"seed": -1}, 400, "seed must be >= 0"),
    ("charlm", "score", {"text": "QQQ"}, 400, "text 1 contains character(s) the model never saw: 'Q'"),
    ("music", "generate", {"steps": 0}, 400, "steps must be from 1 to 2,000 (--max-length), got 0"),
    ("music", "generate", {"primer": [[200]]}, 400, "pitch 200 is outside the piano's 21..108"),
    ("music", "generate", {"format": "mp3"}, 422, "format: Input should be 'midi', 'wav' or 'json'"),
    ("g2p", "pronounce", {"word": ""}, 400, "word is empty"),
    ("g2p", "pronounce", {"words": ["kit", " "]}, 400, "word 2 is empty"),
    ("g2p", "pronounce", {"words": []}, 400, "'words' is empty: give at least one word"),
    ("g2p", "pronounce", {"nbest": 2}, 400, "give either 'word' (a string) or 'words' (a list of strings)"),
    ("g2p", "pronounce", {"word": "kit", "words": ["dim"]}, 400, "give either 'word'"),
    ("g2p", "pronounce", {"words": ["kit", "xyz"]}, 400, "word 2 ('xyz') has symbols the model never saw: 'x' 'y' 'z'"),
    ("g2p", "pronounce", {"word": "kit", "nbest": 4}, 400, "nbest must be from 1 to the beam width (3), got 4"),
    ("g2p", "pronounce", {"word": "kit", "beam": 2, "nbest": 3}, 400, "nbest must be from 1 to the beam width (2)"),
    ("g2p", "pronounce", {"word": "kit", "nbest": 0}, 400, "nbest must be from 1 to the beam width (3), got 0"),
    ("g2p", "pronounce", {"word": "kit", "beam": 50}, 400, "beam must be from 1 to 3 (the model's beam width), got 50"),
    ("g2p", "pronounce", {"word": "kit", "beam": 0}, 400, "beam must be from 1 to 3"),
    ("g2p", "pronounce", {"word": "kit", "nbest": "2"}, 422, "nbest: Input should be a valid integer"),
    ("g2p", "pronounce", {"words": "kit"}, 422, "words: Input should be a valid list"),
    ("g2p", "pronounce", {"word": "kit", "n": 2}, 422, "n: Extra inputs are not permitted"),
    ("g2p", "pronounce", {"words": ["kit"] * 257}, 413, "257 words in one request, more than the limit of 256"),
    ("g2p", "pronounce", {"word": "k" * 20_001}, 413, "more than the limit of 20,000 (--max-tokens)"),
    ("nope", "sentiment", {"text": "a"}, 404, "unknown model 'nope' (loaded: charlm, g2p, music, ner, sentiment)"),
    ("ner", "sample", {"text": "a"}, 404, "model 'ner' (ner) has no operation 'sample' (it has: entities)"),
]


@pytest.mark.parametrize("model, operation, body, status, message", BAD,
                         ids=[f"{m}-{o}-{msg[:30]}" for m, o, _, _, msg in BAD])
def test_bad_input_gets_a_4xx_and_one_line(client, model, operation, body, status, message):
    if isinstance(body, bytes):
        response = client.post(f"/v1/models/{model}/{operation}", content=body,
                               headers={"Content-Type": "application/json"})
    else:
        response = post(client, model, operation, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error and "\n" not in error and "Traceback" not in error


def test_chunked_body_over_the_limit_and_unknown_paths(client, server):
    def chunks():
        for _ in range(11):
            yield b"x" * 100_000

    response = client.post("/v1/models/sentiment/sentiment", content=chunks(),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "--max-body-bytes" in response.json()["error"]
    assert client.get("/nothing").json() == {"error": "no such path: /nothing (see /docs)"}
    assert client.get("/v1/models/ner/entities").status_code == 405


def test_the_server_keeps_running_and_logs_no_traceback(client, server):
    for model, operation, body, _, _ in BAD[:6]:
        if not isinstance(body, bytes):
            post(client, model, operation, body)
    assert client.get("/health").json()["status"] == "ok"
    assert server.process.poll() is None
    assert "Traceback" not in server.log.read_text(encoding="utf-8")


# ---------------------------------------------------------------------- batching
def test_concurrent_requests_are_batched(client, pipes):
    texts = [f"a {word} film" for word in ("good", "dull", "wonderful , moving", "ordinary") * 8]
    before = client.get("/v1/models/sentiment").json()["batching"]
    clients = [httpx.Client(base_url=str(client.base_url), timeout=120) for _ in range(16)]
    for c in clients:
        c.get("/health")  # connected before the start line, so that the requests arrive together
    start = threading.Barrier(len(clients))

    def two(index):
        start.wait(timeout=60)
        return [post(clients[index], "sentiment", "sentiment", {"text": text}).json()
                for text in texts[2 * index:2 * index + 2]]

    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            results = [r for pair in pool.map(two, range(len(clients))) for r in pair]
    finally:
        for c in clients:
            c.close()
    assert results == pipes["sentiment"].predict(texts)  # each request got its own answer
    after = client.get("/v1/models/sentiment").json()["batching"]
    calls, items = after["calls"] - before["calls"], after["items"] - before["items"]
    assert items == len(texts) and calls < len(texts)  # requests shared model calls
    assert after["waiting"] == 0  # every request answered: none left waiting


def _operation(record, fail_on=None):
    from nlp_tasks.errors import UserError
    from nlp_tasks.serve.spec import Operation

    def run(items):
        record.append((threading.current_thread().name, list(items)))
        if fail_on in items:
            raise UserError(f"bad item {fail_on}")
        return [item * 10 for item in items]

    return Operation("double", "", dict, lambda body, limits: body, run, lambda body, results: results,
                     warmup=([-1],))


@pytest.mark.parametrize("batching", [True, False])
def test_worker_batches_off_the_event_loop_and_isolates_errors(batching):
    from nlp_tasks.errors import UserError
    from nlp_tasks.serve.spec import Limits
    from nlp_tasks.serve.worker import ModelWorker

    record = []
    op = _operation(record, fail_on=7)
    worker = ModelWorker("toy", Limits(max_batch=8, batch_wait_ms=50, batching=batching), [op])

    async def main():
        jobs = [worker.submit(op, [i, i + 100]) for i in range(10)]
        return await asyncio.gather(*jobs, return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        worker.stop()
    for i, result in enumerate(results):
        if i == 7:
            assert isinstance(result, UserError) and result.message == "bad item 7"
        else:
            assert result == [10 * i, 10 * (i + 100)]
    assert {name for name, _ in record} == {"model-toy"}  # never on the event loop's thread
    assert record.pop(0)[1] == [-1]  # the warm-up ran first
    sizes = [len(items) for _, items in record]
    assert max(sizes) <= 8
    if batching:
        assert sizes[0] == 8  # four requests of two in the first call
    else:
        assert set(sizes) == {2} and len(record) == 10


# ---------------------------------------------------------------------- start-up
def _serve(*args, timeout=120):
    return forked.run(["serve", *args], cwd=ROOT, timeout=timeout)


def test_a_model_that_fails_to_load_stops_the_start(tmp_path, trained_models):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "pipeline.json").write_text("{not json", encoding="utf-8")
    result = _serve(str(trained_models["ner"]), str(broken), "--port", "0")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"error: {broken / 'pipeline.json'}: corrupt model description "
                                                  "(not valid UTF-8 JSON)"]
    missing = _serve(str(tmp_path / "missing"))
    assert (missing.returncode == 2
            and missing.stderr.strip() == f"error: {tmp_path / 'missing'}: model folder not found")


def test_start_up_mistakes_are_one_line(tmp_path, trained_models):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = _serve(str(trained_models["sentiment"]), "--port", str(port))
    assert busy.returncode == 2 and busy.stderr.strip().startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert len(busy.stderr.strip().splitlines()) == 1
    same = _serve(f"a={trained_models['ner']}", f"a={trained_models['sentiment']}")
    assert same.returncode == 2 and same.stderr.strip() == (
        "error: two models are named 'a': give NAME=FOLDER to tell them apart")
    assert _serve("--max-batch", "0", "x").returncode == 2


def test_model_names():
    from nlp_tasks.errors import UserError
    from nlp_tasks.serve import model_specs

    assert model_specs(["models/conll", "lm=models/shake"]) == {"conll": Path("models/conll"),
                                                                "lm": Path("models/shake")}
    with pytest.raises(UserError, match="cannot name the model"):
        model_specs(["x/a b"])
    with pytest.raises(UserError, match="nothing to serve"):
        model_specs([])


def test_open_opens_the_page_in_the_browser(tmp_path, trained_models):
    """``--open`` hands the page's address to the user's browser (Python's webbrowser, which
    follows $BROWSER; here a script that writes down what it was given)."""
    from tests.models import ServerProcess

    opened = tmp_path / "opened.txt"
    script = tmp_path / "browser.py"
    script.write_text(f"import sys; open({str(opened)!r}, 'w').write(sys.argv[1])\n", encoding="utf-8")
    os.environ["BROWSER"] = f"{sys.executable} {script} %s"
    try:
        server = ServerProcess(str(trained_models["sentiment"]), "--open", log=tmp_path / "stderr.log")
    finally:
        del os.environ["BROWSER"]
    try:
        for _ in range(100):
            if opened.exists() and opened.read_text():
                break
            time.sleep(0.1)
        assert opened.read_text() == server.url + "/"
        assert httpx.get(opened.read_text(), timeout=30).status_code == 200
    finally:
        server.stop()
