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

``multi-worker`` trains one model on several machines (or several processes of one machine) with
``tf.distribute.MultiWorkerMirroredStrategy``. Every worker runs the same command with its own
``TF_CONFIG`` (the cluster's addresses and this worker's place in it, checked here); each local
device of each worker is a replica, ``--batch-size`` stays the global batch, and tf.data's
auto-sharding hands every worker its slice of each global batch. The first worker (``chief``, or
``worker`` 0 when there is no chief) writes the output folder: checkpoints, logs, the model.
The other workers write nothing there; they read the chief's checkpoint to resume, so resuming
a multi-machine run needs ``--out`` on storage every worker sees (one machine always does).

Keras 3's ``Model.fit`` fails under this strategy (keras-team/keras#20585, tensorflow#72388) in
two places: before the first step it averages a whole input batch across workers to build the
model symbolically (integer batches of different shapes cannot be averaged), and its train and
test steps average each returned metric over ``axis=0`` across workers, which a scalar does not
have. :func:`prepare_model` replaces those two methods on the model instance (nothing in Keras
is edited): the symbolic build uses this worker's own batch (only its shapes and dtypes
matter), and the step runs Keras' own train or test step under ``strategy.run`` as before, then
reads the metrics outside it, where Keras' metric variables (synchronised on read) sum over
every replica of every worker: exact global metrics (Keras' own mirrored path averages the
replicas' running means instead, exact only when every replica saw as many examples).
"""

from __future__ import annotations

import contextlib
import json
import os

from nlp_tasks.errors import UserError

STRATEGIES = ("default", "mirrored", "multi-worker")
PRECISIONS = ("float16", "bfloat16")
_current = {"name": "default", "strategy": None, "tensorboard": False, "chief": True}


def cluster_task() -> dict:
    """This worker's place in the cluster, from ``TF_CONFIG``: ``{"type", "index", "chief"}``;
    a one-line error when it is missing or malformed."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UserError("--strategy multi-worker needs TF_CONFIG, e.g. TF_CONFIG='{\"cluster\": {\"worker\": "
                        "[\"host1:12345\", \"host2:12345\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}'")
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise UserError(f"TF_CONFIG is not valid JSON: {error}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise UserError("TF_CONFIG needs a \"cluster\" object and a \"task\" object")
    for role, addresses in cluster.items():
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses)):
            raise UserError(f"TF_CONFIG cluster {role!r} must be a list of \"host:port\" addresses")
    if not set(cluster) <= {"worker", "chief", "evaluator"} or "worker" not in cluster and "chief" not in cluster:
        raise UserError(f"TF_CONFIG cluster must list \"worker\" (and optionally \"chief\") addresses, got "
                        f"{sorted(cluster)}")
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise UserError(f"TF_CONFIG task {task!r} does not name a member of the cluster")
    chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)
    return {"type": kind, "index": index, "chief": chief}


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
    if cpu_replicas is not None and name != "mirrored":
        raise UserError("--cpu-replicas only applies to --strategy mirrored")
    from nlp_tasks.runtime import import_tensorflow, multi_worker_strategy, request_cpu_devices, request_multi_worker

    if name == "multi-worker":
        task = cluster_task()
        if not request_multi_worker():
            raise UserError("cannot start multi-worker training after TensorFlow has started; choose the strategy "
                            "before anything else uses TensorFlow")
    elif cpu_replicas and not request_cpu_devices(cpu_replicas):
        raise UserError(f"cannot split the CPU into {cpu_replicas} devices after TensorFlow has started; choose "
                        "the strategy before anything else uses TensorFlow")
    tf = import_tensorflow()
    import keras

    keras.mixed_precision.set_global_policy(f"mixed_{mixed_precision}" if mixed_precision else "float32")
    if name == "multi-worker":
        strategy = multi_worker_strategy()
        _current.update(name=name, strategy=strategy, chief=task["chief"])
        return strategy
    if name == "default":
        _current.update(name=name, strategy=None, chief=True)
        return tf.distribute.get_strategy()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus and cpu_replicas:
        raise UserError("--cpu-replicas is for machines without a GPU; with GPUs every local GPU is a replica")
    if gpus:
        strategy = tf.distribute.MirroredStrategy()
    else:
        strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cpu_replicas or 1)])
    _current.update(name=name, strategy=strategy, chief=True)
    return strategy


def tensorboard() -> bool:
    return _current["tensorboard"]


def current_name() -> str:
    return _current["name"]


def is_chief() -> bool:
    """Whether this process writes the run's outputs (always, except a non-chief worker)."""
    return _current["chief"]


def multi_worker() -> bool:
    return _current["name"] == "multi-worker"


def prepare_model(model) -> None:
    """Make ``model.fit``/``evaluate`` work under MultiWorkerMirroredStrategy (see the module
    notes); does nothing under any other strategy."""
    if not multi_worker():
        return
    import tensorflow as tf

    strategy = _current["strategy"]

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
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(local, next(batches))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    # keras.Model looks methods up on the instance first; the class is untouched.
    object.__setattr__(model, "_make_function", make_function)
    object.__setattr__(model, "_maybe_symbolic_build", maybe_symbolic_build)


def replicas() -> int:
    strategy = _current["strategy"]
    return 1 if strategy is None else strategy.num_replicas_in_sync


def scope():
    """The chosen strategy's scope (a no-op context for the default strategy)."""
    strategy = _current["strategy"]
    return strategy.scope() if strategy is not None else contextlib.nullcontext()
