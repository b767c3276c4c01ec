"""nlp-tasks: readable, tested recurrent sequence models in Keras 3.

The shared core. Nothing in this package knows about NER, sentiment, text corpora or music:

- :mod:`nlp_tasks.text.vocab`      Vocabulary and tokenizers (word and character level).
- :mod:`nlp_tasks.layers`     our own RNN / GRU / minimal GRU / LSTM cells, attention, as Keras layers.
- :mod:`nlp_tasks.reference`  the NumPy forward passes and BPTT the layers are tested against.
- :mod:`nlp_tasks.pipeline`   the Pipeline base class every task builds on.
- :mod:`nlp_tasks.errors`     :class:`UserError`, the one error type for user mistakes.

Importing this package does not import TensorFlow (the submodules that need it do) and changes
nothing process-wide; programs call :func:`nlp_tasks.runtime.configure_process`.
"""

__version__ = "0.1.0"

from nlp_tasks.errors import UserError  # noqa: E402  (light, no TensorFlow)

__all__ = ["UserError", "__version__"]
