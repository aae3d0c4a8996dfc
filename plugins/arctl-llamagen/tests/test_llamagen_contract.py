"""The generator contract kit (``arctl.testing.GeneratorContract``) on the tiny llamagen-b."""

import pytest

from arctl.testing import GeneratorContract


class TestLlamaGenContract(GeneratorContract):
    model = "llamagen-b"
    family = "token"

    @pytest.fixture
    def contract_manager(self, manager):
        return manager
