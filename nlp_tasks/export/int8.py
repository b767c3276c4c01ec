"""int8 exports: dynamic-range quantisation (int8 weights with a scale each, float activations).

- LiteRT: TensorFlow's converter with its default optimisation (:func:`nlp_tasks.export.write_litert`)
  quantises the weights of fully connected layers, inside the recurrent loops' subgraphs too;
  it leaves float the weights of fewer than 1,024 values (the converter's own threshold: a
  small model shrinks less); the embedding tables it reads with a gather become int8 too.
- ONNX: tf2onnx writes a recurrent layer as a ``Loop`` whose weights come in as loop-carried
  values, passed through every step unchanged; ONNX Runtime's ``quantize_dynamic`` quantises only
  the products whose weights are constants of their own graph. :func:`inline_loop_constants`
  first makes each such weight a constant of the loop's body (removing it from the carried
  values and from the outer graph when nothing else uses it), then :func:`quantize_onnx`
  quantises the matrix products, in the subgraphs too, except the output layer's (an all-padding
  row's fill values would set the scale of a whole batch's dynamic quantisation:
  :func:`quantize_onnx`). The embedding tables become int8 rows with a scale per row
  (:func:`quantize_lookups`: ONNX Runtime's own quantised lookups abort on the NER graph), and a
  weight copied into a loop body that its outer graph also uses is stored once
  (:func:`share_copies`). The weights left float after that (1,024 values or more: the output
  layer's, the NADE head's) are stored as int8 too and turned back to float once per call
  (:func:`dequantized_weights`: weight-only, the arithmetic stays float).

Both report what they did as ``{"int8": count of int8 weight tensors, "float": names of the weight
tensors (two or more dimensions) left float}``, recorded in ``export.json`` under ``quantization``.
"""

from __future__ import annotations

from pathlib import Path

from nlp_tasks.saving.model_checks import OUTPUT_LAYER


def litert_weights(path: Path) -> dict:
    """The constant tensors of two or more dimensions in a LiteRT model file, int8 or float (all-zero
    ones left out: the converter stores a loop's step buffers and zero states as constants)."""
    import numpy as np
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    int8, left = 0, []
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
            if data is None or len(data) == 0 or tensor.shape is None or len(tensor.shape) < 2:
                continue
            if not np.any(np.asarray(data)):  # all zeros: a loop's step buffer or a zero state, not a weight
                continue
            name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
            if tensor.type == 9:  # INT8 in the LiteRT schema
                int8 += 1
            elif tensor.type == 0:  # FLOAT32
                left.append(name)
    return {"int8": int8, "float": left}


def inline_loop_constants(model) -> int:
    """Make every constant weight that a ``Loop`` carries through its steps unchanged a constant of
    the loop's body (in place; nested loops too); returns how many were moved."""
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    moved = _inline(model.graph, initializers)
    used = _used_names(model.graph) | {output.name for output in model.graph.output}
    unused = [tensor for tensor in model.graph.initializer if tensor.name not in used]
    for tensor in unused:
        model.graph.initializer.remove(tensor)
    return moved


def _inline(graph, constants: dict) -> int:
    import onnx

    moved = 0
    used_after = _used_names(graph) | {output.name for output in graph.output}  # removing a Loop output keeps it
    for node in graph.node:
        bodies = [attribute.g for attribute in node.attribute if attribute.HasField("g")]
        if node.op_type == "Loop" and bodies:
            body = bodies[0]
            for k in reversed(range(len(node.input) - 2)):  # inputs: trip count, condition, carried values
                outer, inner = node.input[2 + k], body.input[2 + k].name
                if (outer in constants and body.output[1 + k].name == inner
                        and node.output[k] not in used_after):
                    copy = onnx.TensorProto()
                    copy.CopyFrom(constants[outer])
                    copy.name = inner  # the body's nodes read it by this name
                    body.initializer.append(copy)
                    del body.input[2 + k]
                    del body.output[1 + k]
                    del node.input[2 + k]
                    del node.output[k]
                    moved += 1
        for body in bodies:
            inner_constants = {**constants, **{tensor.name: tensor for tensor in body.initializer}}
            moved += _inline(body, inner_constants)
    return moved


def _graphs(graph):
    """``graph`` and every subgraph in it (loop bodies, branches), nested ones too."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _graphs(attribute.g)


def _used_names(graph) -> set[str]:
    """Every name a node of ``graph`` or of its subgraphs reads."""
    return {name for g in _graphs(graph) for node in g.node for name in node.input}


def quantize_lookups(model) -> int:
    """Store each embedding table that a ``Gather`` reads as int8 with one scale per row (in place;
    returns how many): ``Gather(table, ids)`` becomes ``Cast(Gather(table_int8, ids)) *
    Unsqueeze(Gather(scales, ids))``, so only the rows looked up are turned back to float. The
    per-row symmetric scheme of Keras' own ``Embedding.quantize("int8")``, written as plain ONNX
    ops (ONNX Runtime's quantised lookups abort on the NER graph: see the module notes)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    changed = 0
    for graph in _graphs(model.graph):
        tables = {t.name: t for t in graph.initializer if len(t.dims) == 2 and t.data_type == onnx.TensorProto.FLOAT}
        readers = {}
        for g in _graphs(graph):
            for node in g.node:
                for name in node.input:
                    readers.setdefault(name, []).append(node)
        nodes = list(graph.node)
        for node in nodes:
            name = node.input[0] if node.op_type == "Gather" and node.input else None
            axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
            if name not in tables or axis != 0 or len(readers.get(name, [])) != 1:
                continue  # only a table that this one lookup reads
            quantized, scales = _symmetric_int8(numpy_helper.to_array(tables[name]), axis=0)
            graph.initializer.remove(tables.pop(name))
            graph.initializer.extend([numpy_helper.from_array(quantized, f"{name}_int8"),
                                      numpy_helper.from_array(scales.astype(np.float32), f"{name}_scales"),
                                      numpy_helper.from_array(np.array([-1], np.int64), f"{name}_axes")])
            ids, out, stem = node.input[1], node.output[0], f"{node.name or name}_int8"
            node.input[0], node.output[0] = f"{name}_int8", f"{stem}_rows"
            added = [helper.make_node("Cast", [f"{stem}_rows"], [f"{stem}_float"], to=onnx.TensorProto.FLOAT),
                     helper.make_node("Gather", [f"{name}_scales", ids], [f"{stem}_row_scales"], axis=0),
                     helper.make_node("Unsqueeze", [f"{stem}_row_scales", f"{name}_axes"], [f"{stem}_scale"]),
                     helper.make_node("Mul", [f"{stem}_float", f"{stem}_scale"], [out])]
            at = list(graph.node).index(node) + 1
            for offset, new in enumerate(added):
                graph.node.insert(at + offset, new)
            changed += 1
    return changed


def share_copies(graph, outer: dict | None = None) -> int:
    """Remove each large constant of a subgraph that equals a constant of an enclosing graph, the
    subgraph reading the enclosing one by name instead (ONNX scopes allow it); in place, returns how
    many. :func:`inline_loop_constants` copies a weight into a loop body that its graph also uses
    outside the loop (a recurrent layer's first step is outside its ``Loop``): after quantisation
    the two copies are the same int8 bytes, stored once again here."""
    from onnx import numpy_helper

    def key(tensor):
        return tensor.data_type, tuple(tensor.dims), numpy_helper.to_array(tensor).tobytes()

    outer = dict(outer or {})
    mine = {key(t): t.name for t in graph.initializer if len(t.dims) >= 2}
    shared = 0
    for node in graph.node:
        for attribute in node.attribute:
            if not attribute.HasField("g"):
                continue
            body = attribute.g
            visible = {**outer, **mine}
            for tensor in list(body.initializer):
                name = visible.get(key(tensor)) if len(tensor.dims) >= 2 else None
                if name is None or name in _defined_names(body):
                    continue
                body.initializer.remove(tensor)
                _rename_reads(body, tensor.name, name)
                shared += 1
            shared += share_copies(body, visible)
    return shared


def _defined_names(graph) -> set[str]:
    """Names that ``graph`` itself defines (its inputs, initializers and node outputs): an outer
    name that one of them shadows cannot be read from inside."""
    return ({i.name for i in graph.input} | {t.name for t in graph.initializer}
            | {name for node in graph.node for name in node.output})


def _rename_reads(graph, old: str, new: str) -> None:
    for g in _graphs(graph):
        for node in g.node:
            for i, name in enumerate(node.input):
                if name == old:
                    node.input[i] = new


def quantize_onnx(source: Path, target: Path) -> dict:
    """``target``: the ONNX model ``source`` with its loops' constant weights inlined and ONNX
    Runtime's dynamic quantisation of its matrix products' weights (int8)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from nlp_tasks.export import _quietly

    model = onnx.load(str(source))
    if inline_loop_constants(model) + quantize_lookups(model):
        onnx.checker.check_model(model)
        onnx.save(model, str(source))
    # The matrix products only: ONNX Runtime's quantised lookups (Gather) make ONNX Runtime 1.32 abort
    # on loading the NER graph (an assertion in its graph code); quantize_lookups did the tables. The output
    # layer's products are kept out of the dynamic quantisation of activations: their input can hold the
    # fill value of a row that is all padding (an empty text's pooled features), and one such row would
    # set the scale of the whole batch's (measured: every other row's probabilities became one-hot).
    # dequantized_weights then stores their weights as int8 (ONNX Runtime's MatMulNBits, which it fuses
    # them into, quantises activations row by row: tested).
    output = [node.name for g in _graphs(model.graph) for node in g.node
              if node.op_type == "MatMul" and f"/{OUTPUT_LAYER}" in node.name]
    _quietly(quantize_dynamic, str(source), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
             nodes_to_exclude=output, extra_options={"EnableSubgraph": True})
    model = onnx.load(str(target))
    if share_copies(model.graph) + dequantized_weights(model):
        onnx.checker.check_model(model)
        onnx.save(model, str(target))
    return onnx_weights(model)


def dequantized_weights(model, smallest: int = 1024) -> int:
    """Store each weight still float (of two or more dimensions and ``smallest`` values or more, as
    LiteRT's converter chooses) as int8 with a scale per column, turned back to float by one
    ``DequantizeLinear`` in the main graph before anything runs (in place; returns how many): the
    weights no quantised product reads (the NADE head's, sliced key by key inside its loop; the
    output layer's, kept out of the dynamic quantisation of activations by :func:`quantize_onnx`).
    A loop body reads the float weight from the main graph, so it is dequantised once per call, not
    at every step. ONNX Runtime's optimiser turns a main-graph ``DequantizeLinear`` + ``MatMul`` into
    its ``MatMulNBits`` (int8 weights; activations quantised row by row, so one row's values never set
    another's scale: tested)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    main, done = model.graph, 0
    taken = {name for g in _graphs(main) for name in _defined_names(g)}
    for graph in list(_graphs(main)):
        for tensor in list(graph.initializer):
            if (tensor.data_type != onnx.TensorProto.FLOAT or len(tensor.dims) < 2
                    or int(np.prod(tensor.dims)) < smallest or tensor.name in {i.name for i in graph.input}):
                continue
            weight = numpy_helper.to_array(tensor)
            quantized, scales = _symmetric_int8(weight, axis=weight.ndim - 1)
            name = tensor.name
            if graph is not main:  # its value now comes from the main graph, under a name no graph has
                name = _fresh(f"{tensor.name}_float", taken)
                _rename_reads(graph, tensor.name, name)
            stem = _fresh(f"{name}_int8", taken)
            graph.initializer.remove(tensor)
            main.initializer.extend([numpy_helper.from_array(quantized, stem),
                                     numpy_helper.from_array(scales, f"{stem}_scale"),
                                     numpy_helper.from_array(np.zeros(scales.shape, np.int8), f"{stem}_zero")])
            main.node.insert(0, helper.make_node("DequantizeLinear", [stem, f"{stem}_scale", f"{stem}_zero"], [name],
                                                 axis=len(weight.shape) - 1, name=f"{stem}_dequantize"))
            taken |= {name, stem, f"{stem}_scale", f"{stem}_zero"}
            done += 1
    return done


def _symmetric_int8(array, axis: int):
    """``(int8 values, float32 scales)``: ``array`` with one scale per index along ``axis`` (the
    largest magnitude there / 127), zero at zero."""
    import numpy as np

    array = np.asarray(array, np.float32)
    moved = np.moveaxis(array, axis, -1)
    scales = (np.maximum(np.abs(moved).reshape(-1, moved.shape[-1]).max(axis=0), np.finfo(np.float32).tiny)
              / 127.0).astype(np.float32)
    shape = [1] * array.ndim
    shape[axis] = -1
    return np.clip(np.round(array / scales.reshape(shape)), -127, 127).astype(np.int8), scales


def _fresh(name: str, taken: set) -> str:
    """``name``, or ``name`` with a number after it, whichever no value of the model has."""
    fresh, k = name, 0
    while fresh in taken:
        k += 1
        fresh = f"{name}_{k}"
    taken.add(fresh)
    return fresh


def onnx_weights(model) -> dict:
    """The constant tensors of two or more dimensions of an ONNX model (its subgraphs too), int8 or
    float: what a quantisation left float is named here."""
    import onnx

    weights = [tensor for g in _graphs(model.graph) for tensor in g.initializer if len(tensor.dims) >= 2]
    return {"int8": sum(tensor.data_type == onnx.TensorProto.INT8 for tensor in weights),
            "float": [tensor.name for tensor in weights if tensor.data_type == onnx.TensorProto.FLOAT]}


def quantization_line(quantization: dict) -> str:
    """What an int8 export quantised, in one line (``export.json``'s ``quantization``)."""
    left = quantization["float"]
    named = ", ".join(left[:3]) + (f" and {len(left) - 3} more" if len(left) > 3 else "")
    return (f"int8: {quantization['int8']} weight tensors; "
            + (f"left float ({len(left)}): {named}" if left else "none left float"))
