"""Learning rates per layer group: ULMFiT's discriminative fine-tuning and gradual unfreezing
(Howard and Ruder 2018, sections 3.2 and 3.3), for a model that starts from pretrained layers
(``sentiment train --init-from``, ``--embeddings``).

A model's layers are split into groups, lowest first (the sentiment classifier: the embedding,
each encoder layer, then everything above them). With ``decay`` each group learns at the rate of
the group above it divided by ``decay`` (ULMFiT: 2.6), so the top group learns at the optimizer's
rate and the pretrained layers below it move less; with ``gradual`` the first epoch trains the top
group only and every later epoch one group more, downwards, until all train.

How: :func:`grouped_adam` is Keras' Adam whose step for each variable is multiplied by its
group's scale (a variable of the optimizer, so a checkpoint keeps it); :func:`unfreezing_callback`
sets the scales at the start of every epoch (counted from 0, so a resumed run gets the scales of
the epoch it resumes at). A scale of 0 leaves a variable exactly where it was: Adam's step is the
learning rate times a ratio of moments, and the rate is 0 (the moments still follow the
gradients, as a frozen layer's would not; they start fresh enough when it thaws).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class LayerRates:
    """``groups``: layer names, lowest group first (variables of no listed layer belong to the top
    group); ``decay``: the rate of each group below the top is the one above's divided by this
    (None: one rate); ``gradual``: gradual unfreezing, one group more per epoch from the top."""

    groups: tuple[tuple[str, ...], ...]
    decay: float | None = None
    gradual: bool = False

    def scales(self, epoch: int) -> list[float]:
        """Each group's multiple of the learning rate in ``epoch`` (0: the first), lowest first."""
        count = len(self.groups)
        scales = []
        for group in range(count):
            below_top = count - 1 - group
            scale = 1.0 if self.decay is None else float(self.decay) ** -below_top
            scales.append(0.0 if self.gradual and below_top > epoch else scale)
        return scales

    def variable_groups(self, model) -> dict[int, int]:
        """``{id(variable): group}`` for the trainable variables of the named layers."""
        groups = {}
        for group, names in enumerate(self.groups):
            for name in names:
                for variable in model.get_layer(name).trainable_variables:
                    groups[id(variable)] = group
        return groups


def grouped_adam(model, rates: LayerRates, **adam):
    """Keras' Adam (``adam``: its arguments) with each variable's step scaled by its group's scale
    (see the module docstring); the scales start as those of its ``epoch`` (0 unless the callback said)."""
    import keras

    from nlp_tasks import _keras_compat

    owners = rates.variable_groups(model)
    top = len(rates.groups) - 1

    class GroupedAdam(keras.optimizers.Adam):
        epoch = 0  # the epoch whose scales the variables start with (set by the callback before the first step)

        def build(self, variables):
            if self.built:
                return
            super().build(variables)
            self.group_of = [owners.get(id(variable), top) for variable in variables]
            # initial values, not assignments: the first step may build the optimizer while tracing
            self.group_scales = [self.add_variable((), initializer=keras.initializers.Constant(scale),
                                                   name=f"group_scale_{group}")
                                 for group, scale in enumerate(rates.scales(self.epoch))]

        def update_step(self, gradient, variable, learning_rate):
            index = _keras_compat.optimizer_variable_index(self, variable)
            scale = self.group_scales[self.group_of[index]]
            super().update_step(gradient, variable, keras.ops.multiply(keras.ops.cast(learning_rate, "float32"), scale))

    return GroupedAdam(**adam)


def unfreezing_callback(rates: LayerRates):
    """A Keras callback that sets the optimizer's group scales to ``rates.scales(epoch)`` as each
    epoch begins (needed with ``gradual``; harmless without)."""
    import keras  # imported by now: the optimizer of grouped_adam came first

    class SetGroupScales(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            optimizer = self.model.optimizer
            optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # under float16, Keras' LossScaleOptimizer
            optimizer.epoch = epoch  # not built yet: its first step builds it (in the strategy's scope) with these
            if optimizer.built:
                for variable, scale in zip(optimizer.group_scales, rates.scales(epoch)):
                    variable.assign(scale)

    return SetGroupScales()
