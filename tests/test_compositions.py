"""A composition that cannot work is refused, never silently recorded: a sampler must act on a seam its generator
offers, a watermarker must find everything it needs. Over the installed set, every (generator, sampler) and
(generator, watermarker) pair is either refused before anything loads or changes the images."""

import dataclasses
import json

import numpy as np
import pytest

import arctl
from arctl import GeneratorSpec, SamplerSpec, WatermarkerSpec
from arctl.compositions import check_composition, check_watermarker
from arctl.errors import PluginError, UsageError
from arctl.images import read_recipe, save_png
from arctl.keys import WatermarkKey
from arctl.marking import check_marking
from arctl.pipeline import prepare_run
from arctl.plugins import PluginManager
from arctl.registry import Registry

FACTORY = "builtins:dict"
# speed only, for the generators that declare them: the same for every run a comparison makes
FAST = {"num_iter": 2, "num_sampling_steps": 10}
# where a sampler needs options to differ from itself as a default (DiSA is mar-shapes' default sampler)
SAMPLER_OPTIONS = {"disa": {"upper": 8, "lower": 2}}
KEY = WatermarkKey(bytes(range(32)))  # a fixed key (keygen's are random), so a failure can be re-run
INSTALLED = PluginManager()  # every installed plugin, as `arctl` itself loads them


@pytest.fixture(scope="module")
def installed():
    return INSTALLED


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The zoo's models are tiny: one thread runs them ~10x faster than two threads contending on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def offline_models(manager) -> list[str]:
    """Generator checkpoints whose every file ships inside a package (the shapes zoo): they run with no Hub."""
    return [ref.checkpoint.name for ref in manager.registry.checkpoints()
            if isinstance(ref.owner, GeneratorSpec) and all(f.local_dir for f in ref.checkpoint.files.values())]


OFFLINE = offline_models(INSTALLED)


@pytest.fixture(scope="module")
def pipes(installed):
    loaded = {}

    def pipe(model):
        if model not in loaded:
            loaded[model] = arctl.load(model, device="cpu", manager=installed)
        return loaded[model]

    return pipe


def fast_options(spec) -> dict:
    return {name: value for name, value in FAST.items() if name in {o.name for o in spec.options}}


@pytest.fixture(scope="module")
def defaults(installed, pipes):
    """Each model's images with its default sampler and no watermark (the default is never refused)."""
    made = {}

    def default(model):
        if model not in made:
            spec = installed.registry.model(model).owner
            made[model] = pixels(pipes(model)(classes=[1], num=2, seed=0, options=fast_options(spec)))
        return made[model]

    return default


def pixels(images) -> list[np.ndarray]:
    return [np.asarray(image) for image in images]


def same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def refused(manager, spec, **request) -> bool:
    """Whether prepare_run (before anything loads) refuses the composition; any other usage error fails the test."""
    try:
        prepare_run(manager, spec, classes=[1], **request)
    except UsageError as error:
        assert f"cannot act on generator {spec.name}" in str(error) or f"cannot work with generator {spec.name}" in str(
            error), error
        return True
    return False


def test_offline_models_are_the_shapes_zoo(installed):
    assert {"var-shapes", "llamagen-shapes", "nar-shapes", "mar-shapes"} <= set(OFFLINE), installed.errors


@pytest.mark.parametrize("model", OFFLINE)
def test_every_sampler_is_refused_or_changes_the_images(installed, pipes, defaults, model):
    spec = installed.registry.model(model).owner
    generator_options = fast_options(spec)
    for sampler in installed.registry.names("sampler"):
        options = {**generator_options, **SAMPLER_OPTIONS.get(sampler, {})}
        if refused(installed, spec, sampling={"sampler": sampler}, options=options):
            continue
        if sampler == spec.sampling.sampler and options == generator_options:
            continue  # the default run itself
        images = pixels(pipes(model)(classes=[1], num=2, seed=0, sampler=sampler, options=options))
        assert not same(images, defaults(model)), f"{model}: --sampler {sampler} is accepted but changes nothing"


@pytest.mark.parametrize("model", OFFLINE)
def test_every_watermarker_is_refused_or_changes_the_images(installed, pipes, defaults, model):
    spec = installed.registry.model(model).owner
    options = fast_options(spec)
    for watermarker in installed.registry.names("watermarker"):
        if refused(installed, spec, options=options, watermark=watermarker, key=KEY):
            continue
        marked = pixels(pipes(model)(classes=[1], num=2, seed=0, options=options, watermark=watermarker, key=KEY))
        assert not same(marked, defaults(model)), f"{model}: --watermark {watermarker} is accepted but changes nothing"


def test_what_the_shipped_plugins_support(installed):
    registry = installed.registry
    shipped = ["var-shapes", "llamagen-shapes", "nar-shapes", "mar-shapes"]
    refusals = set()
    for model in shipped:
        generator = registry.model(model).owner
        for sampler in ("multinomial", "greedy", "disa"):
            try:
                check_composition(generator, registry.get("sampler", sampler), None)
            except UsageError:
                refusals.add((model, sampler))
        try:
            check_composition(generator, registry.get("sampler", generator.sampling.sampler),
                              registry.get("watermarker", "lbw"))
        except UsageError:
            refusals.add((model, "lbw"))
    assert refusals == {("var-shapes", "disa"), ("llamagen-shapes", "disa"), ("nar-shapes", "disa"),
                        ("mar-shapes", "greedy"), ("mar-shapes", "lbw")}


# --- the commands: one line, exit 2, nothing written -------------------------------------------------------------


@pytest.fixture
def keygen_file(arctl_cli, installed, tmp_path):
    path = tmp_path / "k.key"
    assert arctl_cli.invoke(["watermark", "keygen", "--out", path], manager=installed).exit_code == 0
    return path


def test_lbw_on_mar_shapes_is_refused(arctl_cli, installed, keygen_file, tmp_path):
    result = arctl_cli.invoke(["generate", "mar-shapes", "--class", "1", "--watermark", "lbw", "--key-file",
                               keygen_file, "--out", tmp_path / "out"], manager=installed)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == ("Error: watermarker lbw cannot work with generator mar-shapes: it needs "
                                     "token-logits and tokenizer, and mar-shapes lacks token-logits and tokenizer "
                                     "(it offers diffusion-steps)")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_disa_on_var_shapes_is_refused(arctl_cli, installed, tmp_path):
    result = arctl_cli.invoke(["generate", "var-shapes", "--class", "1", "--sampler", "disa", "-o", "upper=8",
                               "-o", "lower=2", "--out", tmp_path / "out"], manager=installed)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == ("Error: sampler disa cannot act on generator var-shapes: it acts on "
                                     "diffusion-steps, and var-shapes offers token-logits")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize("command", [["detect", "IMAGE"], ["watermark", "apply", "IMAGE", "--out", "OUT"]])
def test_marking_and_detection_refuse_a_model_without_a_tokenizer(arctl_cli, installed, keygen_file, tmp_path,
                                                                   command):
    image = tmp_path / "in.png"
    image.write_bytes(b"")  # never read: the model is refused first
    args = [str(image) if a == "IMAGE" else str(tmp_path / "out.png") if a == "OUT" else a for a in command]
    result = arctl_cli.invoke([*args, "--model", "mar-shapes", "--key-file", keygen_file], manager=installed)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == ("Error: watermarker lbw cannot work with generator mar-shapes: it needs "
                                     "tokenizer, and mar-shapes lacks tokenizer (it offers diffusion-steps)")


def test_marking_takes_a_tokenizer_checkpoint_and_a_token_generator(installed):
    for model in ("llamagen-shapes", "var-shapes"):
        assert check_marking(installed, method="lbw", options={}, model=model).model == model


def test_reproduce_refuses_a_recipe_that_records_a_refused_sampler(installed, pipes, tmp_path):
    image = pipes("var-shapes")(classes=[1], num=1, seed=0)[0]
    recipe = json.loads(image.info["arctl-recipe"])
    recipe["sampling"]["sampler"] = "disa"  # what today's refused run would have recorded
    path = save_png(image, tmp_path / "edited.png", recipe)
    assert read_recipe(path)["sampling"]["sampler"] == "disa"
    with pytest.raises(UsageError, match="sampler disa cannot act on generator var-shapes"):
        arctl.reproduce(path, manager=installed)


# --- the specs: the vocabulary, and defaults for plugins that declare nothing ------------------------------------


@pytest.mark.parametrize(("spec", "message"), [
    (GeneratorSpec("g", "G.", FACTORY, num_classes=2, offers=("logits",)), "offers must be a non-empty subset"),
    (GeneratorSpec("g", "G.", FACTORY, num_classes=2, offers=()), "offers must be a non-empty subset"),
    (SamplerSpec("s", "S.", FACTORY, acts_on=("diffusion",)), "acts_on must be a non-empty subset"),
    (SamplerSpec("s", "S.", FACTORY, acts_on=()), "acts_on must be a non-empty subset"),
    (WatermarkerSpec("w", "W.", FACTORY, needs=("vae",)), "needs must be a subset"),
    (WatermarkerSpec("w", "W.", FACTORY, needs="tokenizer"), "needs must be a subset"),
])
def test_undeclared_words_are_refused_at_registration(spec, message):
    with pytest.raises(PluginError, match=message):
        Registry().add(spec)


TOKENS = GeneratorSpec("tokens", "Undeclared: a token generator.", FACTORY, num_classes=2, tokenizer="vq")
HEAD = GeneratorSpec("head", "A diffusion head.", FACTORY, num_classes=2, offers=("diffusion-steps",))
BOTH = GeneratorSpec("both", "Tokens and a diffusion head.", FACTORY, num_classes=2, tokenizer="vq",
                     offers=("token-logits", "diffusion-steps"))
PLAIN = SamplerSpec("plain", "Undeclared: a token sampler.", FACTORY)
STEPS = SamplerSpec("steps", "Chooses diffusion steps.", FACTORY, acts_on=("diffusion-steps",))
MARK = WatermarkerSpec("mark", "Undeclared: marks token logits, detects through the tokenizer.", FACTORY)


def test_an_undeclared_plugin_is_a_token_generator_sampler_or_watermarker():
    check_composition(TOKENS, PLAIN, MARK)
    check_composition(BOTH, STEPS, MARK)
    check_composition(BOTH, PLAIN, None)
    with pytest.raises(UsageError, match="^sampler steps cannot act on generator tokens: it acts on diffusion-steps, "
                                         "and tokens offers token-logits$"):
        check_composition(TOKENS, STEPS, None)
    with pytest.raises(UsageError, match="^sampler plain cannot act on generator head"):
        check_composition(HEAD, PLAIN, None)


def test_a_watermarker_names_what_is_missing():
    no_tokenizer = dataclasses.replace(TOKENS, tokenizer=None)
    with pytest.raises(UsageError, match="^watermarker mark cannot work with generator tokens: it needs token-logits "
                                         r"and tokenizer, and tokens lacks tokenizer \(it offers token-logits\)$"):
        check_composition(no_tokenizer, PLAIN, MARK)
    check_watermarker(dataclasses.replace(HEAD, tokenizer="vq"), MARK, generating=False)  # marks after the fact
    anything = dataclasses.replace(MARK, needs=())
    check_composition(HEAD, STEPS, anything)

