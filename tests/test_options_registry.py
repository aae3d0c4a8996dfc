"""``-o`` options, the component registry, and the generation settings / batching / seeding helpers."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from arctl.errors import ArctlError, PluginError, UsageError
from arctl.generation import (
    MAX_SEED,
    SamplingSettings,
    batch_seed,
    plan,
    resolve_settings,
)
from arctl.conditions import check_conditions
from arctl.options import Option, parse_options, split_assignments
from arctl.plugins import PluginManager
from arctl.registry import (
    AcceleratorSpec,
    CFGScheduleSpec,
    Checkpoint,
    ComponentSpec,
    GeneratorSpec,
    ModelRef,
    Registry,
    SamplerSpec,
    SamplingDefaults,
    TokenizerSpec,
    WeightFile,
)
from arctl.sampling import IntervalCFG, TopK

FACTORY = "arctl.sampling:GreedySampler"


def ckpt(name: str) -> Checkpoint:
    return Checkpoint(name, f"checkpoint {name}", {"model": WeightFile("org/repo", f"{name}.safetensors")})


def generator(name: str = "gen", **kwargs) -> GeneratorSpec:
    kwargs.setdefault("num_classes", 10)
    return GeneratorSpec(name, "A test generator.", FACTORY, **kwargs)


@pytest.fixture
def builtin_registry() -> Registry:
    return PluginManager(entry_points=False).registry


# --- Option.parse ------------------------------------------------------------------------------


def test_option_parse_int_float_str():
    assert Option("steps", int).parse("12") == 12
    assert Option("steps", int).parse(" -3 ") == -3
    assert Option("scale", float).parse("0.25") == 0.25
    assert Option("scale", float).parse("1e-3") == 1e-3
    assert Option("scale", float).parse("2") == 2.0
    assert isinstance(Option("scale", float).parse("2"), float)
    assert Option("mode", str).parse("fast") == "fast"
    assert Option("mode").parse(" a=b ") == "a=b"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True), ("TRUE", True), ("True", True), ("yes", True), ("YES", True), ("1", True), ("on", True),
        ("false", False), ("False", False), ("no", False), ("No", False), ("0", False), ("off", False),
        (" yes ", True),
    ],
)
def test_option_parse_bool(text, value):
    assert Option("flag", bool).parse(text) is value


@pytest.mark.parametrize(
    ("option", "text", "expected"),
    [
        (Option("steps", int), "1.5", "expected int"),
        (Option("steps", int), "ten", "expected int"),
        (Option("steps", int), "", "expected int"),
        (Option("scale", float), "abc", "expected float"),
        (Option("flag", bool), "maybe", "expected bool"),
        (Option("flag", bool), "2", "expected bool"),
        (Option("flag", bool), "", "expected bool"),
    ],
)
def test_option_parse_bad_values(option, text, expected):
    with pytest.raises(UsageError) as info:
        option.parse(text)
    message = str(info.value)
    assert info.value.exit_code == 2
    assert f"option {option.name}=" in message
    assert repr(text) in message
    assert expected in message


def test_option_choices():
    opt = Option("mode", str, "a", choices=("a", "b"))
    assert opt.parse("b") == "b"
    with pytest.raises(UsageError) as info:
        opt.parse("c")
    assert info.value.exit_code == 2
    assert "mode" in str(info.value) and "must be one of a, b" in str(info.value)
    number = Option("n", int, 1, choices=(1, 2, 4))
    assert number.parse("4") == 4
    with pytest.raises(UsageError, match="must be one of 1, 2, 4"):
        number.parse("3")


def test_option_min_max():
    opt = Option("cutoff", float, 1.0, min=0.0, max=1.0)
    assert opt.parse("0") == 0.0
    assert opt.parse("1") == 1.0
    assert opt.parse("0.5") == 0.5
    with pytest.raises(UsageError, match=r"option cutoff=-0.1: must be >= 0.0") as info:
        opt.parse("-0.1")
    assert info.value.exit_code == 2
    with pytest.raises(UsageError, match=r"option cutoff=1.5: must be <= 1.0"):
        opt.parse("1.5")
    steps = Option("steps", int, 8, min=1)
    assert steps.parse("1") == 1
    with pytest.raises(UsageError, match="steps"):
        steps.parse("0")


def test_option_range_rejects_nan():
    # NaN compares False with everything, so "value < min" / "value > max" let it through a declared range.
    with pytest.raises(UsageError, match="cutoff"):
        Option("cutoff", float, 1.0, min=0.0, max=1.0).parse("nan")


def test_option_rejects_unsupported_types():
    with pytest.raises(ValueError, match="type must be one of"):
        Option("x", list)


def test_option_describe():
    assert Option("n", int, 3, "how many", min=1, max=9).describe() == {
        "name": "n", "type": "int", "default": 3, "help": "how many", "choices": None, "min": 1, "max": 9,
    }


# --- split_assignments / parse_options ----------------------------------------------------------


def test_split_assignments():
    assert split_assignments(["a=1", "b=x"]) == {"a": "1", "b": "x"}
    assert split_assignments(["expr=a=b=c"]) == {"expr": "a=b=c"}
    assert split_assignments(["empty="]) == {"empty": ""}
    assert split_assignments([" k =v"]) == {"k": "v"}
    assert split_assignments([]) == {}


@pytest.mark.parametrize("pair", ["novalue", "=1", " =1", ""])
def test_split_assignments_malformed(pair):
    with pytest.raises(UsageError, match="expected KEY=VALUE") as info:
        split_assignments([pair])
    assert info.value.exit_code == 2


def test_split_assignments_repeated_key():
    with pytest.raises(UsageError, match="-o a: given more than once") as info:
        split_assignments(["a=1", "b=2", "a=3"])
    assert info.value.exit_code == 2


def test_parse_options_defaults_and_values():
    declared = [Option("n", int, 3), Option("scale", float, 0.5), Option("flag", bool, False), Option("name", str)]
    assert parse_options({}, declared, owner="x") == {"n": 3, "scale": 0.5, "flag": False, "name": None}
    assert parse_options({"n": "7", "flag": "yes"}, declared, owner="x") == {
        "n": 7, "scale": 0.5, "flag": True, "name": None,
    }
    assert parse_options({}, [], owner="x") == {}


def test_parse_options_unknown_key_lists_valid_options():
    declared = [Option("beta", int, 1), Option("alpha", float, 0.0)]
    with pytest.raises(UsageError) as info:
        parse_options({"gamma": "1", "alpha": "2"}, declared, owner="sampler foo")
    message = str(info.value)
    assert "'gamma'" in message and "sampler foo" in message
    assert "valid options: alpha, beta" in message
    with pytest.raises(UsageError, match=r"valid options: none"):
        parse_options({"x": "1"}, [], owner="thing")


def test_parse_options_bad_value():
    with pytest.raises(UsageError, match="option n='x': expected int"):
        parse_options({"n": "x"}, [Option("n", int, 1)], owner="o")


# --- spec validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Foo", "my sampler", "", "-lead", "_x", "a/b", "été"])
def test_bad_names_are_rejected(name):
    with pytest.raises(PluginError, match="must match"):
        Registry().add(SamplerSpec(name, "A sampler.", FACTORY))


@pytest.mark.parametrize("name", ["a", "my-sampler", "v2.1_x", "0day"])
def test_good_names_are_accepted(name):
    registry = Registry()
    registry.add(SamplerSpec(name, "A sampler.", FACTORY))
    assert registry.names("sampler") == [name]


@pytest.mark.parametrize("description", ["two\nlines", "", "   ", None])
def test_description_must_be_one_non_empty_line(description):
    with pytest.raises(PluginError, match="description must be one non-empty line"):
        Registry().add(SamplerSpec("s", description, FACTORY))


@pytest.mark.parametrize("factory", ["arctl.sampling.GreedySampler", "arctl.sampling:", ":GreedySampler", "", 42])
def test_bad_factories_are_rejected(factory):
    with pytest.raises(PluginError, match="factory"):
        Registry().add(SamplerSpec("s", "A sampler.", factory))


def test_callable_factory_is_accepted_and_loaded():
    def build():
        return "built"

    spec = SamplerSpec("s", "A sampler.", build)
    Registry().add(spec)
    assert spec.load() is build


@pytest.mark.parametrize("num_classes", [None, 0, -5, 2.5])
def test_class_conditional_generator_needs_num_classes(num_classes):
    with pytest.raises(PluginError, match="num_classes"):
        Registry().add(GeneratorSpec("gen", "A generator.", FACTORY, conditioning="class", num_classes=num_classes))


def test_generator_conditioning_must_be_known():
    with pytest.raises(PluginError, match="conditioning"):
        Registry().add(generator(conditioning="image"))
    registry = Registry()
    registry.add(GeneratorSpec("t2i", "Text.", FACTORY, conditioning="text"))
    registry.add(GeneratorSpec("uncond", "Unconditional.", FACTORY, conditioning="none"))
    assert registry.names("generator") == ["t2i", "uncond"]


def test_checkpoint_validation():
    with pytest.raises(PluginError, match="must match"):
        Registry().add(generator(checkpoints=(ckpt("Bad Name"),)))
    with pytest.raises(PluginError, match="lists no files"):
        Registry().add(generator(checkpoints=(Checkpoint("empty", "Empty.", {}),)))
    bad_container = Checkpoint("c", "C.", {"model": WeightFile("o/r", "f.pt", container="weights")})
    with pytest.raises(PluginError, match="container must be one of"):
        Registry().add(generator(checkpoints=(bad_container,)))
    with pytest.raises(PluginError, match="Checkpoint objects"):
        Registry().add(TokenizerSpec("tok", "T.", FACTORY, checkpoints=("not-a-checkpoint",)))


# --- collisions and merging ---------------------------------------------------------------------


def test_same_kind_and_name_collision_names_both_plugins():
    spec = SamplerSpec("dup", "A sampler.", FACTORY)
    registry = Registry()
    registry.add(dataclasses.replace(spec, plugin="a"))
    with pytest.raises(PluginError) as info:
        registry.add(dataclasses.replace(spec, plugin="b"))
    message = str(info.value)
    assert "sampler 'dup'" in message
    assert "plugin 'a'" in message and "plugin 'b'" in message
    assert registry.get("sampler", "dup").plugin == "a"


def test_same_name_different_kind_is_fine():
    registry = Registry()
    registry.add(SamplerSpec("same", "A sampler.", FACTORY, plugin="a"))
    registry.add(CFGScheduleSpec("same", "A schedule.", FACTORY, plugin="b"))
    registry.add(AcceleratorSpec("same", "A device.", FACTORY, plugin="c"))
    assert registry.get("sampler", "same").plugin == "a"
    assert registry.get("cfg_schedule", "same").plugin == "b"
    assert registry.get("accelerator", "same").plugin == "c"


def test_checkpoint_name_collision_across_generators():
    registry = Registry()
    registry.add(generator("one", checkpoints=(ckpt("shared"), ckpt("only-one")), plugin="a"))
    with pytest.raises(PluginError) as info:
        registry.add(generator("two", checkpoints=(ckpt("shared"),), plugin="b"))
    message = str(info.value)
    assert "checkpoint 'shared'" in message
    assert "plugin 'a'" in message and "plugin 'b'" in message
    # Nothing of the rejected generator was registered.
    assert registry.names("generator") == ["one"]
    assert registry.model("shared").owner.name == "one"


def test_checkpoint_collision_between_generator_and_tokenizer():
    registry = Registry()
    registry.add(TokenizerSpec("tok", "A tokenizer.", FACTORY, checkpoints=(ckpt("vq"),), plugin="a"))
    with pytest.raises(PluginError, match="checkpoint 'vq' is registered by both plugin 'a' and plugin 'b'"):
        registry.add(generator("gen", checkpoints=(ckpt("vq"),), plugin="b"))


def test_merge_adds_everything():
    registry = Registry()
    registry.add(SamplerSpec("keep", "Kept.", FACTORY))
    other = Registry()
    other.add(SamplerSpec("new", "New.", FACTORY))
    other.add(generator("gen", checkpoints=(ckpt("gen-ckpt"),)))
    registry.merge(other)
    assert registry.names("sampler") == ["keep", "new"]
    assert registry.names("generator") == ["gen"]
    assert registry.model("gen-ckpt").owner.name == "gen"


def test_merge_is_all_or_nothing():
    registry = Registry()
    registry.add(SamplerSpec("taken", "Existing.", FACTORY, plugin="first"))
    registry.add(generator("old-gen", checkpoints=(ckpt("old-ckpt"),), plugin="first"))
    before_all = registry.all()
    before_ckpts = registry.checkpoints()

    other = Registry()
    # The tokenizer and the generator are added (tokenizers come first), then the sampler collides.
    other.add(TokenizerSpec("new-tok", "New tokenizer.", FACTORY, checkpoints=(ckpt("new-vq"),), plugin="second"))
    other.add(generator("new-gen", checkpoints=(ckpt("new-ckpt"),), plugin="second"))
    other.add(SamplerSpec("fresh", "Fresh.", FACTORY, plugin="second"))
    other.add(SamplerSpec("taken", "Colliding.", FACTORY, plugin="second"))
    with pytest.raises(PluginError, match="plugin 'first' and plugin 'second'"):
        registry.merge(other)

    assert registry.all() == before_all
    assert registry.checkpoints() == before_ckpts
    assert registry.names("tokenizer") == []
    assert registry.names("generator") == ["old-gen"]
    assert registry.names("sampler") == ["taken"]
    assert registry.get("sampler", "taken").description == "Existing."
    with pytest.raises(UsageError):
        registry.model("new-ckpt")
    with pytest.raises(UsageError):
        registry.model("new-vq")


def test_copy_is_independent():
    registry = Registry()
    registry.add(SamplerSpec("a", "A.", FACTORY))
    clone = registry.copy()
    clone.add(SamplerSpec("b", "B.", FACTORY))
    clone.add(generator("g", checkpoints=(ckpt("g1"),)))
    assert registry.names("sampler") == ["a"]
    assert registry.checkpoints() == []
    assert clone.names("sampler") == ["a", "b"]


# --- lookups ------------------------------------------------------------------------------------


def test_model_lookup():
    registry = Registry()
    first, second = ckpt("gen-small"), ckpt("gen-large")
    registry.add(generator("gen", checkpoints=(first, second), plugin="p"))
    registry.add(TokenizerSpec("tok", "A tokenizer.", FACTORY, checkpoints=(ckpt("tok-v1"),), plugin="p"))

    by_ckpt = registry.model("gen-large")
    assert isinstance(by_ckpt, ModelRef)
    assert by_ckpt.owner.name == "gen" and by_ckpt.checkpoint is second
    by_name = registry.model("gen")
    assert by_name.owner.name == "gen" and by_name.checkpoint is first
    assert registry.model("tok").checkpoint.name == "tok-v1"
    assert [ref.checkpoint.name for ref in registry.checkpoints()] == ["gen-small", "gen-large", "tok-v1"]


def test_unknown_model_lists_known_names():
    registry = Registry()
    registry.add(generator("gen", checkpoints=(ckpt("gen-b"), ckpt("gen-a"))))
    registry.add(generator("bare"))  # no checkpoints: not a model
    with pytest.raises(UsageError) as info:
        registry.model("nope")
    message = str(info.value)
    assert info.value.exit_code == 2
    assert "unknown model 'nope'" in message
    assert "known: gen-a, gen-b" in message
    with pytest.raises(UsageError, match="unknown model 'bare'"):
        registry.model("bare")
    with pytest.raises(UsageError, match=r"known: none registered"):
        Registry().model("x")


def test_get_unknown_component_lists_known(builtin_registry):
    with pytest.raises(UsageError, match=r"unknown sampler 'top' \(known: greedy, multinomial\)"):
        builtin_registry.get("sampler", "top")
    with pytest.raises(UsageError, match=r"unknown cfg schedule 'x' \(known: constant, half-linear, interval, linear\)"):
        builtin_registry.get("cfg_schedule", "x")
    with pytest.raises(UsageError, match="none registered"):
        builtin_registry.get("eraser", "x")


def test_builtins_are_registered(builtin_registry):
    assert builtin_registry.names("accelerator") == ["cpu", "cuda", "mps"]
    assert builtin_registry.names("sampler") == ["greedy", "multinomial"]
    assert builtin_registry.names("cfg_schedule") == ["constant", "half-linear", "interval", "linear"]
    assert builtin_registry.get("sampler", "multinomial").plugin == "arctl.builtins"


# --- ComponentSpec.load --------------------------------------------------------------------------


def test_load_resolves_import_strings():
    assert SamplerSpec("k", "K.", "arctl.sampling:TopK").load() is TopK
    assert SamplerSpec("k", "K.", "arctl.sampling:TopK.__call__").load() is TopK.__call__
    assert ComponentSpec("c", "C.", "arctl.errors:UsageError").load() is UsageError


@pytest.mark.parametrize("factory", ["arctl.no_such_module:Thing", "arctl.sampling:NoSuchThing", "no_pkg_xyz.mod:X"])
def test_load_bad_import_string(factory):
    spec = SamplerSpec("broken", "Broken.", factory, plugin="pl")
    with pytest.raises(PluginError) as info:
        spec.load()
    message = str(info.value)
    assert "sampler 'broken'" in message and "plugin pl" in message and repr(factory) in message
    assert info.value.exit_code == 1


# --- resolve_settings ---------------------------------------------------------------------------

DEFAULTS = SamplingDefaults(cfg=4.0, cfg_schedule="linear", top_k=600, top_p=0.9, temperature=0.8, sampler="multinomial")


@pytest.fixture
def settings_registry(builtin_registry) -> Registry:
    builtin_registry.add(
        SamplerSpec("custom", "A sampler with options.", FACTORY, options=(Option("eta", float, 0.5, min=0.0),))
    )
    return builtin_registry


@pytest.fixture
def gen_spec() -> GeneratorSpec:
    return generator(
        "var-like",
        sampling=DEFAULTS,
        options=(Option("patch", int, 8, min=1), Option("more_smooth", bool, False)),
    )


def test_resolve_settings_fills_the_generators_defaults(settings_registry, gen_spec):
    settings = resolve_settings(settings_registry, gen_spec)
    assert settings.sampling == SamplingSettings(
        sampler="multinomial", cfg=4.0, cfg_schedule="linear", top_k=600, top_p=0.9, temperature=0.8
    )
    assert settings.generator_options == {"patch": 8, "more_smooth": False}
    assert settings.sampler_options == {}
    assert settings.schedule_options == {}


def test_resolve_settings_explicit_values_win(settings_registry, gen_spec):
    settings = resolve_settings(
        settings_registry, gen_spec, sampler="greedy", cfg=0, cfg_schedule="constant", top_k=0, top_p=1, temperature=2
    )
    assert settings.sampling == SamplingSettings(
        sampler="greedy", cfg=0.0, cfg_schedule="constant", top_k=0, top_p=1.0, temperature=2.0
    )
    assert isinstance(settings.sampling.cfg, float) and isinstance(settings.sampling.top_k, int)


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"top_p": 0}, "--top-p"),
        ({"top_p": 0.0}, "--top-p"),
        ({"top_p": -0.5}, "--top-p"),
        ({"top_p": 1.01}, "--top-p"),
        ({"top_p": float("nan")}, "--top-p"),
        ({"temperature": 0}, "--temperature"),
        ({"temperature": -1.0}, "--temperature"),
        ({"top_k": -1}, "--top-k"),
        ({"cfg": -0.5}, "--cfg"),
    ],
)
def test_resolve_settings_rejects_bad_values(settings_registry, gen_spec, kwargs, flag):
    with pytest.raises(UsageError) as info:
        resolve_settings(settings_registry, gen_spec, **kwargs)
    assert info.value.exit_code == 2
    assert str(info.value).startswith(flag)


@pytest.mark.parametrize(("kwargs", "flag"), [({"cfg": float("nan")}, "--cfg"), ({"temperature": float("nan")}, "--temperature")])
def test_resolve_settings_rejects_nan(settings_registry, gen_spec, kwargs, flag):
    # --top-p nan is already rejected ("0 < nan <= 1" is False); --cfg / --temperature nan must be too.
    with pytest.raises(UsageError) as info:
        resolve_settings(settings_registry, gen_spec, **kwargs)
    assert str(info.value).startswith(flag)


def test_resolve_settings_rejects_bad_generator_defaults(settings_registry):
    spec = generator(sampling=SamplingDefaults(top_p=0.0))
    with pytest.raises(UsageError, match="--top-p"):
        resolve_settings(settings_registry, spec)


def test_resolve_settings_unknown_sampler_and_schedule(settings_registry, gen_spec):
    with pytest.raises(UsageError, match=r"unknown sampler 'beam' \(known: custom, greedy, multinomial\)") as info:
        resolve_settings(settings_registry, gen_spec, sampler="beam")
    assert info.value.exit_code == 2
    with pytest.raises(UsageError, match=r"unknown cfg schedule 'cosine' \(known: constant, half-linear, interval, linear\)"):
        resolve_settings(settings_registry, gen_spec, cfg_schedule="cosine")


def test_resolve_settings_routes_options(settings_registry, gen_spec):
    settings = resolve_settings(
        settings_registry,
        gen_spec,
        sampler="custom",
        cfg_schedule="interval",
        options={"cfg_cutoff": "0.5", "patch": "4", "eta": "0.25", "more_smooth": "yes"},
    )
    assert settings.schedule_options == {"cfg_cutoff": 0.5}
    assert settings.generator_options == {"patch": 4, "more_smooth": True}
    assert settings.sampler_options == {"eta": 0.25}
    assert settings.options() == {"cfg_cutoff": 0.5, "eta": 0.25, "patch": 4, "more_smooth": True}
    # Defaults fill in when not given, per owner.
    defaults = resolve_settings(settings_registry, gen_spec, sampler="custom", cfg_schedule="interval")
    assert defaults.schedule_options == {"cfg_cutoff": 1.0}
    assert defaults.sampler_options == {"eta": 0.5}
    # The routed options build the schedule the run uses.
    schedule = settings_registry.get("cfg_schedule", "interval").load()(4.0, **settings.schedule_options)
    assert isinstance(schedule, IntervalCFG) and schedule.cutoff == 0.5


def test_resolve_settings_validates_routed_values(settings_registry, gen_spec):
    with pytest.raises(UsageError, match="option cfg_cutoff=1.5: must be <= 1.0"):
        resolve_settings(settings_registry, gen_spec, cfg_schedule="interval", options={"cfg_cutoff": "1.5"})
    with pytest.raises(UsageError, match="option patch='big': expected int"):
        resolve_settings(settings_registry, gen_spec, options={"patch": "big"})


def test_resolve_settings_rejects_unknown_options(settings_registry, gen_spec):
    # cfg_cutoff belongs to the interval schedule only.
    with pytest.raises(UsageError) as info:
        resolve_settings(settings_registry, gen_spec, cfg_schedule="constant", options={"cfg_cutoff": "0.5"})
    message = str(info.value)
    assert info.value.exit_code == 2
    assert "unknown option 'cfg_cutoff' for var-like" in message
    assert "valid options here: more_smooth, patch" in message
    with pytest.raises(UsageError, match=r"valid options here: cfg_cutoff, eta, more_smooth, patch"):
        resolve_settings(settings_registry, gen_spec, sampler="custom", cfg_schedule="interval", options={"zeta": "1"})
    with pytest.raises(UsageError, match=r"valid options here: none"):
        resolve_settings(settings_registry, generator(), options={"patch": "1"})


# --- batch_seed / plan / check_conditions ----------------------------------------------------------


def test_batch_seed():
    assert batch_seed(0, 0) == batch_seed(0, 0)
    assert batch_seed(1234, 5) == batch_seed(1234, 5)
    seeds = {batch_seed(seed, index) for seed in range(20) for index in range(20)}
    assert len(seeds) == 400
    assert batch_seed(1, 0) != batch_seed(0, 1)
    assert all(0 <= s < 2**63 for s in seeds)
    assert 0 <= batch_seed(MAX_SEED, 10**6) <= MAX_SEED
    # Uses the whole 63-bit range rather than a small one.
    assert max(seeds) > 2**62


def test_batch_seed_is_stable_across_releases():
    import hashlib

    expected = int.from_bytes(hashlib.sha256(b"arctl:42:3").digest()[:8], "little") >> 1
    assert batch_seed(42, 3) == expected


def test_plan():
    batches = plan([3, 7], 3, 4)
    assert list(batches) == [[(0, 3), (1, 3), (2, 3), (3, 7)], [(4, 7), (5, 7)]]
    assert len(batches) == 2 and batches.images == 6 and batches[1] == [(4, 7), (5, 7)]
    assert list(plan(["a", "b", "c"], 1, 8)) == [[(0, "a"), (1, "b"), (2, "c")]]
    assert list(plan([None], 5, 2)) == [[(0, None), (1, None)], [(2, None), (3, None)], [(4, None)]]
    assert list(plan([1, 2], 2, 1)) == [[(0, 1)], [(1, 1)], [(2, 2)], [(3, 2)]]
    assert list(plan([9], 4, 4)) == [[(0, 9), (1, 9), (2, 9), (3, 9)]]
    with pytest.raises(IndexError):
        batches[2]


def values(conditions):
    return [c.value for c in conditions]


def test_check_conditions_class():
    spec = generator(num_classes=10)
    assert values(check_conditions(spec, [0, 9, 3], None)) == [0, 9, 3]
    for bad in (10, -1, 1000):
        with pytest.raises(UsageError, match=rf"--class {bad}: out of range for gen \(0..9\)"):
            check_conditions(spec, [1, bad], None)
    with pytest.raises(UsageError, match="class-conditional: use --class, not --prompt") as info:
        check_conditions(spec, [1], ["a cat"])
    assert info.value.exit_code == 2
    with pytest.raises(UsageError, match=r"give at least one --class \(0..9\)"):
        check_conditions(spec, [], None)


def test_check_conditions_text():
    spec = GeneratorSpec("t2i", "Text.", FACTORY, conditioning="text")
    assert values(check_conditions(spec, None, ["a cat", "a dog"])) == ["a cat", "a dog"]
    for prompts in ([], [""], ["a cat", "   "], None):
        with pytest.raises(UsageError, match="non-empty --prompt"):
            check_conditions(spec, None, prompts)
    with pytest.raises(UsageError, match="text-conditional: use --prompt, not --class"):
        check_conditions(spec, [3], ["a cat"])


def test_check_conditions_unconditional():
    spec = GeneratorSpec("uncond", "Unconditional.", FACTORY, conditioning="none")
    assert values(check_conditions(spec, None, None)) == [None]
    assert values(check_conditions(spec, [], [])) == [None]
    with pytest.raises(UsageError, match="unconditional"):
        check_conditions(spec, [0], None)
    with pytest.raises(UsageError, match="unconditional"):
        check_conditions(spec, None, ["a cat"])


def test_errors_are_arctl_errors():
    assert issubclass(UsageError, ArctlError) and UsageError.exit_code == 2
    assert issubclass(PluginError, ArctlError) and PluginError.exit_code == 1


# --- an option's default is declared once, in its Option -------------------------------------------

# components whose factory receives the parsed -o options as keyword arguments (generators get theirs in the batch)
OPTION_KINDS = ("sampler", "cfg_schedule", "watermarker", "eraser")


def restated_defaults(spec) -> list[str]:
    """Declared options the factory gives a default of its own, takes positionally, or cannot receive at all."""
    parameters = inspect.signature(spec.load()).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    problems = []
    for option in spec.options:
        parameter, where = parameters.get(option.name), f"{spec.kind} {spec.name!r}: {option.name}"
        if parameter is None and not takes_any:
            problems.append(f"{where} is no parameter of the factory")
        elif parameter is not None and parameter.default is not parameter.empty:
            problems.append(f"{where}={parameter.default!r} in the factory restates Option default {option.default!r}")
        elif parameter is not None and parameter.kind is not parameter.KEYWORD_ONLY:
            problems.append(f"{where} must be keyword-only (the core passes options by name)")
    return problems


def test_the_check_finds_restated_defaults():
    # factories whose signatures only are read
    def restates(temperature, top_k, top_p, *, eta=0.5): ...

    def positional(temperature, top_k, top_p, eta): ...

    def declared_once(temperature, top_k, top_p, *, eta): ...

    eta = (Option("eta", float, 0.5),)
    assert restated_defaults(SamplerSpec("s", "S.", restates, options=eta)) == [
        "sampler 's': eta=0.5 in the factory restates Option default 0.5"]
    assert restated_defaults(SamplerSpec("s", "S.", positional, options=eta)) == [
        "sampler 's': eta must be keyword-only (the core passes options by name)"]
    assert restated_defaults(SamplerSpec("s", "S.", declared_once, options=eta)) == []
    assert restated_defaults(SamplerSpec("s", "S.", declared_once, options=(Option("zeta", int, 1),))) == [
        "sampler 's': zeta is no parameter of the factory"]


def test_no_installed_component_restates_an_options_default():
    registry = PluginManager().registry  # the core and every installed plugin
    specs = [spec for kind in OPTION_KINDS for spec in registry.all(kind) if spec.options]
    assert {("cfg_schedule", "interval"), ("sampler", "disa"), ("watermarker", "lbw")} <= {
        (spec.kind, spec.name) for spec in specs}
    problems = [problem for spec in specs for problem in restated_defaults(spec)]
    assert not problems, "\n".join(problems)
