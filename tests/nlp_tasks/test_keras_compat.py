"""The private Keras/TensorFlow names of nlp_tasks._keras_compat: they still exist (a Keras
upgrade that moves one fails here with a message naming it), a missing or changed one is named
with the installed versions and the tested range, setup.cfg's bounds are the module's, and no
other module touches a private name."""

from __future__ import annotations

import configparser
import re
import sys
import types
from pathlib import Path

import keras
import pytest
import tensorflow as tf

from nlp_tasks import _keras_compat
from nlp_tasks._keras_compat import KerasCompatError
from nlp_tasks.errors import UserError
from tests import REPO as ROOT


def _defining_class(attribute):
    return next(klass for klass in keras.Model.__mro__ if attribute in vars(klass))


def test_every_private_name_still_exists_with_the_parameters_we_call():
    _keras_compat.check()


def test_a_missing_name_is_named_with_the_installed_versions_and_the_tested_range(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras.src.backend", types.ModuleType("keras.src.backend"))
    with pytest.raises(KerasCompatError) as caught:
        _keras_compat.check()
    message = str(caught.value)
    assert message.startswith("private API keras.src.backend.rnn is missing; ")
    assert f"Keras {keras.__version__}, TensorFlow {tf.__version__}" in message
    assert _keras_compat.TESTED in message and "\n" not in message
    assert _keras_compat.backend_rnn() is None  # Recurrent then falls back to keras.layers.RNN's loop


def test_changed_parameters_are_named(monkeypatch):
    monkeypatch.setattr(_defining_class("_symbolic_build"), "_symbolic_build", lambda self, batch: None)
    with pytest.raises(KerasCompatError, match=re.escape(
            "private API keras.Model._symbolic_build has changed: expected parameters "
            "(self, iterator, data_batch), found (self, batch)")):
        _keras_compat.check()


def test_changed_epoch_iterator_steps_are_named(monkeypatch):
    from keras.src.backend.tensorflow import trainer

    class TwoItemSteps:  # Keras before 3.11: (step, iterator)
        def __init__(self, **kwargs):
            pass

        def __iter__(self):
            return iter([(0, iter([]))])

    monkeypatch.setattr(trainer, "TFEpochIterator", TwoItemSteps)
    with pytest.raises(KerasCompatError, match=r"TFEpochIterator steps have changed: .* found 2 items"):
        _keras_compat.check()


def test_patching_a_method_keras_no_longer_has_is_refused_and_leaves_the_model_alone(monkeypatch):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    monkeypatch.delattr(_defining_class("_make_function"), "_make_function")
    with pytest.raises(KerasCompatError, match="keras.Model._make_function is missing") as caught:
        _keras_compat.patch_train_functions(model, lambda step: step, lambda **kwargs: None)
    assert isinstance(caught.value, UserError)  # the CLI prints it as one line
    assert "_make_function" not in vars(model) and "_maybe_symbolic_build" not in vars(model)


def test_patching_replaces_the_methods_on_the_instance_only():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])

    def make_function(step):
        return step

    def maybe_symbolic_build(iterator=None, data_batch=None):
        return None

    _keras_compat.patch_train_functions(model, make_function, maybe_symbolic_build)
    assert model._make_function is make_function and model._maybe_symbolic_build is maybe_symbolic_build
    assert "_make_function" not in vars(other)


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


@pytest.mark.parametrize("package,version", [("keras", keras.__version__), ("tensorflow", tf.__version__)])
def test_setup_cfg_bounds_are_the_tested_range_and_hold_the_installed_version(package, version):
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg", encoding="utf-8")
    requirements = [line.strip() for line in parser["options"]["install_requires"].splitlines() if line.strip()]
    spec = {"keras": _keras_compat.KERAS_RANGE, "tensorflow": _keras_compat.TENSORFLOW_RANGE}[package]
    assert package + spec in requirements
    low, high = re.fullmatch(r">=([\d.]+),<([\d.]+)", spec).groups()
    assert _minor(low) <= _minor(version) < _minor(high), (
        f"installed {package} {version} is outside the tested range {spec}: run the tests, then "
        "widen the bounds in setup.cfg and nlp_tasks/_keras_compat.py")


def test_no_other_module_touches_a_private_keras_or_tensorflow_name():
    pattern = re.compile(r"keras\.src\b|tensorflow\.python\b|\._make_function\b|\._maybe_symbolic_build\b"
                         r"|\._symbolic_build\b|_resolve_auto_jit_compile|object\.__setattr__\(model")
    mine = {Path(_keras_compat.__file__).resolve(), Path(__file__).resolve()}
    offenders = []
    for path in list(ROOT.glob("*.py")) + [p for d in ("nlp_tasks", "tasks", "benchmarks", "tests")
                                          for p in (ROOT / d).rglob("*.py")]:
        if path.resolve() not in mine and pattern.search(path.read_text(encoding="utf-8")):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_a_bidirectional_made_while_a_model_loads_shares_nothing_by_id():
    """Keras shares objects by id() while a model loads, with ids that a saved file brought (from
    the process that saved it). One that coincides with the layer Bidirectional copies used to
    hand back another object as its backward layer: the load failed, now and then ('GRUCell'
    object has no attribute 'go_backwards'). Here every id coincides, on purpose: as Keras makes
    a Bidirectional from its config, and as our CharEncoder makes one in its constructor."""
    from nlp_tasks.layers import GRUCell, recurrent
    from tasks.ner.layers import CharEncoder

    stranger = GRUCell(3)

    class EveryIdIsTaken(dict):  # what a load's map looks like when each id coincides
        def get(self, key, default=None):
            return super().get(key, stranger)

    _keras_compat.guard_bidirectional()
    with _keras_compat.object_sharing_scope(EveryIdIsTaken()):
        with pytest.raises((AttributeError, ValueError), match="go_backwards"):
            keras.layers.Bidirectional(recurrent("gru", 3))  # unguarded: what used to happen in a load
    config = keras.saving.serialize_keras_object(keras.layers.Bidirectional(recurrent("gru", 3)))
    with _keras_compat.object_sharing_scope(EveryIdIsTaken()):
        made = [keras.layers.Bidirectional.from_config(config["config"]), CharEncoder("gru", 3).encoder]
    for pair in made:
        assert stranger not in (pair.forward_layer, pair.backward_layer)
        assert pair.forward_layer.go_backwards is False and pair.backward_layer.go_backwards is True
