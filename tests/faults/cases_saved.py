"""Tampered saved files and unbounded sizes (issue 22 items 6, 7 and 8).

Every case tampers with a copy of a tiny saved model (or of a finished training run's output
folder), never with the shared ones. Cases that would allocate gigabytes if the check were
missing run in a subprocess, so that a regression fails the case instead of the test run.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path

from tests.faults.harness import Case
from tests.faults.models import sentiment_train_argv, write_sentiment_data

DEEP = "[" * 100_000 + "]" * 100_000  # RecursionError in json.loads without a depth limit


def copy_model(tmp: Path, models: dict, task: str) -> Path:
    folder = tmp / f"{task}-copy"
    shutil.copytree(models[task], folder)
    return folder


def edit_meta(folder: Path, **changes) -> None:
    meta = json.loads((folder / "pipeline.json").read_text())
    config = changes.pop("config", {})
    meta.update(changes)
    meta["config"].update(config)
    (folder / "pipeline.json").write_text(json.dumps(meta))


def edit_keras_config(folder: Path, layer: str, change) -> None:
    """Rewrite ``model.keras`` with ``change(layer_config_dict)`` applied to the top-level layer
    named ``layer`` of its ``config.json`` (the other members copied byte for byte)."""
    path = folder / "model.keras"
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info.filename)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in members:
            if info.filename == "config.json":
                config = json.loads(data)
                (target,) = [item for item in config["config"]["layers"] if item["config"]["name"] == layer]
                change(target["config"])
                data = json.dumps(config).encode()
            archive.writestr(info, data)


def set_cell_units(units: int):
    def change(config):
        config["cell"]["config"]["units"] = units

    return change


def predict_sentiment(folder: Path) -> list[str]:
    return ["sentiment", "predict", str(folder), "good film"]


def score_charlm(folder: Path) -> list[str]:
    return ["charlm", "score", str(folder), "abc"]


# ---------------------------------------------------------------- item 6: tampered model.keras
def huge_input_dim(tmp, models):
    folder = copy_model(tmp, models, "sentiment")
    edit_keras_config(folder, "embed_words", lambda c: c.update(input_dim=50_000_000))
    return predict_sentiment(folder)


def huge_case_embedding(tmp, models):
    """An embedding without a vocabulary file to compare with: bounded by the stored weights."""
    folder = copy_model(tmp, models, "ner")
    edit_keras_config(folder, "embed_case", lambda c: c.update(input_dim=50_000_000))
    return ["ner", "predict", str(folder), "Peter visited Paris"]


def huge_units(tmp, models):
    folder = copy_model(tmp, models, "charlm")
    edit_keras_config(folder, "rnn_1", set_cell_units(1_000_000_000))
    return score_charlm(folder)


def wider_units(tmp, models):
    """Units within every bound but not what the weights hold (60,000 * 60,000 * 3 floats)."""
    folder = copy_model(tmp, models, "music")
    edit_keras_config(folder, "rnn_1", set_cell_units(60_000))
    return ["music", "generate", str(folder), "--steps", "2", "--out", str(tmp / "x.mid")]


def other_output_dim(tmp, models):
    folder = copy_model(tmp, models, "sentiment")
    edit_keras_config(folder, "embed_words", lambda c: c.update(output_dim=5))
    return predict_sentiment(folder)


def meta_labels_more(tmp, models):
    folder = copy_model(tmp, models, "ner")
    meta = json.loads((folder / "pipeline.json").read_text())
    edit_meta(folder, labels=meta["labels"] + ["I-ORG"])
    return ["ner", "predict", str(folder), "Peter visited Paris"]


def meta_units_huge(tmp, models):
    folder = copy_model(tmp, models, "charlm")
    edit_meta(folder, config={"units": 1_000_000_000})
    return score_charlm(folder)


def meta_units_other(tmp, models):
    folder = copy_model(tmp, models, "charlm")
    edit_meta(folder, config={"units": 8})
    return score_charlm(folder)


def meta_layers_more(tmp, models):
    folder = copy_model(tmp, models, "ner")
    edit_meta(folder, config={"layers": 2})
    return ["ner", "predict", str(folder), "Peter visited Paris"]


def extra_recurrent_layer(tmp, models):
    folder = copy_model(tmp, models, "ner")
    edit_keras_config(folder, "encoder_1", lambda c: c.update(name="encoder_9"))
    return ["ner", "predict", str(folder), "Peter visited Paris"]


def meta_other_cell(tmp, models):
    folder = copy_model(tmp, models, "music")
    edit_meta(folder, config={"cell": "lstm"})
    return ["music", "generate", str(folder), "--steps", "2", "--out", str(tmp / "x.mid")]


def truncated_keras(tmp, models):
    folder = copy_model(tmp, models, "sentiment")
    data = (folder / "model.keras").read_bytes()
    (folder / "model.keras").write_bytes(data[: len(data) // 2])
    return predict_sentiment(folder)


def empty_keras(tmp, models):
    folder = copy_model(tmp, models, "sentiment")
    (folder / "model.keras").write_bytes(b"")
    return predict_sentiment(folder)


def linked_keras(tmp, models):
    folder = copy_model(tmp, models, "sentiment")
    (folder / "model.keras").rename(folder / "elsewhere.keras")
    (folder / "model.keras").symlink_to(folder / "elsewhere.keras")
    return predict_sentiment(folder)


def keras_without_weights(tmp, models):
    folder = copy_model(tmp, models, "sentiment")
    path = folder / "model.keras"
    with zipfile.ZipFile(path) as archive:
        config = archive.read("config.json")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", config)
    return predict_sentiment(folder)


def keras_zip_bomb(tmp, models):
    folder = copy_model(tmp, models, "sentiment")
    path = folder / "model.keras"
    with zipfile.ZipFile(path) as archive:
        members = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data + (b" " * 20_000_000 if name == "config.json" else b""))
    return predict_sentiment(folder)


def unchanged(tmp, models):
    return predict_sentiment(copy_model(tmp, models, "sentiment"))


# ---------------------------------------------------------------- item 7: one line, not a traceback
def deep_meta(tmp, models):
    folder = copy_model(tmp, models, "sentiment")
    meta = json.loads((folder / "pipeline.json").read_text())
    text = json.dumps({**meta, "metrics": "@"}).replace('"@"', DEEP)
    (folder / "pipeline.json").write_text(text)
    return predict_sentiment(folder)


def deep_vocab(tmp, models):
    folder = copy_model(tmp, models, "sentiment")
    (folder / "vocab-words.json").write_text('{"tokens": ' + DEEP + "}")
    return predict_sentiment(folder)


def vocab_outside(tmp, models):
    folder = copy_model(tmp, models, "sentiment")
    shutil.copy(folder / "vocab-words.json", tmp / "vocab-stolen.json")
    edit_meta(folder, vocabularies=["../vocab-stolen", "words"])
    return predict_sentiment(folder)


def meta_seed_huge(tmp, models):
    folder = copy_model(tmp, models, "music")
    edit_meta(folder, config={"seed": 2**40})
    return ["music", "generate", str(folder), "--steps", "2", "--out", str(tmp / "x.mid")]


_TRAINED: dict[str, Path] = {}


def trained_run(tmp: Path) -> tuple[list[str], Path]:
    """A finished one-epoch sentiment run (trained once, then copied): (its argv, its out folder)."""
    from nlp_tasks.cli import main as cli

    if "run" not in _TRAINED:
        root = Path(tempfile.mkdtemp(prefix="fault-saved-run-"))
        data = write_sentiment_data(root)
        assert cli.main(sentiment_train_argv(data, root / "out")) == 0
        _TRAINED["run"] = root
    root = _TRAINED["run"]
    shutil.copy(root / "sent.txt", tmp / "sent.txt")
    shutil.copytree(root / "out", tmp / "out")
    return sentiment_train_argv(tmp / "sent.txt", tmp / "out"), tmp / "out" / "checkpoint"


def edit_state(**changes):
    def setup(tmp, models):
        argv, checkpoint = trained_run(tmp)
        state = json.loads((checkpoint / "state.json").read_text())
        state.update(changes)
        (checkpoint / "state.json").write_text(json.dumps(state))
        return argv

    return setup


def deep_state(tmp, models):
    argv, checkpoint = trained_run(tmp)
    (checkpoint / "state.json").write_text(DEEP)
    return argv


def damage_npz(how):
    def setup(tmp, models):
        argv, checkpoint = trained_run(tmp)
        path = checkpoint / "last.npz"
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if how == "truncate" else b"PK\x03\x04" + b"\x00garbage" * 50)
        return argv

    return setup


def checkpoint_kept(tmp, result):
    assert (tmp / "out" / "checkpoint" / "last.npz").is_file(), "the damaged checkpoint must stay for the user"


def train_argv(tmp, *extra):
    data = write_sentiment_data(tmp)
    return sentiment_train_argv(data, tmp / "out", *extra)


# ---------------------------------------------------------------- item 8: silent nonsense
def many_labels(tmp, models):
    rows = [f"L{i} word{i % 7} film" for i in range(1_001)]
    (tmp / "labels.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return sentiment_train_argv(tmp / "labels.txt", tmp / "out")


def warned_of_labels(tmp, result):
    warnings = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "1,001 distinct labels" in warnings[0], result.err


def unseen_chars(tmp, models):
    (tmp / "held-out.txt").write_text("abc\nxyz\n", encoding="utf-8")
    return ["charlm", "evaluate", str(models["charlm"]), "--data", str(tmp / "held-out.txt")]


CASES = [
    # 6. tampered model folders are checked before Keras builds anything
    Case("22.6", "embedding input_dim 5e7 in model.keras", huge_input_dim,
         error=r"vocabulary 'words' has 7 tokens but the model's embedding 'embed_words' was trained for 50000000",
         subprocess=True, timeout=90),
    Case("22.6", "embedding input_dim 5e7 where no vocabulary is saved", huge_case_embedding,
         error=r"implies at least 400,0\d\d,\d\d\d weights but its weight file holds \d+", subprocess=True,
         timeout=90),
    Case("22.6", "cell units 1e9 in model.keras", huge_units, error=r"implies at least .* weights", subprocess=True,
         timeout=90),
    Case("22.6", "cell units 60000 in model.keras (within bounds, not the weights)", wider_units,
         error=r"implies at least 3,600,\d\d\d,\d\d\d weights", subprocess=True, timeout=90),
    Case("22.6", "embedding output_dim differs from pipeline.json", other_output_dim,
         error=r"layer 'embed_words' has output_dim 5 but pipeline\.json implies 4"),
    Case("22.6", "more labels in pipeline.json than the model's output", meta_labels_more,
         error=r"4 labels are saved but the model's output layer has 3 units"),
    Case("22.6", "units 1e9 in pipeline.json", meta_units_huge, error=r"units must be <= 65,536, got 1000000000"),
    Case("22.6", "units in pipeline.json differ from the model's", meta_units_other,
         error=r"layer 'rnn_1' has units 4 but pipeline\.json implies 8"),
    Case("22.6", "more layers in pipeline.json than in the model", meta_layers_more,
         error=r"the model has no layer 'encoder_2', which this ner config implies"),
    Case("22.6", "a recurrent layer the config does not imply", extra_recurrent_layer,
         error=r"recurrent layer 'encoder_9' that its ner config does not imply"),
    Case("22.6", "cell type in pipeline.json differs from the model's", meta_other_cell,
         error=r"the model's recurrent cells are GRUCell but pipeline\.json says cell 'lstm'"),
    Case("22.6", "truncated model.keras", truncated_keras, error=r"model\.keras: refusing to load model: .*not a zip"),
    Case("22.6", "empty model.keras", empty_keras, error=r"model\.keras: refusing to load model: the file is empty"),
    Case("22.6", "model.keras a link to another file", linked_keras, error=r"refusing to load model: it is a link"),
    Case("22.6", "model.keras without its weights", keras_without_weights, error=r"model\.weights\.h5 is missing"),
    Case("22.6", "model.keras member inflating to 20 MB", keras_zip_bomb, error=r"config\.json would inflate"),
    Case("22.6", "an untouched copy still predicts", unchanged, exit=0),
    # 7. one line instead of a traceback
    Case("22.7", "pipeline.json nested 100,000 deep", deep_meta, error=r"corrupt model description"),
    Case("22.7", "vocabulary nested 100,000 deep", deep_vocab, error=r"corrupt vocabulary file \(nested more than"),
    Case("22.7", "checkpoint state.json nested 100,000 deep", deep_state, error=r"corrupt checkpoint description",
         check=checkpoint_kept),
    Case("22.7", "truncated checkpoint last.npz", damage_npz("truncate"), error=r"last\.npz: unreadable checkpoint",
         check=checkpoint_kept),
    Case("22.7", "garbage checkpoint last.npz", damage_npz("garbage"), error=r"last\.npz: unreadable checkpoint",
         check=checkpoint_kept),
    Case("22.7", "state.json epochs_done a string", edit_state(epochs_done="x"),
         error=r"damaged checkpoint description \(epochs_done must be a count of epochs, got 'x'\)"),
    Case("22.7", "state.json history a number", edit_state(history=5), error=r"history must be an object"),
    Case("22.7", "state.json early stopping wait a string", edit_state(early_stopping={"wait": "x"}),
         error=r"early_stopping holds a count that is not"),
    Case("22.7", "vocabulary name leaving the model folder", vocab_outside,
         error=r"vocabulary name '\.\./vocab-stolen' is not a plain name"),
    Case("22.7", "seed 2**40 in pipeline.json", meta_seed_huge, error=r"seed must be <= 4,294,967,295"),
    Case("22.7", "--units 1000000000", lambda tmp, m: train_argv(tmp, "--units", "1000000000"),
         error=r"Invalid value for '--units'.*1<=x<=65536"),
    Case("22.7", "--seed 2**32", lambda tmp, m: train_argv(tmp, "--seed", str(2**32)),
         error=r"Invalid value for '--seed'.*0<=x<=4294967295"),
    Case("22.7", "a model over the parameter bound",
         lambda tmp, m: train_argv(tmp, "--units", "60000", "--layers", "4"),
         error=r"would have about [\d,]+ weights \([\d,.]+ GiB as float32\), more than the 1,000,000,000 allowed",
         subprocess=True, timeout=90),
    Case("22.7", "charlm generate --samples 10000000",
         lambda tmp, m: ["charlm", "generate", str(m["charlm"]), "--samples", "10000000"],
         error=r"Invalid value for '--samples'.*1<=x<=10000"),
    Case("22.7", "charlm generate --seed 2**32",
         lambda tmp, m: ["charlm", "generate", str(m["charlm"]), "--seed", str(2**32)], error=r"'--seed'"),
    Case("22.7", "music generate --steps 100000000",
         lambda tmp, m: ["music", "generate", str(m["music"]), "--steps", "100000000", "--out", str(tmp / "x.mid")],
         error=r"Invalid value for '--steps'.*1<=x<=100000"),
    # 8. silent nonsense
    Case("22.8", "state.json epochs_done -3", edit_state(epochs_done=-3),
         error=r"epochs_done must be a count of epochs, got -3", check=checkpoint_kept),
    Case("22.8", "state.json more epochs done than the run has", edit_state(epochs_done=7),
         error=r"7 epochs done of a run of 1"),
    Case("22.8", "charlm generate --beam 2 --top-k 3",
         lambda tmp, m: ["charlm", "generate", str(m["charlm"]), "--beam", "2", "--top-k", "3"],
         error=r"give --beam or --top-k/--top-p, not both"),
    Case("22.8", "charlm evaluate with characters the model never saw", unseen_chars,
         error=r"the evaluation data contains character\(s\) the model never saw: 'x', 'y', 'z'"),
    Case("22.8", "1,001 distinct labels train with a warning", many_labels, exit=0, check=warned_of_labels),
]
