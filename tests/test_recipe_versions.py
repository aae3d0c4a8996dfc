"""A recipe records the version of every plugin that decided its pixels, the one whose code runs included."""

from arctl.plugins import PluginManager
from arctl.recipes import versions


def test_the_plugin_whose_code_draws_is_recorded_next_to_the_one_that_registered():
    manager = PluginManager()
    zoo = manager.registry.model("var-shapes").owner  # registered by arctl-shapes, drawn by arctl-var's code
    found = versions(manager, zoo)
    assert found["shapes"] == manager.infos["shapes"].version and found["var"] == manager.infos["var"].version
    assert set(versions(manager, manager.registry.model("var-d16").owner)) == {"arctl", "torch", "var"}


def test_a_callable_factory_records_only_its_registering_plugin(toy_manager):
    spec = toy_manager.registry.model("toy-tiny").owner
    assert set(versions(toy_manager, spec)) - {"arctl", "torch"} <= {spec.plugin}
