"""What a music model offers over HTTP (``nlp-tasks serve``)::

    POST .../generate   {"primer", "steps", "temperature", "seed", "tempo", "format": midi|wav|json}

One request per call; the audio it may render is bounded (``--max-audio-seconds``).
"""

from __future__ import annotations

import base64
from typing import Literal, Optional

from pydantic import Field

from nlp_tasks.serve.bodies import Body, draw_seed
from nlp_tasks.serve.spec import Operation, OverLimit, ServeSpec, check_range

from .data import MAX_TEMPO_BPM, MIN_TEMPO_BPM


class GenerateBody(Body):
    primer: Optional[list[list[int]]] = Field(None, description="Time steps of MIDI pitches to continue.")
    steps: int = Field(64, description="Time steps to generate.")
    temperature: float = Field(1.0, description="Below 1: safer; above 1: wilder; 0: every key above 0.5.")
    seed: Optional[int] = Field(None, description="The same seed gives the same music (default: a fresh one).")
    tempo: float = Field(100.0, description=f"Beats per minute of the MIDI file and the audio, {MIN_TEMPO_BPM} to "
                                            f"{MAX_TEMPO_BPM}.")
    format: Literal["midi", "wav", "json"] = Field("midi", description="A MIDI file, a WAV file, or JSON with the "
                                                                      "piano roll and both files in base64.")


def serve_spec(pipe) -> ServeSpec:
    import numpy as np

    from nlp_tasks.sampling import check_temperature
    from . import data as md
    from .audio import render_wav

    spq = pipe.config.steps_per_quarter

    def items(body, limits):
        check_range("steps", body.steps, 1, limits.max_length, "--max-length")
        check_range("tempo", body.tempo, MIN_TEMPO_BPM, MAX_TEMPO_BPM)
        check_temperature(body.temperature)  # the CLI's range
        if body.primer is not None:
            check_range("primer steps", len(body.primer), 1, limits.max_length, "--max-length")
        if body.format != "midi":
            check_audio(len(body.primer or ()) + body.steps, body.tempo, limits)
        return [body.model_copy(update={"seed": draw_seed(body.seed)})]

    def check_audio(steps: int, tempo: float, limits) -> None:
        """The WAV (also inside the JSON answer) of ``steps`` (primer and generated) at ``tempo`` within
        --max-audio-seconds: its length, hence the synthesiser's work and the answer's bytes, grows
        as the tempo falls."""
        seconds = steps / spq * 60 / tempo
        if seconds > limits.max_audio_seconds:
            raise OverLimit(f"{steps:,} time steps at {tempo:g} bpm ({spq} per quarter note) are {seconds:,.0f} s of "
                            f"audio, more than the limit of {limits.max_audio_seconds:,} s (--max-audio-seconds): ask for "
                            "fewer steps, a faster tempo or format 'midi'")

    def generate(bodies):
        b = bodies[0]
        result = pipe.generate(steps=b.steps, primer=b.primer, seed=b.seed, temperature=b.temperature)
        roll, primer_steps = result["roll"], result["primer_steps"]
        made = np.asarray(roll)[primer_steps:]
        out = {"seed": b.seed, "steps": b.steps, "primer_steps": primer_steps, "tempo": b.tempo,
               "notes_per_step": float(made.sum(axis=1).mean()), "roll": roll,
               "midi": md.midi_bytes(roll, spq, b.tempo, primer_steps)}
        out["wav"] = render_wav(roll, spq, b.tempo) if b.format != "midi" else None
        return [out]

    def respond(body, results):
        from starlette.responses import Response

        out = results[0]
        headers = {"X-Seed": str(out["seed"])}
        if body.format == "midi":
            return Response(out["midi"], media_type="audio/midi",
                            headers={**headers, "Content-Disposition": 'attachment; filename="generated.mid"'})
        if body.format == "wav":
            return Response(out["wav"], media_type="audio/wav", headers=headers)
        return {**{k: v for k, v in out.items() if k not in ("midi", "wav")},
                "midi_base64": base64.b64encode(out["midi"]).decode("ascii"),
                "wav_base64": base64.b64encode(out["wav"]).decode("ascii"), "steps_per_quarter": spq}

    doc = ("Generate music from silence or continuing a primer (time steps of MIDI pitches): a MIDI file, "
           "a WAV file (our own small synthesiser), or JSON with the piano roll and both files in base64.")
    return ServeSpec([Operation("generate", doc, GenerateBody, items, generate, respond, batched=False)],
                     {"head": pipe.config.head, "steps_per_quarter": spq})
