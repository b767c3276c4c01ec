"""Hypothesis strategies shared by the fuzz tests of data readers and of saved-file readers."""

from __future__ import annotations

from hypothesis import strategies as st


@st.composite
def mutated(draw, valid: bytes):
    """``valid`` with 1-4 bytes flipped, bytes inserted or deleted, or the end cut off."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[at:at + draw(st.integers(1, 8))]
        elif op == "truncate":
            data = data[:at]
    return bytes(data)
