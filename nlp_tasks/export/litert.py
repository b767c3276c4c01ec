"""The LiteRT form of an export's endpoints: LiteRT's loops need static shapes, so each endpoint is
converted for a fixed batch (and, where a loop runs over batch x time, a fixed length), and
``model.tflite`` is written by TensorFlow's converter with built-in ops only (re-exported by
:mod:`nlp_tasks.export`).

Length buckets: an endpoint with a fixed length (NER's ``tag_ids``: its character loop runs over
every token of the batch) costs the same for a 5-token sentence as for a ``length``-token one,
since every row is padded to ``length``. So the LiteRT model also holds one signature per
power-of-two length from :data:`SMALLEST_BUCKET` below ``length`` (``tag_ids_8``, ``tag_ids_16``,
...), the same weights; a client pads its batch to the smallest bucket that holds its longest
row (``length_buckets`` in ``export.json``). Measured by ``python benchmarks/export.py --tasks ner``
(the "Export" section of benchmarks/RESULTS.md): LiteRT NER at batch 1 went from 0.58x the
pipeline's speed, every sentence padded to 128 tokens, to 3.56x through the buckets.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING

from nlp_tasks.errors import UserError

if TYPE_CHECKING:
    from nlp_tasks.export import Endpoint

SMALLEST_BUCKET = 8


def length_buckets(length: int) -> list[int]:
    """The bucket lengths below ``length``: powers of two from :data:`SMALLEST_BUCKET`."""
    buckets, size = [], SMALLEST_BUCKET
    while size < length:
        buckets.append(size)
        size *= 2
    return buckets


def litert_endpoints(endpoints, batch_size: int, length: int) -> list:
    """Every endpoint for a fixed batch; those with a fixed length once at ``length`` under their
    own name and once per bucket of :func:`length_buckets` as ``<name>_<bucket>``."""
    fixed = [fixed_batch(e, batch_size, length) for e in endpoints]
    for endpoint in endpoints:
        if endpoint.fixed_length:
            fixed += [dataclasses.replace(fixed_batch(endpoint, batch_size, size), name=f"{endpoint.name}_{size}")
                      for size in length_buckets(length)]
    return fixed


def fixed_batch(endpoint: Endpoint, batch_size: int, length: int) -> Endpoint:
    """``endpoint`` with the batch dimension of every input fixed to ``batch_size`` (and, for
    an endpoint marked ``fixed_length``, the time dimension to ``length``).

    TensorFlow's LiteRT converter lowers the recurrent loop's TensorList to built-in ops only
    when each element's shape (batch, units) is static; without a known batch it needs the Flex
    op ``TensorListReserve``. So LiteRT models take batches of exactly ``batch_size`` rows (fill a
    short batch with padding rows); the time dimension stays free (``resize_tensor_input``),
    except where a loop runs over batch x time (NER's characters of every token): there every
    input has ``length`` steps (fill with padding; longer input is cut by the client)."""
    import tensorflow as tf

    def shape(s):
        dims = s.shape.as_list()
        return [batch_size, *([length] if endpoint.fixed_length and len(dims) > 1 else dims[1:2]), *dims[2:]]

    inputs = [tf.TensorSpec(shape(s), s.dtype, name=s.name) for s in endpoint.inputs]
    return dataclasses.replace(endpoint, inputs=inputs)


def write_litert(saved_model: Path, endpoints, path: Path, quantize: str | None = None) -> dict:
    """``model.tflite`` from the SavedModel's ``endpoints`` with LiteRT's built-in ops only; with
    ``quantize="int8"``, the converter's dynamic-range quantisation (int8 weights, float
    activations). Returns what was quantised (empty without ``quantize``)."""
    import tensorflow as tf

    from nlp_tasks.export import _quietly

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[e.name for e in endpoints])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    try:
        model = _quietly(converter.convert)
    except Exception as err:  # the converter raises ConverterError with the MLIR diagnostics
        raise UserError("cannot convert this model to LiteRT without Flex (select TF) ops: "
                        f"{_op_problem(err)}") from None
    path.write_bytes(model)
    if not quantize:
        return {}
    from .int8 import litert_weights

    return litert_weights(path)


def _op_problem(err: Exception) -> str:
    """The first op the converter names in ``err``, and why, in one line."""
    text = str(err)
    ops = re.findall(r"'(tf\.\w+)' op", text) or re.findall(r"\b(tf\.\w+)\b", text)
    reason = re.search(r"error: ([^\n]+)", text)
    why = reason.group(1).strip() if reason else text.strip().splitlines()[-1] if text.strip() else type(err).__name__
    first = f"{ops[0]} " if ops else ""
    return f"{first}({why})"[:400]
