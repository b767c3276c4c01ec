"""Exports (issue 17): every task in every format, loaded in a fresh process that does not import
nlp_tasks (tests/export_client.py), gives the Python pipeline's outputs on the same inputs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from nlp_tasks.batching import pad as pad_rows
from nlp_tasks.errors import UserError
from nlp_tasks.text.chunking import chunks
from nlp_tasks.text.vocab import BOS_ID, EOS_ID
from tests import REPO as ROOT

FORMATS = ("savedmodel", "litert", "onnx")

# Format characters (BOM, ZWJ, soft hyphen) are dropped by the pipeline and the graph alike.
SENTIMENT_TEXTS = ["good film", "a witty , fine film !", "", "zzz unknownword ???", "GOOD Film , bad film",
                   "\ufeffgood\u200d fi\u00adlm \u200d"]
NER_SENTENCES = [["Peter", "visited", "Paris"], ["The", "New", "York", "Times", "reported", "it", "."], [],
                 ["Zork", "QUX", "a1b2", "Ünïcödé", "3.14"], ["Paris"], ["Pe\u00adter", "\u200d", "Pa\u200dris"]]
NER_LENGTH = 16  # the fixed token count of the NER LiteRT export (its bucket below: 8)
LM_TEXTS = ["abc", "bcab", "c", "cabcab"]
MUSIC_ROLLS = [[[60], [62, 65], [60, 64]] * 2, [[60], [64]]]
G2P_WORDS = ["bad", "Shot", " kim ", "dakota", "shamash", "", "bxz"]  # the last two: refused by the pipeline
G2P_READABLE = 5


@pytest.fixture(scope="module")
def pipes(trained_models):
    """The session's small trained models (tests/models.py: among them a two-layer LSTM language
    model and a two-layer music model, so that every kind of recurrent state is exported)."""
    from nlp_tasks.pipeline import Pipeline

    return {task: Pipeline.load(path) for task, path in trained_models.items()}


def _pad_tokens(sentences, length=None):
    width = length or max(len(s) for s in sentences)
    return np.array([list(s) + [""] * (width - len(s)) for s in sentences], dtype=str)


def _roll(steps):
    from tasks.music import data as md

    return md.to_roll(steps, "test roll")


@pytest.fixture(scope="module")
def nade(models):
    """The untrained NADE-head music model of tests/models.py (its outputs are fixed by its
    initial weights, which is all the comparison with the pipeline needs)."""
    from nlp_tasks.pipeline import Pipeline

    return Pipeline.load(models["music-nade"])


@pytest.fixture(scope="module")
def exported(pipes, nade, tmp_path_factory):
    """Every task exported in every format, then one client process over all of them."""
    root = tmp_path_factory.mktemp("exports")
    inputs, jobs = {}, []
    pipe = pipes["sentiment"]
    vocab = pipe.vocabs["words"]
    inputs["sentiment/texts"] = np.array(SENTIMENT_TEXTS)
    inputs["sentiment/ids"] = vocab.encode_batch(SENTIMENT_TEXTS)
    ner = pipes["ner"]
    inputs["ner/tokens"] = _pad_tokens(NER_SENTENCES)
    # the id-level inputs, as a client computes them; the empty sentence is a row of padding
    empty = NER_SENTENCES.index([])
    rows = [s for s in NER_SENTENCES if s]
    words, cases, chars = ner.encode(rows)
    words, cases, chars = (np.insert(a, empty, 0, axis=0) for a in (words, cases, chars))
    pad = NER_LENGTH - words.shape[1]
    inputs["ner/words"], inputs["ner/cases"] = (np.pad(a, [(0, 0), (0, pad)]) for a in (words, cases))
    inputs["ner/chars"] = np.pad(chars, [(0, 0), (0, pad), (0, 0)])
    for name in ("words", "cases", "chars"):  # the 8-token bucket of the LiteRT export
        inputs[f"ner/{name}8"] = inputs[f"ner/{name}"][:, :8]
    lm = pipes["charlm"]
    inputs["charlm/ids"] = lm.vocab.encode_batch(LM_TEXTS, add_eos=lm.scores_end)
    rolls = [_roll(r) for r in MUSIC_ROLLS]
    width = max(len(r) for r in rolls)
    inputs["music/rolls"] = np.array([np.pad(r, [(0, width - len(r)), (0, 0)]) for r in rolls], np.float32)
    inputs["music/lengths"] = np.array([len(r) for r in rolls], np.int32)
    inputs["music/primer"] = np.concatenate([np.zeros((1, 88), np.float32), rolls[0][:3]])
    g2p = pipes["g2p"]
    inputs["g2p/words"] = np.array(G2P_WORDS)
    inputs["g2p/letters"] = pad_rows([g2p.encode_word(w) for w in G2P_WORDS[:G2P_READABLE]])
    descriptions = {}
    for fmt in FORMATS:
        for task, p in pipes.items():
            path = root / f"{task}-{fmt}"
            batch = {"sentiment": len(SENTIMENT_TEXTS), "ner": len(NER_SENTENCES), "charlm": 1, "music": 1,
                     "g2p": G2P_READABLE}[task]
            descriptions[task, fmt] = p.export(path, fmt, batch_size=batch, length=NER_LENGTH)
            common = {"format": fmt, "path": str(path)}
            if task == "sentiment":
                if fmt == "savedmodel":
                    jobs.append({**common, "name": f"sentiment-{fmt}-serve", "endpoint": "serve",
                                 "inputs": {"texts": "sentiment/texts"}})
                jobs.append({**common, "name": f"sentiment-{fmt}-ids", "endpoint": "classify_ids",
                             "inputs": {"word_ids": "sentiment/ids"}})
            elif task == "ner":
                if fmt == "savedmodel":
                    jobs.append({**common, "name": f"ner-{fmt}-serve", "endpoint": "serve",
                                 "inputs": {"tokens": "ner/tokens"}})
                jobs.append({**common, "name": f"ner-{fmt}-ids", "endpoint": "tag_ids",
                             "inputs": {"word_ids": "ner/words", "case_ids": "ner/cases", "char_ids": "ner/chars"}})
                if fmt == "litert":
                    jobs.append({**common, "name": "ner-litert-ids8", "endpoint": "tag_ids_8",
                                 "inputs": {"word_ids": "ner/words8", "case_ids": "ner/cases8",
                                            "char_ids": "ner/chars8"}})
            elif task == "charlm":
                size = descriptions[task, fmt]["state_size"]
                if fmt != "litert":  # the LiteRT export takes one row (batch_size 1): scored below one by one
                    jobs.append({**common, "name": f"charlm-{fmt}-score", "endpoint": "score",
                                 "inputs": {"token_ids": "charlm/ids"}})
                jobs.append({**common, "name": f"charlm-{fmt}-greedy", "endpoint": "step", "greedy": "tokens",
                             "state_size": size, "tokens": [BOS_ID] + lm.vocab.encode("ab"), "length": 12,
                             "never": descriptions[task, fmt]["never_drawn"]})
            elif task == "g2p":
                if fmt == "savedmodel":
                    jobs.append({**common, "name": f"g2p-{fmt}-serve", "endpoint": "serve",
                                 "inputs": {"words": "g2p/words"}})
                meta = descriptions[task, fmt]
                jobs.append({**common, "name": f"g2p-{fmt}-greedy", "endpoint": "step", "greedy": "pronunciations",
                             "letter_ids": "g2p/letters", "max_length": meta["max_output"],
                             **{k: meta[k] for k in ("context", "bos_id", "eos_id")}, "never": meta["never_drawn"]})
            else:
                size = descriptions[task, fmt]["state_size"]
                if fmt != "litert":
                    jobs.append({**common, "name": f"music-{fmt}-score", "endpoint": "score",
                                 "inputs": {"roll": "music/rolls", "lengths": "music/lengths"}})
                jobs.append({**common, "name": f"music-{fmt}-greedy", "endpoint": "step", "greedy": "frames",
                             "state_size": size, "frames": "music/primer", "length": 6})
    # The NADE head: its keys drawn inside the step (greedy, and one tempered draw from given
    # uniforms), its score; LiteRT has a fixed batch of 1, so it scores one roll per call.
    inputs["music/silence"] = np.zeros((1, 88), np.float32)
    inputs["music/state0"] = np.zeros((1, nade.export_spec().info["state_size"]), np.float32)
    inputs["music/uniforms"] = np.random.default_rng(0).random((1, 88)).astype(np.float32)
    inputs["music/temperature"] = np.array(0.8, np.float32)
    for i, roll in enumerate(rolls):
        inputs[f"music/roll{i}"], inputs[f"music/length{i}"] = roll[None], np.array([len(roll)], np.int32)
    for fmt in FORMATS:
        path = root / f"music-nade-{fmt}"
        descriptions["music-nade", fmt] = meta = nade.export(path, fmt, batch_size=1)
        common = {"format": fmt, "path": str(path)}
        jobs.append({**common, "name": f"music-nade-{fmt}-greedy", "endpoint": "step", "greedy": "frames",
                     "nade": True, "state_size": meta["state_size"], "frames": "music/primer", "length": 6})
        jobs.append({**common, "name": f"music-nade-{fmt}-draw", "endpoint": "step",
                     "inputs": {"frame": "music/silence", "state": "music/state0", "uniforms": "music/uniforms",
                                "temperature": "music/temperature"}})
        for i in range(len(rolls)):
            jobs.append({**common, "name": f"music-nade-{fmt}-score{i}", "endpoint": "score",
                         "inputs": {"roll": f"music/roll{i}", "lengths": f"music/length{i}"}})
    for task, endpoint, names in (("sentiment", "classify_ids", {"word_ids": "sentiment/ids"}),
                                  ("ner", "tag_ids", {"word_ids": "ner/words", "case_ids": "ner/cases",
                                                      "char_ids": "ner/chars"})):
        for fmt in ("onnx", "litert"):  # int8 weights (--quantize int8): the classifier and the tagger
            path = root / f"{task}-{fmt}-int8"
            batch = len(SENTIMENT_TEXTS) if task == "sentiment" else len(NER_SENTENCES)
            descriptions[task, f"{fmt}-int8"] = pipes[task].export(path, fmt, batch_size=batch, length=NER_LENGTH,
                                                                   quantize="int8")
            jobs.append({"format": fmt, "path": str(path), "name": f"{task}-{fmt}-int8-ids", "endpoint": endpoint,
                         "inputs": names})
    # int8 ONNX of the generators too: the language model's and music's scores, g2p's greedy decoding
    for task in ("charlm", "music", "g2p"):
        path = root / f"{task}-onnx-int8"
        descriptions[task, "onnx-int8"] = meta = pipes[task].export(path, "onnx", quantize="int8")
        common = {"format": "onnx", "path": str(path)}
        if task == "charlm":
            jobs.append({**common, "name": "charlm-onnx-int8-score", "endpoint": "score",
                         "inputs": {"token_ids": "charlm/ids"}})
        elif task == "music":
            jobs.append({**common, "name": "music-onnx-int8-score", "endpoint": "score",
                         "inputs": {"roll": "music/rolls", "lengths": "music/lengths"}})
        else:
            jobs.append({**common, "name": "g2p-onnx-int8-greedy", "endpoint": "step", "greedy": "pronunciations",
                         "letter_ids": "g2p/letters", "max_length": meta["max_output"],
                         **{k: meta[k] for k in ("context", "bos_id", "eos_id")}, "never": meta["never_drawn"]})
    for i in range(len(LM_TEXTS)):  # LiteRT, batch size 1: one text per call
        inputs[f"charlm/ids{i}"] = inputs["charlm/ids"][i:i + 1]
        jobs.append({"format": "litert", "path": str(root / "charlm-litert"), "name": f"charlm-litert-score{i}",
                     "endpoint": "score", "inputs": {"token_ids": f"charlm/ids{i}"}})
    np.savez(root / "inputs.npz", **inputs)
    (root / "jobs.json").write_text(json.dumps({"inputs": str(root / "inputs.npz"), "jobs": jobs}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, str(ROOT / "tests" / "export_client.py"), str(root / "jobs.json"),
                          str(root / "out.npz")], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return dict(np.load(root / "out.npz")), descriptions, root


def test_sentiment_exports_match_the_pipeline(pipes, exported):
    out, _, _ = exported
    pipe = pipes["sentiment"]
    expected = pipe.predict_proba(SENTIMENT_TEXTS)
    results = pipe.predict(SENTIMENT_TEXTS)
    for fmt in FORMATS:
        np.testing.assert_allclose(out[f"sentiment-{fmt}-ids/probabilities"], expected, atol=1e-5, err_msg=fmt)
    np.testing.assert_allclose(out["sentiment-savedmodel-serve/probabilities"], expected, atol=1e-5)
    assert out["sentiment-savedmodel-serve/label"].tolist() == [r["label"] or "" for r in results]
    assert out["sentiment-savedmodel-serve/label_id"][SENTIMENT_TEXTS.index("")] == -1


def test_int8_exports_agree_with_the_float_pipeline(pipes, exported):
    """int8 weights, float activations (dynamic range), run in the process without nlp-tasks:
    the same labels and tags as the float pipeline on the test inputs, probabilities within 0.02
    (measured: at most 0.005 for these small models), and export.json says what was quantised."""
    out, descriptions, _ = exported
    pipe = pipes["sentiment"]
    expected = pipe.predict_proba(SENTIMENT_TEXTS)
    ner = pipes["ner"]
    tags, _ = ner.tag(NER_SENTENCES)
    index = {t: i for i, t in enumerate(ner.labels)}
    for fmt in ("onnx", "litert"):
        got = out[f"sentiment-{fmt}-int8-ids/probabilities"]
        np.testing.assert_allclose(got, expected, atol=0.02, err_msg=fmt)
        rows = [i for i, text in enumerate(SENTIMENT_TEXTS) if text]
        assert got[rows].argmax(-1).tolist() == expected[rows].argmax(-1).tolist(), fmt
        ids = out[f"ner-{fmt}-int8-ids/tag_ids"]
        for row, t in enumerate(tags):
            assert ids[row, :len(t)].tolist() == [index[x] for x in t], fmt
        for task in ("sentiment", "ner"):
            quantization = descriptions[task, f"{fmt}-int8"]["quantization"]
            assert quantization["weights"] == "int8", (task, fmt, quantization)
            # LiteRT's converter leaves float the weights of fewer than 1,024 values: all of this
            # small sentiment model's (8 units), some of the tagger's; the record says which
            small = fmt == "litert" and task == "sentiment"
            assert (quantization["int8"] == 0 and quantization["float"]) if small else quantization["int8"] > 0
    # ONNX: the recurrent weights inside the loops are int8 too (made constants of the loop bodies
    # first), and so are the embedding tables (int8 rows with a scale each); left float: the output
    # layer and the CRF's own constants
    left = descriptions["ner", "onnx-int8"]["quantization"]["float"]
    assert not any("embed" in name or "recurrent" in name for name in left), left


def test_int8_onnx_exports_of_the_generators_agree_with_the_float_pipeline(pipes, exported):
    """int8 ONNX of the language model, music and g2p, run without nlp-tasks: token probabilities
    within 0.02 of the float pipeline's (measured on these models: at most 0.0011), key probabilities
    within 0.02 (measured: 0.0075), and the pipeline's greedy pronunciations on the test words."""
    out, descriptions, _ = exported
    lm = pipes["charlm"]
    for row, result in enumerate(lm.score(LM_TEXTS)):
        n = len(result["probabilities"])
        got = np.exp(out["charlm-onnx-int8-score/token_log_probs"][row, :n])
        np.testing.assert_allclose(got, [p for _, p in result["probabilities"]], atol=0.02)
    music = pipes["music"]
    for row, p in enumerate(music.predict(MUSIC_ROLLS)):
        np.testing.assert_allclose(out["music-onnx-int8-score/probabilities"][row, :len(p)], np.asarray(p), atol=0.02)
    g2p, phonemes = pipes["g2p"], pipes["g2p"].vocab("phonemes")
    tokens = out["g2p-onnx-int8-greedy/tokens"]
    for row, result in enumerate(g2p.predict(G2P_WORDS[:G2P_READABLE], beam=1)):
        best = result["pronunciations"][0]["phonemes"]
        assert " ".join(phonemes.id_to_token(t) for t in tokens[row] if t >= 0) == best
    for task in ("charlm", "music", "g2p"):
        quantization = descriptions[task, "onnx-int8"]["quantization"]
        assert quantization["int8"] > 0 and not any("recurrent" in name or "rnn" in name
                                                    for name in quantization["float"]), (task, quantization)


def test_ner_exports_match_the_pipeline(pipes, exported):
    """In every format, and through the LiteRT model's 8-token length bucket (``tag_ids_8``)."""
    out, descriptions, _ = exported
    pipe = pipes["ner"]
    tags, conf = pipe.tag(NER_SENTENCES)
    index = {t: i for i, t in enumerate(pipe.labels)}
    assert descriptions["ner", "litert"]["length_buckets"] == {"tag_ids": NER_LENGTH, "tag_ids_8": 8}
    for fmt in (*FORMATS, "litert-8"):
        job = "ner-litert-ids8" if fmt == "litert-8" else f"ner-{fmt}-ids"
        ids, scores = out[f"{job}/tag_ids"], out[f"{job}/token_scores"]
        assert ids.shape[1] == {"litert-8": 8}.get(fmt, NER_LENGTH)
        for row, (t, c) in enumerate(zip(tags, conf)):
            assert ids[row, :len(t)].tolist() == [index[x] for x in t], fmt
            np.testing.assert_allclose(scores[row, :len(c)], c, atol=1e-5, err_msg=fmt)
    serve = {k.split("/")[1]: v for k, v in out.items() if k.startswith("ner-savedmodel-serve/")}
    assert serve["tags"].shape == (len(NER_SENTENCES), max(map(len, NER_SENTENCES)))
    for row, (sentence, t, c) in enumerate(zip(NER_SENTENCES, tags, conf)):
        assert serve["tags"][row].tolist() == t + [""] * (serve["tags"].shape[1] - len(t))
        spans = chunks(t)
        found = [(k, int(s), int(e)) for k, s, e in zip(serve["entity_types"][row], serve["entity_starts"][row],
                                                        serve["entity_ends"][row]) if k]
        assert found == [(k, s, e) for k, s, e in spans]
        np.testing.assert_allclose(serve["entity_scores"][row, :len(spans)], [np.mean(c[s:e]) for _, s, e in spans],
                                   atol=1e-5)
    assert any(serve["entity_types"].ravel()), "the model finds entities: the entity outputs are exercised"


def test_language_model_exports_score_and_generate_like_the_pipeline(pipes, exported):
    out, descriptions, _ = exported
    lm = pipes["charlm"]
    scores = lm.score(LM_TEXTS)
    greedy = lm.generate("ab", length=12, temperature=0)
    for fmt in FORMATS:
        for row, result in enumerate(scores):
            n = len(result["probabilities"])
            if fmt == "litert":
                got = out[f"charlm-litert-score{row}/token_log_probs"][0]
                total = out[f"charlm-litert-score{row}/log_prob"][0]
            else:
                got, total = out[f"charlm-{fmt}-score/token_log_probs"][row], out[f"charlm-{fmt}-score/log_prob"][row]
            np.testing.assert_allclose(np.exp(got[:n]), [p for _, p in result["probabilities"]], atol=1e-5, err_msg=fmt)
            assert not got[n:].any()
            assert total == pytest.approx(result["log_prob"], abs=1e-4)
        tokens = out[f"charlm-{fmt}-greedy/tokens"].tolist()
        text = "".join("\n" if t == EOS_ID else lm.vocab.id_to_token(t) for t in tokens)
        assert "ab" + text == greedy, fmt
    assert lm.config.cell == "lstm" and lm.config.layers == 2
    assert descriptions["charlm", "onnx"]["state_size"] == 2 * 2 * lm.config.units  # two LSTM layers: a<t>, c<t> each


def test_music_exports_score_and_generate_like_the_pipeline(pipes, exported):
    out, _, _ = exported
    music = pipes["music"]
    expected = music.predict(MUSIC_ROLLS)
    rolls = [_roll(r) for r in MUSIC_ROLLS]
    greedy = np.array(music.generate(6, primer=rolls[0][:3].tolist(), temperature=0)["roll"][3:])
    for fmt in ("savedmodel", "onnx"):
        probs, ll = out[f"music-{fmt}-score/probabilities"], out[f"music-{fmt}-score/log_likelihood"]
        for row, (p, y) in enumerate(zip(expected, rolls)):
            p = np.asarray(p)
            np.testing.assert_allclose(probs[row, :len(p)], p, atol=1e-5, err_msg=fmt)
            want = np.sum(y * np.log(p) + (1 - y) * np.log1p(-p))
            assert ll[row] == pytest.approx(want, rel=1e-5, abs=1e-4)
    for fmt in FORMATS:
        np.testing.assert_array_equal(out[f"music-{fmt}-greedy/frames"], greedy, err_msg=fmt)


def test_g2p_exports_pronounce_like_the_pipeline(pipes, exported):
    """The SavedModel's beam search gives the pipeline's n best; greedy decoding through
    ``encode`` and ``step`` gives its ``beam=1`` output in every format."""
    out, descriptions, _ = exported
    g2p = pipes["g2p"]
    meta = descriptions["g2p", "savedmodel"]
    assert meta["nbest"] == meta["beam"] == g2p.config.beam and meta["context"] == ["memory", "mask", "keys"]
    readable = G2P_WORDS[:G2P_READABLE]
    serve = {k.split("/")[1]: v for k, v in out.items() if k.startswith("g2p-savedmodel-serve/")}
    assert serve["phonemes"].shape == (len(G2P_WORDS), meta["nbest"])
    for row, result in enumerate(g2p.predict(readable, nbest=meta["nbest"])):
        found = result["pronunciations"]
        assert serve["phonemes"][row].tolist() == [p["phonemes"] for p in found] + [""] * (meta["nbest"] - len(found))
        np.testing.assert_allclose(serve["log_probs"][row, :len(found)], [p["log_prob"] for p in found], atol=1e-4)
        assert serve["finished"][row, :len(found)].tolist() == [p["finished"] for p in found]
    assert serve["phonemes"][0, 0] == "B AE1 D"  # the model learnt its lexicon: the outputs mean something
    assert serve["valid"].tolist() == [True] * G2P_READABLE + [False] * (len(G2P_WORDS) - G2P_READABLE)
    assert (serve["phonemes"][G2P_READABLE:] == "").all() and np.isneginf(serve["log_probs"][G2P_READABLE:]).all()
    phonemes = g2p.vocab("phonemes")
    for fmt in FORMATS:
        tokens, log_probs = out[f"g2p-{fmt}-greedy/tokens"], out[f"g2p-{fmt}-greedy/log_probs"]
        for row, result in enumerate(g2p.predict(readable, beam=1)):
            best = result["pronunciations"][0]
            assert " ".join(phonemes.id_to_token(t) for t in tokens[row] if t >= 0) == best["phonemes"], fmt
            assert log_probs[row] == pytest.approx(best["log_prob"], abs=1e-4), fmt
            assert out[f"g2p-{fmt}-greedy/finished"][row] == best["finished"], fmt
    assert set(descriptions["g2p", "litert"]["endpoints"]) == {"encode", "step"}


def test_export_folder_describes_itself_and_carries_a_model_card(exported):
    _, descriptions, root = exported
    folder = root / "ner-litert"
    meta = json.loads((folder / "export.json").read_text(encoding="utf-8"))
    assert meta == descriptions["ner", "litert"]
    assert meta["format"] == "nlp_tasks.export" and meta["task"] == "ner" and meta["batch_size"] == len(NER_SENTENCES)
    assert set(meta["endpoints"]) == {"tag_ids", "tag_ids_8"} and meta["length"] == NER_LENGTH
    assert (folder / "vocab-words.json").is_file() and (folder / "vocab-chars.json").is_file()
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\nlibrary_name: nlp-tasks") and "`tag_ids`" in card
    assert set(descriptions["sentiment", "savedmodel"]["endpoints"]) == {"serve", "classify_ids"}
    assert sorted(p.name for p in (root / "charlm-onnx").glob("*.onnx")) == ["score.onnx", "step.onnx"]


def test_export_refuses_foreign_folders_and_replaces_its_own(pipes, tmp_path):
    pipe = pipes["sentiment"]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(UserError, match="not empty and was not written by nlp-tasks"):
        pipe.export(foreign, "onnx")
    assert sorted(os.listdir(foreign)) == ["notes.txt"]
    model_dir = pipe.save(tmp_path / "model")
    with pytest.raises(UserError, match="model or training folder"):
        pipe.export(model_dir, "onnx")
    out = tmp_path / "export"
    pipe.export(out, "onnx")
    (out / "user-notes.md").write_text("mine", encoding="utf-8")
    pipe.export(out, "savedmodel")  # a new export of ours replaces the old; the user's file stays
    names = set(os.listdir(out))
    assert "classify_ids.onnx" not in names and "saved_model.pb" in names and "user-notes.md" in names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders left
    with pytest.raises(UserError, match="unknown export format"):
        pipe.export(tmp_path / "x", "pickle")


def test_music_nade_exports_draw_and_score_like_the_pipeline(nade, exported):
    """The NADE head's export: ``score`` gives the pipeline's conditionals and the exact
    log-likelihood; ``step`` draws the pipeline's greedy continuation key by key, and from given
    uniforms at temperature 0.8 the keys the pipeline's own draw gives (the first step from silence
    is the NADE's biases alone, so the pipeline's draw can be fed the model's output there)."""
    out, descriptions, _ = exported
    expected = nade.predict(MUSIC_ROLLS)
    rolls = [_roll(r) for r in MUSIC_ROLLS]
    greedy = np.array(nade.generate(6, primer=rolls[0][:3].tolist(), temperature=0)["roll"][3:])
    params = nade.require_model()(np.zeros((1, 1, 88), np.float32), training=False)[:, 0]
    uniforms = np.random.default_rng(0).random((1, 88)).astype(np.float32)
    drawn = nade.head.draw(np.asarray(params), uniforms, 0.8)
    for fmt in FORMATS:
        assert descriptions["music-nade", fmt]["head"] == "nade"
        for row, (p, y) in enumerate(zip(expected, rolls)):
            p = np.asarray(p)
            job = f"music-nade-{fmt}-score{row}"
            probs, ll = out[f"{job}/probabilities"], out[f"{job}/log_likelihood"]
            np.testing.assert_allclose(probs[0], p, atol=1e-5, err_msg=fmt)
            assert ll[0] == pytest.approx(np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)), rel=1e-5, abs=1e-4), fmt
        np.testing.assert_array_equal(out[f"music-nade-{fmt}-greedy/frames"], greedy, err_msg=fmt)
        np.testing.assert_array_equal(out[f"music-nade-{fmt}-draw/next_frame"], drawn, err_msg=fmt)
        assert 0 < drawn.sum() < 88  # a draw, not all keys or none


def _docs_export_examples():
    text = (ROOT / "docs" / "export.md").read_text(encoding="utf-8")
    return re.findall(r"```py\n(.*?)```", text, flags=re.S)


def test_docs_export_examples_run_without_nlp_tasks(exported):
    """The client examples of docs/export.md, each in a fresh process in the folder that holds the
    exports (named as the page names them), with nothing of ours importable."""
    _, _, root = exported
    blocks = _docs_export_examples()
    assert len(blocks) == 3
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for block in blocks:
        guard = "\nimport sys\nassert not [m for m in sys.modules if m.split('.')[0] in ('nlp_tasks', 'tasks')]\n"
        run = subprocess.run([sys.executable, "-c", block + guard], cwd=root, env=env, capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0, block + run.stderr[-3000:]
        assert run.stdout.strip(), block


def test_cli_export_writes_the_folder_and_refuses_a_foreign_one_in_one_line(pipes, tmp_path, capsys):
    from nlp_tasks.cli import main as cli

    model_dir = pipes["sentiment"].save(tmp_path / "model")
    out = tmp_path / "sentiment-onnx"
    assert cli.main(["sentiment", "export", str(model_dir), "--format", "onnx", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"as onnx to {out}" in printed and "classify_ids" in printed
    assert (out / "classify_ids.onnx").is_file() and (out / "export.json").is_file()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    assert cli.main(["sentiment", "export", str(model_dir), "--out", str(foreign)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and "not written by nlp-tasks" in err
    assert os.listdir(foreign) == ["notes.txt"]
    assert cli.main(["sentiment", "export", str(tmp_path / "no-model"), "--out", str(tmp_path / "x")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_quantize_is_refused_for_a_saved_model_before_the_model_is_read(tmp_path, capsys):
    from nlp_tasks.cli.main import main

    code = main(["sentiment", "export", str(tmp_path / "no-model"), "--out", str(tmp_path / "x"), "--quantize", "int8"])
    assert code == 2 and not (tmp_path / "x").exists()
    assert capsys.readouterr().err == ("error: --quantize int8 is for --format litert or onnx: a SavedModel keeps "
                                       "float weights\n")
