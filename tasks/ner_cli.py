"""``nlp-tasks ner ...``: train, evaluate and predict from the command line, and the demo."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nlp_tasks.cli import options
from nlp_tasks.cli.commands import train_command
from tasks.ner import SCHEMES
from nlp_tasks.demo import DemoData
from nlp_tasks.errors import UserError

SCHEME = click.option("--scheme", type=click.Choice(SCHEMES), default="auto",
                      show_default=True, help="Tag scheme of the input files.")


@click.group()
def cli():
    """Named entity recognition (many-to-many): one BIO tag per token, entity-level F1."""


def format_train(result: dict, pipe=None) -> str:
    best = result.get("best")
    lines = [f"saved to {result['model']}" + (f" (best dev F1 {100 * best:.2f} at epoch {result['best_epoch']})"
                                              if best else "")]
    if "test" in result:
        lines.append(f"test entity F1 {100 * result['test']['f1']:.2f}")
    return "\n".join(lines)


def configure(config, values, given, train, dev, test):
    """--dataset stands for --train/--dev/--test; --embeddings sets the word dimension."""
    from nlp_tasks.data import vector_dim

    dataset = values.pop("dataset")
    if dataset:
        train, dev, test = train or f"{dataset}:train", dev or f"{dataset}:validation", test or f"{dataset}:test"
    if not train:
        raise UserError("give --train FILE (or --dataset NAME)")
    if values.get("embeddings") and "word_dim" not in given:
        config = config.replace(word_dim=vector_dim(values["embeddings"]))
    return config, train, dev, test


cli.add_command(train_command(
    "tasks.ner:NERPipeline", render=format_train, configure=configure, train_required=False,
    train_help="Training data: a CoNLL column file, or a Hugging Face dataset name.",
    extra=[click.option("--dataset", default=None, metavar="NAME",
                        help="A Hugging Face dataset with tokens/ner_tags columns; its train, validation and test "
                             "splits stand in for --train/--dev/--test."),
           click.option("--embeddings", type=click.Path(dir_okay=False), default=None,
                        help="Pretrained word vectors (GloVe / word2vec text file); sets --word-dim.")]))


@cli.command()
@click.argument("model_dir", type=click.Path())
@options.data
@SCHEME
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="Also write the report as JSON here.")
@options.reading
@options.json_output
def evaluate(model_dir, data, scheme, report, as_json):
    """conlleval-style entity precision, recall and F1 (micro and per type) of MODEL_DIR on DATA."""
    from nlp_tasks.metrics import format_conlleval
    from nlp_tasks.paths import atomic_write
    from tasks.ner import NERPipeline

    pipe = NERPipeline.load(model_dir)
    if scheme != "auto":
        pipe.config = pipe.config.replace(scheme=scheme)
    result = pipe.evaluate(data)
    if report:
        with atomic_write(report) as handle:
            json.dump(result, handle, indent=2)
    click.echo(json.dumps(result, indent=2) if as_json else format_conlleval(result))


@cli.command()
@click.argument("model_dir", type=click.Path())
@click.argument("texts", nargs=-1)
@click.option("--input", "input_file", type=click.Path(dir_okay=False), default=None,
              help="One sentence per line (raw text), or a CoNLL file with --conll.")
@click.option("--conll", is_flag=True, help="--input is a CoNLL column file: tag its tokens as they are.")
@click.option("--format", "fmt", type=click.Choice(["spans", "tags"]), default="spans", show_default=True,
              help="Print entity spans, or every token with its tag.")
@options.json_output
def predict(model_dir, texts, input_file, conll, fmt, as_json):
    """Tag TEXTS (raw sentences, tokenised here) or the sentences of --input."""
    from nlp_tasks.data import read_conll, read_lines
    from nlp_tasks.vocab import tokenize_words
    from tasks.ner import NERPipeline

    if conll and not input_file:
        raise UserError("--conll needs --input FILE")
    pipe = NERPipeline.load(model_dir)
    if conll:
        token_lists = [tokens for tokens, _ in read_conll(input_file, scheme=pipe.config.scheme)]
        tags, _ = pipe.tag(token_lists)
        output = [{"tokens": t, "tags": g} for t, g in zip(token_lists, tags)]
        if as_json:
            click.echo(json.dumps(output, indent=2, ensure_ascii=False))
        else:
            for row in output:
                click.echo("\n".join(f"{tok} {tag}" for tok, tag in zip(row["tokens"], row["tags"])) + "\n")
        return
    texts = list(texts) + ([line for line in read_lines(input_file) if line.strip()] if input_file else [])
    if not texts:
        raise UserError("nothing to tag: give sentences as arguments or --input FILE")
    if fmt == "tags":
        token_lists = [tokenize_words(text) for text in texts]
        tags, _ = pipe.tag(token_lists)
        output = [{"text": x, "tokens": t, "tags": g} for x, t, g in zip(texts, token_lists, tags)]
        if as_json:
            click.echo(json.dumps(output, indent=2, ensure_ascii=False))
        else:
            for row in output:
                click.echo(" ".join(f"{tok}/{tag}" for tok, tag in zip(row["tokens"], row["tags"])))
        return
    entities = pipe.predict(texts)
    if as_json:
        click.echo(json.dumps([{"text": x, "entities": e} for x, e in zip(texts, entities)], indent=2,
                              ensure_ascii=False))
        return
    for text, found in zip(texts, entities):
        click.echo(text)
        for e in found:
            click.echo(f"  {e['type']:5} {e['start']:>4}-{e['end']:<4} {e['score']:.2f}  {e['text']}")


COURSE_SENTENCE = "Harry Potter and Hermione Granger invented a new spell."


DEMO_DATA = DemoData(name="CoNLL-2003", folder="conll2003", hub="conll2003")


def demo(out_dir: Path, folder: Path | None = None) -> dict:
    """About a minute of CoNLL-2003 training (``folder``: the data folder's conll2003/, else
    the hub), then tag a sentence."""
    from nlp_tasks.metrics import format_conlleval
    from nlp_tasks.data import read_conll
    from tasks.ner import NERConfig, NERPipeline

    if folder is not None:
        train = read_conll(folder / "train.txt")[:5000]
        dev, test = read_conll(folder / "valid.txt")[:600], folder / "test.txt"
    else:
        train, dev, test = "conll2003:train[:5000]", "conll2003:validation[:600]", "conll2003:test"
    pipe = NERPipeline(NERConfig(epochs=5, units=100, char_units=25, learning_rate=3e-3, patience=None))
    print("training on 5,000 CoNLL-2003 sentences for 5 epochs (the full run: benchmarks/ner.py)")
    pipe.fit(train, dev, out_dir=out_dir, verbose=1)
    report = pipe.evaluate(test)
    pipe.metrics["test"] = {k: report[k] for k in ("precision", "recall", "f1")}
    pipe.save(out_dir / "model")
    print(format_conlleval(report))
    entities = pipe.predict(COURSE_SENTENCE)
    print(COURSE_SENTENCE)
    for e in entities:
        print(f"  {e['type']:5} {e['start']:>3}-{e['end']:<3} {e['score']:.2f}  {e['text']}")
    (out_dir / "predictions.json").write_text(
        json.dumps({"text": COURSE_SENTENCE, "entities": entities}, indent=2) + "\n", encoding="utf-8")
    return pipe.metrics["test"]
