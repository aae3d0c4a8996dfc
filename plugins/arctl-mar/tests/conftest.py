"""A tiny random-weight MAR + KL VAE saved under the official file names in an offline Hub cache."""

import arctl_mar
import pytest
from arctl_mar.testing import random_state_dicts, tiny_generator

import arctl


class TinyMAR:
    @arctl.hookimpl
    def register_generators(self, register):
        register(tiny_generator(arctl_mar.MAR_GENERATOR))

    @arctl.hookimpl
    def register_samplers(self, register):
        register(arctl_mar.MASK_LINEAR_CFG)


@pytest.fixture
def mar_manager(make_plugin_manager, hub_cache):
    pm = make_plugin_manager(TinyMAR())
    checkpoint = pm.registry.model("mar-b").checkpoint
    states = random_state_dicts(checkpoint)
    paths = hub_cache.add_checkpoint(checkpoint, states)
    assert {p.name for p in paths.values()} == {"mar-base.safetensors", "kl16.safetensors"}
    pm.tiny_states = states
    return pm
