"""A tiny random-weight VAR + VQVAE saved under the official file names in an offline Hub cache."""

import pytest

import arctl_var
from arctl.testing import spec_plugin
from arctl_var.checkpoints import VAE_FILE
from arctl_var.testing import random_state_dicts, tiny_checkpoint, tiny_generator

TINY = tiny_checkpoint()


@pytest.fixture
def var_manager(make_plugin_manager):
    return make_plugin_manager(arctl_var, spec_plugin(tiny_generator(arctl_var.VAR_GENERATOR, TINY)), strict=True)


@pytest.fixture
def tiny_var(hub_cache):
    """The tiny model in the offline cache, as `torch.save(state_dict)` files like the official ones."""
    states = random_state_dicts(TINY)
    paths = hub_cache.add_checkpoint(TINY, states)
    assert {p.name for p in paths.values()} == {"var_d16.pth", VAE_FILE.filename}
    return states
