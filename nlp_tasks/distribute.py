"""How training runs: TensorFlow distribution strategies, mixed precision, TensorBoard logs.

``use("mirrored")`` makes every later model build and training run happen under
``tf.distribute.MirroredStrategy``: one replica per local GPU (or, with ``cpu_replicas=n`` and
no GPU, ``n`` logical CPU devices, which is how the tests exercise it on a laptop). Each
``--batch-size`` batch is the global batch; Keras splits it across the replicas and averages the
gradients, so the same data and seed reach the same loss as one device (within float
summation order; tested).

Tasks build their models inside :func:`scope` and :func:`nlp_tasks.training.fit` compiles and
trains inside it; with the default strategy the scope is TensorFlow's default (one device).

``mixed_precision="float16"`` or ``"bfloat16"`` sets Keras' ``mixed_<dtype>`` policy: layers
compute in 16 bits, variables stay float32, output layers stay float32, and with float16 Keras
scales the loss (``LossScaleOptimizer``) so small gradients do not underflow. It pays on GPUs
with tensor cores (and bfloat16 on CPUs that have it); on other CPUs it is slower.

``tensorboard=True`` makes :func:`nlp_tasks.training.fit` write TensorBoard logs to
``<out>/tensorboard``.

``multi-worker`` (``MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``) is refused for now:
``keras.Model.fit`` fails under it in Keras 3 (keras-team/keras#20585, tensorflow#72388), and the
custom training step that works around it is not written yet.
"""

from __future__ import annotations

import contextlib

from nlp_tasks.errors import UserError

STRATEGIES = ("default", "mirrored", "multi-worker")
PRECISIONS = ("float16", "bfloat16")
_current = {"name": "default", "strategy": None, "tensorboard": False}


def use(name: str = "default", cpu_replicas: int | None = None, mixed_precision: str | None = None,
        tensorboard: bool = False):
    """Choose the strategy (and precision, logs) for every later build and fit; returns the
    ``tf.distribute`` strategy."""
    if mixed_precision not in (None, *PRECISIONS):
        raise UserError(f"mixed precision must be float16 or bfloat16, got {mixed_precision!r}")
    if tensorboard:
        try:
            import tensorboard as _  # noqa: F401
        except ImportError:
            raise UserError("--tensorboard needs the tensorboard package: pip install 'nlp-tasks[tensorboard]'") from None
    _current["tensorboard"] = bool(tensorboard)
    if name not in STRATEGIES:
        raise UserError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if name == "multi-worker":
        raise UserError("--strategy multi-worker is not supported yet: Keras' fit fails under "
                        "MultiWorkerMirroredStrategy (keras-team/keras#20585); use mirrored on one machine")
    if cpu_replicas is not None and name != "mirrored":
        raise UserError("--cpu-replicas only applies to --strategy mirrored")
    from nlp_tasks.runtime import import_tensorflow, request_cpu_devices

    if cpu_replicas and not request_cpu_devices(cpu_replicas):
        raise UserError(f"cannot split the CPU into {cpu_replicas} devices after TensorFlow has started; choose "
                        "the strategy before anything else uses TensorFlow")
    tf = import_tensorflow()
    import keras

    keras.mixed_precision.set_global_policy(f"mixed_{mixed_precision}" if mixed_precision else "float32")
    if name == "default":
        _current.update(name=name, strategy=None)
        return tf.distribute.get_strategy()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus and cpu_replicas:
        raise UserError("--cpu-replicas is for machines without a GPU; with GPUs every local GPU is a replica")
    if gpus:
        strategy = tf.distribute.MirroredStrategy()
    else:
        strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cpu_replicas or 1)])
    _current.update(name=name, strategy=strategy)
    return strategy


def tensorboard() -> bool:
    return _current["tensorboard"]


def current_name() -> str:
    return _current["name"]


def replicas() -> int:
    strategy = _current["strategy"]
    return 1 if strategy is None else strategy.num_replicas_in_sync


def scope():
    """The chosen strategy's scope (a no-op context for the default strategy)."""
    strategy = _current["strategy"]
    return strategy.scope() if strategy is not None else contextlib.nullcontext()
