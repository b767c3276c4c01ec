"""Importing TensorFlow quietly, picking devices, seeding.

TensorFlow is imported only inside functions so that ``python cli.py --help`` stays instant.
:func:`import_tensorflow` keeps TensorFlow's native start-up log (the CUDA probe, "All log
messages before absl::InitializeLog()", cuInit failures on machines without a GPU) out of normal
output: recent TensorFlow builds print these through absl before ``TF_CPP_MIN_LOG_LEVEL`` is
read, so the import and the first device query run with the process's stderr captured. The
captured text is shown if the import fails, and always with ``NLP_TASKS_TF_LOGS=1``. Later lines
(``E0000 ... util.cc:131] oneDNN supports DT_BOOL only on platforms with AVX-512``, printed at
the first training step on AVX-512 machines although nothing is wrong) are turned off by
:func:`quiet_native_logs`: ``TF_CPP_MIN_LOG_LEVEL=3``, set by the programs before TensorFlow
loads (:func:`configure_process`: the CLI, ``python -m nlp_tasks.demo``, the benchmarks; a
program of yours calls it too, or sets the variable). It overrides a value in the environment
(the Makefile's old ``2`` let ERROR lines through); ``NLP_TASKS_TF_LOGS=1`` leaves
``TF_CPP_MIN_LOG_LEVEL`` as the user set it and shows everything. Real failures still arrive as Python exceptions.

Memory allocator: on Linux with glibc, :func:`tune_allocator` (called by
:func:`configure_process`) keeps freed memory in the process instead of handing it back to the
system after every step. With glibc's defaults, TensorFlow's many short-lived tensors of
changing shapes (length-bucketed batches) are mapped and unmapped over and over, and every fresh
page costs a page fault. Tuned, NER training spends less than half the time in the kernel, and
its epochs take about the same time or less (``benchmarks/probes.py malloc``, benchmarks/NOTES.md).
``NLP_TASKS_MALLOC=system`` leaves glibc's defaults alone.

GPUs: TensorFlow places ops on the first visible GPU by itself; :func:`configure_devices` turns
on memory growth so several processes can share a card, and :func:`device_summary` says what
was found. Install ``tensorflow[and-cuda]`` to get a GPU build on Linux.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import platform
import random
import sys
import tempfile
import warnings

_configured = False
_cpu_devices: int | None = None  # logical CPU devices to create at start-up (tf.distribute on CPUs)
_multi_worker: dict = {"requested": False, "strategy": None, "startup": contextlib.nullcontext}  # made at start-up


def request_cpu_devices(n: int) -> bool:
    """Split the CPU into ``n`` logical devices when TensorFlow starts; False if it already has."""
    global _cpu_devices
    if _configured:
        import tensorflow as tf

        return len(tf.config.list_logical_devices("CPU")) == n
    _cpu_devices = n
    return True


def request_multi_worker(startup=None) -> bool:
    """Create a ``MultiWorkerMirroredStrategy`` when TensorFlow starts (it configures collective
    ops, which TensorFlow allows only before the runtime is initialised); False if it has.
    ``startup``: a context manager (factory) entered around the strategy's creation, where
    TensorFlow waits for every peer (:func:`nlp_tasks.cluster.startup_watchdog`)."""
    if _configured:
        return _multi_worker["strategy"] is not None
    _multi_worker["requested"] = True
    if startup is not None:
        _multi_worker["startup"] = startup
    return True


def multi_worker_strategy():
    """The strategy made at start-up by :func:`request_multi_worker` (None when not requested)."""
    import_tensorflow()
    return _multi_worker["strategy"]


# glibc's mallopt parameters (malloc.h) and the values set: the largest mmap threshold glibc
# accepts on 64-bit systems, so blocks below 32 MiB come from the heap and are reused, and a trim
# threshold that keeps up to 1 GiB of freed heap in the process rather than returning it.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MALLOC_SETTINGS = {"mmap_threshold": 32 * 1024 * 1024, "trim_threshold": 1024 * 1024 * 1024}
_allocator: dict | None = None


def tune_allocator() -> dict:
    """Set glibc's malloc thresholds for TensorFlow's allocation pattern, once per process.

    Returns what was done: ``{"tuned": True, **MALLOC_SETTINGS}``, or ``{"tuned": False,
    "reason": ...}`` when ``NLP_TASKS_MALLOC=system`` or the C library is not glibc (macOS,
    Windows, musl), where nothing is changed. It can be called at any time; it affects later
    allocations. The same effect from outside the process:
    ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824``.
    """
    global _allocator
    if _allocator is not None:
        return _allocator
    choice = os.environ.get("NLP_TASKS_MALLOC", "tuned").strip().lower() or "tuned"
    if choice not in ("tuned", "system"):
        from nlp_tasks.errors import UserError

        raise UserError(f"NLP_TASKS_MALLOC must be 'tuned' or 'system', got {os.environ['NLP_TASKS_MALLOC']!r}")
    if choice == "system":
        _allocator = {"tuned": False, "reason": "NLP_TASKS_MALLOC=system"}
    elif sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        _allocator = {"tuned": False, "reason": "not glibc"}
    else:
        try:
            mallopt = ctypes.CDLL(None).mallopt
        except (OSError, AttributeError):
            _allocator = {"tuned": False, "reason": "mallopt not found"}
        else:
            ok = (mallopt(_M_MMAP_THRESHOLD, MALLOC_SETTINGS["mmap_threshold"]) == 1
                  and mallopt(_M_TRIM_THRESHOLD, MALLOC_SETTINGS["trim_threshold"]) == 1)
            _allocator = {"tuned": True, **MALLOC_SETTINGS} if ok else {"tuned": False, "reason": "mallopt refused"}
    return _allocator


def quiet_native_logs() -> None:
    """Turn TensorFlow's C++ log off (``TF_CPP_MIN_LOG_LEVEL=3``) unless ``NLP_TASKS_TF_LOGS=1``.

    TensorFlow reads the variable once, when its library loads: call this before importing it.
    """
    if os.environ.get("NLP_TASKS_TF_LOGS") != "1":
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"


def configure_process() -> None:
    """The process-wide settings that nlp-tasks' programs make (the ``nlp-tasks`` command and its
    server, ``make demo``, the benchmarks), for a program of yours that wants the same: TensorFlow's
    C++ log off (:func:`quiet_native_logs`) and glibc's malloc tuned (:func:`tune_allocator`).
    Call it first, before anything imports TensorFlow. Importing ``nlp_tasks`` changes neither:
    a library does not reach into the process that imports it."""
    quiet_native_logs()
    tune_allocator()


def import_tensorflow():
    """Import TensorFlow with its start-up noise kept off the terminal (its native start-up
    lines are captured, and shown only if the import fails); configure devices once."""
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
            with _multi_worker["startup"]():
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
        "allocator": allocator_summary(),
    }


def allocator_summary() -> str:
    """One line on what :func:`tune_allocator` did."""
    state = tune_allocator()
    if not state["tuned"]:
        return f"system defaults ({state['reason']})"
    mib = 1024 * 1024
    return (f"glibc malloc tuned: mmap threshold {state['mmap_threshold'] // mib} MiB, "
            f"trim threshold {state['trim_threshold'] // mib} MiB")


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and TensorFlow/Keras from one integer.

    ``deterministic=True`` also turns on TensorFlow's op determinism, so two runs with the same
    seed give identical weights on CPU (at some cost in speed on GPU). Seeds run from 0 to
    ``2**32 - 1`` (:data:`nlp_tasks.config.MAX_SEED`, what NumPy accepts).
    """
    import numpy as np

    from nlp_tasks.config import MAX_SEED

    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        from nlp_tasks.errors import UserError

        raise UserError(f"seed must be an integer from 0 to {MAX_SEED}, got {seed!r}")
    tf = import_tensorflow()
    import keras

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
