"""int8 exports: dynamic-range quantisation (int8 weights with a scale each, float activations).

- LiteRT: TensorFlow's converter with its default optimisation (:func:`nlp_tasks.export.write_litert`)
  quantises the weights of fully connected layers, inside the recurrent loops' subgraphs too;
  it leaves float the weights of fewer than 1,024 values (the converter's own threshold: a
  small model shrinks less) and the embedding tables it reads with a gather.
- ONNX: tf2onnx writes a recurrent layer as a ``Loop`` whose weights come in as loop-carried
  values, passed through every step unchanged; ONNX Runtime's ``quantize_dynamic`` quantises only
  the products whose weights are constants of their own graph. :func:`inline_loop_constants`
  first makes each such weight a constant of the loop's body (removing it from the carried
  values and from the outer graph when nothing else uses it), then :func:`quantize_onnx`
  quantises the matrix products, in the subgraphs too. The embedding tables stay float (ONNX
  Runtime aborts on the NER graph with quantised lookups), so an ONNX export shrinks less than a
  LiteRT one, and so does the output layer (an all-padding row's fill values would set the scale
  of a whole batch's dynamic quantisation: :func:`quantize_onnx`).

Both report what they did as ``{"int8": count of int8 weight tensors, "float": names of the weight
tensors (two or more dimensions) left float}``, recorded in ``export.json`` under ``quantization``.
"""

from __future__ import annotations

from pathlib import Path

from nlp_tasks.saving.model_checks import OUTPUT_LAYER


def litert_weights(path: Path) -> dict:
    """The constant tensors of two or more dimensions in a LiteRT model file, int8 or float."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    int8, left = 0, []
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
            if data is None or len(data) == 0 or tensor.shape is None or len(tensor.shape) < 2:
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


def quantize_onnx(source: Path, target: Path) -> dict:
    """``target``: the ONNX model ``source`` with its loops' constant weights inlined and ONNX
    Runtime's dynamic quantisation of its matrix products' weights (int8)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from nlp_tasks.export import _quietly

    model = onnx.load(str(source))
    if inline_loop_constants(model):
        onnx.checker.check_model(model)
        onnx.save(model, str(source))
    # The matrix products only: quantised lookups (Gather) make ONNX Runtime 1.32 abort on loading
    # the NER graph (an assertion in its graph code), so the embedding tables stay float. The output
    # layer's products stay float too: their input can hold the fill value of a row that is all
    # padding (an empty text's pooled features), and one such row would set the scale of the whole
    # batch's dynamic quantisation (measured: every other row's probabilities became one-hot).
    output = [node.name for g in _graphs(model.graph) for node in g.node
              if node.op_type == "MatMul" and f"/{OUTPUT_LAYER}" in node.name]
    _quietly(quantize_dynamic, str(source), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
             nodes_to_exclude=output, extra_options={"EnableSubgraph": True})
    return onnx_weights(onnx.load(str(target)))


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
