"""The generator contract kit (``arctl.testing.GeneratorContract``) on the tiny VAR."""

import pytest

from arctl.testing import GeneratorContract


class TestVARContract(GeneratorContract):
    model = "var-tiny"
    family = "token"

    @pytest.fixture
    def contract_manager(self, var_manager, tiny_var):
        return var_manager
