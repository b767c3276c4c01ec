"""The recurrent state of an exported step endpoint: one ``(batch, state_size)`` tensor holding
every layer's a<t> (and c<t> for an LSTM), bottom layer first, and how it splits into the stack's
state tuple (re-exported by :mod:`nlp_tasks.export`)."""

from __future__ import annotations

from typing import Any


def recurrent_cells(model, layers: int) -> list:
    """The cells of a stack's recurrent layers ``rnn_1`` .. ``rnn_<layers>``, bottom first."""
    return [model.get_layer(f"rnn_{i}").cell for i in range(1, layers + 1)]


def state_layout(cells) -> dict[str, Any]:
    """How a stack's states sit in one ``(batch, state_size)`` tensor: ``{"state_size", "parts":
    [{"layer", "state", "units"}...]}`` (a<t> of each layer, and its c<t> for an LSTM)."""
    parts = []
    for layer, cell in enumerate(cells, start=1):
        for k in range(cell.N_STATES):
            parts.append({"layer": layer, "state": ("a", "c")[k] if cell.N_STATES == 2 else "a", "units": cell.units})
    return {"state_size": sum(p["units"] for p in parts), "state_parts": parts}


def split_state(state, cells):
    """``(batch, state_size)`` -> the stack's state tuple (see :func:`state_layout`)."""
    import tensorflow as tf

    sizes = [cell.units for cell in cells for _ in range(cell.N_STATES)]
    return tuple(tf.split(state, sizes, axis=1))


def join_state(states):
    import tensorflow as tf

    return tf.concat(list(states), axis=1)
