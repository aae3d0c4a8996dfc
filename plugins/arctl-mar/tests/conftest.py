"""A tiny random-weight MAR + KL VAE saved under the official file names in an offline Hub cache."""

import arctl_mar
import pytest
from arctl_mar.testing import random_state_dicts, tiny_generator

from arctl.testing import spec_plugin


@pytest.fixture
def mar_manager(make_plugin_manager):
    return make_plugin_manager(spec_plugin(tiny_generator(arctl_mar.MAR_GENERATOR), arctl_mar.MASK_LINEAR_CFG),
                               strict=True, weights={"mar-b": random_state_dicts})
