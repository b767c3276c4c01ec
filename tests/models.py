"""One factory of small saved models for every task, built once per test session (issue 32).

Two kinds, each a ``{task: builder}`` mapping (a builder saves its model into a folder and returns
where); a new task adds its recipe to both:

- :data:`TINY`: one epoch of a few examples (seconds in all), for tests whose answers do
  not matter: the fault cases, the contract test, "another task's model". Music also has an
  untrained NADE model (``music-nade``).
- :data:`TRAINED`: models that have learnt something (entities found, a clear sentiment,
  text and music with some shape, pronunciations by a made-up rule), for the server's tests and the
  export tests: under a minute. The language model is a two-layer
  LSTM and the music model has two layers, so that exports carry every kind of recurrent state.

``tests/conftest.py`` builds each kind once per session (its ``models`` and ``trained_models``
fixtures): once in all, not once per pytest-xdist worker, the workers sharing the building
(:func:`built_once`). Tests that change a model copy it first.
"""

from __future__ import annotations

from pathlib import Path

PEOPLE = ["Harry Potter", "Hermione Granger", "Peter Smith", "Anna Berg"]
PLACES = ["Paris", "London", "Berlin", "Rome"]
REVIEWS = [("a wonderful , moving film", "4"), ("a good film", "3"), ("an ordinary film", "2"),
           ("a dull film", "1"), ("an awful , boring mess", "0")]
SOUNDS = {"b": "B", "d": "D", "k": "K", "m": "M", "s": "S", "t": "T", "a": "AE1", "i": "IH1", "o": "AA1"}


def pronounce(word: str) -> str:
    """A made-up rule: one phoneme per letter, but "sh" is one phoneme (so T_x != T_y)."""
    return " ".join(["SH", *pronounce(word[2:]).split()] if word.startswith("sh") else
                    [SOUNDS[word[0]], *pronounce(word[1:]).split()]) if word else ""


LEXICON = {w: pronounce(w) for w in [a + v + c for a in ("b", "d", "k", "m", "sh") for v in "aio" for c in "dkmst"]}
LINES = ["the cat sat on the mat.", "the dog ran to the park.", "a bird sang in the tree.",
         "the sun was warm and bright.", "we walked along the river."]


def ner_sentences() -> list[tuple[list[str], list[str]]]:
    sentences = []
    for i, person in enumerate(PEOPLE):
        for j, place in enumerate(PLACES):
            words = person.split()
            tags = ["B-PER"] + ["I-PER"] * (len(words) - 1)
            verb = ["visited", "left", "saw", "loved"][(i + j) % 4]
            sentences.append((words + [verb, place, "."], tags + ["O", "B-LOC", "O"]))
    return sentences


FAST = {"learning_rate": 0.01, "patience": None}


def _trained_ner(root: Path) -> Path:
    from tasks.ner import NERConfig, NERPipeline

    ner = NERPipeline(NERConfig(units=16, char_units=8, word_dim=16, char_dim=8, epochs=25, batch_size=8, **FAST))
    ner.fit(ner_sentences(), ner_sentences(), verbose=0)
    return ner.save(root / "ner")


def _trained_sentiment(root: Path) -> Path:
    from tasks.sentiment import SentimentConfig, SentimentPipeline

    sentiment = SentimentPipeline(SentimentConfig(units=8, embedding_dim=8, epochs=40, batch_size=5, **FAST))
    sentiment.fit(REVIEWS * 2, REVIEWS, verbose=0)
    return sentiment.save(root / "sentiment")


def _trained_charlm(root: Path) -> Path:
    from tasks.charlm import LanguageModelConfig, LanguageModelPipeline

    lm = LanguageModelPipeline(LanguageModelConfig(mode="lines", cell="lstm", units=32, layers=2, epochs=15,
                                                   batch_size=5, **{**FAST, "learning_rate": 0.02}))
    lm.fit(LINES * 4, LINES, verbose=0)
    return lm.save(root / "charlm")


def _trained_music(root: Path) -> Path:
    from tasks.music import MusicConfig, MusicPipeline

    chorale = [[60, 64, 67], [62, 65, 69], [64, 67, 72], [60, 64, 67]] * 4
    music = MusicPipeline(MusicConfig(units=16, layers=2, epochs=20, **FAST))
    music.fit([chorale] * 4, [chorale], verbose=0)
    return music.save(root / "music")


def _trained_g2p(root: Path) -> Path:
    from tasks.g2p import G2PConfig, G2PPipeline

    g2p = G2PPipeline(G2PConfig(units=24, layers=1, embedding_dim=16, epochs=40, batch_size=8, dropout=0.0,
                                beam=3, **{**FAST, "learning_rate": 0.02}))
    g2p.fit(LEXICON, LEXICON, verbose=0)
    return g2p.save(root / "g2p")


# Small trained models of the five tasks, trained on the small data above: {task: builder(folder) -> saved folder}.
TRAINED = {"ner": _trained_ner, "sentiment": _trained_sentiment, "charlm": _trained_charlm, "music": _trained_music,
           "g2p": _trained_g2p}


def _tiny_g2p(root: Path) -> Path:
    from tasks.g2p import G2PConfig, G2PPipeline

    g2p = G2PPipeline(G2PConfig(units=4, layers=1, embedding_dim=4, epochs=1, beam=2))
    g2p.fit({"kit": "K IH1 T", "tad": "T AE1 D", "dim": "D IH1 M"}, verbose=0)
    return g2p.save(root / "g2p")


def _tiny_sentiment(root: Path) -> Path:
    from tasks.sentiment import SentimentConfig, SentimentPipeline

    pairs = [("good film", "1"), ("bad film", "0")] * 4
    sentiment = SentimentPipeline(SentimentConfig(units=4, embedding_dim=4, epochs=1))
    sentiment.fit(pairs, pairs, verbose=0)
    return sentiment.save(root / "sentiment")


def _tiny_charlm(root: Path) -> Path:
    from tasks.charlm import LanguageModelConfig, LanguageModelPipeline

    lm = LanguageModelPipeline(LanguageModelConfig(mode="lines", units=4, layers=1, epochs=1, batch_size=2))
    lm.fit(["abc", "bca", "cab"], ["abc"], verbose=0)
    return lm.save(root / "charlm")


def _tiny_ner(root: Path) -> Path:
    from tasks.ner import NERConfig, NERPipeline

    sentences = [(["Peter", "visited", "Paris"], ["B-PER", "O", "B-LOC"])] * 4
    ner = NERPipeline(NERConfig(units=4, char_units=2, word_dim=4, char_dim=2, epochs=1))
    ner.fit(sentences, sentences, verbose=0)
    return ner.save(root / "ner")


def _tiny_music(root: Path) -> Path:
    from tasks.music import MusicConfig, MusicPipeline

    music = MusicPipeline(MusicConfig(units=4, epochs=1))
    music.fit([[[60], [62, 65]] * 3] * 2, [[[60], [64]]], verbose=0)
    return music.save(root / "music")


def _tiny_music_nade(root: Path) -> Path:
    from tasks.music import MusicConfig, MusicPipeline

    # The NADE head, untrained (built and saved: a fraction of a second); 32 NADE units make one
    # pass over a 50,000-step piece need gigabytes, which the chunked evaluation must avoid (38.5).
    music_nade = MusicPipeline(MusicConfig(units=4, head="nade", nade_units=32))
    music_nade.build_model()
    return music_nade.save(root / "music-nade")


# One epoch each (and music-nade, built untrained): {task: builder(folder) -> saved folder}.
TINY = {"g2p": _tiny_g2p, "sentiment": _tiny_sentiment, "charlm": _tiny_charlm, "ner": _tiny_ner,
        "music": _tiny_music, "music-nade": _tiny_music_nade}


def trained_models(root: Path) -> dict[str, Path]:
    """``{task: saved folder}`` of :data:`TRAINED`, built into ``root``."""
    return {task: build(root) for task, build in TRAINED.items()}


def built_once(tmp_path_factory, worker_id: str, name: str, builders: dict) -> dict[str, Path]:
    """``{task: saved folder}``, each ``builders[task](folder)`` built once per test session:
    under pytest-xdist into the session's shared temporary folder, one model at a time under a
    lock of its own, the workers taking the models in opposite orders, so that two workers that
    need them at the same time build half each instead of one waiting for the other."""
    if worker_id == "master":  # no xdist: this process is the session
        root = tmp_path_factory.mktemp(name)
        return {task: build(root) for task, build in builders.items()}
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent  # pytest-N/, above every worker's popen-gwK/
    order = list(builders)
    if int(worker_id.removeprefix("gw")) % 2:
        order.reverse()
    paths = {}
    for task in order:
        with FileLock(str(shared / f"{name}-{task}.lock")):
            done = shared / f"{name}-{task}.path"
            if not done.is_file():
                done.write_text(str(builders[task](shared / name)), encoding="utf-8")
            paths[task] = Path(done.read_text(encoding="utf-8"))
    return {task: paths[task] for task in builders}


if __name__ == "__main__":  # python -m tests.models FOLDER: the trained test models, to look at
    import sys

    print(trained_models(Path(sys.argv[1])))


class ServerProcess:
    """``nlp-tasks serve ARGS --port 0`` in a process of its own; ``url`` once it is up (its first
    line on stdout says where). Its stderr goes to ``log`` (read by tests: no tracebacks)."""

    def __init__(self, *args: str, log: Path, timeout: float = 180):
        import sys
        import threading

        from tests import forked

        root = Path(__file__).resolve().parent.parent
        self.log = log
        self._stderr = open(log, "w", encoding="utf-8")
        self.process = forked.popen([sys.executable, str(root / "cli.py"), "serve", *args, "--port", "0"], cwd=root,
                                    stdout=forked.PIPE, stderr=self._stderr, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not lines or " at http://" not in lines[0]:
            self.stop()
            raise RuntimeError(f"the server did not start: {log.read_text(encoding='utf-8')[-2000:]}")
        self.url = lines[0].split(" at ")[1].split()[0].rstrip("/")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except Exception:  # noqa: BLE001 - a server that does not stop is killed
                self.process.kill()
                self.process.wait()
        self._stderr.close()
