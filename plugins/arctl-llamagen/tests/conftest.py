"""The tiny llamagen-b in the official formats (``{"model": ...}`` pickles) in an offline Hub cache."""

import pytest

import arctl_llamagen
from arctl.testing import spec_plugin
from arctl_llamagen.gpt import GPT
from arctl_llamagen.testing import random_state_dicts, tiny_generator


@pytest.fixture
def manager(make_plugin_manager):
    return make_plugin_manager(spec_plugin(tiny_generator(arctl_llamagen.LLAMAGEN_GENERATOR)), strict=True,
                               weights={"llamagen-b": lambda checkpoint: random_state_dicts(checkpoint, GPT)})
