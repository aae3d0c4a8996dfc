"""The generator contract kit (``arctl.testing.GeneratorContract``) on the tiny mar-b, with few iterations."""

import pytest

from arctl.testing import GeneratorContract


class TestMARContract(GeneratorContract):
    model = "mar-b"
    family = "diffusion-head"
    options = {"num_iter": 4, "num_sampling_steps": 4}
    diffusion_head = "mar.diffloss.net.input_proj"  # called once per denoising step, also under guidance

    @pytest.fixture
    def contract_manager(self, mar_manager):
        return mar_manager
