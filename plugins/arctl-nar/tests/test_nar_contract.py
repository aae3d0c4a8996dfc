"""The generator contract kit (``arctl.testing.GeneratorContract``) on the tiny nar-b."""

import pytest

from arctl.testing import GeneratorContract


class TestNARContract(GeneratorContract):
    model = "nar-b"
    family = "token"

    @pytest.fixture
    def contract_manager(self, manager):
        return manager
