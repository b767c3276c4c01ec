"""The SST parse-tree reader (issue 19): trees, phrases, binary labels, errors, the real files,
the Hugging Face form, and training on phrases while validating and testing on sentences."""

from __future__ import annotations

import json

import pytest

from nlp_tasks.errors import UserError
from tasks.sentiment.sst_trees import parse_tree, phrase_examples, read_tree_file, sentence_examples

TREE = r"(3 (2 (2 The) (2 -LRB-Rock-RRB-)) (4 (2 -LRB-) (4 (3 a\/b) (4 (4 great) (2 \*)))) (2 -RRB-))"
TREES = [
    "(3 (2 It) (3 (3 (2 is) (4 good)) (2 .)))",
    "(1 (2 It) (1 (1 (2 is) (0 bad)) (2 .)))",
    "(2 (2 It) (2 (2 is) (2 .)))",
    "(4 (2 (2 8 1\\/2)) (4 (2 is) (4 (4 great) (2 .))))",
]


def test_a_tree_gives_its_words_and_every_node_in_pre_order():
    tree = parse_tree(TREE)
    assert tree.words == ("The", "-LRB-Rock-RRB-", "(", "a/b", "great", "*", ")")  # only whole words are escapes
    assert tree.label == "3"
    assert tree.spans == ((0, 7, "3"), (0, 2, "2"), (0, 1, "2"), (1, 2, "2"), (2, 6, "4"), (2, 3, "2"),
                          (3, 6, "4"), (3, 4, "3"), (4, 6, "4"), (4, 5, "4"), (5, 6, "2"), (6, 7, "2"))
    unary = parse_tree("(1 (3 (0 dull)))")  # a unary chain: the root's label is still the root's
    assert unary.label == "1" and unary.spans == ((0, 1, "1"), (0, 1, "3"), (0, 1, "0"))
    assert parse_tree("(2 (2 8 1\\/2) (2 .))").words == ("8 1/2", ".")  # a leaf of two words stays one


@pytest.mark.parametrize("text, column, message", [
    ("(3 (2 The) (2 Rock)", 20, "unbalanced brackets: 1 '(' not closed"),
    ("(3 (2 The)) (2 x)", 13, "text after the tree's last bracket"),
    ("(2 (2 a)))", 10, "text after the tree's last bracket"),
    (")", 1, "unbalanced brackets: ')' without '('"),
    ("(7 (2 x))", 2, "label '7' is not one of 0..4"),
    ("(pos (2 x))", 2, "label 'pos' is not one of 0..4"),
    ("(2 (2 x) (2 ))", 13, "empty leaf: a label without a word"),
    ("(2 a (2 b))", 6, "a node has both a word and sub-trees"),
    ("(2 (2 b) a)", 10, "a node has both sub-trees and a word"),
    ("2 a", 1, "expected '(' to start a tree, found '2'"),
    ("((2 a))", 2, "expected a label 0..4 after '('"),
])
def test_a_malformed_tree_is_one_line_naming_its_column(text, column, message):
    with pytest.raises(UserError) as err:
        parse_tree(text, "trees.txt, line 4")
    assert str(err.value) == f"trees.txt, line 4, column {column}: {message}"


def test_a_malformed_file_names_its_line_and_column(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text(TREES[0] + "\n\n(2 (2 fine) (5 x))\n", encoding="utf-8")
    with pytest.raises(UserError, match=rf"^{path}, line 3, column 14: label '5' is not one of 0..4$"):
        read_tree_file(path)
    path.write_bytes(b"(2 (2 caf\xe9))\n")
    with pytest.raises(UserError, match="line 1: not valid UTF-8"):
        read_tree_file(path)
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(UserError, match="no trees"):
        read_tree_file(path)


def test_sentences_and_distinct_phrases_fine_and_binary():
    trees = [parse_tree(t) for t in TREES]
    assert sentence_examples(trees) == [("It is good .", "3"), ("It is bad .", "1"), ("It is .", "2"),
                                        ("8 1/2 is great .", "4")]
    assert sentence_examples(trees, "binary") == [("It is good .", "1"), ("It is bad .", "0"),
                                                  ("8 1/2 is great .", "1")]
    phrases = phrase_examples(trees)
    texts = [t for t, _ in phrases]
    assert len(texts) == len(set(texts))  # "It", "is", "." once each, at their first occurrence
    assert phrases[:6] == [("It is good .", "3"), ("It", "2"), ("is good .", "3"), ("is good", "3"), ("is", "2"),
                           ("good", "4")]
    assert ("8 1/2", "2") in phrases and ("It is .", "2") in phrases and len(phrases) == 18
    binary = phrase_examples(trees, "binary")
    assert {label for _, label in binary} == {"0", "1"} and ("It", "2") not in binary and ("bad", "0") in binary
    with pytest.raises(UserError, match="unknown tree labels 'five'"):
        phrase_examples(trees, "five")


def test_phrases_are_counted_before_they_are_joined_and_bounded_per_tree():
    """A right-branching tree of N words has N phrases of N/2 words on average (issue 38 item 5):
    their characters are counted without joining, and a tree over the bound is one line."""
    from nlp_tasks.data.readers import reading_options
    from tasks.sentiment.sst_trees import phrase_chars

    trees = [parse_tree(t, f"t.txt, line {i}") for i, t in enumerate(TREES, start=1)]
    for tree in trees:
        assert phrase_chars(tree) == sum(len(" ".join(tree.words[a:b])) for a, b, _ in tree.spans)
    n = 3000
    deep = parse_tree("".join("(2 (2 w) " for _ in range(n - 1)) + "(2 w)" + ")" * (n - 1), "deep.txt, line 7")
    assert phrase_chars(deep) == sum(2 * k - 1 for k in range(2, n + 1)) + n  # the spine of 2..n words, n leaves
    with pytest.raises(UserError, match=r"^deep\.txt, line 7: the tree's 5,999 phrases hold 9,002,999 characters in "
                                        r"all, more than the maximum example of 1,000,000 \("):
        phrase_examples(trees + [deep])
    with reading_options(max_example_chars=10_000_000):
        assert len(phrase_examples([deep])) == n  # the spine's n - 1 phrases and the word "w"


def test_a_leaf_of_many_words_is_read_in_linear_time():
    tree = parse_tree("(2 " + "a\\/b " * 200_000 + ")")
    assert tree.words == (" ".join(["a/b"] * 200_000),) and tree.spans == ((0, 1, "2"),)


def test_the_real_treebank_files(shared_data):
    """Counts of the original release (sst/trees, see ../shared/data/README.md)."""
    folder = shared_data / "sst" / "trees"
    train = read_tree_file(folder / "train.txt")
    assert len(train) == 8544 and sum(len(t.spans) for t in train) == 318_582
    assert len(phrase_examples(train)) == 159_274  # distinct phrase texts
    labels = {}
    for tree in train:
        for start, end, label in tree.spans:
            labels.setdefault(" ".join(tree.words[start:end]), set()).add(label)
    assert len(labels) == 159_274 and all(len(found) == 1 for found in labels.values())  # no text has two labels
    assert len(phrase_examples(train, "binary")) == 77_616
    assert len(sentence_examples(train, "binary")) == 6920
    dev, test = read_tree_file(folder / "dev.txt"), read_tree_file(folder / "test.txt")
    assert (len(sentence_examples(dev)), len(sentence_examples(dev, "binary"))) == (1101, 872)
    assert (len(sentence_examples(test)), len(sentence_examples(test, "binary"))) == (2210, 1821)
    first = sentence_examples(train)[0]
    assert first[1] == "3" and first[0].startswith("The Rock is destined to be the 21st Century 's new `` Conan ''")
    words = {w for t in train for w in t.words}
    assert "(" in words and "-LRB-" not in words and not any("\\/" in w for w in words)


def test_the_hugging_face_form_a_ptb_tree_column_read_through_datasets(tmp_path):
    from tasks.sentiment import read_examples

    folder = tmp_path / "sst"
    folder.mkdir()
    for split, rows in (("train", TREES), ("test", TREES[:2])):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps({"ptb_tree": t}) + "\n" for t in rows),
                                               encoding="utf-8")
    assert read_examples(f"{folder}:test") == [("It is good .", "3"), ("It is bad .", "1")]
    assert len(read_examples(str(folder), "train", phrases=True)) == 18
    assert read_examples(str(folder), "train", tree_labels="binary")[1] == ("It is bad .", "0")
    (folder / "test.jsonl").write_text(json.dumps({"ptb_tree": "(2 (2 x)"}) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"data set '.*sst', row 1, column 9: unbalanced brackets"):
        read_examples(f"{folder}:test")


def test_phrase_training_validates_and_tests_on_sentences_only(tmp_path):
    from tasks.sentiment import SentimentConfig, SentimentPipeline

    train, dev = tmp_path / "train.txt", tmp_path / "dev.txt"
    train.write_text("\n".join(TREES * 3) + "\n", encoding="utf-8")
    dev.write_text("\n".join(TREES[:2]) + "\n", encoding="utf-8")
    pipe = SentimentPipeline(SentimentConfig(units=4, embedding_dim=4, epochs=1, phrases=True))
    data = pipe.read_training_data(train, dev)
    assert len(data.train) == 18 and data.dev == [("It is good .", "3"), ("It is bad .", "1")]
    summary = pipe.fit(train, dev, verbose=0)
    assert summary["train_examples"] == 18
    assert pipe.evaluate(train)["examples"] == 12  # the 12 sentences, not the phrases
    binary = SentimentPipeline(SentimentConfig(units=4, embedding_dim=4, epochs=1, tree_labels="binary"))
    binary.fit(train, dev, verbose=0)
    assert binary.labels == ["0", "1"] and binary.evaluate(train)["examples"] == 9  # neutral dropped
    assert binary.predict("It is good .")["label"] in ("0", "1")


@pytest.mark.parametrize("source", ["text", "pairs"])
def test_phrases_or_binary_need_tree_data(tmp_path, source):
    from tasks.sentiment import SentimentConfig, SentimentPipeline

    path = tmp_path / "sst5.txt"
    path.write_text("3 it is good .\n1 it is bad .\n", encoding="utf-8")
    data = str(path) if source == "text" else [("it is good .", "3"), ("it is bad .", "1")]
    for config in (SentimentConfig(phrases=True), SentimentConfig(tree_labels="binary")):
        with pytest.raises(UserError, match="need PTB-tree data"):
            SentimentPipeline(config).fit(data, verbose=0)
    assert len(SentimentPipeline(SentimentConfig(epochs=1, units=4, embedding_dim=4))
               .read_training_data(data).train) == 2


def test_predict_answers_the_same_way_for_sentence_and_phrase_models(tmp_path):
    """A model trained on phrases is used like one trained on sentences: same labels, same result
    shape (label, rating 1-5, probabilities), raw text in (brackets and slashes as typed, not PTB
    escapes), and the same answers after save and load."""
    from tasks.sentiment import SentimentConfig, SentimentPipeline

    train = tmp_path / "train.txt"
    train.write_text("\n".join((TREES + ["(0 (2 It) (0 (2 (2 -LRB-) (2 is)) (0 awful)))"]) * 3) + "\n",
                     encoding="utf-8")
    texts = ["It is good .", "8 1/2 (the film) is great ."]
    answers = {}
    for phrases in (False, True):
        pipe = SentimentPipeline(SentimentConfig(units=4, embedding_dim=4, epochs=1, phrases=phrases))
        pipe.fit(train, train, verbose=0)
        assert pipe.labels == ["0", "1", "2", "3", "4"]
        answers[phrases] = pipe.predict(texts)
        loaded = SentimentPipeline.load(pipe.save(tmp_path / f"model-{phrases}"))
        assert loaded.config.phrases is phrases and loaded.predict(texts) == answers[phrases]
    for sentence_model, phrase_model in zip(answers[False], answers[True]):
        assert sentence_model.keys() == phrase_model.keys() == {"text", "label", "rating", "probabilities"}
        assert list(sentence_model["probabilities"]) == list(phrase_model["probabilities"]) == ["0", "1", "2", "3", "4"]
        assert phrase_model["rating"] == int(phrase_model["label"]) + 1
    vocab = SentimentPipeline.load(tmp_path / "model-True").vocabs["words"]
    assert "(" in vocab.tokens and not any("\\/" in t or "lrb" in t.lower() for t in vocab.tokens)  # restored
