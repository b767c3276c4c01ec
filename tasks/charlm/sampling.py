"""Sampling from a language model: the whole loop in one compiled graph, or step by step.

Sampling (temperature, top-k, top-p) runs in one compiled call
(:class:`nlp_tasks.decoding.generator.GraphGenerator`): the primer, every step, the draw
(:func:`nlp_tasks.decoding.sampling.graph_sample`, its random numbers from each stream's key) and the
stop at ``<eos>`` stay inside the graph, so one stream is not slowed by a Python call per token.
Stream ``i`` of ``seed`` draws with key ``seed + i``: the same text on every run, whatever the
number of streams generated with it.

Beam search keeps its hypotheses in Python: ``compile_step`` turns a trained model's layers into
``step(ids, states) -> (logits, states)`` (a :class:`nlp_tasks.decoding.stepper.RecurrentStepper`), one
compiled time step that keeps its state, and :func:`nlp_tasks.decoding.sampling.beam_search` drives it.
The same stepper with a NumPy draw (``in_graph=False``) is the previous sampler, which the
benchmark measures against.
"""

from __future__ import annotations

import numpy as np

from nlp_tasks.config import SampleSettings
from nlp_tasks.decoding.sampling import (
    beam_search,
    check_work,
    graph_sample,
    log_softmax,
    sample,
    stream_keys,
    stream_uniforms,
)
from nlp_tasks.decoding.stepper import RecurrentStepper, run_generation
from nlp_tasks.errors import UserError, deprecated
from nlp_tasks.saving.model_checks import OUTPUT_LAYER, embedding_layer_name
from nlp_tasks.text.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID


def compile_step(model, vocab_name: str, layers: int, jit_compile: bool = True) -> RecurrentStepper:
    """``step(ids (n,), states) -> (logits (n, V), states)``, with ``step.zero_state(n)``."""
    return RecurrentStepper([model.get_layer(f"rnn_{i}").cell for i in range(1, layers + 1)],
                            model.get_layer(OUTPUT_LAYER), features=model.get_layer(embedding_layer_name(vocab_name)),
                            input_dtype="int32", jit_compile=jit_compile)


def graph_generator(pipe, temperature: float, top_k, top_p, banned: tuple, stop_at_eos: bool, jit_compile: bool = True):
    """The compiled sampling loop for these options (built once per pipeline and options)."""
    from nlp_tasks.decoding.generator import GraphGenerator

    model, options = pipe.require_model(), (temperature, top_k, top_p, banned, stop_at_eos, jit_compile)
    if pipe._generators.get("model") is not model:  # built for another model object: start again
        pipe._generators = {"model": model}
    if options not in pipe._generators:
        import tensorflow as tf

        def draw(t, logits, keys):  # one token per stream from its own uniform for step t
            return graph_sample(logits, stream_uniforms(keys, t, 1)[:, 0], temperature, top_k, top_p, banned)

        layers = pipe.config.layers
        pipe._generators[options] = GraphGenerator(
            [model.get_layer(f"rnn_{i}").cell for i in range(1, layers + 1)], model.get_layer(OUTPUT_LAYER),
            draw, stop=(lambda ids: tf.equal(ids, EOS_ID)) if stop_at_eos else None,
            features=model.get_layer(embedding_layer_name(pipe.vocab_name)), input_dtype="int32",
            jit_compile=jit_compile)
    return pipe._generators[options]


def _render(pipe, ids: list[int]) -> str:
    """Text of generated ids: ``<eos>`` becomes a line end; words are joined by spaces."""
    vocab = pipe.vocab
    pieces = ["\n" if i == EOS_ID else vocab.id_to_token(i) for i in ids]
    if vocab.level == "char":
        return "".join(pieces)
    return " ".join(pieces).replace(" \n ", "\n").replace(" \n", "\n")


def _join(prime: str, generated: str, level: str) -> str:
    if level == "word" and prime and generated and not prime[-1].isspace() and not generated.startswith("\n"):
        return prime + " " + generated
    return prime + generated


def _text(pipe, prime: str, ids: list[int], backward: bool) -> str:
    """Prime + the text of generated ``ids``; a backward model's ids, drawn last token first,
    are the text before the prime."""
    if not backward:
        return _join(prime, _render(pipe, ids), pipe.vocab.level)
    return _join(_render(pipe, ids[::-1]), prime, pipe.vocab.level)


def generate(pipe, prime: str, settings: SampleSettings, in_graph: bool = True, jit_compile: bool = True) -> list[str]:
    """``settings.samples`` samples (or, with ``settings.beam``, the beam-search continuation) as
    texts prime + sample, drawn as the settings say (checked when they were made).
    ``in_graph=False``: the step-by-step sampler with a NumPy generator (for the benchmark);
    ``jit_compile=False``: its step without XLA (:meth:`LanguageModelPipeline.step_function`)."""
    n, length, temperature, seed = settings.samples, settings.length, settings.temperature, settings.seed
    top_k, top_p, beam, stop_at_eos = settings.top_k, settings.top_p, settings.beam, settings.stop_at_eos
    if beam is not None and n != 1:
        raise UserError("beam search returns one continuation; ask for one sample")
    primer = pipe.encode_text(prime, "the primer") if prime else []
    backward = pipe.config.reverse  # a backward model reads the primer last token first and writes what precedes it
    primer = primer[::-1] if backward else primer
    check_work(n, length, len(primer), beam)  # samples x length within MAX_SAMPLE_TOKENS, before any allocation
    # A character model never writes "<unk>" into its text (it would stand for a character the
    # model cannot name); a word model does, as a placeholder word, unless --no-unk.
    banned = [PAD_ID, BOS_ID] + ([UNK_ID] if settings.no_unk or pipe.vocab.level == "char" else [])
    inputs = [BOS_ID] + primer
    step = pipe.step_function(jit_compile) if beam is not None or not in_graph else None
    if beam is not None:
        states = step.zero_state(n)
        for token in inputs[:-1]:  # read the primer: a<t> advances
            _, states = step(np.full(n, token), states)

        def log_prob_step(ids, s):
            logits, s = step(ids, s)
            return log_softmax(logits), s

        ids, _ = beam_search(log_prob_step, states, inputs[-1], beam, length, len(pipe.vocab),
                             reorder=step.reorder,
                             eos_id=EOS_ID if stop_at_eos else None, banned=banned)
        if stop_at_eos and ids and ids[-1] == EOS_ID:
            ids = ids[:-1]
        return [_text(pipe, prime, ids, backward)]
    if in_graph:
        generator = graph_generator(pipe, float(temperature), top_k, top_p, tuple(banned), stop_at_eos)
        drawn = generator(np.repeat(np.array(inputs)[:, None], n, axis=1), length, stream_keys(seed, n))
    else:
        rng = np.random.default_rng(seed)
        done = np.zeros(n, dtype=bool)

        def all_ended(tokens) -> bool:
            done[tokens == EOS_ID] = True
            return stop_at_eos and bool(done.all())

        drawn = run_generation(step, [np.full(n, token) for token in inputs], n, length,
                               lambda t, logits: sample(logits, rng, temperature, top_k, top_p, banned), all_ended)
    generated = []
    for row in range(n):
        tokens = [int(column[row]) for column in drawn]
        if stop_at_eos and EOS_ID in tokens:
            tokens = tokens[:tokens.index(EOS_ID)]
        generated.append(tokens)
    return [_text(pipe, prime, ids, backward) for ids in generated]


class FormerNames:
    """The language model's generation methods under their names before every task generated with
    one verb (``generate``): kept for a while, with a :class:`DeprecationWarning`."""

    def sample(self, prime: str = "", length: int = 200, *args, **options) -> str:
        """Deprecated: :meth:`generate` (the same arguments, in the same order)."""
        deprecated("LanguageModelPipeline.sample", "generate")
        return self.generate(prime, length, *args, **options)

    def sample_many(self, n: int, prime: str = "", length: int = 200, *args, **options) -> list[str]:
        """Deprecated: :meth:`generate` with ``n`` (the other arguments in the same order)."""
        deprecated("LanguageModelPipeline.sample_many", "generate(..., n=N)")
        options.update(zip(("temperature", "top_k", "top_p", "beam", "seed", "stop_at_eos", "no_unk"), args))
        return self.generate_texts(prime, SampleSettings(length=length, samples=n, **options))
