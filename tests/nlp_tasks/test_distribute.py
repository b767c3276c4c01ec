"""tf.distribute: MirroredStrategy over two logical CPU devices, and MultiWorkerMirroredStrategy over
two worker processes on 127.0.0.1, train to the single-device loss; a multi-worker run ends with
one line on a signal or a lost peer (issue 22 item 9)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from nlp_tasks import cluster
from nlp_tasks.cli import main as cli
from tests import REPO as ROOT
from tests import forked
from tests.faults.harness import free_ports


def _command(sst, out, *strategy):
    return [sys.executable, str(ROOT / "cli.py"), "sentiment", "train", "--train", str(sst), "--dev", str(sst),
            "--out", str(out), "--epochs", "3", "--units", "8", "--embedding-dim", "8", "--dropout", "0",
            "--batch-size", "32", "--json", *strategy]


def _log(out):
    with open(out / "training-log.csv", newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def _train(tmp_path, sst, name, *strategy):
    out = tmp_path / name
    result = forked.run_command(_command(sst, out, *strategy), cwd=ROOT, timeout=600,
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout), [row["loss"] for row in _log(out)]


def _sst_sample(shared_data, tmp_path, lines):
    sst = tmp_path / "sst.txt"
    text = (shared_data / "sst" / "sst2.train.txt").read_text(encoding="utf-8").splitlines()[:lines]
    sst.write_text("\n".join(text) + "\n", encoding="utf-8")
    return sst


def _workers(sst, out, ports, record=None):
    """Run the same train command as two workers of one cluster; returns both results. With
    ``record`` (a folder), worker i writes the rows of every batch it makes to
    ``record/rows-i.jsonl`` (tests/record_rows.py)."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    for index in range(len(ports)):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        command = _command(sst, out, "--strategy", "multi-worker")
        if record is not None:
            command[1] = str(ROOT / "tests" / "record_rows.py")
            env["RECORD_ROWS"] = str(record / f"rows-{index}.jsonl")
        processes.append(forked.popen(command, cwd=ROOT, env=env,
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


@pytest.fixture(scope="module")
def one_device(shared_data, tmp_path_factory):
    """400 SST-2 sentences and the single-device run on them, the reference of the distributed runs."""
    folder = tmp_path_factory.mktemp("one-device")
    sst = _sst_sample(shared_data, folder, 400)
    result, losses = _train(folder, sst, "one")
    return sst, folder / "one", result, losses


def test_mirrored_on_two_cpu_devices_matches_one_device(one_device, tmp_path):
    sst, _, one, one_losses = one_device
    two, two_losses = _train(tmp_path, sst, "two", "--strategy", "mirrored", "--cpu-replicas", "2")
    # Each global batch of 32 is split 16 + 16 and the gradients all-reduced: the same arithmetic
    # up to float32 summation order (about 1e-7 relative per reduction; measured ~3e-7 after 3 epochs).
    assert two_losses == pytest.approx(one_losses, rel=1e-5)
    assert two["best"] == pytest.approx(one["best"], abs=1e-6)


def test_two_workers_on_localhost_match_one_device(one_device, tmp_path):
    # 400 sentences in global batches of 32: every batch, the short last one too (16), splits
    # evenly (16 + 16, 8 + 8), so the all-reduced gradient is the single-device gradient and only
    # float32 summation order differs (measured: losses equal to ~2e-7 relative, weights to 2e-7).
    # An uneven split is weighted per worker, as Keras does on one machine (README).
    sst, reference, one, _ = one_device
    out, record = tmp_path / "workers", tmp_path / "rows"
    record.mkdir()
    (chief_code, chief_out, _), (_, worker_out, _) = _workers(sst, out, free_ports(2), record)
    _assert_disjoint_rows(record, rows=400, epochs=3)
    shutil.rmtree(record)
    single, multi = _log(reference), _log(out)
    assert len(multi) == len(single) == 3
    for a, b in zip(single, multi):
        # the loss is the training loss; the accuracies count every example of both workers
        assert b == pytest.approx(a, rel=1e-5), (a, b)
    chief, worker = json.loads(chief_out), json.loads(worker_out)
    assert chief["best"] == pytest.approx(one["best"], abs=1e-6) and worker["best"] == chief["best"]
    # Only the chief writes: one model folder, no worker leftovers beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["workers"]
    from tasks.sentiment import SentimentPipeline

    a, b = SentimentPipeline.load(reference), SentimentPipeline.load(out)
    for x, y in zip(a.model.get_weights(), b.model.get_weights()):
        assert abs(x - y).max() < 1e-5
    # Running the same command again finds the finished run in the chief's checkpoint, on both workers.
    again = _workers(sst, out, free_ports(2))
    assert [json.loads(stdout).get("resumed_from_epoch") for _, stdout, _ in again] == [3, 3]


def _assert_disjoint_rows(record, rows, epochs):
    """Each worker made only its own rows of every batch: in every training epoch the two
    workers' rows are disjoint and together every row (each worker making whole batches, as
    before, would read every row), and so are their validation rows."""
    made = [[json.loads(line) for line in (record / f"rows-{i}.jsonl").read_text().splitlines()] for i in (0, 1)]
    for epoch in range(epochs):
        mine = [[r for batch in worker if batch["shuffle"] and batch["epoch"] == epoch for r in batch["rows"]]
                for worker in made]
        assert not set(mine[0]) & set(mine[1]), f"epoch {epoch}: a row read by both workers"
        # Before the first step Keras builds the model from a first batch of an iterator of its
        # own, which reads ahead: epoch 0's first pieces are made twice, each by its own worker.
        together = sorted(set(mine[0] + mine[1]) if epoch == 0 else mine[0] + mine[1])
        assert together == list(range(rows)), f"epoch {epoch}"
    # Validation batches keep their order: each worker reads the same half of the rows every time.
    validation = [{r for batch in worker if not batch["shuffle"] for r in batch["rows"]} for worker in made]
    assert not validation[0] & validation[1] and sorted(validation[0] | validation[1]) == list(range(rows))


def _data_file(tmp_path):
    """A training file that exists: the data options are checked before the strategy is set up."""
    path = tmp_path / "x.txt"
    path.write_text("1 a good film\n0 a dull film\n", encoding="utf-8")
    return path


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
    result = forked.run_command(_command(_data_file(tmp_path), tmp_path / "o", "--strategy", "multi-worker"),
                                cwd=ROOT, timeout=120, env=env)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_unsupported_combinations_are_clear(capsys, tmp_path):
    data = str(_data_file(tmp_path))
    assert cli.main(["sentiment", "train", "--train", data, "--out", "o", "--strategy", "multi-worker",
                     "--cpu-replicas", "2"]) == 2
    assert "only applies to --strategy mirrored" in capsys.readouterr().err
    assert cli.main(["sentiment", "train", "--train", data, "--out", "o", "--cpu-replicas", "2"]) == 2
    assert "only applies to --strategy mirrored" in capsys.readouterr().err


def test_mixed_precision_and_tensorboard(shared_data, tmp_path):
    sst = _sst_sample(shared_data, tmp_path, 200)
    out = tmp_path / "mixed"
    command = [sys.executable, str(ROOT / "cli.py"), "sentiment", "train", "--train", str(sst), "--dev", str(sst),
               "--out", str(out), "--epochs", "2", "--units", "8", "--embedding-dim", "8", "--json",
               "--mixed-precision", "bfloat16", "--tensorboard"]
    result = forked.run_command(command, cwd=ROOT, timeout=600,
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert list((out / "tensorboard" / "train").glob("events.out.tfevents.*"))
    from tasks.sentiment import SentimentPipeline

    pipe = SentimentPipeline.load(out)
    encoder = pipe.model.get_layer("encoder_1")
    assert encoder.compute_dtype == "bfloat16" and all(w.dtype == "float32" for w in pipe.model.weights)
    assert pipe.model.get_layer("output").compute_dtype == "float32"  # probabilities stay float32
    assert abs(sum(pipe.predict("a fine film")["probabilities"].values()) - 1) < 1e-5


def _one_line(stderr):
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr, stderr[-3000:]
    return lines[0]


def _cluster_env(ports, index, **extra):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **extra,
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}


def _wait_until(ready, timeout, what):
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.2)


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_ends_a_worker_waiting_for_its_peer(signum, tmp_path):
    # Worker 1 never starts; worker 0 waits for it (listening on its own port) until the signal.
    ports = free_ports(2)
    command = _command(_data_file(tmp_path), tmp_path / "out", "--strategy", "multi-worker", "--worker-timeout", "120")
    process = forked.popen(command, cwd=ROOT, env=_cluster_env(ports, 0), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        _wait_until(lambda: _listening(ports[0]) or process.poll() is not None, 60, "worker 0 listening")
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 128 + signum, stderr[-2000:]
    assert f"interrupted ({signal.Signals(signum).name})" in _one_line(stderr)
    assert not (tmp_path / "out").exists()


def test_a_signal_ends_a_main_thread_stuck_in_native_code():
    # A collective waiting for a lost peer blocks the main thread in C++, where Python's signal
    # handlers never run; here locking a mutex it already holds does the same (without TensorFlow).
    script = "\n".join([
        "import ctypes",
        "from nlp_tasks import cluster",
        "libc, mutex = ctypes.CDLL(None), ctypes.create_string_buffer(64)  # zeros: a default glibc mutex",
        "with cluster.guarded():",
        "    print('ready', flush=True)",
        "    libc.pthread_mutex_lock(mutex)",
        "    libc.pthread_mutex_lock(mutex)  # waits forever, with the interpreter released",
    ])
    process = forked.popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert process.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # into the second lock
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=cluster.GRACE + 30)
    finally:
        process.kill()
    assert process.returncode == 143 and "interrupted (SIGTERM)" in _one_line(stderr), stderr


def test_a_signal_caught_and_raised_again_as_another_error_is_still_an_interruption():
    # Library code (TensorFlow building an iterator, say) may catch the signal's exception and
    # raise its own; the command still ends as interrupted, in one line, not with a traceback.
    script = "\n".join([
        "import os, signal, time",
        "from nlp_tasks import cluster",
        "with cluster.guarded():",
        "    try:",
        "        os.kill(os.getpid(), signal.SIGTERM)",
        "        time.sleep(5)",
        "    except Exception as error:",
        "        raise RuntimeError('wrapped by a library') from error",
    ])
    result = forked.run_command([sys.executable, "-c", script], cwd=ROOT, timeout=60,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 143 and "interrupted (SIGTERM)" in _one_line(result.stderr), result.stderr
    assert "Traceback" not in result.stderr


def _long_training(tmp_path, ports):
    """Two workers on a run of 1000 epochs; returns them once the chief has written a checkpoint."""
    from tests.faults.models import write_sentiment_data

    data, out = write_sentiment_data(tmp_path, lines=64), tmp_path / "out"
    command = [sys.executable, str(ROOT / "cli.py"), "sentiment", "train", "--train", str(data), "--out", str(out),
               "--epochs", "1000", "--units", "4", "--embedding-dim", "4", "--json", "--strategy", "multi-worker"]
    processes = [forked.popen(command, cwd=ROOT, env=_cluster_env(ports, index), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for index in range(2)]

    def started():
        return (out / "checkpoint" / "state.json").is_file() or any(p.poll() is not None for p in processes)

    try:
        _wait_until(started, 300, "the chief's first checkpoint")
        assert all(p.poll() is None for p in processes), [p.communicate()[1][-2000:] for p in processes]
    except BaseException:
        for process in processes:
            process.kill()
        raise
    return processes, out


def _outcomes(processes, timeout):
    results = []
    try:
        for process in processes:
            _, stderr = process.communicate(timeout=timeout)
            results.append((process.returncode, stderr))
    finally:
        for process in processes:
            process.kill()
    return results


def test_sigterm_mid_training_keeps_the_checkpoint_and_the_peer_exits_with_one_line(tmp_path):
    ports = free_ports(2)
    processes, out = _long_training(tmp_path, ports)
    processes[0].send_signal(signal.SIGTERM)
    (chief_code, chief_err), (worker_code, worker_err) = _outcomes(processes, 120)
    assert chief_code == 143 and "interrupted (SIGTERM)" in _one_line(chief_err), chief_err[-2000:]
    # The survivor's next collective fails: one line naming the worker that went away.
    assert worker_code == 2, worker_err[-2000:]
    assert f"lost contact with worker 0 (127.0.0.1:{ports[0]})" in _one_line(worker_err)
    state = json.loads((out / "checkpoint" / "state.json").read_text(encoding="utf-8"))
    assert state["epochs_done"] >= 1 and not state["complete"]
    import numpy as np

    with np.load(out / "checkpoint" / "last.npz", allow_pickle=False) as arrays:  # complete and readable
        assert len([arrays[key] for key in arrays.files]) >= state["model_arrays"] > 0


def test_a_survivor_of_a_killed_peer_exits_with_one_line(tmp_path):
    ports = free_ports(2)
    processes, _ = _long_training(tmp_path, ports)
    processes[1].kill()  # SIGKILL: no goodbye; the chief learns of it from the heartbeat or the collective
    (chief_code, chief_err), _ = _outcomes(processes, 120)
    assert chief_code == 2, chief_err[-2000:]
    assert f"lost contact with worker 1 (127.0.0.1:{ports[1]})" in _one_line(chief_err)


def _grpc_answers(port):
    """TensorFlow's gRPC server speaks first (HTTP/2 settings); the start-up check's listener never does."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.settimeout(1)
            return bool(connection.recv(1))
    except OSError:
        return False


def test_sigint_ends_a_worker_whose_cluster_never_forms(tmp_path):
    # Something answers at worker 1's address but never joins: worker 0 gets past the start-up
    # check and waits inside TensorFlow (C++, holding the interpreter). SIGINT reaches the
    # watchdog process, which prints the line and ends the worker (SIGKILL: status -9).
    ports = free_ports(2)
    fake = socket.socket()
    fake.bind(("127.0.0.1", ports[1]))
    fake.listen(8)
    command = _command(_data_file(tmp_path), tmp_path / "out", "--strategy", "multi-worker", "--worker-timeout", "300")
    process = forked.popen(command, cwd=ROOT, env=_cluster_env(ports, 0), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        _wait_until(lambda: _grpc_answers(ports[0]) or process.poll() is not None, 120, "TensorFlow's server")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
        fake.close()
    assert process.returncode == -signal.SIGKILL, stderr[-2000:]
    assert "interrupted (SIGINT) while the cluster was starting" in _one_line(stderr)
