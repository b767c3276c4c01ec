"""Model weights, the NADE music head and sampling (issue 38 items 5, 6 and 7).

- 38.5: ``music evaluate`` of a 50,000-step piece runs in chunks of time steps; with the NADE
  head one pass needed gigabytes and aborted with ``std::bad_alloc``. The case runs in a child
  process whose data segment is capped at 2 GB (:data:`MEMORY_LIMIT`), so that a regression
  fails it here as it failed on a smaller machine.
- 38.6: stored weights of other shapes than the config builds (the NADE sizes agreeing in
  ``pipeline.json`` and ``model.keras``), a missing weight array, and weights kept in a file
  outside the model (HDF5 external storage) are one line each, before or instead of Keras'
  multi-line error.
- 38.7: a temperature outside 0 or 0.001..1000 is one line in every sampling path, the ends
  of that range draw no ``<pad>``, and weights that are not finite (NaN, infinity) are refused
  when the model loads, for every task.

Every case changes a copy of a tiny saved model (``tests/models.py``), never the shared one.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.faults.cases_saved import copy_model, edit_keras_config, edit_meta
from tests.faults.harness import ROOT, Case

LONG_PIECE = 50_000
# The child's data segment, with TensorFlow's thread pools fixed (each thread's stack counts).
MEMORY_LIMIT = {"PYTHONPATH": str(ROOT / "tests" / "faults" / "memory_limit"), "NLP_TASKS_TEST_DATA_LIMIT_MB": "2048",
                "TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "2"}
SAMPLE = ["--length", "40", "--samples", "3", "--seed", "1", "--json"]


def long_piece(tmp: Path, steps: int = LONG_PIECE) -> Path:
    """A piano-roll JSON file of one piece of ``steps`` time steps (two notes each)."""
    path = tmp / "long.json"
    path.write_text(json.dumps([[[60 + t % 12, 40 + t % 7] for t in range(steps)]]), encoding="utf-8")
    return path


def rewrite_weights(folder: Path, change) -> None:
    """Rewrite ``model.weights.h5`` inside ``folder/model.keras`` with ``change(h5py.File)``
    applied (every other member copied byte for byte)."""
    import h5py

    path, scratch = folder / "model.keras", folder / "weights.h5"
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info.filename)) for info in archive.infolist()]
    scratch.write_bytes(dict((info.filename, data) for info, data in members)["model.weights.h5"])
    with h5py.File(scratch, "r+") as weights:
        change(weights)
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in members:
            archive.writestr(info, scratch.read_bytes() if info.filename == "model.weights.h5" else data)
    scratch.unlink()


def layer_arrays(weights, layer: str) -> list[str]:
    """The names of the weight arrays under ``layers/<layer>`` (Keras names them by class)."""
    import h5py

    found = []
    weights[f"layers/{layer}"].visititems(lambda name, item: found.append(f"layers/{layer}/{name}")
                                          if isinstance(item, h5py.Dataset) else None)
    return found


def fill_weights(layer: str, value: float):
    def change(weights):
        for name in layer_arrays(weights, layer):
            weights[name][...] = value

    return change


def no_pad(tmp: Path, result) -> None:
    samples = json.loads(result.out)["samples"]
    assert len(samples) == 3 and not any("<pad>" in s or "<bos>" in s for s in samples), samples


# ---------------------------------------------------------------- 38.5: a 50,000-step piece
def evaluate_long_nade(tmp, models):
    return ["music", "evaluate", models["music-nade"], "--data", long_piece(tmp)]


def evaluate_long_sigmoid(tmp, models):
    return ["music", "evaluate", models["music"], "--data", long_piece(tmp)]


def scored_every_step(tmp: Path, result) -> None:
    assert f"over {LONG_PIECE} steps" in result.out, result.out


# ---------------------------------------------------------------- 38.6: weights that do not fit
def nade_sizes_agree_weights_differ(tmp, models):
    """pipeline.json and model.keras both say 33 NADE units; the stored weights hold 32."""
    folder = copy_model(tmp, models, "music-nade")
    edit_meta(folder, config={"nade_units": 33})
    edit_keras_config(folder, "output", lambda config: config.update(units=33))
    return ["music", "evaluate", folder, "--data", long_piece(tmp, 4)]


def missing_weight_array(tmp, models):
    folder = copy_model(tmp, models, "music-nade")
    rewrite_weights(folder, lambda weights: weights.__delitem__(layer_arrays(weights, "nade")[1]))
    return ["music", "generate", folder, "--steps", "2", "--out", tmp / "x.mid"]


def external_storage(tmp, models):
    """The output layer's kernel kept in a file beside the model (HDF5 external storage)."""
    folder = copy_model(tmp, models, "charlm")
    outside = tmp / "outside.bin"

    def change(weights):
        name = layer_arrays(weights, "dense")[0]
        values = weights[name][()]
        outside.write_bytes(values.tobytes())
        del weights[name]
        weights.create_dataset(name, shape=values.shape, dtype=values.dtype,
                               external=[(str(outside), 0, values.nbytes)])

    rewrite_weights(folder, change)
    return ["charlm", "score", folder, "abc"]


# ---------------------------------------------------------------- 38.7: temperature, weights not finite
def charlm_sample(*options):
    return lambda tmp, models: ["charlm", "generate", models["charlm"], *options, *SAMPLE]


def music_generate(*options, model: str = "music-nade"):
    return lambda tmp, models: ["music", "generate", models[model], "--steps", "4", "--out", tmp / "x.mid", *options]


def not_finite(task: str, layer: str, value: float, command):
    """A copy of ``task``'s model whose arrays under ``layers/<layer>`` all hold ``value``;
    ``command(folder, tmp)`` is the argv run on it."""
    def setup(tmp, models):
        folder = copy_model(tmp, models, task)
        rewrite_weights(folder, fill_weights(layer, value))
        return command(folder, tmp)

    return setup


TEMPERATURE = r"temperature must be 0 \(greedy\) or from 0.001 to 1000, got "
NOT_FINITE = r"model weights are not finite \(NaN or inf\) in layer '{}' .*training diverged"

CASES = [
    Case("38.5", "music evaluate: a 50,000-step piece, NADE head, in 2 GB", evaluate_long_nade, exit=0,
         check=scored_every_step, subprocess=True, timeout=300, env=MEMORY_LIMIT),
    Case("38.5", "music evaluate: a 50,000-step piece, sigmoid head", evaluate_long_sigmoid, exit=0,
         check=scored_every_step),
    Case("38.6", "NADE sizes agree in both files, not with the weights", nade_sizes_agree_weights_differ,
         error=r"refusing to load model: the stored weights of layer 'output' \(output/\w+\) have shape \(4, 120\) "
               r"but its config says \(4, 121\)"),
    Case("38.6", "a weight array missing from model.weights.h5", missing_weight_array,
         error=r"refusing to load model: layer 'output' \(NADE\): .*expected 4 variables, but received 3"),
    Case("38.6", "model.weights.h5 keeps an array in an outside file", external_storage,
         error=r"refusing to load model: .*keeps its values in a file outside the model"),
    Case("38.7", "charlm generate --temperature 1e308", charlm_sample("--temperature", "1e308"), error=TEMPERATURE),
    Case("38.7", "charlm generate --temperature 1e-308", charlm_sample("--temperature", "1e-308"), error=TEMPERATURE),
    Case("38.7", "charlm generate --temperature nan", charlm_sample("--temperature", "nan"), error=TEMPERATURE),
    Case("38.7", "charlm generate at temperature 1000 draws no <pad>", charlm_sample("--temperature", "1000"), exit=0,
         check=no_pad),
    Case("38.7", "charlm generate at temperature 0.001, top-k, draws no <pad>",
         charlm_sample("--temperature", "0.001", "--top-k", "2"), exit=0, check=no_pad),
    Case("38.7", "charlm generate at temperature 1000, top-p, draws no <pad>",
         charlm_sample("--temperature", "1000", "--top-p", "0.5", "--no-unk"), exit=0, check=no_pad),
    Case("38.7", "music generate --temperature 1e308", music_generate("--temperature", "1e308"), error=TEMPERATURE),
    Case("38.7", "music generate --temperature inf", music_generate("--temperature", "inf"), error=TEMPERATURE),
    Case("38.7", "music generate at temperature 1000", music_generate("--temperature", "1000", model="music"), exit=0,
         check=lambda tmp, result: (tmp / "x.mid").stat().st_size > 0),
    Case("38.7", "NaN weights of the NADE head", not_finite(
        "music-nade", "nade", float("nan"), lambda folder, tmp: ["music", "generate", folder, "--steps", "2", "--out",
                                                                tmp / "x.mid"]), error=NOT_FINITE.format("output")),
    Case("38.7", "NaN weights of a sentiment model", not_finite(
        "sentiment", "bidirectional", float("nan"), lambda folder, tmp: ["sentiment", "predict", folder, "good film"]),
         error=NOT_FINITE.format(r"\w+")),
    Case("38.7", "infinite embedding of a language model", not_finite(
        "charlm", "token_features", float("inf"), lambda folder, tmp: ["charlm", "score", folder, "abc"]),
         error=NOT_FINITE.format("embed_chars")),
]
