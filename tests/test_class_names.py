"""Class names: ImageNet's 1,000 in the core, a generator's names in `arctl models MODEL --options` and
`--classes`, and a class given by name wherever an id is taken (``check_conditions``)."""

import dataclasses
import importlib
import json
import subprocess
import sys

import pytest

from arctl import Checkpoint, GeneratorSpec, TokenizerSpec, WeightFile
from arctl.classes import class_id, class_names, imagenet_class_names
from arctl.conditions import check_conditions
from arctl.errors import PluginError, UsageError
from arctl.testing import spec_plugin

TEN = ("warm circle", "cool circle", "warm square", "cool square", "warm triangle", "cool triangle", "warm star",
       "cool star", "warm cross", "cool cross")
FILE = {"model": WeightFile("arctl-tests/named", "named.safetensors")}
TEN_SPEC = GeneratorSpec("ten", "Ten named classes.", "x.y:z", num_classes=10, class_names=TEN,
                         checkpoints=(Checkpoint("ten-model", "Ten named classes.", FILE),))
IMAGENET_SPEC = GeneratorSpec("inet", "ImageNet classes.", "x.y:z", num_classes=1000, class_names=imagenet_class_names,
                              checkpoints=(Checkpoint("inet-model", "ImageNet classes.", FILE),))
UNNAMED_SPEC = GeneratorSpec("unnamed", "Ids only.", "x.y:z", num_classes=4,
                             checkpoints=(Checkpoint("unnamed-model", "Ids only.", FILE),))
TOKENIZER = TokenizerSpec("tok", "A tokenizer.", "x.y:z", checkpoints=(Checkpoint("tok-model", "A tokenizer.", FILE),))


def test_imagenet_class_names_are_the_ilsvrc_synsets_by_id():
    names = imagenet_class_names()
    assert len(names) == 1000 and all(name.strip() == name and name for name in names)
    known = {0: "tench", 1: "goldfish", 88: "macaw", 207: "golden retriever", 296: "ice bear", 980: "volcano",
             999: "toilet tissue"}
    assert {i: names[i].split(",")[0] for i in known} == known
    assert names[1] == "goldfish, Carassius auratus"
    # the list itself names two classes "crane" (134 the bird, 517 the machine); every other line is unique
    assert len(set(names)) == 999 and names[134] == names[517] == "crane"


def test_the_names_are_read_on_first_use_only():
    """Registering the ImageNet plugins must not read the list (arctl --help stays fast)."""
    code = ("import arctl.classes, arctl.plugins; arctl.plugins.PluginManager(); "
            "print(arctl.classes.imagenet_class_names.cache_info().currsize)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "0\n"


@pytest.mark.parametrize("value, expected", [
    (3, 3), ("3", 3), (" 7 ", 7), ("cool square", 3), ("Cool  Square", 3), ("WARM CROSS", 8),
])
def test_a_class_is_an_id_a_digit_string_or_a_name(value, expected):
    assert class_id(TEN_SPEC, value) == expected


@pytest.mark.parametrize("value, expected", [
    ("goldfish", 1), ("Golden Retriever", 207), ("goldfish, Carassius auratus", 1), ("polar bear", 296),
    ("white shark", 2), ("maillot", 638), ("tank suit", 639), ("cardigan", 474), ("Cardigan Welsh corgi", 264),
])
def test_an_imagenet_class_is_its_whole_line_or_a_synonym_that_names_one_class(value, expected):
    assert class_id(IMAGENET_SPEC, value) == expected


@pytest.mark.parametrize("spec, value, message", [
    (TEN_SPEC, 10, "--class 10: out of range for ten (0..9)"),
    (TEN_SPEC, "-1", "--class -1: out of range for ten (0..9)"),
    (TEN_SPEC, "cool sqare", "--class 'cool sqare': no class of ten has that name; did you mean 'cool square' (3)"),
    (TEN_SPEC, "dragon", "--class 'dragon': no class of ten has that name; `arctl models ten --classes` lists them"),
    (IMAGENET_SPEC, "crane", "--class 'crane' names several classes of inet: 134 (crane), 517 (crane); give one of"),
    (IMAGENET_SPEC, "goldfsh", "did you mean 'goldfish' (1)"),
    (UNNAMED_SPEC, "cat", "--class 'cat': unnamed has no class names; give a class id (0..3)"),
])
def test_a_bad_class_is_a_one_line_usage_error(spec, value, message):
    with pytest.raises(UsageError) as caught:
        class_id(spec, value)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_check_conditions_takes_names_ids_and_digit_strings():
    conditions = check_conditions(TEN_SPEC, classes=["cool square", 0, "9"])
    assert [c.value for c in conditions] == [3, 0, 9]
    with pytest.raises(UsageError, match="out of range"):
        check_conditions(TEN_SPEC, classes=[12])


def test_names_that_do_not_match_num_classes_are_a_plugin_error():
    wrong = dataclasses.replace(TEN_SPEC, class_names=TEN[:9])
    with pytest.raises(PluginError, match="names 9 classes but has num_classes=10"):
        class_names(wrong)


@pytest.fixture
def named(make_plugin_manager):
    return make_plugin_manager(spec_plugin(TEN_SPEC, IMAGENET_SPEC, UNNAMED_SPEC, TOKENIZER), strict=True)


def test_models_options_lists_a_few_class_names_in_columns(arctl_cli, named, hub_cache):
    text = arctl_cli.invoke(["models", "ten-model", "--options"], manager=named, env={"COLUMNS": "80"}).stdout
    lines = text.splitlines()
    start = lines.index("classes:")
    assert lines[start + 1].split("   ")[:2] == ["0 warm circle", "2 warm square"]
    assert all(f"{i} {name}" in text for i, name in enumerate(TEN))
    info = json.loads(arctl_cli.invoke(["models", "ten-model", "--options", "--json"], manager=named).stdout)
    assert info["class_names"] == list(TEN)


def test_models_options_summarises_a_thousand_names_and_classes_lists_them(arctl_cli, named, hub_cache):
    text = arctl_cli.invoke(["models", "inet-model", "--options"], manager=named).stdout
    assert "classes: 0 tench, 1 goldfish, 2 great white shark, ..., 999 toilet tissue" in text
    assert "all 1000: `arctl models inet-model --classes`" in text
    listed = arctl_cli.invoke(["models", "inet-model", "--classes"], manager=named).stdout.splitlines()
    assert len(listed) == 1000 and listed[207] == "207  golden retriever" and listed[0] == "  0  tench, Tinca tinca"
    names = json.loads(arctl_cli.invoke(["models", "inet-model", "--classes", "--json"], manager=named).stdout)
    assert names == list(imagenet_class_names())


@pytest.mark.parametrize("args, message", [
    (["--classes"], "--classes needs a MODEL"),
    (["unnamed-model", "--classes"], "unnamed-model has no class names (its classes are ids 0..3)"),
    (["tok-model", "--classes"], "tok-model has no class names"),
])
def test_classes_needs_a_model_with_names(arctl_cli, named, hub_cache, args, message):
    result = arctl_cli.invoke(["models", *args], manager=named)
    assert result.exit_code == 2 and message in result.stderr


@pytest.mark.parametrize("package, generator, expected", [
    ("arctl_var", "VAR_GENERATOR", 1000), ("arctl_llamagen", "LLAMAGEN_GENERATOR", 1000),
    ("arctl_nar", "NAR_GENERATOR", 1000), ("arctl_mar", "MAR_GENERATOR", 1000),
])
def test_the_imagenet_plugins_name_their_classes(package, generator, expected):
    spec = getattr(pytest.importorskip(package), generator)
    assert class_names(spec) == imagenet_class_names() and len(class_names(spec)) == expected


def test_the_shapes_zoo_names_its_ten_classes():
    pytest.importorskip("arctl_shapes")
    world = importlib.import_module("arctl_shapes.world")
    zoo = importlib.import_module("arctl_shapes.zoo")
    for spec in zoo.zoo_generators():
        assert class_names(spec) == world.CLASS_NAMES == TEN
