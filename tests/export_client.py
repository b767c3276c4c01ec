"""A client of exported models that does not import nlp_tasks (run by tests/nlp_tasks/export/test_export.py).

``python tests/export_client.py JOBS.json OUT.npz``: each job runs one endpoint of one export
(``tf.saved_model.load``, the LiteRT interpreter of ``ai-edge-litert``, or ``onnxruntime``) on
inputs from ``INPUTS.npz``, or drives the ``step`` endpoint in a greedy generation loop (after
``encode`` for the g2p export); every output is written to ``OUT.npz`` as ``<job>/<output>``. At
the end it checks that nothing imported nlp_tasks or tasks.
"""

from __future__ import annotations

import functools
import json
import sys

import numpy as np


def endpoint(fmt: str, path: str, name: str):
    """``call(**inputs) -> {output: array}`` for endpoint ``name`` of the export at ``path``."""
    if fmt == "savedmodel":
        import tensorflow as tf

        signature = tf.saved_model.load(path).signatures[name]
        return lambda **inputs: {k: v.numpy()
                                 for k, v in signature(**{k: tf.constant(v) for k, v in inputs.items()}).items()}
    if fmt == "litert":
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=f"{path}/model.tflite").get_signature_runner(name)
        return lambda **inputs: runner(**inputs)
    import onnxruntime

    session = onnxruntime.InferenceSession(f"{path}/{name}.onnx", providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return lambda **inputs: dict(zip(names, session.run(None, inputs)))


def greedy_tokens(step, state_size: int, tokens: list[int], length: int, never: list[int]) -> list[int]:
    """Greedy continuation of ``tokens`` (<bos> and the primer) through the ``step`` endpoint."""
    state = np.zeros((1, state_size), np.float32)
    for token in tokens[:-1]:  # read the primer: only the state advances
        state = step(token=np.array([token], np.int32), state=state)["next_state"]
    token, out = tokens[-1], []
    for _ in range(length):
        result = step(token=np.array([token], np.int32), state=state)
        logits = result["logits"][0].astype(np.float64)
        logits[never] = -np.inf  # the pipeline never draws <pad> or <bos>
        token = int(np.argmax(logits))
        out.append(token)
        state = result["next_state"]
    return out


def greedy_frames(step, state_size: int, frames: np.ndarray, length: int, nade: bool = False) -> np.ndarray:
    """Greedy (temperature 0) continuation of ``frames`` (silence and the primer): each key
    sounds when its probability is above 0.5 (its logit above 0). The NADE head's step draws the
    keys itself: greedy with uniforms 0.5 at temperature 1."""
    if nade:
        draw = {"uniforms": np.full((1, 88), 0.5, np.float32), "temperature": np.array(1.0, np.float32)}
        step = functools.partial(step, **draw)
    state = np.zeros((1, state_size), np.float32)
    for frame in frames[:-1]:
        state = step(frame=frame[None].astype(np.float32), state=state)["next_state"]
    frame, out = frames[-1], []
    for _ in range(length):
        result = step(frame=frame[None].astype(np.float32), state=state)
        frame = result["next_frame"][0] if nade else (result["logits"][0] > 0).astype(np.float32)
        out.append(frame)
        state = result["next_state"]
    return np.array(out)


def greedy_pronunciations(encode, step, letter_ids: np.ndarray, job: dict) -> dict:
    """Greedy decoding of a batch of words through ``encode`` and ``step`` (the g2p export):
    ``tokens`` (batch, max_length), -1 past each output's end (its <eos> left out),
    ``log_probs`` (batch,) in nats (the <eos> included) and ``finished`` (batch,)."""
    start = encode(letter_ids=letter_ids)
    context = {name: start[name] for name in job["context"]}
    rows = len(letter_ids)
    state, token = start["state"], np.full(rows, job["bos_id"], np.int32)
    tokens = np.full((rows, job["max_length"]), -1, np.int32)
    log_probs, finished = np.zeros(rows), np.zeros(rows, bool)
    for t in range(job["max_length"]):
        result = step(token=token, state=state, **context)
        logits = result["logits"].astype(np.float64)
        top = logits.max(axis=1, keepdims=True)
        logp = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
        logp[:, job["never"]] = -np.inf  # the pipeline never produces <pad>, <unk> or <bos>
        best = logp.argmax(axis=1).astype(np.int32)
        live = ~finished
        log_probs[live] += logp[live, best[live]]
        ended = live & (best == job["eos_id"])
        tokens[live & ~ended, t] = best[live & ~ended]
        finished |= ended
        if finished.all():
            break
        token, state = np.where(finished, job["eos_id"], best).astype(np.int32), result["next_state"]
    return {"tokens": tokens, "log_probs": log_probs, "finished": finished}


def main(jobs_path: str, out_path: str) -> None:
    jobs = json.loads(open(jobs_path, encoding="utf-8").read())
    inputs = np.load(jobs["inputs"], allow_pickle=False)
    results = {}
    for job in jobs["jobs"]:
        call = endpoint(job["format"], job["path"], job["endpoint"])
        if job.get("greedy") == "tokens":
            out = {"tokens": np.array(greedy_tokens(call, job["state_size"], job["tokens"], job["length"],
                                                    job["never"]))}
        elif job.get("greedy") == "frames":
            out = {"frames": greedy_frames(call, job["state_size"], inputs[job["frames"]], job["length"],
                                           job.get("nade", False))}
        elif job.get("greedy") == "pronunciations":
            encode = endpoint(job["format"], job["path"], "encode")
            out = greedy_pronunciations(encode, call, inputs[job["letter_ids"]], job)
        else:
            out = call(**{name: _decoded(inputs[key]) for name, key in job["inputs"].items()})
        for name, value in out.items():
            value = np.asarray(value)
            if value.dtype == object:  # TensorFlow's strings are bytes
                value = np.char.decode(value.astype(bytes), "utf-8") if value.size else value.astype(str)
            results[f"{job['name']}/{name}"] = value
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("nlp_tasks", "tasks"))
    if leaked:
        raise SystemExit(f"the client imported {leaked[:3]}")
    np.savez(out_path, **results)


def _decoded(array):
    """String inputs travel as NumPy unicode arrays; TensorFlow takes them as they are."""
    return array.astype(object) if array.dtype.kind == "U" else array


if __name__ == "__main__":
    main(*sys.argv[1:3])
