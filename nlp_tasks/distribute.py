"""How training runs: TensorFlow distribution strategies, mixed precision, TensorBoard logs.

``run = use("mirrored")`` returns a :class:`RunContext` whose builds and training runs happen
under ``tf.distribute.MirroredStrategy``: one replica per local GPU (or, with ``cpu_replicas=n`` and
no GPU, ``n`` logical CPU devices, which is how the tests exercise it on a laptop). Each
``--batch-size`` batch is the global batch; Keras splits it across the replicas and averages the
gradients, so the same data and seed reach the same loss as one device (within float
summation order; tested).

The run context is an explicit object, passed to ``Pipeline.fit(..., run=run)`` and
``Pipeline.save(..., run=run)`` (the ``train`` commands do it); there is no module state.
Pipelines build their models inside ``run.scope()`` and :func:`nlp_tasks.training.fit` compiles
and trains inside it; :data:`LOCAL`, the default, is TensorFlow's default strategy (one device).

``mixed_precision="float16"`` or ``"bfloat16"`` sets Keras' ``mixed_<dtype>`` policy: layers
compute in 16 bits, variables stay float32, output layers stay float32, and with float16 Keras
scales the loss (``LossScaleOptimizer``) so small gradients do not underflow. It pays on GPUs
with tensor cores (and bfloat16 on CPUs that have it); on other CPUs it is slower.

``tensorboard=True`` makes :func:`nlp_tasks.training.fit` write TensorBoard logs to
``<out>/tensorboard``.

``multi-worker`` trains one model on several machines (or several processes of one machine) with
``tf.distribute.MultiWorkerMirroredStrategy``. Every worker runs the same command with its own
``TF_CONFIG`` (the cluster's addresses and this worker's place in it, checked here); each local
device of each worker is a replica, ``--batch-size`` stays the global batch, and every worker
trains on its slice of each global batch: with one replica a worker, it makes only its slice's
rows (:func:`nlp_tasks.batching.as_dataset`); with several, it makes the whole batch and tf.data's
auto-sharding hands it its slice. The first worker (``chief``, or
``worker`` 0 when there is no chief) writes the output folder: checkpoints, logs, the model.
The other workers write nothing there; they read the chief's checkpoint to resume, so resuming
a multi-machine run needs ``--out`` on storage every worker sees (one machine always does).

Keras 3's ``Model.fit`` fails under this strategy (keras-team/keras#20585, tensorflow#72388) in
two places: before the first step it averages a whole input batch across workers to build the
model symbolically (integer batches of different shapes cannot be averaged), and its train and
test steps average each returned metric over ``axis=0`` across workers, which a scalar does not
have. :func:`prepare_model` replaces those two methods on the model instance (nothing in Keras
is edited; :mod:`nlp_tasks._keras_compat` holds these private names): the symbolic build uses
this worker's own batch (only its shapes and dtypes matter), and the step runs Keras' own train
or test step under ``strategy.run`` as before, then reads the metrics outside it, where Keras'
metric variables (synchronised on read) sum over every replica of every worker: exact global
metrics (Keras' own mirrored path averages the replicas' running means instead, exact only when
every replica saw as many examples).

Starting a multi-worker cluster safely (waiting for peers, signals, a lost peer) is
:mod:`nlp_tasks.cluster`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from nlp_tasks import _keras_compat
from nlp_tasks.errors import UserError

STRATEGIES = ("default", "mirrored", "multi-worker")
PRECISIONS = ("float16", "bfloat16")


@dataclasses.dataclass(frozen=True)
class RunContext:
    """Where and how one run trains, made once by :func:`use` and passed to ``Pipeline.fit``,
    ``Pipeline.save`` and :func:`nlp_tasks.training.fit`: the strategy (``name`` and the
    ``tf.distribute`` object; None for the default one), whether TensorBoard logs are written,
    the mixed-precision policy, and whether this process is the chief (the one that writes)."""

    name: str = "default"
    strategy: Any = None
    tensorboard: bool = False
    precision: str | None = None
    chief: bool = True
    task: dict | None = None  # this worker's place in the cluster (multi-worker)

    @property
    def multi_worker(self) -> bool:
        return self.name == "multi-worker"

    @property
    def replicas(self) -> int:
        return 1 if self.strategy is None else self.strategy.num_replicas_in_sync

    def scope(self):
        """The strategy's scope (a no-op context for the default strategy)."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()


LOCAL = RunContext()  # one process, the default device, float32: what a run gets unless told otherwise


def use(name: str = "default", cpu_replicas: int | None = None, mixed_precision: str | None = None,
        tensorboard: bool = False, worker_timeout: float | None = None) -> RunContext:
    """Set up the strategy (and precision, logs) of a run; returns its :class:`RunContext`.
    ``worker_timeout``: seconds a multi-worker run waits for its peers to start (default
    ``NLP_TASKS_WORKER_TIMEOUT`` or 300). The precision is Keras' global policy, set here."""
    if mixed_precision not in (None, *PRECISIONS):
        raise UserError(f"mixed precision must be float16 or bfloat16, got {mixed_precision!r}")
    if tensorboard:
        try:
            import tensorboard as _  # noqa: F401
        except ImportError:
            raise UserError("--tensorboard needs the tensorboard package: "
                            "pip install 'nlp-tasks[tensorboard]'") from None
    if name not in STRATEGIES:
        raise UserError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if cpu_replicas is not None and name != "mirrored":
        raise UserError("--cpu-replicas only applies to --strategy mirrored")
    if worker_timeout is not None and name != "multi-worker":
        raise UserError("--worker-timeout only applies to --strategy multi-worker")
    from nlp_tasks.cluster import (
        cluster_task,
        reinstall_handlers,
        startup_watchdog,
        wait_for_peers,
        worker_timeout_seconds,
    )
    from nlp_tasks.runtime import import_tensorflow, multi_worker_strategy, request_cpu_devices, request_multi_worker

    if name == "multi-worker":
        task = cluster_task()
        timeout = worker_timeout_seconds(worker_timeout)
        if not request_multi_worker(startup=lambda: startup_watchdog(timeout)):
            raise UserError("cannot start multi-worker training after TensorFlow has started; choose the strategy "
                            "before anything else uses TensorFlow")
        wait_for_peers(task, timeout)
    elif cpu_replicas and not request_cpu_devices(cpu_replicas):
        raise UserError(f"cannot split the CPU into {cpu_replicas} devices after TensorFlow has started; choose "
                        "the strategy before anything else uses TensorFlow")
    tf = import_tensorflow()
    import keras

    keras.mixed_precision.set_global_policy(f"mixed_{mixed_precision}" if mixed_precision else "float32")
    settings = {"tensorboard": bool(tensorboard), "precision": mixed_precision}
    if name == "multi-worker":
        strategy = multi_worker_strategy()
        reinstall_handlers()  # TensorFlow's coordination service installs a SIGTERM handler of its own
        return RunContext(name, strategy, chief=task["chief"], task=task, **settings)
    if name == "default":
        return RunContext(**settings)
    gpus = tf.config.list_physical_devices("GPU")
    if gpus and cpu_replicas:
        raise UserError("--cpu-replicas is for machines without a GPU; with GPUs every local GPU is a replica")
    if gpus:
        strategy = tf.distribute.MirroredStrategy()
    else:
        strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cpu_replicas or 1)])
    return RunContext(name, strategy, **settings)


def prepare_model(model, run: RunContext) -> None:
    """Make ``model.fit``/``evaluate`` work under MultiWorkerMirroredStrategy (see the module
    notes); does nothing under any other strategy."""
    if not run.multi_worker:
        return
    import tensorflow as tf

    strategy = run.strategy

    def local(value):
        is_distributed = isinstance(value, tf.distribute.DistributedValues)
        return strategy.experimental_local_results(value)[0] if is_distributed else value

    def make_function(step_function):
        @tf.function(reduce_retracing=True)
        def one_step(iterator):
            strategy.run(step_function, args=(iterator.get_next(),))
            # Keras' train and test steps return get_metrics_result() computed in each replica,
            # from that replica's share of the data. Read here, in cross-replica context, the
            # metric variables (synchronised on read) are summed over every replica of every
            # worker: the exact metrics of the whole global batch so far.
            return model.get_metrics_result()

        return one_step

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for batches in _keras_compat.epoch_step_iterators(iterator):
                data_batch = tf.nest.map_structure(local, next(batches))
                break
        with strategy.scope():
            _keras_compat.symbolic_build(model, data_batch)

    _keras_compat.patch_train_functions(model, make_function, maybe_symbolic_build)
