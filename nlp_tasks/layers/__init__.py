"""Our own recurrent layers (Keras 3): cells, the fast sequence layer, weight conversion,
the CRF and NADE output layers, attention over an encoder's outputs, word dropout, a language
model's states as another model's features, AWD-LSTM's activation penalties.

>>> import keras
>>> from nlp_tasks.layers import GRUCell, Recurrent
>>> encoder = keras.layers.Bidirectional(Recurrent(GRUCell(128), return_sequences=True))

Every class here is registered with ``keras.saving.register_keras_serializable`` (package
``nlp_tasks``), so models that use them save as ``.keras`` and load with ``safe_mode=True``.
"""

from nlp_tasks.runtime import import_tensorflow

import_tensorflow()  # quiet start-up, before Keras pulls TensorFlow in

from nlp_tasks.layers.activation_penalty import ActivationPenalty  # noqa: E402
from nlp_tasks.layers.attention import ATTENTION_KINDS, Attention  # noqa: E402
from nlp_tasks.layers.cells import (  # noqa: E402
    INITIAL_STATE_MODES,
    GRUCell,
    LSTMCell,
    MinimalGRUCell,
    RecurrentCell,
    RNNCell,
)
from nlp_tasks.layers.crf import CRF, crf_loss  # noqa: E402
from nlp_tasks.layers.features import TokenFeatures  # noqa: E402
from nlp_tasks.layers.lm_states import LanguageModelStates  # noqa: E402
from nlp_tasks.layers.nade import NADE, nade_loss  # noqa: E402
from nlp_tasks.layers.pooling import AttentionPooling, MaskedMaxPooling, MaskedMeanPooling  # noqa: E402
from nlp_tasks.layers.recurrent import CELL_TYPES, Recurrent, keras_builtin_layers, recurrent  # noqa: E402
from nlp_tasks.layers.word_dropout import WordDropout  # noqa: E402

__all__ = [
    "ActivationPenalty",
    "ATTENTION_KINDS",
    "Attention",
    "CRF",
    "crf_loss",
    "AttentionPooling",
    "MaskedMaxPooling",
    "MaskedMeanPooling",
    "NADE",
    "nade_loss",
    "CELL_TYPES",
    "INITIAL_STATE_MODES",
    "GRUCell",
    "LSTMCell",
    "MinimalGRUCell",
    "RNNCell",
    "Recurrent",
    "RecurrentCell",
    "recurrent",
    "keras_builtin_layers",
    "LanguageModelStates",
    "TokenFeatures",
    "WordDropout",
]
