"""``nlp-tasks serve`` under requests that would exhaust it or crash it (issue 38 items 2, 3, 8).

The work a request may cause is bounded as a whole, not only parameter by parameter (413 naming
the option); a lone surrogate in any text is a one-line 422, never a 500; tempi outside what MIDI
can hold are refused; a request head is bounded in size (431); and on SIGTERM the requests still
waiting for a model get 503 with a one-line JSON body while the process exits within seconds.
Most tests share the session's server (``server`` in tests/conftest.py); the shutdown test
starts one of its own.
"""

from __future__ import annotations

import io
import json
import signal
import socket
import threading
import time
import wave
from pathlib import Path

import httpx
import pytest

from nlp_tasks.serve.spec import Limits

LIMITS = Limits()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


def post(client, model, operation, body):
    if isinstance(body, bytes):  # raw JSON, for escapes that Python's encoder would not write
        return client.post(f"/v1/models/{model}/{operation}", content=body,
                           headers={"Content-Type": "application/json"})
    return client.post(f"/v1/models/{model}/{operation}", json=body)


def one_line_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert "\n" not in error and "Traceback" not in error
    return error


# ---------------------------------------------------------------------- item 2: the work of a request
OVER = [
    ("charlm", "generate", {"samples": 10_000, "length": 2_000},
     "10,000 samples of 2,000 tokens is 20,000,000 tokens in one run, more than the limit of 100,000 "
     "(--max-sample-tokens)"),
    ("charlm", "generate", {"samples": 50, "length": 2_000, "prime": "the "},
     "after a prime of 4 is 100,200 tokens in one run, more than the limit of 100,000 (--max-sample-tokens)"),
    ("charlm", "generate", {"beam": 100, "length": 2_000},
     "beam search with 100 hypotheses of 2,000 tokens is 200,000 tokens"),
    ("music", "generate", {"tempo": 4, "steps": 2_000, "format": "wav"},
     "2,000 time steps at 4 bpm (1 per quarter note) are 30,000 s of audio, more than the limit of 300 s "
     "(--max-audio-seconds)"),
    ("music", "generate", {"steps": 2_000, "format": "json"}, "are 1,200 s of audio"),  # JSON holds the WAV too
    ("music", "generate", {"steps": 499, "primer": [[60], [62]], "format": "wav"}, "501 time steps at 100 bpm"),
    ("charlm", "generate", {"length": 2_001}, "length must be from 1 to 2,000 (--max-length), got 2001"),
    ("sentiment", "sentiment", {"texts": ["a film"] * 257}, "257 texts in one request, more than the limit of 256"),
]


@pytest.mark.parametrize("model, operation, body, message", OVER, ids=[m[:40] for *_, m in OVER])
def test_a_request_over_a_work_bound_is_refused_413(client, model, operation, body, message):
    assert message in one_line_error(post(client, model, operation, body), 413)


def test_the_work_at_the_bound_is_allowed():
    from nlp_tasks.decoding.sampling import check_work
    from nlp_tasks.errors import UserError

    check_work(50, 2_000, limit=100_000)  # samples x length, exactly the bound
    check_work(49, 2_000, prime=40, limit=100_000)  # 98,000 + 49 x 40
    check_work(1, 1_000, prime=99_000, beam=None, limit=100_000)
    check_work(1, 1_000, prime=1_000, beam=99, limit=100_000)  # the prime is read once, then 99 hypotheses
    with pytest.raises(UserError, match="100,001 tokens in one run, more than the limit of 100,000 "
                                        r"\(--max-sample-tokens\)"):
        check_work(1, 1_000, prime=99_001, limit=100_000, option="--max-sample-tokens")


def test_the_words_of_a_pronunciation_request_are_bounded_with_the_beam(trained_models):
    """words x beam width x the model's longest output (60) within --max-decode-tokens: a narrower
    beam or fewer words fit where more do not; the bound is met before the model runs."""
    from fastapi.testclient import TestClient

    from nlp_tasks.pipeline import Pipeline
    from nlp_tasks.serve.app import create_app

    pipe = Pipeline.load(trained_models["g2p"])
    app = create_app({"g2p": (pipe, trained_models["g2p"])}, Limits(max_decode_tokens=360))
    with TestClient(app) as test:
        error = one_line_error(post(test, "g2p", "pronounce", {"words": ["kit", "dim", "bad"], "beam": 3}), 413)
        assert error == ("3 words x a beam of 3 x up to 60 phonemes is 540 tokens in one request, more than the "
                         "limit of 360 (--max-decode-tokens): ask for fewer words or a narrower beam")
        calls = test.get("/v1/models/g2p").json()["batching"]["calls"]
        assert post(test, "g2p", "pronounce", {"words": ["kit", "dim", "bad"], "beam": 2}).status_code == 200
        assert post(test, "g2p", "pronounce", {"words": ["kit", "dim"]}).status_code == 200  # 2 x 3 x 60 = 360
        assert test.get("/v1/models/g2p").json()["batching"]["calls"] == calls + 2  # the refused one never ran
    assert LIMITS.max_decode_tokens >= LIMITS.max_texts * 5 * 60  # a full request at CMUdict's beam (5) fits


def test_slow_audio_under_the_bound_is_answered(client):
    wav = post(client, "music", "generate", {"steps": 5, "tempo": 4, "seed": 1, "format": "wav"})  # 75 s of audio
    with wave.open(io.BytesIO(wav.content)) as w:
        assert abs(w.getnframes() / w.getframerate() - 75) < 0.2


def test_defaults_keep_the_worst_request_small():
    """The bounds' products, not only each limit: a sample request cannot ask for more than
    ``max_sample_tokens`` tokens, nor a WAV for more than ``max_audio_seconds`` (13 MB)."""
    from tasks.music.audio import SAMPLE_RATE

    assert LIMITS.max_sample_tokens < 10_000 * LIMITS.max_length  # what samples x length alone allowed
    assert LIMITS.max_audio_seconds * SAMPLE_RATE * 2 < 16_000_000  # bytes of 16-bit mono WAV


# ---------------------------------------------------------------------- item 3: bad input is 4xx
SURROGATES = [
    ("ner", "entities", b'{"text": "Anna \\ud800 Berg"}', "text: has a lone surrogate (\\ud800) at character 6"),
    ("ner", "entities", b'{"texts": ["Anna", "\\udfff"]}', "texts: item 2 has a lone surrogate (\\udfff)"),
    ("ner", "entities", b'{"tokens": ["Anna", "B\\ud800"]}',
     "tokens: item 2 has a lone surrogate (\\ud800) at character 2"),
    ("sentiment", "sentiment", b'{"text": "\\ud83d"}', "text: has a lone surrogate (\\ud83d) at character 1"),
    ("sentiment", "sentiment", b'{"texts": ["a good film", "\\udc00"]}', "texts: item 2 has a lone surrogate"),
    ("charlm", "score", b'{"text": "the \\ud800"}', "text: has a lone surrogate"),
    ("charlm", "score", b'{"texts": ["the cat", "\\ud800"]}', "texts: item 2 has a lone surrogate"),
    ("charlm", "generate", b'{"prime": "the \\ud800", "length": 5}', "prime: has a lone surrogate"),
    ("g2p", "pronounce", b'{"word": "k\\ud800t"}', "word: has a lone surrogate (\\ud800) at character 2"),
    ("g2p", "pronounce", b'{"words": ["kit", "\\udfff"]}', "words: item 2 has a lone surrogate (\\udfff)"),
]


@pytest.mark.parametrize("model, operation, body, message", SURROGATES,
                         ids=[f"{m}-{body[:20]!r}" for m, _, body, _ in SURROGATES])
def test_a_lone_surrogate_is_a_422_in_every_text_field(client, model, operation, body, message):
    assert message in one_line_error(post(client, model, operation, body), 422)


def test_a_surrogate_pair_is_a_character(client):
    pair = post(client, "sentiment", "sentiment", b'{"text": "a good film \\ud83d\\ude00"}')
    assert pair.status_code == 200 and pair.json()["text"] == "a good film \U0001F600"


@pytest.mark.parametrize("tempo", [1, 3.5, 3.58, 1000.5])
def test_tempo_outside_what_midi_holds_is_refused(client, tempo):
    error = one_line_error(post(client, "music", "generate", {"tempo": tempo}), 400)
    bound = ">= 4" if tempo < 4 else "<= 1,000"  # the range of the setting (tasks.music.generation), as the CLI's
    assert error == f"tempo must be {bound}, got {float(tempo)!r}"


def test_the_slowest_tempo_is_written(client):
    import mido

    midi = post(client, "music", "generate", {"tempo": 4, "steps": 2_000, "seed": 2})  # MIDI: no audio to render
    assert midi.status_code == 200 and midi.headers["content-type"] == "audio/midi"
    tempi = [m.tempo for m in mido.MidiFile(file=io.BytesIO(midi.content)).tracks[0] if m.type == "set_tempo"]
    assert tempi == [15_000_000]


# ---------------------------------------------------------------------- item 8: the request head
def server_rss_kb(server) -> int:
    status = open(f"/proc/{server.process.pid}/status", encoding="ascii").read()
    return int(status.split("VmRSS:")[1].split()[0])


def send_head(url: str, header_bytes: int) -> bytes:
    """Send ``GET /health`` with one header of ``header_bytes`` and read the answer (b"" when the
    server closes the connection while the head is still being sent)."""
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
            chunk = b"a" * 65_536
            for _ in range(header_bytes // len(chunk)):
                sock.sendall(chunk)
            sock.sendall(b"\r\n\r\n")
        except OSError:  # reset while sending: the server refused the head
            pass
        try:
            return sock.recv(4096)
        except ConnectionResetError:
            return b""


def test_a_huge_header_is_refused_before_it_is_held(client, server):
    if not Path(f"/proc/{server.process.pid}/status").exists():
        pytest.skip("needs /proc to read the server's memory")
    before = server_rss_kb(server)
    for _ in range(3):
        answer = send_head(server.url, 32_000_000)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        if answer:
            body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
            assert body == {"error": "the request's headers are larger than the limit of 65,536 bytes "
                                     "(--max-header-bytes)"}
    assert server_rss_kb(server) - before < 40_000  # three 32 MB heads: not held
    assert send_head(server.url, 0).startswith(b"HTTP/1.1 200 ")
    assert client.get("/health", headers={"X-Long": "a" * 60_000}).status_code == 200  # under the limit
    assert client.get("/health", headers={"X-Long": "a" * 70_000}).status_code == 431  # over it, in one read


# ---------------------------------------------------------------------- item 8: shutdown
def test_drain_answers_the_running_and_the_queued_requests_and_runs_no_more():
    """What the server does on SIGTERM, without a server: every request waiting for the model is
    answered :class:`Unavailable` at once, the running call is not waited for, queued ones never run."""
    import asyncio

    from nlp_tasks.serve.spec import Operation
    from nlp_tasks.serve.worker import ModelWorker, Unavailable

    started, release, ran = threading.Event(), threading.Event(), []

    def run(items):
        ran.append(list(items))
        started.set()
        release.wait(timeout=30)  # a long model call
        return items

    op = Operation("slow", "", dict, lambda body, limits: body, run, lambda body, results: results, batched=False)
    worker = ModelWorker("toy", Limits(), [op])

    async def main():
        jobs = [asyncio.ensure_future(worker.submit(op, [i])) for i in range(3)]
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
        worker.drain()
        results = await asyncio.gather(*jobs, return_exceptions=True)
        with pytest.raises(Unavailable):
            await worker.submit(op, [9])  # and new requests are refused
        return results

    try:
        results = asyncio.run(main())
    finally:
        release.set()
        worker.stop()
    assert all(isinstance(r, Unavailable) for r in results) and ran == [[0]]


def test_sigterm_answers_waiting_requests_503_and_exits_quickly(trained_models, tmp_path):
    """Four long generations in flight (one running, three queued): SIGTERM answers every one of
    them at once (503, or a finished answer) and the process is gone within seconds, with no
    traceback in its log (it used to answer a plain-text 500 and take 15-17 s)."""
    from tests.models import ServerProcess

    server = ServerProcess(str(trained_models["charlm"]), "--max-length", "1000000", "--max-sample-tokens",
                           "100000000", log=tmp_path / "stderr.log")
    answers = []

    def long_sample(seed):
        try:
            answers.append(httpx.post(f"{server.url}/v1/models/charlm/generate", timeout=120,
                                      json={"length": 1_000_000, "seed": seed}))
        except httpx.HTTPError as err:  # recorded: the assertions below say so
            answers.append(err)

    try:
        clients = [threading.Thread(target=long_sample, args=(seed,)) for seed in range(4)]
        for thread in clients:
            thread.start()
        deadline = time.monotonic() + 60
        # The first one runs and all four wait for the model (a request still in the listener's
        # backlog at SIGTERM is never read: its connection is reset, rightly, not answered 503).
        while (state := httpx.get(f"{server.url}/v1/models/charlm").json()["batching"])["calls"] < 1 \
                or state["waiting"] < 4:
            assert time.monotonic() < deadline, f"the four requests never all reached the model: {state}"
            time.sleep(0.1)
        start = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=30)
        took = time.monotonic() - start
        for thread in clients:
            thread.join(timeout=30)
    finally:
        server.stop()
    assert took < 8, f"the server took {took:.1f} s to exit"
    assert len(answers) == 4 and all(isinstance(a, httpx.Response) for a in answers), answers
    assert {a.status_code for a in answers} <= {200, 503} and 503 in {a.status_code for a in answers}
    for answer in answers:
        if answer.status_code == 503:
            assert answer.json() == {"error": "the server is shutting down: the request was not answered; "
                                              "try again later"}
    log = server.log.read_text(encoding="utf-8")
    assert "Traceback" not in log and "CancelledError" not in log, log[-2000:]
