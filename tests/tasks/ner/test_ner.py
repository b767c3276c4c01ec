"""NER pipeline on a few hundred real CoNLL-2003 sentences, plus input handling and the CLI."""

from __future__ import annotations

import json
import unicodedata

import pytest

from nlp_tasks.data.readers import read_conll
from nlp_tasks.errors import UserError
from tasks.ner import NERConfig, NERPipeline, casing, read_sentences
from tests import REPO as ROOT
from tests import forked

SMALL = dict(units=24, char_units=12, word_dim=24, char_dim=12, batch_size=16, learning_rate=5e-3)


@pytest.fixture(scope="module")
def conll(shared_data):
    return (read_conll(shared_data / "conll2003" / "train.txt")[:500],
            read_conll(shared_data / "conll2003" / "valid.txt")[:150])


@pytest.fixture(scope="module")
def trained(conll, tmp_path_factory):
    train, dev = conll
    pipe = NERPipeline(NERConfig(epochs=8, patience=None, **SMALL))
    summary = pipe.fit(train, dev, verbose=0)
    return pipe, summary, pipe.save(tmp_path_factory.mktemp("models") / "ner")


def test_training_lowers_the_loss_and_finds_entities(trained, conll):
    pipe, summary, _ = trained
    losses = summary["history"]["loss"]
    assert losses[-1] < 0.5 * losses[0]
    report = pipe.evaluate(conll[1])
    # Chance (tags drawn at random from the training distribution) scores an entity F1 near 0.
    assert report["f1"] > 0.35, report["f1"]
    assert summary["best"] == max(summary["history"]["val_f1"])
    assert set(report["per_type"]) <= {"PER", "LOC", "ORG", "MISC"}


def test_predict_gives_offsets_and_round_trips(trained):
    pipe, _, path = trained
    text = "Peter Blackburn met officials of the European Union in Brussels on Monday."
    entities = pipe.predict(text)
    for e in entities:
        assert text[e["start"]:e["end"]] == e["text"] and 0 <= e["score"] <= 1
        assert e["type"] in ("PER", "LOC", "ORG", "MISC")
    loaded = NERPipeline.load(path)
    assert loaded(text) == entities
    assert loaded.predict(["", text])[0] == []


def test_decomposed_text_and_format_characters_tag_as_the_plain_text_does(trained):
    """NFD spellings and invisible format characters (ZWJ, BOM, soft hyphen) are normalised
    away before tokenising; offsets still point into the text as given (issue 38 item 7)."""
    pipe = trained[0]
    plain = "Jürgen Klinsmann flew from München to Zürich on Monday."
    spellings = [unicodedata.normalize("NFD", plain), "\ufeff" + plain.replace("Klinsmann", "Klins\u00admann")
                 .replace(" to ", " \u200d to \u200d ")]
    want = pipe.analyse([plain])[0]
    for text, got in zip(spellings, pipe.analyse(spellings)):
        assert got["tokens"] == want["tokens"] and got["tags"] == want["tags"]
        assert [(e["type"], e["score"]) for e in got["entities"]] == [(e["type"], e["score"]) for e in want["entities"]]
        for e in got["entities"]:
            assert text[e["start"]:e["end"]] == e["text"]
            assert unicodedata.normalize("NFC", e["text"]).replace("\u00ad", "").replace("\u200d", "").strip()
    assert pipe.tag([["Mu\u0308nchen", "Pa\u00adris"]]) == pipe.tag([["München", "Paris"]])  # given tokens too


def test_tag_refuses_a_flat_list_of_tokens_in_one_line(trained):
    """``tag`` takes sentences, each a list of tokens: a flat token list (or a text) would tag each
    word as a sentence of characters, so it is refused (issue 35 item 3)."""
    pipe = trained[0]
    for wrong in (["EU", "rejects", "German", "call"], "EU rejects German call", [["EU", 3]]):
        with pytest.raises(UserError, match="list of sentences, each a list of token strings") as err:
            pipe.tag(wrong)
        assert "\n" not in str(err.value)
    assert pipe.tag([["EU", "rejects", "German", "call"], []])[0][1] == []  # an empty sentence: no tags
    assert pipe.tag(iter([("EU", "rejects")])) == pipe.tag([["EU", "rejects"]])  # any iterable of sentences


def test_softmax_head_and_lstm_cell_train_and_reload(conll, tmp_path):
    train, dev = conll
    pipe = NERPipeline(NERConfig(epochs=1, head="softmax", cell="lstm", **{**SMALL, "char_units": 0}))
    pipe.fit(train[:100], dev[:30], verbose=0)
    loaded = NERPipeline.load(pipe.save(tmp_path / "m"))
    assert loaded.tag([["EU", "rejects", "German", "call"]]) == pipe.tag([["EU", "rejects", "German", "call"]])


def test_unknown_tag_in_dev_is_refused(conll):
    train, _ = conll
    with pytest.raises(UserError, match="B-DATE do not occur in the training data"):
        NERPipeline(NERConfig(epochs=1, **SMALL)).fit(train[:20], [(["Monday"], ["B-DATE"])], verbose=0)


def test_casing_classes():
    assert [casing(t) for t in ["the", "EU", "Peter", "1996", "1996-08-22", "A4b", "-"]] == [1, 2, 3, 4, 5, 3, 7]


def test_read_sentences_from_python_and_bad_input(tmp_path):
    assert read_sentences([(["New", "York"], ["B-LOC", "I-LOC"])]) == [(["New", "York"], ["B-LOC", "I-LOC"])]
    assert read_sentences([(["Bob"], ["S-PER"])], scheme="bioes") == [(["Bob"], ["B-PER"])]
    with pytest.raises(UserError, match="equal length"):
        read_sentences([(["a", "b"], ["O"])])
    with pytest.raises(UserError, match="file not found"):
        read_sentences(str(tmp_path / "missing.txt"))


def cli(*args):
    return forked.run(["ner", *args], cwd=ROOT, timeout=300)


def test_cli_train_evaluate_predict(tmp_path, shared_data, capsys):
    """Training in a process of its own, as a user runs it (nothing on stderr); evaluate and the
    forms of predict through the same program in this process (no TensorFlow start each)."""
    from nlp_tasks.cli.main import main

    lines = (shared_data / "conll2003" / "train.txt").read_text(encoding="utf-8").splitlines()[:400]
    train = tmp_path / "train.txt"
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "model"
    result = cli("train", "--train", str(train), "--dev", str(train), "--test", str(train), "--out", str(out),
                 "--epochs", "1", "--units", "8", "--char-units", "4", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert 0 <= json.loads(result.stdout)["test"]["f1"] <= 1

    def run(*args):
        code = main(["ner", *args])
        printed = capsys.readouterr()
        assert code == 0, printed.err
        return printed.out

    assert all(word in run("evaluate", str(out), "--data", str(train)) for word in ("FB1", "processed"))
    assert "entities" in json.loads(run("predict", str(out), "Harry Potter and Hermione Granger invented a new "
                                        "spell.", "--json"))[0]
    assert len(run("predict", str(out), "--input", str(train), "--conll").split("\n\n")) > 5
    assert run("predict", str(out), "EU rejects German call", "--format", "tags").startswith("EU/")


@pytest.mark.parametrize("args, message", [
    (["train", "--out", "{tmp}/m"], "give --train FILE"),
    (["train", "--train", "{bad}", "--out", "{tmp}/m"], "line 2: a token without a tag"),
    (["train", "--train", "{tmp}/nope.txt", "--out", "{tmp}/m"], "file not found"),
    (["evaluate", "{tmp}/nope", "--data", "{bad}"], "model folder not found"),
    (["predict", "{tmp}/nope"], "model folder not found"),
])
def test_cli_errors_are_one_line(tmp_path, args, message):
    (tmp_path / "bad.txt").write_text("EU B-ORG\nrejects\n")
    args = [a.format(tmp=tmp_path, bad=tmp_path / "bad.txt") for a in args]
    result = cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_sentiment_model_is_refused_by_ner(tmp_path):
    from tasks.sentiment import SentimentConfig, SentimentPipeline

    pipe = SentimentPipeline(SentimentConfig(epochs=1, units=4, embedding_dim=4))
    pipe.fit([("good", "1"), ("bad", "0")], verbose=0)
    pipe.save(tmp_path / "sent")
    result = cli("predict", str(tmp_path / "sent"), "EU rejects German call")
    assert result.returncode == 2 and "holds a 'sentiment' model, not a 'ner' model" in result.stderr


def test_pretrained_vectors_initialise_the_word_embedding(tmp_path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("paris 1 1 1 1\nthe -1 -1 -1 -1\n", encoding="utf-8")
    data = [(["Paris", "is", "the", "capital"], ["B-LOC", "O", "O", "O"])] * 4
    pipe = NERPipeline(NERConfig(epochs=1, units=4, char_units=0, word_dim=4, learning_rate=1e-4))
    pipe.fit(data, embeddings=str(vectors), verbose=0)
    table = pipe.model.get_layer("embed_words").get_weights()[0]
    assert abs(table[pipe.vocabs["words"].token_to_id("paris")] - 1).max() < 0.01
    with pytest.raises(UserError, match="4 dimensions but word_dim is 8"):
        NERPipeline(NERConfig(epochs=1, units=4, char_units=0, word_dim=8)).fit(data, embeddings=str(vectors))


def test_hugging_face_dataset_folder_with_class_label_tags(conll, tmp_path, capsys):
    """The layout of the hub's conll2003 (integer ner_tags with ClassLabel names), read offline."""
    import datasets

    from nlp_tasks.cli import main as cli_module

    train, dev = conll
    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names))})
    folder = tmp_path / "my-conll"
    folder.mkdir()
    for split, sentences in (("train", train[:120]), ("validation", dev[:40]), ("test", dev[40:80])):
        data = {"tokens": [t for t, _ in sentences],
                "ner_tags": [[names.index(x) for x in tags] for _, tags in sentences]}
        datasets.Dataset.from_dict(data, features=features).to_parquet(str(folder / f"{split}.parquet"))
    assert read_sentences(f"{folder}:validation")[:40] == dev[:40]
    out = tmp_path / "model"
    assert cli_module.main(["ner", "train", "--dataset", str(folder), "--out", str(out), "--epochs", "1",
                            "--units", "8", "--char-units", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0 <= result["test"]["f1"] <= 1 and (out / "model.keras").is_file()


def test_dev_f1_is_shown_once_per_epoch_on_the_progress_line(capsys):
    sentences = [(["Peter", "visited", "Paris"], ["B-PER", "O", "B-LOC"])] * 4
    NERPipeline(NERConfig(units=4, char_units=2, word_dim=4, char_dim=2, epochs=2, patience=None)).fit(
        sentences, sentences, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"], lines  # in a pipe: one line per epoch
    assert all(line.count("val_f1") == 1 for line in lines) and "dev entity F1" not in "\n".join(lines)


def test_the_training_curves_are_titled_with_the_task(tmp_path, monkeypatch):
    from nlp_tasks import plots

    titles = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: titles.append(fig._suptitle.get_text()) or path)
    sentences = [(["Peter", "visited", "Paris"], ["B-PER", "O", "B-LOC"])] * 4
    NERPipeline(NERConfig(units=4, char_units=2, word_dim=4, char_dim=2, epochs=1)).fit(
        sentences, sentences, out_dir=tmp_path / "run", verbose=0)
    assert titles == ["ner: training curves (run)"]


def test_padding_does_not_change_a_sentences_scores():
    """Every input of the model's Concatenate carries the word mask (Keras keeps a step that any
    input's mask keeps), so the encoder never runs over padding: more padding, same scores."""
    import numpy as np

    sentences = [(["Peter", "visited", "Paris"], ["B-PER", "O", "B-LOC"])] * 2
    pipe = NERPipeline(NERConfig(units=4, char_units=2, word_dim=4, char_dim=2, epochs=1))
    pipe.fit(sentences, sentences, verbose=0)
    words, cases, chars = pipe.encode([sentences[0][0]])
    decode = pipe.compiled_forward()
    _, base = decode(words, cases, chars)
    for extra in (1, 6):
        _, padded = decode(np.pad(words, [(0, 0), (0, extra)]), np.pad(cases, [(0, 0), (0, extra)]),
                           np.pad(chars, [(0, 0), (0, extra), (0, 0)]))
        np.testing.assert_allclose(padded.numpy()[:, :3], base.numpy(), atol=1e-6)


def test_the_crf_never_emits_a_tag_its_scheme_forbids():
    """Issue 35 item 8: with transitions that reward ``O -> I-PER`` and an ``I-PER`` start, an
    unconstrained Viterbi emits ``I-PER`` after ``O``; the pipeline's decoding (and the export's,
    which calls the same function) keeps to IOB2: no I-X first or after O or another type."""
    import numpy as np

    sentences = [(["Peter", "Smith", "visited", "Paris", "today"], ["B-PER", "I-PER", "O", "B-LOC", "O"])] * 4
    pipe = NERPipeline(NERConfig(units=4, char_units=2, word_dim=4, char_dim=2, epochs=1))
    pipe.fit(sentences, verbose=0)
    crf = pipe.model.get_layer("output")
    labels = pipe.labels
    trans = np.full((len(labels), len(labels)), -5.0, np.float32)
    trans[labels.index("O"), labels.index("I-PER")] = 50.0
    trans[labels.index("I-PER"), labels.index("O")] = 50.0
    start = np.full(len(labels), -5.0, np.float32)
    start[labels.index("I-PER")] = 50.0
    crf.set_weights([trans, start, np.zeros(len(labels), np.float32)])
    words, cases, chars = pipe.encode([sentences[0][0]])
    free, _ = crf.decode(pipe.model([words, cases, chars]), words > 0)
    free_tags = [labels[k] for k in free.numpy()[0]]
    assert free_tags[0] == "I-PER" and ("O", "I-PER") in zip(free_tags, free_tags[1:])  # the fault, unconstrained
    tags, scores = pipe.tag([sentences[0][0], ["Peter"]])
    for path in tags:
        assert path[0][:2] != "I-", path
        for before, after in zip(path, path[1:]):
            assert not after.startswith("I-") or before[2:] == after[2:] and before != "O", path
    assert all(0 < s <= 1 for row in scores for s in row)


def test_the_model_card_names_the_data_the_command_and_the_best_epoch(tmp_path, capsys):
    """Issue 35 item 5: the card says what the model was trained, validated and tested on (a
    relative path as given, an absolute one by its name only), the command, and which figure
    the best epoch was chosen by, instead of ``best | 1``."""
    from nlp_tasks.cli import main as cli

    conll = tmp_path / "tiny.conll"
    conll.write_text("Peter B-PER\nvisited O\nParis B-LOC\n\nAnna B-PER\nleft O\nRome B-LOC\n\n" * 3,
                     encoding="utf-8")
    out = tmp_path / "model"
    args = ["ner", "train", "--train", str(conll), "--dev", str(conll), "--test", str(conll), "--out", str(out),
            "--units", "4", "--char-units", "2", "--word-dim", "4", "--char-dim", "2", "--epochs", "2", "--quiet"]
    assert cli.main(args) == 0
    capsys.readouterr()
    card = (out / "README.md").read_text(encoding="utf-8")
    assert ("Trained on `tiny.conll`; the best epoch chosen on `tiny.conll`; tested once on `tiny.conll`."
            in card), card
    assert str(tmp_path) not in card.replace(f"`nlp-tasks {' '.join(args)}`", "")  # only in the user's own command
    assert f"Command: `nlp-tasks {' '.join(args)}`" in card
    assert "| best val_f1 (epoch " in card and "| best |" not in card and "| best_epoch |" not in card
    meta = json.loads((out / "pipeline.json").read_text(encoding="utf-8"))
    assert meta["metrics"]["training"]["data"] == {"train": "tiny.conll", "dev": "tiny.conll", "test": "tiny.conll"}
