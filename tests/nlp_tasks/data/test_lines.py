"""stream_lines: a file read a line at a time under the whole-file readers' rules."""

from __future__ import annotations

import pytest

from nlp_tasks.data.lines import stream_lines
from nlp_tasks.data.readers import BadLines, reading_options, split_lines
from nlp_tasks.errors import UserError


def lines_of(path):
    bad = BadLines(path)
    out = list(stream_lines(path, bad))
    bad.report()
    return out


@pytest.mark.parametrize("content", ["\ufeffa\r\nb\rc\n\nd", "a\u2028b\x0cc\n", "", "\n", "x\r\n\r\n"])
def test_the_same_lines_as_the_whole_file_reader(tmp_path, content):
    path = tmp_path / "f.txt"
    path.write_bytes(content.encode("utf-8"))
    expected = split_lines(content.removeprefix("\ufeff"))
    assert lines_of(path) == list(enumerate(expected, start=1))


def test_bad_utf8_names_its_line(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"ok\n" * 5000 + b"caf\xe9\n")  # past the first read buffer
    with pytest.raises(UserError, match=r"f.txt, line 5001: not valid UTF-8 \(byte 0xe9\); convert the file to UTF-8$"):
        lines_of(path)


def test_a_long_line_is_a_bad_line_read_past_in_pieces(tmp_path, capsys):
    path = tmp_path / "f.txt"
    path.write_text("short\n" + "x" * 1000 + "\r\nlast\n", encoding="utf-8")
    with reading_options(max_example_chars=10), pytest.raises(UserError, match="line 2: 1,000 characters"):
        lines_of(path)
    with reading_options(max_example_chars=10, on_bad_lines="skip"):
        assert lines_of(path) == [(1, "short"), (3, "last")]
    assert "skipped 1 bad line (first: line 2: 1,000 characters" in capsys.readouterr().err
    exact = tmp_path / "exact.txt"
    exact.write_text("12345\r\n123456\n", encoding="utf-8")
    with reading_options(max_example_chars=5, on_bad_lines="skip"):
        assert lines_of(exact) == [(1, "12345")]


def test_not_a_regular_file(tmp_path):
    with pytest.raises(UserError, match="is a directory"):
        lines_of(tmp_path)
