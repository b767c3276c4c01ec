"""``nlp-tasks ner ...``: train, evaluate and predict from the command line."""

from __future__ import annotations

import json

import click

from nlp_tasks.cli import options
from nlp_tasks.cli.commands import train_command
from nlp_tasks.errors import UserError

from .pipeline import SCHEMES

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
    from nlp_tasks.data.vectors import vector_dim

    dataset = values.pop("dataset")
    if dataset:
        train, dev, test = train or f"{dataset}:train", dev or f"{dataset}:validation", test or f"{dataset}:test"
    if not train:
        raise UserError("give --train FILE (or --dataset NAME)")
    if values.get("embeddings") and "word_dim" not in given:
        config = config.replace(word_dim=vector_dim(values["embeddings"]))
    return config, train, dev, test


def need_training_data(given: dict) -> None:
    """``--train`` or ``--dataset``, checked before TensorFlow starts."""
    if not given.get("train") and not given.get("dataset"):
        raise UserError("give --train FILE (or --dataset NAME)")


cli.add_command(train_command(
    f"{__package__}:NERPipeline", render=format_train, configure=configure, train_required=False,
    precheck=need_training_data,
    train_help="Training data: a CoNLL column file, a Hugging Face dataset name, or builtin:wikigold (its train "
               "part; ships with nlp-tasks).",
    dev_help="Development data for early stopping and model selection [default: builtin:wikigold's dev part when "
             "training on it, else none].",
    extra=[click.option("--dataset", default=None, metavar="NAME",
                        help="A Hugging Face dataset with tokens/ner_tags columns, or builtin:wikigold; its train, "
                             "validation and test splits stand in for --train/--dev/--test."),
           click.option("--embeddings", type=click.Path(dir_okay=False), default=None,
                        help="Pretrained word vectors (GloVe / word2vec text file); sets --word-dim."),
           click.option("--lm-features", default=None, metavar="FWD_MODEL[,BWD_MODEL]",
                        help="Saved character language models (charlm train; the second with --reverse) whose "
                             "states at each word's end and start join the word features (Akbik et al. 2018); "
                             "frozen unless --lm-fine-tune.")]))


@cli.command()
@click.argument("model_dir", type=click.Path())
@options.data
@SCHEME
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="Also write the report as JSON here.")
@options.reading
@options.json_output
def evaluate(model_dir, data, scheme, report, as_json):
    """conlleval-style entity precision, recall and F1 (micro and per type) of MODEL_DIR on DATA
    (builtin:wikigold: its test part; builtin:wikigold:dev for the dev part)."""
    from nlp_tasks.io.paths import atomic_write
    from nlp_tasks.metrics import format_conlleval

    from .pipeline import NERPipeline

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
@options.texts("One sentence per line (raw text), or a CoNLL file with --conll.")
@click.option("--conll", is_flag=True, help="--input is a CoNLL column file: tag its tokens as they are.")
@click.option("--format", "fmt", type=click.Choice(["spans", "tags"]), default="spans", show_default=True,
              help="Print entity spans, or every token with its tag.")
@options.json_output
def predict(model_dir, texts, input_file, conll, fmt, as_json):
    """Tag TEXTS (raw sentences, tokenised here) or the sentences of --input."""
    import itertools

    from nlp_tasks.data.readers import iter_conll
    from nlp_tasks.text.vocab import tokenize_words

    from .pipeline import NERPipeline

    if conll and not input_file:
        raise UserError("--conll needs --input FILE")
    # Read, tagged and written a block at a time: an --input of any size runs in the memory of one block.
    if conll:
        pipe = NERPipeline.load(model_dir)
        sentences = iter_conll(input_file, scheme=pipe.config.scheme)
        blocks = iter(lambda: [tokens for tokens, _ in itertools.islice(sentences, options.PREDICT_BLOCK)], [])
        rows = ({"tokens": t, "tags": g} for block in blocks for t, g in zip(block, pipe.tag(block)[0]))
        if as_json:
            options.echo_json_items(rows)
        else:
            for row in rows:
                click.echo("\n".join(f"{tok} {tag}" for tok, tag in zip(row["tokens"], row["tags"])) + "\n")
        return
    pipe = NERPipeline.load(model_dir)
    blocks = options.text_blocks(texts, input_file, "tag", items="sentences")
    if fmt == "tags":
        def tagged(block):
            token_lists = [tokenize_words(text) for text in block]
            return zip(block, token_lists, pipe.tag(token_lists)[0])

        rows = ({"text": x, "tokens": t, "tags": g} for block in blocks for x, t, g in tagged(block))
        if as_json:
            options.echo_json_items(rows)
        else:
            for row in rows:
                click.echo(" ".join(f"{tok}/{tag}" for tok, tag in zip(row["tokens"], row["tags"])))
        return
    found = ((text, entities) for block in blocks for text, entities in zip(block, pipe.predict(block)))
    if as_json:
        options.echo_json_items({"text": x, "entities": e} for x, e in found)
        return
    for text, entities in found:
        click.echo(text)
        for e in entities:
            click.echo(f"  {e['type']:5} {e['start']:>4}-{e['end']:<4} {e['score']:.2f}  {e['text']}")
