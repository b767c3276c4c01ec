"""The README and the pages of docs/: their Python examples run and print what they say, their
links resolve, every page links back, and every ``nlp-tasks ...`` command in them parses."""

from __future__ import annotations

import re
import shlex

import pytest

from tests import REPO as ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _name(page):
    return page.relative_to(ROOT).as_posix()


def python_blocks(page):
    return re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_the_readme_and_the_docs_have_python_examples():
    counts = {_name(page): len(python_blocks(page)) for page in PAGES}
    assert counts["README.md"] >= 1 and sum(counts.values()) >= 10, counts


@pytest.mark.parametrize("page", [page for page in PAGES if python_blocks(page)], ids=_name)
def test_python_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples save files
    for block in python_blocks(page):  # in order: a block may read what an earlier one of its page saved
        exec(compile(block, _name(page), "exec"), {})


def test_readme_vocabulary_comments_are_true():
    from nlp_tasks.text.vocab import Vocabulary

    words = Vocabulary.build(["The cat sat .", "The dog sat ."], level="word", max_size=10_000, min_freq=1)
    assert words.tokens[:7] == ["<pad>", "<unk>", "<bos>", "<eos>", ".", "The", "sat"]
    assert words.encode("The bird sat") == [5, 1, 6]
    assert words.encode_batch(["The cat", "sat"], add_eos=True).tolist() == [[5, 7, 3], [6, 3, 0]]


def _prose(page):
    """The page without its fenced code blocks (links and headings live outside them)."""
    return re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)


def _anchors(page):
    """GitHub's anchors for the page's headings."""
    headings = re.findall(r"^#+ (.+)$", _prose(page), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_links_resolve(page):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", _prose(page)):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("page", PAGES[1:], ids=_name)
def test_every_docs_page_has_a_title_says_what_it_covers_and_links_back(page):
    title, blank, *rest = page.read_text(encoding="utf-8").split("\n")
    first_paragraph = "\n".join(rest).split("\n\n", 1)[0]
    assert title.startswith("# ") and blank == "" and first_paragraph.strip()
    assert "](../README.md)" in first_paragraph
    assert f"](docs/{page.name})" in (ROOT / "README.md").read_text(encoding="utf-8"), "not in 'Where to read more'"


def test_one_spelling_of_the_command():
    """nlp-tasks ... everywhere; one sentence of the README says that python cli.py is the same."""
    assert (ROOT / "README.md").read_text(encoding="utf-8").count("python cli.py") == 1
    assert [_name(page) for page in PAGES[1:] if "python cli.py" in page.read_text(encoding="utf-8")] == []


def _commands(page):
    """The arguments of every nlp-tasks command line in the page's bash and console blocks."""
    text = page.read_text(encoding="utf-8")
    for block in re.findall(r"^```(?:bash|console)\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.replace("\\\n", " ").split("\n"):
            tokens = shlex.split(line.strip().removeprefix("$ "), comments=True)
            if "nlp-tasks" in tokens:
                yield tokens[tokens.index("nlp-tasks") + 1:]


@pytest.mark.parametrize("page", [page for page in PAGES if list(_commands(page))], ids=_name)
def test_every_command_parses(page):
    """Each command's path and options exist and its values are in range (parsed, not run)."""
    import click

    from nlp_tasks.cli.main import cli

    refused = []
    for line in _commands(page):
        command, context, args = cli, click.Context(cli, info_name="nlp-tasks"), list(line)
        try:
            while isinstance(command, click.Group):
                name = args.pop(0)
                command = command.get_command(context, name)
                if command is None:
                    raise click.UsageError(f"no command {name!r}")
                context = click.Context(command, info_name=name, parent=context)
            command.make_context(context.info_name, args, parent=context.parent)
        except click.ClickException as error:
            refused.append(f"nlp-tasks {shlex.join(line)}: {error.format_message()}")
    assert refused == []
