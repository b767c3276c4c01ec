"""Importing TensorFlow quietly, picking devices, seeding.

TensorFlow is imported only inside functions so that ``python cli.py --help`` stays instant.
:func:`import_tensorflow` silences TensorFlow's C++ start-up log (the CUDA probe, CPU feature
notices) unless the user set ``TF_CPP_MIN_LOG_LEVEL`` themselves.

GPUs: TensorFlow places ops on the first visible GPU by itself; :func:`configure_devices` turns
on memory growth so several processes can share a card, and :func:`device_summary` says what
was found. Install ``tensorflow[and-cuda]`` to get a GPU build on Linux.
"""

from __future__ import annotations

import logging
import os
import random
import warnings

_configured = False


def import_tensorflow():
    """Import TensorFlow with its start-up noise turned down; configure devices once."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="tensorflow")
    import tensorflow as tf

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    global _configured
    if not _configured:
        configure_devices(tf)
        _configured = True
    return tf


def configure_devices(tf) -> None:
    """Memory growth on every visible GPU (must run before the first op touches them)."""
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
