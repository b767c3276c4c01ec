"""The g2p pipeline (tasks/g2p/pipeline.py) on a small made-up lexicon with a clear rule: it
learns the rule, returns n-best pronunciations with probabilities, scores WER and PER, and saves
and loads to the same answers."""

from __future__ import annotations

import itertools
import math

import pytest

from nlp_tasks.errors import UserError

SOUNDS = {"b": "B", "d": "D", "k": "K", "m": "M", "s": "S", "t": "T"}
VOWELS = {"a": "AE1", "i": "IH1", "o": "AA1"}


def pronounce(word: str) -> tuple[str, ...]:
    """One phoneme per letter, but "sh" is one phoneme (T_x != T_y)."""
    out, i = [], 0
    while i < len(word):
        if word[i:i + 2] == "sh":
            out.append("SH")
            i += 2
        else:
            out.append(SOUNDS.get(word[i]) or VOWELS[word[i]])
            i += 1
    return tuple(out)


WORDS = ["".join(p) for p in itertools.product("bdkm", "aio", "stm")] + \
        ["".join(p) for p in itertools.product(["sh"], "aio", "bdk")]


def _lexicon_file(path, words):
    path.write_text("".join(f"{w} {' '.join(pronounce(w))}\n" for w in words), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from tasks.g2p.config import G2PConfig
    from tasks.g2p.pipeline import G2PPipeline

    folder = tmp_path_factory.mktemp("g2p")
    train = _lexicon_file(folder / "train.dict", WORDS)
    pipe = G2PPipeline(G2PConfig(units=24, layers=1, embedding_dim=16, epochs=40, batch_size=8,
                                 learning_rate=0.02, dropout=0.0, patience=None, beam=3))
    summary = pipe.fit(train, train, verbose=0)
    return pipe, summary, train, pipe.save(folder / "model")


def test_it_learns_the_rule_and_scores_wer_and_per(trained):
    pipe, summary, train, _ = trained
    assert summary["best"] <= 0.1  # dev WER, here the training words: a rule this small is learnt
    report = pipe.evaluate(train)
    assert report["examples"] == len(WORDS) and report["wer"] <= 0.1 and report["per"] <= 0.05
    assert report["wer_no_stress"] <= report["wer"]


def test_nbest_pronunciations_come_best_first_with_their_probabilities(trained):
    pipe, _, _, _ = trained
    result = pipe.predict("kit", nbest=3)
    assert result["word"] == "kit" and len(result["pronunciations"]) == 3
    first = result["pronunciations"][0]
    assert first["phonemes"] == "K IH1 T" and first["finished"]
    probabilities = [p["probability"] for p in result["pronunciations"]]
    assert all(0 < p <= 1 for p in probabilities) and sum(probabilities) <= 1 + 1e-6
    assert all(math.isclose(p["probability"], math.exp(p["log_prob"]), rel_tol=1e-4) for p in result["pronunciations"])
    assert len({p["phonemes"] for p in result["pronunciations"]}) == 3
    assert [r["word"] for r in pipe.predict(["shad", "mom"])] == ["shad", "mom"]


def test_a_word_alone_or_in_a_batch_gets_the_same_pronunciations(trained):
    pipe, _, _, _ = trained
    alone = pipe.predict("dim", nbest=2)
    among = pipe.predict(["shab", "dim", "kat", "mos"], nbest=2)[1]
    for a, b in zip(alone["pronunciations"], among["pronunciations"]):
        assert a["phonemes"] == b["phonemes"] and a["log_prob"] == pytest.approx(b["log_prob"], abs=1e-5)


def test_saved_and_loaded_it_answers_the_same(trained):
    from tasks.g2p.pipeline import G2PPipeline

    pipe, _, _, path = trained
    loaded = G2PPipeline.load(path)
    assert loaded.task == "g2p"
    for a, b in zip(loaded.predict(["kit", "shod"], nbest=2), pipe.predict(["kit", "shod"], nbest=2)):
        assert [p["phonemes"] for p in a["pronunciations"]] == [p["phonemes"] for p in b["pronunciations"]]
        assert [p["log_prob"] for p in a["pronunciations"]] == pytest.approx([p["log_prob"] for p in
                                                                              b["pronunciations"]], abs=1e-5)


def test_bad_words_are_refused_in_one_line(trained):
    pipe, _, _, _ = trained
    with pytest.raises(UserError, match="word 2 is empty"):
        pipe.predict(["kit", ""])
    with pytest.raises(UserError, match="never saw: 'z'"):
        pipe.predict("zat")
    with pytest.raises(UserError, match="nbest"):
        pipe.predict("kit", nbest=4)
