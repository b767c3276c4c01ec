"""The inference template every task's ``predict`` shares (issue 32).

The shape of Hugging Face's pipelines (preprocess, forward, postprocess), written once; a task
fills in the hooks::

    predict(inputs)        split_inputs(inputs) -> one input or a list  (default: a text or a list of texts)
      per item             preprocess(item, number) -> features          (abstract)
      by length            input_length(features), collate(batch) -> the model's input arrays
      batched              forward(batch): one compiled function per model object (model_forward inside)
      per item             postprocess(features, output) -> plain Python (abstract; output None: an empty item)

:meth:`Inference.forward_all` is the batching on its own (sorted by length, cut into
:meth:`Inference.inference_batch_size` batches, put back in input order), for the task methods
that answer in another form than ``predict`` (NER's ``tag``, sentiment's ``predict_proba``).

A task whose inference is not one call of the model (music scores a batch of pieces in chunks of
time steps, carrying the states) overrides :meth:`Inference.forward` and keeps the rest.
"""

from __future__ import annotations

import abc

import numpy as np

from nlp_tasks.errors import UserError


class Inference(abc.ABC):
    """``predict`` as a template over the hooks below; :class:`nlp_tasks.pipeline.Pipeline`
    extends it (``require_model`` is the pipeline's: the model, or a clear error)."""

    def predict(self, inputs):
        """Plain Python in, plain Python out: one input gives one result, a list gives a list.

        The template every task shares: :meth:`split_inputs` (one or a list), :meth:`preprocess`
        each item, :meth:`forward_all` (length-bucketed batches through one compiled function),
        :meth:`postprocess` each item's output back into plain Python, in the input's order.
        """
        self.require_model()
        single, items = self.split_inputs(inputs)
        features = [self.preprocess(item, number) for number, item in enumerate(items, start=1)]
        results = [self.postprocess(f, out) for f, out in zip(features, self.forward_all(features))]
        return results[0] if single else results

    def __call__(self, inputs):
        return self.predict(inputs)

    def split_inputs(self, inputs) -> tuple[bool, list]:
        """``(single, items)``: whether ``inputs`` is one input, and the inputs as a list. By
        default a string is one text and a list (or any iterable) of strings is many."""
        single = isinstance(inputs, str)
        try:
            items = [inputs] if single else list(inputs)
        except TypeError:
            items = None
        if items is None or not all(isinstance(t, str) for t in items):
            raise UserError("predict takes a text or a list of texts")
        return single, items

    @abc.abstractmethod
    def preprocess(self, item, number: int):
        """The features of one input (``number``: its 1-based place, for messages): what
        :meth:`collate` batches and :meth:`postprocess` needs; refuse a bad input here, in one line."""

    @abc.abstractmethod
    def postprocess(self, features, output):
        """One input's result in plain Python, from its features and its row of the model's
        output (None for an input of :meth:`input_length` 0, which never reaches the model)."""

    def input_length(self, features) -> int:
        """The length that batches are bucketed by (by default ``len(features)``: a list of ids)."""
        return len(features)

    def collate(self, batch: list) -> tuple:
        """The model's input arrays for a batch of features (by default: id lists, padded)."""
        from nlp_tasks.batching import pad

        return (pad(batch),)

    def inference_batch_size(self) -> int:
        """Inputs per :meth:`forward` call."""
        return 128

    def model_forward(self, model, *arrays):
        """The graph that :meth:`forward` compiles: ``model``'s output for the :meth:`collate`
        arrays (by default the model's call, not training); one tensor or a tuple of tensors,
        each with one row per input."""
        return model(arrays[0] if len(arrays) == 1 else list(arrays), training=False)

    def compiled_forward(self):
        """:meth:`model_forward` as one traced function, built once per model object
        (``reduce_retracing``: after two shapes it serves any batch and length), not an eager
        Keras call per batch."""
        model = self.require_model()
        cached = getattr(self, "_forward_fn", None)
        if cached is None or cached[0] is not model:
            import tensorflow as tf

            def forward(*arrays):
                return self.model_forward(model, *arrays)

            self._forward_fn = (model, tf.function(forward, reduce_retracing=True))
        return self._forward_fn[1]

    def forward(self, batch: list) -> list:
        """The outputs of a batch of features, one per input: :meth:`collate`, the
        :meth:`compiled_forward` call, and each input's row of every output (numpy)."""
        out = self.compiled_forward()(*self.collate(batch))
        if isinstance(out, (tuple, list)):
            arrays = [np.asarray(o) for o in out]
            return [tuple(a[row] for a in arrays) for row in range(len(batch))]
        array = np.asarray(out)
        return [array[row] for row in range(len(batch))]

    def forward_all(self, features: list, batch_size: int | None = None, forward=None) -> list:
        """:meth:`forward` (or ``forward(batch) -> outputs``, one per input: a search with
        options of the call, say) over all ``features`` in batches of similar length (sorted by
        :meth:`input_length`, ``batch_size`` or :meth:`inference_batch_size` at a time); the
        outputs in the input order, None for an input of length 0."""
        forward = forward or self.forward
        lengths = [self.input_length(f) for f in features]
        outputs: list = [None] * len(features)
        order = np.argsort(lengths, kind="stable")
        size = batch_size or self.inference_batch_size()
        for start in range(0, len(order), size):
            rows = [int(i) for i in order[start:start + size] if lengths[i] > 0]
            if rows:
                for i, out in zip(rows, forward([features[i] for i in rows])):
                    outputs[i] = out
        return outputs
