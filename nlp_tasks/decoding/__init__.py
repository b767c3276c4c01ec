"""Drawing sequences from a model: the whole generation loop in one compiled graph
(:mod:`nlp_tasks.decoding.generator`), one compiled step (:mod:`nlp_tasks.decoding.stepper`) and the
draw itself: temperature, top-k, top-p and beam search (:mod:`nlp_tasks.decoding.sampling`)."""
