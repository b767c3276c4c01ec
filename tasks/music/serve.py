"""What a music model offers over HTTP (``nlp-tasks serve``)::

    POST .../generate   {"primer", "steps", "temperature", "seed", "tempo", "format": midi|wav|json}

One request per call; the audio it may render is bounded (``--max-audio-seconds``).
"""

from __future__ import annotations

import base64
from typing import Literal, Optional

from pydantic import Field

from nlp_tasks.serve.bodies import settings_body, settings_of
from nlp_tasks.serve.spec import Operation, OverLimit, ServeSpec, check_range

from .generation import GenerateSettings

GenerateBody = settings_body(
    "GenerateBody", GenerateSettings, exclude=("samples",), doc="Generation options: those of `music generate`.",
    primer=(Optional[list[list[int]]], Field(None, description="Time steps of MIDI pitches to continue.")),
    format=(Literal["midi", "wav", "json"], Field("midi", description="A MIDI file, a WAV file, or JSON with the "
                                                                      "piano roll and both files in base64.")))


def serve_spec(pipe) -> ServeSpec:
    import numpy as np

    from . import data as md
    from .audio import render_wav

    spq = pipe.config.steps_per_quarter

    def items(body, limits):
        check_range("steps", body.steps, 1, limits.max_length, "--max-length")
        settings = settings_of(GenerateSettings, body).resolved()  # the CLI's ranges (tempo, temperature, seed)
        if body.primer is not None:
            check_range("primer steps", len(body.primer), 1, limits.max_length, "--max-length")
        if body.format != "midi":
            check_audio(len(body.primer or ()) + body.steps, body.tempo, limits)
        return [(body, settings)]

    def check_audio(steps: int, tempo: float, limits) -> None:
        """The WAV (also inside the JSON answer) of ``steps`` (primer and generated) at ``tempo`` within
        --max-audio-seconds: its length, hence the synthesiser's work and the answer's bytes, grows
        as the tempo falls."""
        seconds = steps / spq * 60 / tempo
        if seconds > limits.max_audio_seconds:
            raise OverLimit(f"{steps:,} time steps at {tempo:g} bpm ({spq} per quarter note) are "
                            f"{seconds:,.0f} s of audio, more than the limit of {limits.max_audio_seconds:,} s "
                            "(--max-audio-seconds): ask for fewer steps, a faster tempo or format 'midi'")

    def generate(items):
        b, settings = items[0]
        result = pipe.generate(steps=settings.steps, primer=b.primer, seed=settings.seed,
                               temperature=settings.temperature)
        roll, primer_steps = result["roll"], result["primer_steps"]
        made = np.asarray(roll)[primer_steps:]
        out = {"seed": settings.seed, "steps": settings.steps, "primer_steps": primer_steps, "tempo": settings.tempo,
               "notes_per_step": float(made.sum(axis=1).mean()), "roll": roll,
               "midi": md.midi_bytes(roll, spq, settings.tempo, primer_steps)}
        out["wav"] = render_wav(roll, spq, settings.tempo) if b.format != "midi" else None
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
