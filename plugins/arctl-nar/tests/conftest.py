"""The tiny nar-b in an offline Hub cache, written as the official files are: ``{"model": state_dict}`` pickles
(the registered container "auto" reads them leniently, so the cache cannot take it from the checkpoint)."""

import pytest

import arctl_nar
from arctl.testing import spec_plugin
from arctl_llamagen.testing import random_state_dicts, tiny_generator
from arctl_nar.model import NARTransformer


@pytest.fixture
def manager(make_plugin_manager, hub_cache):
    pm = make_plugin_manager(spec_plugin(tiny_generator(arctl_nar.NAR_GENERATOR)), strict=True)
    states = random_state_dicts(pm.registry.model("nar-b").checkpoint, NARTransformer)
    hub_cache.add("chenfeng1271/NAR-imagenet-256-B", "last_version.pt", states["model"], container="model")
    hub_cache.add("FoundationVision/LlamaGen", "vq_ds16_c2i.pt", states["vq"], container="model")
    return pm
