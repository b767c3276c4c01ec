"""Every private Keras and TensorFlow name the project uses, in one place.

Keras and TensorFlow may move or change any of these in a minor release, so ``setup.cfg`` bounds
both to the versions the project is tested with (:data:`TESTED`), and :func:`check` (called by
``tests/nlp_tasks/test_keras_compat.py``) fails with one message naming the name, the installed versions
and the tested range when an upgrade moved one. Nothing else in ``nlp_tasks/``, ``tasks/``,
``benchmarks/`` or ``tests/`` touches a private name; they call the functions here.

Each private name, what we use it for, and the first Keras release whose source has it with the
signature we call (keras-team/keras tags):

- ``keras.src.backend.rnn`` (Keras 3.0): the time loop ``keras.layers.RNN`` runs, which
  :class:`nlp_tasks.layers.Recurrent` runs too (:func:`backend_rnn`).
- ``keras.src.backend.gru`` and ``keras.src.backend.lstm`` (Keras 3.0): the functions
  ``keras.layers.GRU``/``LSTM`` call for cuDNN's fused sequence kernel, which raise
  ``NotImplementedError`` where it cannot run; :class:`nlp_tasks.layers.Recurrent` calls them
  with our weights converted (:func:`backend_fused`, :mod:`nlp_tasks.layers.fused`).
- ``keras.Model._make_function`` (Keras 3.7) and ``keras.Model._maybe_symbolic_build``
  (Keras 3.5): replaced on the model instance under MultiWorkerMirroredStrategy
  (:func:`nlp_tasks.distribute.prepare_model`, :func:`patch_train_functions`).
- ``keras.Model._symbolic_build`` (Keras 3.1): called by that replacement (:func:`symbolic_build`).
- the TensorFlow epoch iterator's steps, ``(begin_step, end_step, iterator)`` (Keras 3.11,
  keras-team/keras#21422; ``(step, iterator)`` before): what that replacement receives
  (:func:`epoch_step_iterators`).
- ``keras.Model._resolve_auto_jit_compile`` (Keras 3.0): tests/nlp_tasks/test_training.py replaces it to
  pretend to be a machine with a GPU (:data:`AUTO_JIT_COMPILE`).
- ``tensorflow.python.framework.config.disable_op_determinism`` (in TensorFlow 2.21, installed;
  not traced further back): turns op determinism off again, which has no public counterpart
  (tests/nlp_tasks/test_training.py, benchmarks/probes.py ``ner-xla``; :func:`disable_op_determinism`).

- ``keras.src.export.tf2onnx_lib.patch_tf2onnx`` (Keras 3.8): makes ``tf2onnx`` work with
  NumPy 2, as Keras' own ONNX export does before converting (:func:`patch_tf2onnx`,
  :mod:`nlp_tasks.export`); without it the conversion runs unpatched.
- ``keras.callbacks.SwapEMAWeights._tf_swap_variables``, ``._backend_swap_variables`` and its
  ``_ema_weights_in_model`` flag (in Keras 3.15, installed; not traced further back): the
  averaged-weights swap of ``fit(average_weights=...)`` swaps through a copy, not by Keras'
  in-place additions that round the weights, and knows a resumed run starts swapped
  (:func:`swap_averaged_weights`).

- ``keras.optimizers.Optimizer._get_variable_index`` (Keras 3.0): which of the optimizer's
  variables a step updates, as Keras' own optimizers find their moments; the per-group learning
  rates of :mod:`nlp_tasks.layer_rates` find each variable's group by it (:func:`optimizer_variable_index`).
- ``keras.src.backend.common.global_state`` (``get_global_attribute``, ``set_global_attribute``)
  and the attributes ``shared_objects/id_to_obj_map`` and ``shared_objects/id_to_config_map``
  that ``keras.src.saving.serialization_lib.ObjectSharingScope`` sets while a model loads (in
  Keras 3.15, installed; not traced further back): ``Bidirectional.__init__`` serialises its
  layer and reads it back, and inside that scope the copies take part in Keras' sharing of
  objects by ``id()``, where a saved file's ids (from the process that saved it) and the ids of
  live objects can coincide: the backward layer came back as a GRU cell, or as the forward
  layer, and the model failed to load, now and then. :func:`guard_bidirectional` suspends the
  scope while Keras makes a ``Bidirectional`` from its config, and our layers that make one in
  their constructor (``tasks.ner.layers.CharEncoder``) do so inside
  :func:`outside_object_sharing`; :func:`object_sharing_scope` is the scope itself, for the
  test that shows the collision.

The epoch iterator's three-item steps make Keras 3.11 the lowest version the project supports.
If :func:`backend_rnn` finds no loop, :class:`Recurrent` falls back to ``keras.layers.RNN``'s
own (the same results, slower); :func:`patch_train_functions` refuses with
:class:`KerasCompatError` rather than patch a method Keras no longer calls.
"""

from __future__ import annotations

import contextlib
import inspect

from nlp_tasks.errors import UserError

KERAS_RANGE = ">=3.11,<3.16"
TENSORFLOW_RANGE = ">=2.16,<2.22"
TESTED = f"Keras {KERAS_RANGE} and TensorFlow {TENSORFLOW_RANGE}"

# The name of the Keras method tests/nlp_tasks/test_training.py replaces (monkeypatch) on a model.
AUTO_JIT_COMPILE = "_resolve_auto_jit_compile"


class KerasCompatError(UserError):
    """A private Keras or TensorFlow name this project needs is missing or changed."""


def versions() -> str:
    """``"Keras 3.15.1, TensorFlow 2.21.0"``: what is installed."""
    import keras
    import tensorflow as tf

    return f"Keras {keras.__version__}, TensorFlow {tf.__version__}"


def _error(name: str, problem: str) -> KerasCompatError:
    return KerasCompatError(
        f"private API {name} {problem}; installed: {versions()}; nlp-tasks is tested with {TESTED} "
        "(see nlp_tasks/_keras_compat.py)"
    )


def _optimizer_method(attribute: str):
    import keras

    return getattr(keras.optimizers.Optimizer, attribute, None)


def _model_method(attribute: str):
    import keras

    return getattr(keras.Model, attribute, None)


def _backend_rnn_function():
    try:
        from keras.src.backend import rnn
    except ImportError:
        return None
    return rnn


def _backend_fused_function(kind: str):
    try:
        from keras.src import backend
    except ImportError:
        return None
    return getattr(backend, kind, None)


def _disable_op_determinism_function():
    try:
        from tensorflow.python.framework.config import disable_op_determinism
    except ImportError:
        return None
    return disable_op_determinism


def _swap_ema_method(attribute: str):
    import keras

    return getattr(keras.callbacks.SwapEMAWeights, attribute, None)


def _patch_tf2onnx_function():
    try:
        from keras.src.export.tf2onnx_lib import patch_tf2onnx
    except ImportError:
        return None
    return patch_tf2onnx


def _global_state_function(name: str):
    try:
        from keras.src.backend.common import global_state
    except ImportError:
        return None
    return getattr(global_state, name, None)


def _object_sharing_scope_class():
    try:
        from keras.src.saving.serialization_lib import ObjectSharingScope
    except ImportError:
        return None
    return ObjectSharingScope


SHARING_ATTRIBUTES = ("shared_objects/id_to_obj_map", "shared_objects/id_to_config_map")

# name -> (how to find it, the parameters we rely on, in order, from the first)
_RNN_PARAMETERS = ("step_function", "inputs", "initial_states", "go_backwards", "mask", "constants", "unroll",
                   "input_length", "time_major", "zero_output_for_mask", "return_all_outputs")
_FUSED_PARAMETERS = {
    "gru": ("inputs", "initial_state", "mask", "kernel", "recurrent_kernel", "bias", "activation",
            "recurrent_activation", "return_sequences", "go_backwards", "unroll", "time_major", "reset_after"),
    "lstm": ("inputs", "initial_state_h", "initial_state_c", "mask", "kernel", "recurrent_kernel", "bias",
             "activation", "recurrent_activation", "return_sequences", "go_backwards", "unroll", "time_major"),
}
_NAMES = {
    "keras.src.backend.rnn": (_backend_rnn_function, _RNN_PARAMETERS),
    "keras.src.backend.gru": (lambda: _backend_fused_function("gru"), _FUSED_PARAMETERS["gru"]),
    "keras.src.backend.lstm": (lambda: _backend_fused_function("lstm"), _FUSED_PARAMETERS["lstm"]),
    "keras.Model._make_function": (lambda: _model_method("_make_function"), ("self", "step_function")),
    "keras.Model._maybe_symbolic_build": (lambda: _model_method("_maybe_symbolic_build"),
                                          ("self", "iterator", "data_batch")),
    "keras.Model._symbolic_build": (lambda: _model_method("_symbolic_build"), ("self", "iterator", "data_batch")),
    f"keras.Model.{AUTO_JIT_COMPILE}": (lambda: _model_method(AUTO_JIT_COMPILE), ("self",)),
    "tensorflow.python.framework.config.disable_op_determinism": (_disable_op_determinism_function, ()),
    "keras.src.export.tf2onnx_lib.patch_tf2onnx": (_patch_tf2onnx_function, ()),
    "keras.callbacks.SwapEMAWeights._tf_swap_variables": (lambda: _swap_ema_method("_tf_swap_variables"),
                                                          ("self", "optimizer")),
    "keras.callbacks.SwapEMAWeights._backend_swap_variables": (lambda: _swap_ema_method("_backend_swap_variables"),
                                                               ("self", "optimizer")),
    "keras.src.backend.common.global_state.get_global_attribute": (
        lambda: _global_state_function("get_global_attribute"), ("name",)),
    "keras.src.backend.common.global_state.set_global_attribute": (
        lambda: _global_state_function("set_global_attribute"), ("name", "value")),
    "keras.src.saving.serialization_lib.ObjectSharingScope": (_object_sharing_scope_class, ()),
    "keras.optimizers.Optimizer._get_variable_index": (lambda: _optimizer_method("_get_variable_index"),
                                                       ("self", "variable")),
}


def _require(name: str):
    """The object behind ``name`` (a key of ``_NAMES``), or :class:`KerasCompatError`."""
    find, parameters = _NAMES[name]
    found = find()
    if found is None:
        raise _error(name, "is missing")
    try:
        signature = inspect.signature(found)
    except (TypeError, ValueError):  # pragma: no cover - a builtin without a signature: nothing to compare
        return found
    have = tuple(signature.parameters)[: len(parameters)]
    if have != parameters:
        raise _error(name, f"has changed: expected parameters ({', '.join(parameters)}), found ({', '.join(have)})")
    return found


def _check_epoch_steps() -> None:
    """The TensorFlow epoch iterator yields ``(begin_step, end_step, iterator)`` per step."""
    import numpy as np
    import tensorflow as tf

    try:
        from keras.src.backend.tensorflow.trainer import TFEpochIterator
    except ImportError:
        raise _error("keras.src.backend.tensorflow.trainer.TFEpochIterator", "is missing") from None
    steps = TFEpochIterator(distribute_strategy=tf.distribute.get_strategy(), x=np.zeros((2, 1), "float32"),
                            batch_size=2)
    step = next(iter(steps))
    if not (isinstance(step, tuple) and len(step) == 3):
        found = f"{len(step)} items" if isinstance(step, tuple) else type(step).__name__
        raise _error("keras.src.backend.tensorflow.trainer.TFEpochIterator steps",
                     f"have changed: expected (begin_step, end_step, iterator), found {found}")


def check() -> None:
    """Raise :class:`KerasCompatError` naming the first private name that is missing or whose
    parameters changed, with the installed versions and the tested range."""
    for name in _NAMES:
        _require(name)
    _check_epoch_steps()


def optimizer_variable_index(optimizer, variable) -> int:
    """The position of ``variable`` (a model variable, or its backend value inside a step) among
    the variables ``optimizer`` was built with."""
    return optimizer._get_variable_index(variable)


def backend_rnn():
    """``keras.src.backend.rnn``, the backend's time loop, or None when Keras moved it."""
    return _backend_rnn_function()


def backend_fused(kind: str):
    """``keras.src.backend.gru`` or ``.lstm`` (``kind``), with the parameters we pass checked, or
    None when Keras moved or changed it (then :class:`Recurrent` runs its own loop)."""
    try:
        return _require(f"keras.src.backend.{kind}")
    except KerasCompatError:
        return None


def patch_train_functions(model, make_function, maybe_symbolic_build) -> None:
    """Replace ``model._make_function`` and ``model._maybe_symbolic_build`` on this instance
    (``keras.Model`` looks methods up on the instance first; the class is untouched)."""
    _require("keras.Model._make_function")
    _require("keras.Model._maybe_symbolic_build")
    object.__setattr__(model, "_make_function", make_function)
    object.__setattr__(model, "_maybe_symbolic_build", maybe_symbolic_build)


def symbolic_build(model, data_batch) -> None:
    """Keras' own ``model._symbolic_build(data_batch=...)``: build the model, its metrics and its
    optimizer from one batch's shapes and dtypes."""
    model._symbolic_build(data_batch=data_batch)


def epoch_step_iterators(iterator):
    """The data iterator of each step of the TensorFlow epoch iterator that Keras passes to
    ``_maybe_symbolic_build``."""
    for _, _, batches in iterator:
        yield batches


def disable_op_determinism() -> None:
    """Turn TensorFlow's op determinism off again (``tf.config.experimental`` can only turn it on)."""
    _require("tensorflow.python.framework.config.disable_op_determinism")()


def patch_tf2onnx() -> None:
    """Keras' fix-ups of ``tf2onnx`` for NumPy 2 (idempotent), when this Keras has them."""
    patch = _patch_tf2onnx_function()
    if patch is not None and not getattr(patch_tf2onnx, "done", False):
        import warnings

        with warnings.catch_warnings():  # its own test of NumPy's np.object warns
            warnings.simplefilter("ignore", FutureWarning)
            patch()
        patch_tf2onnx.done = True


def swap_averaged_weights():
    """The callback of ``fit(average_weights=...)``: Keras' ``SwapEMAWeights(swap_on_epoch=True)``
    puts the optimizer's averaged weights into the model for validation and at every epoch's end
    (early stopping keeps them, the checkpoint holds them, the trained values sitting in the
    average slots) and the trained values back to train the next epoch. Two changes: the swap
    goes through a copy (Keras swaps TensorFlow variables by in-place additions and
    subtractions, which round the trained values at every swap), and a run resumed from a
    checkpoint (the optimizer has taken steps) starts swapped, as that epoch's end left it."""
    import keras

    _require("keras.callbacks.SwapEMAWeights._tf_swap_variables")
    _require("keras.callbacks.SwapEMAWeights._backend_swap_variables")

    class SwapAveragedWeights(keras.callbacks.SwapEMAWeights):
        def _tf_swap_variables(self, optimizer):
            self._backend_swap_variables(optimizer)

        def on_train_begin(self, logs=None):
            self._ema_weights_in_model = int(self.model.optimizer.iterations.numpy()) > 0

    return SwapAveragedWeights(swap_on_epoch=True)


@contextlib.contextmanager
def outside_object_sharing():
    """Keras' object-sharing scope suspended (its maps put aside, then back): what is serialised
    and read back meanwhile shares nothing by ``id()`` (module docstring)."""
    get = _require("keras.src.backend.common.global_state.get_global_attribute")
    put = _require("keras.src.backend.common.global_state.set_global_attribute")
    saved = [get(name) for name in SHARING_ATTRIBUTES]
    for name in SHARING_ATTRIBUTES:
        put(name, None)
    try:
        yield
    finally:
        for name, value in zip(SHARING_ATTRIBUTES, saved):
            put(name, value)


def guard_bidirectional() -> None:
    """Make ``keras.layers.Bidirectional.from_config`` (how a load makes one) run outside Keras'
    object-sharing scope (idempotent; module docstring); a layer of ours that makes one in its
    constructor does so inside :func:`outside_object_sharing` itself. Outside a load nothing
    changes: no scope is active then."""
    import keras

    layer_class = keras.layers.Bidirectional
    if getattr(layer_class.from_config, "nlp_tasks_guarded", False):
        return
    original = layer_class.from_config.__func__

    def from_config(cls, config, custom_objects=None):
        with outside_object_sharing():
            return original(cls, config, custom_objects=custom_objects)

    from_config.nlp_tasks_guarded = True
    layer_class.from_config = classmethod(from_config)


@contextlib.contextmanager
def object_sharing_scope(objects: dict | None = None):
    """Keras' object-sharing scope, as a load runs in; ``objects``: the map from ids to objects
    to start it with, as a saved file's ids fill it (for the test that shows the collision)."""
    with _require("keras.src.saving.serialization_lib.ObjectSharingScope")():
        if objects is not None:
            _require("keras.src.backend.common.global_state.set_global_attribute")(SHARING_ATTRIBUTES[0], objects)
        yield
