"""Drawing sequences from a model: the whole generation loop in one compiled graph
(:mod:`nlp_tasks.decoding.generator`), one compiled step (:mod:`nlp_tasks.decoding.stepper`) and the
draw itself: temperature, top-k, top-p and beam search (:mod:`nlp_tasks.decoding.sampling`); and the
greedy and beam search of an encoder-decoder's output, in one compiled graph (:mod:`nlp_tasks.decoding.search`)."""
