"""Training on several devices through TensorFlow's own distribution strategies.

``use("mirrored")`` makes every later model build and training run happen under
``tf.distribute.MirroredStrategy``: one replica per local GPU (or, with ``cpu_replicas=n`` and
no GPU, ``n`` logical CPU devices, which is how the tests exercise it on a laptop). Each
``--batch-size`` batch is the global batch; Keras splits it across the replicas and averages the
gradients, so the same data and seed reach the same loss as one device (within float
summation order; tested).

Tasks build their models inside :func:`scope` and :func:`nlp_tasks.training.fit` compiles and
trains inside it; with the default strategy the scope is TensorFlow's default (one device).

``multi-worker`` (``MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``) is refused for now:
``keras.Model.fit`` fails under it in Keras 3 (keras-team/keras#20585, tensorflow#72388), and the
custom training step that works around it is not written yet.
"""

from __future__ import annotations

import contextlib

from nlp_tasks.errors import UserError

STRATEGIES = ("default", "mirrored", "multi-worker")
_current = {"name": "default", "strategy": None}


def use(name: str = "default", cpu_replicas: int | None = None):
    """Choose the strategy for every later build and fit; returns the ``tf.distribute`` object."""
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


def current_name() -> str:
    return _current["name"]


def replicas() -> int:
    strategy = _current["strategy"]
    return 1 if strategy is None else strategy.num_replicas_in_sync


def scope():
    """The chosen strategy's scope (a no-op context for the default strategy)."""
    strategy = _current["strategy"]
    return strategy.scope() if strategy is not None else contextlib.nullcontext()
