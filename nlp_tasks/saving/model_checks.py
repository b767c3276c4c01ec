"""What a saved model folder must agree on: the Keras model's layer sizes against the
pipeline's config, vocabularies and labels, checked before and after Keras builds it.

A task names its layers for these checks: ``embed_<vocabulary>`` for the embedding that reads
a vocabulary (:func:`embedding_layer_name`), :data:`OUTPUT_LAYER` for the layer whose width is
the number of labels, and the sizes every other layer must have in its
``Pipeline.expected_layer_sizes()``. :func:`load_keras_model` loads ``model.keras`` safely:
Keras' errors in one line, and weights that are not finite (NaN, infinity) refused.
"""

from __future__ import annotations

import re
from pathlib import Path

from nlp_tasks import _keras_compat
from nlp_tasks.errors import UserError
from nlp_tasks.io.safe_files import inspect_keras_archive, layer_sizes
from nlp_tasks.saving.layout import META_FILE

OUTPUT_LAYER = "output"  # name of the layer whose width must equal the number of labels


def embedding_layer_name(vocab_name: str) -> str:
    """Name a task gives the Embedding layer that reads vocabulary ``vocab_name``."""
    return f"embed_{vocab_name}"


def check_model_config(pipe, keras_config: dict, stored: int, source: str = "model") -> None:
    """Refuse a Keras model config whose sizes do not fit this pipeline, before Keras builds it.

    Three rules, so that a tampered ``model.keras`` cannot make Keras allocate more than
    its weight file holds:

    - every size field (``input_dim``, ``output_dim``, ``units``, ``vocab_size``, ``dim``,
      ``n_tags``, ``n_visible``) is a non-negative integer, and each ``embed_<name>`` layer reads as many
      tokens as vocabulary ``name`` holds;
    - the weights these sizes imply at the least (``input_dim * output_dim`` for an
      embedding, ``2 * n_visible * units`` for a NADE, ``units * (units + 1)`` for a recurrent
      cell, ``units`` for any other layer) add up to no more than the ``stored`` values of ``model.weights.h5``;
    - each layer of :meth:`expected_layer_sizes` exists and every size field it names has
      the expected value wherever it occurs in that layer (a Bidirectional's two cells, say),
      no other layer holds a recurrent cell, and the cells are of the config's ``cell`` type.
    """
    layers = dict(layer_sizes(keras_config))
    implied = 0
    for name, parts in layers.items():
        for class_name, sizes in parts:
            for field, value in sizes.items():
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise UserError(f"{source}: the model's layer {name!r} has {field} {value!r}, "
                                    "not a non-negative integer")
            if "input_dim" in sizes and "output_dim" in sizes:
                implied += sizes["input_dim"] * sizes["output_dim"]
            elif "vocab_size" in sizes and "dim" in sizes:
                implied += sizes["vocab_size"] * sizes["dim"]
            elif "n_visible" in sizes and "units" in sizes:  # a NADE: its two shared weight matrices
                implied += 2 * sizes["n_visible"] * sizes["units"]
            elif "units" in sizes and class_name.endswith("Cell"):
                implied += sizes["units"] * (sizes["units"] + 1)
            else:
                implied += max(sizes.values(), default=0)
    for vocab_name, vocab in pipe.vocabs.items():  # the message of check_consistency, before building
        name = embedding_layer_name(vocab_name)
        for _, sizes in layers.get(name, []):
            size = sizes.get("input_dim", sizes.get("vocab_size"))
            if size is not None and size != len(vocab):
                raise UserError(f"{source}: vocabulary {vocab_name!r} has {len(vocab)} tokens but the model's "
                                f"embedding {name!r} was trained for {size}")
    if implied > stored:
        raise UserError(f"{source}: the model's config implies at least {implied:,} weights but its weight "
                        f"file holds {stored:,}; the model folder is damaged or was tampered with")
    expected_layers = pipe.expected_layer_sizes()
    cell = getattr(pipe.config, "cell", None)
    if isinstance(cell, str):
        from nlp_tasks.layers.recurrent import CELL_TYPES

        wanted = CELL_TYPES[cell].__name__ if cell in CELL_TYPES else None
        found = sorted({c for parts in layers.values() for c, _ in parts if c.endswith("Cell")} - {wanted})
        if wanted and found:
            raise UserError(f"{source}: the model's recurrent cells are {', '.join(found)} but {META_FILE} says "
                            f"cell {cell!r}")
    for name, parts in layers.items():
        if expected_layers and name not in expected_layers and any(c.endswith("Cell") for c, _ in parts):
            raise UserError(f"{source}: the model has a recurrent layer {name!r} that its {pipe.task} config "
                            "does not imply (more layers than the config says)")
    for name, expected in expected_layers.items():
        if name not in layers:
            raise UserError(f"{source}: the model has no layer {name!r}, which this {pipe.task} config implies")
        for field, value in expected.items():
            found = {sizes[field] for _, sizes in layers[name] if field in sizes}
            if name == OUTPUT_LAYER and pipe.labels and value == len(pipe.labels) and len(found) == 1 \
                    and found != {value}:
                raise UserError(f"{source}: {len(pipe.labels)} labels are saved but the model's output layer "
                                f"has {found.pop()} units")
            if found != ({value} if value is not None else set()):
                raise UserError(f"{source}: the model's layer {name!r} has {field} "
                                f"{', '.join(map(str, sorted(found))) or 'none'} but {META_FILE} implies {value}")


def check_consistency(pipe, source: str = "model") -> None:
    """Refuse a folder whose vocabularies or labels do not fit its weights.

    Every vocabulary ``name`` must match the ``input_dim`` of the Embedding layer named
    ``embed_<name>`` (when the model has one), and the labels must match the width of the
    layer named ``output``. Tasks add their own checks by extending this method.
    """
    model = pipe.require_model()
    layers = {layer.name: layer for layer in _all_layers(model)}
    for name, vocab in pipe.vocabs.items():
        layer = layers.get(embedding_layer_name(name))
        if layer is not None and getattr(layer, "input_dim", len(vocab)) != len(vocab):
            raise UserError(
                f"{source}: vocabulary {name!r} has {len(vocab)} tokens but the model's embedding "
                f"{layer.name!r} was trained for {layer.input_dim}"
            )
    output = layers.get(OUTPUT_LAYER)
    if output is not None and pipe.labels:
        width = output.output.shape[-1] if hasattr(output, "output") else None
        if width is not None and width != len(pipe.labels):
            raise UserError(
                f"{source}: {len(pipe.labels)} labels are saved but the model's output layer has {width} units"
            )


def _all_layers(model):
    """Every layer, descending into nested models and wrappers such as Bidirectional."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def load_keras_model(path: Path):
    """``keras.saving.load_model(path, safe_mode=True, compile=False)`` with one-line errors.

    ``safe_mode`` refuses Lambda layers and any other deserialisation that would run code from
    the file; a class that is not registered (a custom layer we do not know) is refused too.
    The archive itself is checked first (:func:`nlp_tasks.io.safe_files.inspect_keras_archive`:
    a link, an empty, truncated or non-zip file is refused saying which). Keras' own loading
    errors (stored weights of another shape than the config builds, say) become one line
    (:func:`_load_error_reason`), without the warnings Keras prints on the way; a model whose
    weights are not finite is refused (:func:`check_finite_weights`).
    """
    import warnings

    from nlp_tasks.runtime import import_tensorflow

    import_tensorflow()
    import keras

    import nlp_tasks.layers  # noqa: F401  (registers our layers before deserialising)

    path = Path(path)
    inspect_keras_archive(path)
    _keras_compat.guard_bidirectional()  # its layer copies kept out of Keras' sharing by id() (a flaky load)
    with warnings.catch_warnings(record=True) as caught:
        try:
            model = keras.saving.load_model(path, safe_mode=True, compile=False)
        except Exception as err:  # Keras raises ValueError/TypeError/OSError/zipfile errors here
            raise UserError(f"{path}: refusing to load model: {_load_error_reason(err)}") from None
    for warning in caught:  # a load that worked shows its warnings as it would have
        warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    check_finite_weights(model, path)
    return model


def _load_error_reason(err: Exception) -> str:
    """What a Keras loading error says, in one short line: the layer and both shapes when the
    stored weights do not fit the layer the config builds, else the first sentence of the
    first object's error (Keras lists every object that failed, with its own details)."""
    reason = " ".join(str(err).split())
    if "Lambda" in reason or "safe_mode" in reason:
        return "it contains a Lambda layer or other code, which nlp-tasks never executes"
    if "Could not locate" in reason or "Unknown" in reason:
        return "it contains a layer or object that nlp-tasks does not know"
    found = re.search(r"object <(\w+) name=([^,>]+)[^>]*>: (.*?)(?: List of objects that could not be loaded|$)",
                      reason)
    if found is None:
        return _first_sentence(reason)
    kind, layer, detail = found.groups()
    shapes = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", detail)
    if shapes is None:
        return f"layer {layer!r} ({kind}): {_first_sentence(detail)}"
    variable = re.search(r"Target variable: <Variable path=([^,>]+)", detail)
    weight = f" ({variable.group(1)})" if variable else ""
    return (f"the stored weights of layer {layer!r}{weight} have shape {shapes.group(2)} but its config says "
            f"{shapes.group(1)}; the model folder is damaged or was tampered with")


def _first_sentence(text: str, limit: int = 300) -> str:
    """``text`` up to the end of its first sentence, at most ``limit`` characters."""
    found = re.match(r"(.{1,%d}?[.!?])(?:\s|$)" % limit, text)
    return found.group(1) if found else text[:limit]


def check_finite_weights(model, source) -> None:
    """Refuse a model whose weights hold NaN or infinity, naming the first such layer: what such
    a model computes is NaN (a piece without a note, a text of ``<pad>``), so a damaged file or
    a run that diverged (training itself stops at a NaN loss) must not load as a model."""
    import tensorflow as tf

    for layer in model.layers:
        for variable in layer.weights:
            if tf.as_dtype(variable.dtype).is_floating and not bool(tf.reduce_all(tf.math.is_finite(variable))):
                raise UserError(f"{source}: refusing to load model: model weights are not finite (NaN or inf) in "
                                f"layer {layer.name!r} ({variable.path}): the model is damaged or training diverged")
