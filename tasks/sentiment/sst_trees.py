"""The Stanford Sentiment Treebank's parse trees: sentences with their labels, and every labelled phrase.

The original release (``sst/trees/{train,dev,test}.txt``; the ``ptb_tree`` column of the Hugging
Face ``stanfordnlp/sst`` data set's ``ptb`` configuration) holds one PTB-style tree per line,
every node labelled 0..4, the root's label the sentence's::

    (3 (2 (2 The) (2 Rock)) (4 (3 (2 is) (4 (2 destined) ...)) (2 .)))

:func:`parse_tree` reads one tree into its words and the span and label of each of its nodes;
a leaf of several space-separated words (the release's ``(2 8 1\\/2)``, a film's title) is one
word with spaces; the words get PTB's escapes undone (``-LRB-`` ``(``, ``-RRB-`` ``)``, the same for ``-LSB-``/
``-RSB-`` and ``-LCB-``/``-RCB-``, ``\\/`` ``/``, ``\\*`` ``*``). A malformed tree (unbalanced
brackets, a label outside 0..4, an empty leaf, a node with both a word and sub-trees, text after
the last bracket) stops with one line naming the file, line and column.

:func:`sentence_examples` gives ``(sentence, root label)`` pairs, what dev and test sets are
scored on; :func:`phrase_examples` every labelled phrase for training, as the published setups
train (Socher et al. 2013; Kim 2014; Tai et al. 2015): each node's words joined by spaces, one
example per distinct phrase text, the first occurrence's label kept (in the release a phrase's
label comes from its entry in the phrase dictionary, so repeats carry the same label); the
phrases of one tree, all built from its line, may hold together at most the maximum example's
characters (:func:`nlp_tasks.data.readers.max_example_chars`; a right-branching tree of N words has N
phrases of N/2 words on average), counted before any is built. Binary
SST-2 (``labels="binary"``): 0-1 become ``"0"`` (negative), 3-4 ``"1"`` (positive), neutral (2)
sentences and phrases are dropped.
"""

from __future__ import annotations

import dataclasses
import itertools
import re

from nlp_tasks.errors import UserError

FINE_LABELS = ("0", "1", "2", "3", "4")
TREE_LABELS = ("fine", "binary")
BINARY = {"0": "0", "1": "0", "3": "1", "4": "1"}
ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_TREE_START = re.compile(r"\s*\(\s*\d")


@dataclasses.dataclass(frozen=True)
class Tree:
    """A parsed tree: its ``words`` and, for every node in pre-order (root first, each node
    before its sub-trees), ``(start, end, label)``, the node's words being ``words[start:end]``."""

    words: tuple
    spans: tuple
    where: str = dataclasses.field(default="tree", compare=False)  # "file, line 3": for errors about the tree

    @property
    def label(self) -> str:
        return self.spans[0][2]


def restore(word: str) -> str:
    """A leaf as written in the text: PTB's bracket names and backslash escapes undone."""
    return ESCAPES.get(word, word.replace("\\/", "/").replace("\\*", "*"))


def looks_like_tree(line: str) -> bool:
    """Whether a line starts like a labelled tree, ``(3 ...``."""
    return bool(_TREE_START.match(line))


def parse_tree(text: str, where: str = "tree") -> Tree:
    """One tree; ``where`` (``"file, line 3"``) starts each error message, followed by the column."""
    words, spans, stack = [], [], []  # stack: [label, start, word's tokens or None, has sub-trees, index in spans]
    tokens = list(_TOKEN.finditer(text))
    done = False

    def fail(match, problem):
        column = match.start() + 1 if match is not None else len(text.rstrip()) + 1
        raise UserError(f"{where}, column {column}: {problem}")

    i = 0
    while i < len(tokens):
        match = tokens[i]
        token = match.group()
        if done:
            fail(match, "text after the tree's last bracket")
        if token == "(":
            if stack and stack[-1][2] is not None:
                fail(match, "a node has both a word and sub-trees")
            label = tokens[i + 1] if i + 1 < len(tokens) else None
            if label is None or label.group() in "()":
                fail(label or match, "expected a label 0..4 after '('")
            if label.group() not in FINE_LABELS:
                fail(label, f"label {label.group()!r} is not one of 0..4")
            if stack:
                stack[-1][3] = True
            stack.append([label.group(), len(words), None, False, len(spans)])
            spans.append(None)  # filled in when the node closes: the spans stay in pre-order
            i += 2
            continue
        if not stack:
            fail(match, "unbalanced brackets: ')' without '('" if token == ")" else
                 f"expected '(' to start a tree, found {token[:20]!r}")
        node = stack[-1]
        if token == ")":
            if node[2] is None and not node[3]:
                fail(match, "empty leaf: a label without a word")
            stack.pop()
            if node[2] is not None:  # a leaf: its word, joined once (not grown a token at a time)
                words.append(" ".join(restore(part) for part in node[2]))
            spans[node[4]] = (node[1], len(words), node[0])
            done = not stack
        elif node[3]:
            fail(match, "a node has both sub-trees and a word")
        elif node[2] is not None:  # a leaf of several words: "(2 8 1\\/2)", the film's title
            node[2].append(token)
        else:
            node[2] = [token]
        i += 1
    if stack:
        fail(None, f"unbalanced brackets: {len(stack)} '(' not closed")
    if not spans:
        fail(None, "no tree")
    return Tree(tuple(words), tuple(spans), where)


def read_tree_lines(lines, where: str, unit: str = "line") -> list[Tree]:
    """Trees of ``lines`` (blank ones skipped); ``where``: the file or data set, for errors, and
    ``unit`` what a line is called there (``"row"`` of a data set)."""
    trees = [parse_tree(line, f"{where}, {unit} {number}")
             for number, line in enumerate(lines, start=1) if line.strip()]
    if not trees:
        raise UserError(f"{where}: no trees (the data is empty)")
    return trees


def read_tree_file(path) -> list[Tree]:
    from nlp_tasks.data.readers import read_lines

    return read_tree_lines(read_lines(path), str(path))


def _label(label: str, labels: str):
    return label if labels == "fine" else BINARY.get(label)


def check_tree_labels(labels: str) -> None:
    if labels not in TREE_LABELS:
        raise UserError(f"unknown tree labels {labels!r}; choose one of {', '.join(TREE_LABELS)}")


def sentence_examples(trees, labels: str = "fine") -> list[tuple[str, str]]:
    """``(sentence, label)`` for each tree (binary: neutral sentences dropped)."""
    check_tree_labels(labels)
    pairs = [(" ".join(t.words), _label(t.label, labels)) for t in trees]
    return [(text, label) for text, label in pairs if label is not None]


def phrase_chars(tree: Tree) -> int:
    """Characters of all the tree's phrases (each node's words joined by spaces), counted
    without joining them: a right-branching tree of N words has N phrases of N/2 words on
    average, so the phrases of a deep tree are far larger than its line."""
    ends = list(itertools.accumulate((len(word) + 1 for word in tree.words), initial=0))
    return sum(ends[end] - ends[start] - 1 for start, end, _ in tree.spans)


def check_phrase_size(tree: Tree) -> None:
    """A one-line error naming the tree's line when its phrases together hold more characters
    than one example may (:func:`nlp_tasks.data.readers.max_example_chars`): they are all built from
    that one line, and are checked before any is built."""
    from nlp_tasks.data.readers import MAX_EXAMPLE_CHARS_ENV, max_example_chars

    chars, limit = phrase_chars(tree), max_example_chars()
    if chars > limit:
        raise UserError(f"{tree.where}: the tree's {len(tree.spans):,} phrases hold {chars:,} characters in all, more "
                        f"than the maximum example of {limit:,} (a tree this deep is not one sentence's parse; raise "
                        f"the maximum with --max-example-chars or ${MAX_EXAMPLE_CHARS_ENV})")


def phrase_examples(trees, labels: str = "fine") -> list[tuple[str, str]]:
    """``(phrase, label)`` for every distinct labelled phrase, in order of first occurrence
    (binary: neutral phrases dropped). A tree whose phrases together are longer than one
    example may be (:func:`check_phrase_size`) is an error."""
    check_tree_labels(labels)
    seen = {}
    for tree in trees:
        check_phrase_size(tree)
        for start, end, label in tree.spans:
            text = " ".join(tree.words[start:end])
            if text not in seen:
                seen[text] = _label(label, labels)
    return [(text, label) for text, label in seen.items() if label is not None]
