"""Importing TensorFlow quietly, picking devices, seeding.

TensorFlow is imported only inside functions so that ``python cli.py --help`` stays instant.
:func:`import_tensorflow` keeps TensorFlow's native start-up log (the CUDA probe, "All log
messages before absl::InitializeLog()", cuInit failures on machines without a GPU) out of normal
output: recent TensorFlow builds print these through absl before ``TF_CPP_MIN_LOG_LEVEL`` is
read, so the import and the first device query run with the process's stderr captured. The
captured text is shown if the import fails, and always with ``NLP_TASKS_TF_LOGS=1``.

GPUs: TensorFlow places ops on the first visible GPU by itself; :func:`configure_devices` turns
on memory growth so several processes can share a card, and :func:`device_summary` says what
was found. Install ``tensorflow[and-cuda]`` to get a GPU build on Linux.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sys
import tempfile
import warnings

_configured = False
_cpu_devices: int | None = None  # logical CPU devices to create at start-up (tf.distribute on CPUs)
_multi_worker: dict = {"requested": False, "strategy": None}  # MultiWorkerMirroredStrategy, made at start-up


def request_cpu_devices(n: int) -> bool:
    """Split the CPU into ``n`` logical devices when TensorFlow starts; False if it already has."""
    global _cpu_devices
    if _configured:
        import tensorflow as tf

        return len(tf.config.list_logical_devices("CPU")) == n
    _cpu_devices = n
    return True


def request_multi_worker() -> bool:
    """Create a ``MultiWorkerMirroredStrategy`` when TensorFlow starts (it configures collective
    ops, which TensorFlow allows only before the runtime is initialised); False if it has."""
    if _configured:
        return _multi_worker["strategy"] is not None
    _multi_worker["requested"] = True
    return True


def multi_worker_strategy():
    """The strategy made at start-up by :func:`request_multi_worker` (None when not requested)."""
    import_tensorflow()
    return _multi_worker["strategy"]


def import_tensorflow():
    """Import TensorFlow with its start-up noise turned down; configure devices once."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="tensorflow")
    global _configured
    if _configured:
        import tensorflow as tf

        return tf
    with _captured_native_stderr():
        import tensorflow as tf

        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        configure_devices(tf)
        if _multi_worker["requested"]:  # reads TF_CONFIG; must come before the runtime starts
            _multi_worker["strategy"] = tf.distribute.MultiWorkerMirroredStrategy()
        tf.config.list_logical_devices()  # initialise the devices now, while stderr is captured
    _configured = True
    return tf


@contextlib.contextmanager
def _captured_native_stderr():
    """Send file descriptor 2 to a temporary file; replay it if the block fails."""
    if os.environ.get("NLP_TASKS_TF_LOGS") == "1":
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded interpreters): nothing to capture
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                sink.seek(0)
                sys.stderr.write(sink.read().decode("utf-8", "replace"))


def configure_devices(tf) -> None:
    """Memory growth on every visible GPU, and the requested logical CPU devices (both must be
    set before the first op touches the devices)."""
    if _cpu_devices and _cpu_devices > 1:
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * _cpu_devices)
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised: leave it as it is
            pass


def device_summary() -> dict:
    """Which devices TensorFlow sees and which one it will use by default."""
    tf = import_tensorflow()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    return {
        "tensorflow": tf.__version__,
        "keras": __import__("keras").__version__,
        "gpus": gpus,
        "cpus": cpus,
        "default_device": gpus[0] if gpus else cpus[0],
        "built_with_cuda": tf.test.is_built_with_cuda(),
    }


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and TensorFlow/Keras from one integer.

    ``deterministic=True`` also turns on TensorFlow's op determinism, so two runs with the same
    seed give identical weights on CPU (at some cost in speed on GPU).
    """
    import numpy as np

    if not isinstance(seed, int) or seed < 0:
        from nlp_tasks.errors import UserError

        raise UserError(f"seed must be a non-negative integer, got {seed!r}")
    tf = import_tensorflow()
    import keras

    random.seed(seed)
    np.random.seed(seed % 2**32)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
