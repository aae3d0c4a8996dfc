"""Plugin discovery through entry points, failure isolation, strict mode, filtering and collisions."""

import json

import pytest

from arctl.errors import PluginError
from arctl.plugins import PluginManager

GOOD = """
    import typer
    import arctl
    from arctl import CommandSpec, GeneratorSpec

    @arctl.hookimpl
    def register_generators(register):
        register(GeneratorSpec("ep-gen", "A generator from an installed plugin.", "ep_good_mod:Nothing", num_classes=3))

    def hello_app():
        app = typer.Typer()

        @app.command()
        def greet(name: str = "world"):
            print(f"hello {name}")

        return app

    @arctl.hookimpl
    def register_commands(register):
        register(CommandSpec("hello", "Say hello.", hello_app))
"""

BROKEN_IMPORT = """
    raise ImportError("boom: a dependency is missing")
"""

MISSPELLED = """
    import arctl

    @arctl.hookimpl
    def register_generatorz(register):
        pass
"""

WRONG_KIND = """
    import arctl
    from arctl import SamplerSpec

    @arctl.hookimpl
    def register_generators(register):
        register(SamplerSpec("odd", "A sampler handed to the generator hook.", "x.y:z"))
"""

COLLIDES = """
    import arctl
    from arctl import GeneratorSpec, SamplerSpec

    @arctl.hookimpl
    def register_generators(register):
        register(GeneratorSpec("ep-gen", "Same name as ep-good's.", "x.y:z", num_classes=2))

    @arctl.hookimpl
    def register_samplers(register):
        register(SamplerSpec("collider-sampler", "Would be fine on its own.", "x.y:z"))
"""

BROKEN_COMMAND = """
    import arctl
    from arctl import CommandSpec

    def factory():
        raise RuntimeError("command factory exploded")

    @arctl.hookimpl
    def register_commands(register):
        register(CommandSpec("kaboom", "Breaks when built.", factory))
"""


def test_installed_plugin_is_discovered_with_version_hooks_and_components(install_plugin, arctl_cli, monkeypatch):
    install_plugin("ep-good", "ep_good_mod", GOOD, version="1.2.3")
    monkeypatch.setenv("ARCTL_LOAD_PLUGINS", "ep-good")
    result = arctl_cli.invoke(["plugins", "--json"])
    assert result.exit_code == 0, result.output
    [info] = json.loads(result.stdout)
    assert info["name"] == "ep-good"
    assert info["version"] == "1.2.3"
    assert info["package"] == "ep-good"
    assert info["hooks"] == ["register_commands", "register_generators"]
    assert info["components"] == {"generator": ["ep-gen"], "command": ["hello"]}
    assert info["error"] is None


def test_plugin_command_group_is_mounted(install_plugin, arctl_cli, monkeypatch):
    install_plugin("ep-good", "ep_good_mod", GOOD)
    monkeypatch.setenv("ARCTL_LOAD_PLUGINS", "ep-good")
    result = arctl_cli.invoke(["hello", "greet", "--name", "arctl"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "hello arctl"


def test_broken_plugin_is_reported_and_the_cli_keeps_working(install_plugin, arctl_cli, monkeypatch):
    install_plugin("ep-good", "ep_good_mod", GOOD)
    install_plugin("ep-broken", "ep_broken_mod", BROKEN_IMPORT)
    monkeypatch.setenv("ARCTL_LOAD_PLUGINS", "ep-good,ep-broken")
    listed = arctl_cli.invoke(["plugins", "--json"])
    assert listed.exit_code == 0, listed.output
    infos = {i["name"]: i for i in json.loads(listed.stdout)}
    assert infos["ep-broken"]["error"] == "ImportError: boom: a dependency is missing"
    assert infos["ep-good"]["error"] is None
    human = arctl_cli.invoke(["plugins"])
    assert "failed to load" in human.stdout and "boom" in human.stdout
    assert arctl_cli.invoke(["hello", "greet"]).exit_code == 0
    assert arctl_cli.invoke(["models", "--json"]).exit_code == 0


def test_strict_mode_makes_a_broken_plugin_fatal(install_plugin, arctl_cli, monkeypatch):
    install_plugin("ep-broken", "ep_broken_mod", BROKEN_IMPORT)
    monkeypatch.setenv("ARCTL_LOAD_PLUGINS", "ep-broken")
    result = arctl_cli.invoke(["plugins"], env={"ARCTL_STRICT_PLUGINS": "1"})
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: plugin 'ep-broken' failed to load: ImportError: boom: a dependency is missing"
    assert "Traceback" not in result.output


def test_load_plugins_limits_entry_points_and_empty_means_none(install_plugin, monkeypatch):
    install_plugin("ep-good", "ep_good_mod", GOOD)
    install_plugin("ep-broken", "ep_broken_mod", BROKEN_IMPORT)
    monkeypatch.setenv("ARCTL_LOAD_PLUGINS", "ep-good")
    names = set(PluginManager().infos)
    assert "ep-good" in names and "ep-broken" not in names
    monkeypatch.setenv("ARCTL_LOAD_PLUGINS", "")
    pm = PluginManager()
    assert [i.name for i in pm.infos.values()] == ["arctl.builtins"]
    assert "multinomial" in pm.registry.names("sampler")  # built-ins always load


def test_misspelled_hook_is_caught(install_plugin, monkeypatch):
    install_plugin("ep-typo", "ep_typo_mod", MISSPELLED)
    monkeypatch.setenv("ARCTL_LOAD_PLUGINS", "ep-typo")
    info = PluginManager().infos["ep-typo"]
    assert "register_generatorz" in info.error
    with pytest.raises(PluginError, match="register_generatorz"):
        PluginManager(strict=True)


def test_spec_of_the_wrong_kind_is_rejected(install_plugin, monkeypatch):
    install_plugin("ep-wrong", "ep_wrong_mod", WRONG_KIND)
    monkeypatch.setenv("ARCTL_LOAD_PLUGINS", "ep-wrong")
    pm = PluginManager()
    assert pm.infos["ep-wrong"].error == "register_generators got SamplerSpec; it takes GeneratorSpec"
    assert "odd" not in pm.registry.names("sampler")


def test_name_collision_names_both_plugins_and_keeps_the_first(install_plugin, monkeypatch):
    install_plugin("ep-good", "ep_good_mod", GOOD)
    install_plugin("ep-zcollide", "ep_collide_mod", COLLIDES)
    monkeypatch.setenv("ARCTL_LOAD_PLUGINS", "ep-good,ep-zcollide")
    pm = PluginManager()
    error = pm.infos["ep-zcollide"].error
    assert error == "generator 'ep-gen' is registered by both plugin 'ep-good' and plugin 'ep-zcollide'"
    assert pm.registry.get("generator", "ep-gen").plugin == "ep-good"
    # registration is all or nothing: the colliding plugin's other components are left out too
    assert "collider-sampler" not in pm.registry.names("sampler")
    with pytest.raises(PluginError, match="both plugin 'ep-good' and plugin 'ep-zcollide'"):
        PluginManager(strict=True)


def test_broken_command_factory_is_recorded_not_fatal(install_plugin, arctl_cli, monkeypatch):
    install_plugin("ep-kaboom", "ep_kaboom_mod", BROKEN_COMMAND)
    monkeypatch.setenv("ARCTL_LOAD_PLUGINS", "ep-kaboom")
    result = arctl_cli.invoke(["plugins", "--json"])
    assert result.exit_code == 0, result.output
    [info] = json.loads(result.stdout)
    assert "command factory exploded" in info["error"]
    assert arctl_cli.invoke(["kaboom"]).exit_code == 2  # not mounted: a usage error, not a crash


def test_plugins_filters_and_requirements(install_plugin, arctl_cli, monkeypatch):
    install_plugin("ep-good", "ep_good_mod", GOOD, version="0.4")
    install_plugin("ep-typo", "ep_typo_mod", MISSPELLED)
    monkeypatch.setenv("ARCTL_LOAD_PLUGINS", "ep-good,ep-typo")
    by_hook = json.loads(arctl_cli.invoke(["plugins", "--json", "--hook", "register_commands"]).stdout)
    assert [i["name"] for i in by_hook] == ["ep-good"]
    requirements = arctl_cli.invoke(["plugins", "--requirements"]).stdout.split()
    assert "ep-good==0.4" in requirements
    with_builtins = json.loads(arctl_cli.invoke(["plugins", "--json", "--all"]).stdout)
    builtin = next(i for i in with_builtins if i["name"] == "arctl.builtins")
    assert builtin["builtin"] is True
    assert set(builtin["components"]["accelerator"]) == {"cpu", "cuda", "mps"}
    assert set(builtin["components"]["cfg_schedule"]) == {"constant", "linear", "half-linear", "interval"}
    bad = arctl_cli.invoke(["plugins", "--hook", "register_everything"])
    assert bad.exit_code == 2 and "unknown hook" in bad.stderr


def test_plugin_objects_can_be_handed_in_directly(make_plugin_manager, toy_plugin):
    pm = make_plugin_manager(toy_plugin)
    assert pm.infos["arctl_toy"].components == {"tokenizer": ["palette"], "generator": ["toy"],
                                                 "eraser": ["toy-forget"]}
    assert {r.checkpoint.name for r in pm.registry.checkpoints()} == {"toy-tiny", "toy-tiny-pth"}
    assert pm.registry.get("generator", "toy").plugin == "arctl_toy"
