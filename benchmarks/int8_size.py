"""Size of int8 exports (``TASK export --quantize int8``) against float ones, and how far the
int8 ONNX outputs are from the float ONNX outputs on random ids: a first look for issue 36, not
its accuracy table (that needs the benchmark test sets and trained models).

A sentiment model of the default size (128 GRU units), trained one epoch on made-up text, and a
256-unit character language model trained one epoch on made-up lines; both exported as LiteRT and
ONNX, float and int8. Writes ``benchmarks/results/int8_size.json`` and prints the same.

    python benchmarks/int8_size.py
"""

from __future__ import annotations

import datetime
import json
import platform
import tempfile
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "int8_size.json"


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix in (".onnx", ".tflite"))


def main() -> None:
    import onnxruntime as ort

    from nlp_tasks.export.int8 import quantization_line
    from tasks.charlm import LanguageModelConfig, LanguageModelPipeline
    from tasks.sentiment import SentimentConfig, SentimentPipeline

    root = Path(tempfile.mkdtemp(prefix="int8-size-"))
    pairs = [(f"a good film x{i}", str(i % 5)) for i in range(3000)]
    sentiment = SentimentPipeline(SentimentConfig(epochs=1))
    sentiment.fit(pairs, pairs[:100], verbose=0)
    lm = LanguageModelPipeline(LanguageModelConfig(mode="lines", epochs=1, units=256))
    lm.fit([f"the cat sat on the mat {i}" for i in range(300)], ["the dog"], verbose=0)
    rows, rng = [], np.random.default_rng(0)
    for name, pipe in (("sentiment", sentiment), ("charlm", lm)):
        for fmt in ("litert", "onnx"):
            quantized = pipe.export(root / f"{name}-{fmt}-int8", fmt, quantize="int8")
            pipe.export(root / f"{name}-{fmt}", fmt)
            row = {"model": name, "format": fmt, "float_bytes": _size(root / f"{name}-{fmt}"),
                   "int8_bytes": _size(root / f"{name}-{fmt}-int8"),
                   "quantization": quantization_line(quantized["quantization"])}
            row["ratio"] = round(row["int8_bytes"] / row["float_bytes"], 3)
            if fmt == "onnx":
                differences = []
                for path in sorted((root / f"{name}-{fmt}").glob("*.onnx")):
                    a = ort.InferenceSession(str(path))
                    b = ort.InferenceSession(str(root / f"{name}-{fmt}-int8" / path.name))
                    if any(i.type != "tensor(int32)" for i in a.get_inputs()):
                        continue  # the step endpoints take a float state: not compared here
                    feeds = {i.name: rng.integers(1, 20, [d if isinstance(d, int) else 7 for d in i.shape])
                             .astype(np.int32) for i in a.get_inputs()}
                    outputs = zip(a.run(None, feeds), b.run(None, feeds))
                    differences += [float(np.max(np.abs(x - y))) for x, y in outputs]
                row["max_abs_difference"] = max(differences)
            rows.append(row)
            print(json.dumps(row))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"date": datetime.date.today().isoformat(), "machine": platform.processor()
                                   or platform.machine(), "rows": rows}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
