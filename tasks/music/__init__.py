"""Music generation (one-to-many): polyphonic piano rolls, MIDI in and out.

``data``: piano rolls from JSON, MIDI and music21's Bach chorales, and MIDI written out;
``heads``: the output heads (88 independent sigmoids, or RNN-NADE); ``pipeline``:
:class:`MusicPipeline` and generation; ``scoring``: pieces of any length in bounded memory;
``audio``: a small synthesiser for WAV; ``export`` and ``serve``: what a model offers as an
exported graph and over HTTP; ``cli`` and ``demo``: ``nlp-tasks music ...`` and its ``make demo`` step.
"""

from .pipeline import MusicConfig, MusicPipeline, generate_frames

__all__ = ["MusicConfig", "MusicPipeline", "generate_frames"]
