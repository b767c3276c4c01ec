"""Vocabulary: building, encode/decode, padding, one-hot, JSON round-trip, bad files."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp_tasks.errors import UserError
from nlp_tasks.text.vocab import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIALS,
    UNK_ID,
    Vocabulary,
    normalize_text,
    pad_sequences,
    tokenize_words,
    tokenize_words_with_offsets,
)


def test_specials_have_fixed_ids():
    vocab = Vocabulary.build(["a b"])
    assert vocab.tokens[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)


def test_most_frequent_first_ties_in_code_point_order_and_independent_of_input_order():
    corpus = ["b a c", "a b", "d a", "e"]
    vocab = Vocabulary.build(corpus)
    assert vocab.tokens[4:] == ["a", "b", "c", "d", "e"]
    assert Vocabulary.build(list(reversed(corpus))) == vocab
    assert Vocabulary.build(corpus, max_size=2).tokens[4:] == ["a", "b"]
    assert Vocabulary.build(corpus, min_freq=2).tokens[4:] == ["a", "b"]


def test_unknown_tokens_map_to_unk_and_lowercasing():
    vocab = Vocabulary.build(["The cat sat"], lower=True)
    assert vocab.encode("the CAT flew") == [vocab.token_to_id("the"), vocab.token_to_id("cat"), UNK_ID]
    assert "CAT" in vocab and "dog" not in vocab


def test_encode_decode_words_with_bos_eos():
    vocab = Vocabulary.build([["Harry", "Potter", "."]])
    ids = vocab.encode(["Harry", "Potter", "."], add_bos=True, add_eos=True)
    assert ids[0] == BOS_ID and ids[-1] == EOS_ID
    assert vocab.decode(ids) == "Harry Potter ."
    assert vocab.decode(ids, skip_specials=False, join=False) == ["<bos>", "Harry", "Potter", ".", "<eos>"]


def test_batch_encode_pads_with_zero_and_truncates():
    vocab = Vocabulary.build(["abcdef"], level="char")
    batch = vocab.encode_batch(["abc", "a", "abcdef"], maxlen=4)
    assert batch.dtype == np.int32 and batch.shape == (3, 4)
    assert batch[1, 1:].tolist() == [0, 0, 0]
    assert vocab.decode_batch(batch) == ["abc", "a", "abcd"]
    assert vocab.decode(vocab.encode_batch(["abcdef"], maxlen=2, truncate="pre")[0]) == "ef"
    assert pad_sequences([]).shape == (0, 0)


def test_one_hot_padding_is_all_zero():
    vocab = Vocabulary.build(["ab"], level="char")
    hot = vocab.one_hot([[4, 5, 0]])
    assert hot.shape == (1, 3, len(vocab))
    assert hot[0, 0, 4] == 1 and hot[0, 1, 5] == 1 and hot[0, 2].sum() == 0
    with pytest.raises(UserError, match="token ids must lie"):
        vocab.one_hot([99])


def test_word_tokenizer_and_offsets():
    text = "Harry Potter's wand cost 3.50 pounds, didn't it?"
    assert tokenize_words(text) == ["Harry", "Potter's", "wand", "cost", "3.50", "pounds", ",", "didn't", "it", "?"]
    for token, start, end in tokenize_words_with_offsets(text):
        assert text[start:end] == token


# Characters of every kind except lone surrogates (not encodable as UTF-8, so never in a file).
unicode_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)


@settings(max_examples=200, deadline=None)
@given(unicode_text)
def test_char_vocabulary_round_trips_any_unicode_text(text):
    vocab = Vocabulary.build([text], level="char")
    nfc = unicodedata.normalize("NFC", text)
    assert vocab.decode(vocab.encode(text)) == nfc
    assert len(vocab.encode(text)) == len(nfc)


def test_composed_and_decomposed_spellings_give_the_same_tokens_and_format_characters_none():
    nfc = "Er wohnt in München, 한국어."
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc and tokenize_words(nfd) == tokenize_words(nfc) == [
        "Er", "wohnt", "in", "München", ",", "한국어", "."]
    hidden = "\ufeffPeter\u200d visited Pa\u00adris \u200d \u2060"
    assert tokenize_words(hidden) == ["Peter", "visited", "Paris"]
    for text in (nfd, hidden):  # offsets point into the text as given
        for token, start, end in tokenize_words_with_offsets(text):
            assert normalize_text(text[start:end]) == token
    assert [(t, s, e) for t, s, e in tokenize_words_with_offsets(hidden)] == [
        ("Peter", 1, 6), ("visited", 8, 15), ("Paris", 16, 22)]
    vocab = Vocabulary.build([["München"]])
    assert vocab.encode(["Mu\u0308nchen", "\u200d"]) == [vocab.token_to_id("München"), UNK_ID]
    assert vocab.tokenize(["\u200d"]) == ["\u200d"]  # a token of format characters only stays (one tag each)


@settings(max_examples=200, deadline=None)
@given(unicode_text)
def test_any_spelling_of_a_text_gives_its_tokens_and_offsets_cover_them(text):
    tokens = tokenize_words(text)
    assert tokenize_words(unicodedata.normalize("NFD", text)) == tokens
    assert tokenize_words(unicodedata.normalize("NFC", text)) == tokens
    spans = tokenize_words_with_offsets(text)
    assert [t for t, _, _ in spans] == tokens
    for token, start, end in spans:
        assert 0 <= start < end <= len(text) and token in normalize_text(text[start:end])


@settings(max_examples=100, deadline=None)
@given(st.lists(unicode_text, max_size=5), st.one_of(st.none(), st.integers(0, 50)), st.integers(1, 3),
       st.sampled_from(["char", "word"]), st.booleans())
def test_json_round_trip_is_exact(tmp_path_factory, corpus, max_size, min_freq, level, lower):
    vocab = Vocabulary.build(corpus, level=level, max_size=max_size, min_freq=min_freq, lower=lower)
    path = tmp_path_factory.mktemp("vocab") / "vocab.json"
    vocab.save(path)
    loaded = Vocabulary.load(path)
    assert loaded == vocab and loaded.tokens == vocab.tokens
    for text in corpus:
        assert loaded.encode(text) == vocab.encode(text)


def test_unknown_characters_survive_as_unk():
    vocab = Vocabulary.build(["abc"], level="char")
    assert vocab.decode(vocab.encode("abz")) == "ab<unk>"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff\xfe not utf8", "not UTF-8"),
        (b"{not json", "invalid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"format": "something.else"}', "not a vocabulary file"),
        (b'{"format": "nlp_tasks.vocabulary", "version": 99}', "version 99 is not supported"),
        (b'{"format": "nlp_tasks.vocabulary", "version": 1, "specials": ["<pad>"], "tokens": []}', "specials"),
        (b'{"format": "nlp_tasks.vocabulary", "version": 1, "specials": ["<pad>", "<unk>", "<bos>", "<eos>"],'
         b' "level": "word", "tokens": ["a", "a"]}', "duplicate vocabulary token"),
        (b'{"format": "nlp_tasks.vocabulary", "version": 1, "specials": ["<pad>", "<unk>", "<bos>", "<eos>"],'
         b' "level": "char", "tokens": ["ab"]}', "not one character"),
        (b'{"format": "nlp_tasks.vocabulary", "version": 1, "specials": ["<pad>", "<unk>", "<bos>", "<eos>"],'
         b' "level": "byte", "tokens": []}', "level must be one of"),
        (b'{"format": "nlp_tasks.vocabulary", "version": 1, "specials": ["<pad>", "<unk>", "<bos>", "<eos>"],'
         b' "level": "word", "tokens": [3]}', "non-empty strings"),
    ],
)
def test_corrupt_or_incompatible_files_raise_one_clear_error(tmp_path, content, message):
    path = tmp_path / "vocab.json"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as info:
        Vocabulary.load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_file_and_bad_arguments():
    with pytest.raises(UserError, match="not found"):
        Vocabulary.load("/nonexistent/vocab.json")
    with pytest.raises(UserError, match="min_freq"):
        Vocabulary.build(["a"], min_freq=0)
    with pytest.raises(UserError, match="max_size"):
        Vocabulary.build(["a"], max_size=-1)
    with pytest.raises(UserError, match="level"):
        Vocabulary(level="sentence")


def test_save_is_atomic_on_failure(tmp_path):
    path = tmp_path / "vocab.json"
    Vocabulary.build(["keep me"]).save(path)
    before = path.read_bytes()
    with pytest.raises(UserError):
        Vocabulary.build(["bad \udcff surrogate"], level="char").save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]
    assert json.loads(before)["tokens"] == ["keep", "me"]


def test_specials_in_text_are_not_duplicated():
    vocab = Vocabulary.build([["<unk>", "x", "<pad>"]])
    assert vocab.tokens == list(SPECIALS) + ["x"]
