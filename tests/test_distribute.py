"""tf.distribute: MirroredStrategy over two logical CPU devices, and MultiWorkerMirroredStrategy over
two worker processes on 127.0.0.1, train to the single-device loss."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import cli
from nlp_tasks import distribute

ROOT = Path(__file__).resolve().parent.parent


def _command(sst, out, *strategy):
    return [sys.executable, str(ROOT / "cli.py"), "sentiment", "train", "--train", str(sst), "--dev", str(sst),
            "--out", str(out), "--epochs", "3", "--units", "8", "--embedding-dim", "8", "--dropout", "0",
            "--batch-size", "32", "--json", *strategy]


def _log(out):
    with open(out / "training-log.csv", newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def _train(tmp_path, sst, name, *strategy):
    out = tmp_path / name
    result = subprocess.run(_command(sst, out, *strategy), capture_output=True, text=True, cwd=ROOT, timeout=600,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout), [row["loss"] for row in _log(out)]


def _sst_sample(shared_data, tmp_path, lines):
    sst = tmp_path / "sst.txt"
    text = (shared_data / "sst" / "sst2.train.txt").read_text(encoding="utf-8").splitlines()[:lines]
    sst.write_text("\n".join(text) + "\n", encoding="utf-8")
    return sst


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _workers(sst, out, ports):
    """Run the same train command as two workers of one cluster; returns both results."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    for index in range(len(ports)):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        processes.append(subprocess.Popen(_command(sst, out, "--strategy", "multi-worker"), cwd=ROOT, env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=600)
            results.append((process.returncode, stdout, stderr))
    finally:
        for process in processes:
            process.kill()
    for code, _, stderr in results:
        assert code == 0, stderr[-3000:]
    return results


def test_mirrored_on_two_cpu_devices_matches_one_device(shared_data, tmp_path):
    sst = _sst_sample(shared_data, tmp_path, 400)
    one, one_losses = _train(tmp_path, sst, "one")
    two, two_losses = _train(tmp_path, sst, "two", "--strategy", "mirrored", "--cpu-replicas", "2")
    # Each global batch of 32 is split 16 + 16 and the gradients all-reduced: the same arithmetic
    # up to float32 summation order (about 1e-7 relative per reduction; measured ~3e-7 after 3 epochs).
    assert two_losses == pytest.approx(one_losses, rel=1e-5)
    assert two["best"] == pytest.approx(one["best"], abs=1e-6)


def test_two_workers_on_localhost_match_one_device(shared_data, tmp_path):
    # 400 sentences in global batches of 32: every batch, the short last one too (16), splits
    # evenly (16 + 16, 8 + 8), so the all-reduced gradient is the single-device gradient and only
    # float32 summation order differs (measured: losses equal to ~2e-7 relative, weights to 2e-7).
    # An uneven split is weighted per worker, as Keras does on one machine (README).
    sst = _sst_sample(shared_data, tmp_path, 400)
    one, _ = _train(tmp_path, sst, "one")
    out = tmp_path / "workers"
    (chief_code, chief_out, _), (_, worker_out, _) = _workers(sst, out, _free_ports(2))
    single, multi = _log(tmp_path / "one"), _log(out)
    assert len(multi) == len(single) == 3
    for a, b in zip(single, multi):
        # the loss is the training loss; the accuracies count every example of both workers
        assert b == pytest.approx(a, rel=1e-5), (a, b)
    chief, worker = json.loads(chief_out), json.loads(worker_out)
    assert chief["best"] == pytest.approx(one["best"], abs=1e-6) and worker["best"] == chief["best"]
    # Only the chief writes: one model folder, no worker leftovers beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "sst.txt", "workers"]
    from tasks.sentiment import SentimentPipeline

    a, b = SentimentPipeline.load(tmp_path / "one"), SentimentPipeline.load(out)
    for x, y in zip(a.model.get_weights(), b.model.get_weights()):
        assert abs(x - y).max() < 1e-5
    # Running the same command again finds the finished run in the chief's checkpoint, on both workers.
    again = _workers(sst, out, _free_ports(2))
    assert [json.loads(stdout).get("resumed_from_epoch") for _, stdout, _ in again] == [3, 3]


@pytest.mark.parametrize("tf_config, message", [
    (None, "needs TF_CONFIG"),
    ("{", "TF_CONFIG is not valid JSON"),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', '"host:port"'),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 1}}', "does not name a member"),
    ('{"cluster": {"ps": ["localhost:1"]}, "task": {"type": "ps", "index": 0}}', 'must list "worker"'),
    ('[]', 'needs a "cluster" object'),
])
def test_bad_tf_config_is_one_line(tf_config, message, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    if tf_config is not None:
        env["TF_CONFIG"] = tf_config
    result = subprocess.run(_command(tmp_path / "x.txt", tmp_path / "o", "--strategy", "multi-worker"),
                            capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_unsupported_combinations_are_clear(capsys):
    assert cli.main(["sentiment", "train", "--train", "x.txt", "--out", "o", "--strategy", "multi-worker",
                     "--cpu-replicas", "2"]) == 2
    assert "only applies to --strategy mirrored" in capsys.readouterr().err
    assert cli.main(["sentiment", "train", "--train", "x.txt", "--out", "o", "--cpu-replicas", "2"]) == 2
    assert "only applies to --strategy mirrored" in capsys.readouterr().err
    assert distribute.current_name() == "default" and distribute.replicas() == 1


def test_mixed_precision_and_tensorboard(shared_data, tmp_path):
    sst = _sst_sample(shared_data, tmp_path, 200)
    out = tmp_path / "mixed"
    command = [sys.executable, str(ROOT / "cli.py"), "sentiment", "train", "--train", str(sst), "--dev", str(sst),
               "--out", str(out), "--epochs", "2", "--units", "8", "--embedding-dim", "8", "--json",
               "--mixed-precision", "bfloat16", "--tensorboard"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert list((out / "tensorboard" / "train").glob("events.out.tfevents.*"))
    from tasks.sentiment import SentimentPipeline

    pipe = SentimentPipeline.load(out)
    encoder = pipe.model.get_layer("encoder_1")
    assert encoder.compute_dtype == "bfloat16" and all(w.dtype == "float32" for w in pipe.model.weights)
    assert pipe.model.get_layer("output").compute_dtype == "float32"  # probabilities stay float32
    assert abs(sum(pipe.predict("a fine film")["probabilities"].values()) - 1) < 1e-5
