"""The generator contract kit (``arctl.testing.GeneratorContract``) on the shipped zoo: trained weights, and each
model's zoo defaults (mar-shapes samples with DiSA, so the kit also watches DiSA drive MAR's diffusion head)."""

import pytest

import arctl_disa
import arctl_llamagen
import arctl_mar
import arctl_nar
import arctl_shapes
import arctl_var
from arctl.testing import GeneratorContract


class ZooContract(GeneratorContract):
    @pytest.fixture
    def contract_manager(self, make_plugin_manager):
        return make_plugin_manager(arctl_var, arctl_llamagen, arctl_nar, arctl_mar, arctl_disa, arctl_shapes,
                                   strict=True)


class TestVARShapesContract(ZooContract):
    model = "var-shapes"
    family = "token"


class TestLlamaGenShapesContract(ZooContract):
    model = "llamagen-shapes"
    family = "token"


class TestNARShapesContract(ZooContract):
    model = "nar-shapes"
    family = "token"


class TestMARShapesContract(ZooContract):
    model = "mar-shapes"
    family = "diffusion-head"
    options = {"num_iter": 8}
    diffusion_head = "mar.diffloss.net.input_proj"
