"""Upper bounds on sizes, seeds and generation lengths hold in the Python API, not only the CLI."""

from __future__ import annotations

import pytest

from nlp_tasks.config import MAX_PARAMETERS, MAX_SEED, check_parameters, recurrent_parameters
from nlp_tasks.decoding.sampling import check_options
from nlp_tasks.errors import UserError
from nlp_tasks.runtime import set_seed
from tasks.charlm import LanguageModelConfig
from tasks.music import MusicConfig
from tasks.ner import NERConfig
from tasks.sentiment import SentimentConfig


@pytest.mark.parametrize("make, message", [
    (lambda: SentimentConfig(units=1_000_000_000), "units must be <= 65,536"),
    (lambda: SentimentConfig(embedding_dim=65_537), "embedding_dim must be <= 65,536"),
    (lambda: SentimentConfig(layers=17), "layers must be <= 16"),
    (lambda: NERConfig(char_units=70_000), "char_units must be <= 65,536"),
    (lambda: NERConfig(char_units=-1), "char_units must be >= 0"),
    (lambda: LanguageModelConfig(seed=2**32), "seed must be <= 4,294,967,295"),
    (lambda: LanguageModelConfig(seed=-1), "seed must be >= 0"),
    (lambda: MusicConfig(epochs=10**7), "epochs must be <= 1,000,000"),
    (lambda: MusicConfig(steps_per_quarter=97), "steps_per_quarter must be <= 96"),
])
def test_configs_refuse_sizes_above_their_bounds(make, message):
    with pytest.raises(UserError, match=message):
        make()


def test_the_largest_allowed_values_are_accepted():
    assert SentimentConfig(units=65_536, layers=16, seed=MAX_SEED).units == 65_536


def test_parameter_estimate_refused_above_the_bound_with_the_figure():
    count = recurrent_parameters(65_536, 128, 16, 2)
    assert count > MAX_PARAMETERS
    with pytest.raises(UserError, match=r"about [\d,]+ weights \([\d,.]+ GiB as float32\)"):
        check_parameters(count)
    check_parameters(recurrent_parameters(512, 64, 2))  # a usual model passes


@pytest.mark.parametrize("seed", [2**32, -1, True, 1.5])
def test_set_seed_refuses_seeds_numpy_cannot_take(seed):
    with pytest.raises(UserError, match="seed must be an integer from 0 to 4294967295"):
        set_seed(seed)


def test_beam_width_is_bounded():
    with pytest.raises(UserError, match="beam width must be <= 1,000"):
        check_options(beam=10**9)


@pytest.mark.parametrize("options", [dict(beam=2, top_k=3), dict(beam=2, top_p=0.9)])
def test_beam_search_with_top_k_or_top_p_is_refused(options):
    with pytest.raises(UserError, match="beam search samples nothing"):
        check_options(**options)
