"""One test per hook (test_hook_<name>), and a meta-test that every hook is tested and documented."""

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from PIL import Image

import arctl
from arctl import hookspecs
from arctl.accelerate import CPUAccelerator
from arctl.erasers import Eraser, ErasureDelta, apply_erasure, build_eraser, erase_concept
from arctl.errors import PluginError
from arctl.judges import Judge
from arctl.keys import WatermarkKey
from arctl.sampling import MultinomialSampler
from arctl.watermark import Watermarker, build_watermark
from arctl_toy.tokenizer import palette

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
HOOK_NAMES = sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_"))


class OnlyTokenSampler(MultinomialSampler):
    """A plugin sampler: always draws one fixed token, and halves diffusion steps."""

    def __init__(self, token: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.token = token

    def draw(self, logits, rng, *, replacement=True):
        return torch.full(logits.shape[:-1], self.token, dtype=torch.long, device=logits.device)

    def diffusion_steps(self, ctx, default):
        return default // 2


class SamplerPlugin:
    @arctl.hookimpl
    def register_samplers(self, register):
        register(arctl.SamplerSpec("only-token", "Always the same token.", OnlyTokenSampler,
                                   options=(arctl.Option("token", int, 0, "the token to draw", min=0, max=15),)))


class AcceleratorPlugin:
    @arctl.hookimpl
    def register_accelerators(self, register):
        register(arctl.AcceleratorSpec("plaincpu", "The CPU under another name.", CPUAccelerator))


class MarkOnly(Watermarker):
    """A watermarker whose generation-time processor masks every logit but one green token."""

    def processor(self):
        def only_green(logits, ctx):
            keep = torch.full_like(logits, float("-inf"))
            keep[..., self.options["green"]] = 0
            return logits + keep

        return only_green


class WatermarkerPlugin:
    @arctl.hookimpl
    def register_watermarkers(self, register):
        register(arctl.WatermarkerSpec("green-only", "Forces one green token.", MarkOnly,
                                       options=(arctl.Option("green", int, 3, "the green token"),)))


class CopyClass(Eraser):
    """A closed-form eraser: the concept's class embedding becomes its replacement's."""

    def erase(self, request):
        weight = request.loaded.generator.model.class_emb.weight.detach().clone()
        for concept, replacement in request.pairs():
            weight[concept] = weight[replacement]
        request.progress.start(1)
        request.progress.advance()
        return ErasureDelta({"model.class_emb.weight": weight})


class EraserPlugin:
    @arctl.hookimpl
    def register_erasers(self, register):
        register(arctl.EraserSpec("copy-class", "Gives a class its replacement's embedding.", CopyClass,
                                  conditioning=("class",)))


class CommandPlugin:
    @arctl.hookimpl
    def register_commands(self, register):
        def make():
            app = typer.Typer()

            @app.command()
            def count(n: int):
                print(" ".join(str(i) for i in range(n)))

            return app

        register(arctl.CommandSpec("counter", "Counts.", make))

        def single():
            def shout(word: str):
                print(word.upper())

            return shout

        register(arctl.CommandSpec("shout", "Shouts a word.", single))


class NearestColour(Judge):
    """Reads an image as the palette token whose colour is nearest to the image's mean colour."""

    def class_fidelity(self, images, labels):
        nearest = torch.cdist(images.mean(dim=(2, 3)), palette()).argmin(1)
        return float((nearest == torch.tensor(labels)).float().mean())


class JudgePlugin:
    @arctl.hookimpl
    def register_judges(self, register):
        register(arctl.JudgeSpec("nearest-colour", "Reads an image as the palette colour nearest its mean.",
                                 NearestColour, scores=("class_fidelity",), domains=("palette",)))


def solid_colour(path, token):
    """Whether every pixel of the image is the palette colour of ``token``."""
    pixels = np.asarray(Image.open(path)).reshape(-1, 3)
    expected = np.round(palette()[token].numpy() * 255).astype(np.uint8)
    return bool((pixels == expected).all())


def test_hook_register_tokenizers(toy_manager, toy_plugin):
    spec = toy_manager.registry.get("tokenizer", "palette")
    assert spec.plugin == "arctl_toy"
    tokenizer = spec.load()(toy_plugin.TOY, {}, CPUAccelerator())
    tokens = torch.tensor([[[0, 5], [9, 15]]])
    assert tokenizer.codebook_size == 16
    assert torch.equal(tokenizer.encode(tokenizer.decode(tokens)), tokens)


def test_hook_register_generators(toy_manager, toy_weights, arctl_cli, tmp_path):
    spec = toy_manager.registry.get("generator", "toy")
    assert [c.name for c in spec.checkpoints] == ["toy-tiny", "toy-tiny-pth"] and spec.tokenizer == "palette"
    result = arctl_cli.invoke(["generate", "toy", "-c", "1", "--seed", "0", "--out", str(tmp_path)], manager=toy_manager)
    assert result.exit_code == 0, result.output  # a generator name stands for its first checkpoint
    assert result.stdout.strip().endswith("toy-tiny_c1_s0_000.png")


def test_hook_register_samplers(make_plugin_manager, toy_plugin, toy_weights, arctl_cli, tmp_path):
    pm = make_plugin_manager(toy_plugin, SamplerPlugin())
    result = arctl_cli.invoke(["generate", "toy-tiny", "-c", "2", "--sampler", "only-token", "-o", "token=7",
                               "--out", str(tmp_path)], manager=pm)
    assert result.exit_code == 0, result.output
    assert solid_colour(result.stdout.strip(), 7)
    sampler = pm.registry.get("sampler", "only-token").load()(token=7)
    assert sampler.diffusion_steps(arctl.sampling.StepContext(0, 4), 100) == 50
    bad = arctl_cli.invoke(["generate", "toy-tiny", "-c", "2", "--sampler", "only-token", "-o", "token=99"], manager=pm)
    assert bad.exit_code == 2 and "token=99: must be <= 15" in bad.stderr


def test_hook_register_accelerators(make_plugin_manager, toy_plugin, toy_weights, arctl_cli, tmp_path):
    pm = make_plugin_manager(toy_plugin, AcceleratorPlugin())
    result = arctl_cli.invoke(["generate", "toy-tiny", "-c", "0", "--seed", "4", "--device", "plaincpu", "--json",
                               "--out", str(tmp_path)], manager=pm)
    assert result.exit_code == 0, result.output
    assert '"device": "cpu"' in result.stdout
    assert "plaincpu" in pm.registry.names("accelerator")


def test_hook_register_watermarkers(make_plugin_manager, toy_plugin, toy_weights):
    from arctl import generation

    pm = make_plugin_manager(toy_plugin, WatermarkerPlugin())
    spec = pm.registry.get("watermarker", "green-only")
    assert spec.plugin == "WatermarkerPlugin" and spec.options[0].default == 3
    # Any token generator composes with a watermarker through the processor chain, at every step.
    loaded = generation.load_model(pm, "toy-tiny", device="cpu")
    settings = generation.resolve_settings(pm.registry, loaded.spec, watermarker=spec)
    key = WatermarkKey.generate()
    images = generation.generate(pm, loaded, settings, classes=[0, 1, 2], num=2, seed=1,
                                 watermark=build_watermark(spec, key, settings.watermark_options))
    assert len(images) == 6
    green = np.round(palette()[3].numpy() * 255).astype(np.uint8)
    assert all((np.asarray(g.image).reshape(-1, 3) == green).all() for g in images)
    assert images[0].recipe["watermark"] == {"method": "green-only", "options": {"green": 3}, "key": key.fingerprint}


def test_hook_register_erasers(make_plugin_manager, toy_plugin, toy_weights, tmp_path):
    from arctl import generation

    pm = make_plugin_manager(toy_plugin, EraserPlugin())
    assert pm.infos["EraserPlugin"].components == {"eraser": ["copy-class"]}
    spec = pm.registry.get("eraser", "copy-class")
    # The core runs any registered eraser on a loaded generator and writes its delta; applying it changes the model.
    loaded = generation.load_model(pm, "toy-tiny", device="cpu")
    out = erase_concept(pm, loaded, build_eraser(spec), concepts=[3], replacements=[1], out=tmp_path / "e.safetensors",
                        resume_dir=tmp_path / "resume", progress=generation.Progress())
    fresh = generation.load_model(pm, "toy-tiny", device="cpu")
    assert apply_erasure(fresh, out)["eraser"] == "copy-class"
    labels, previous = torch.tensor([3, 1, 0]), torch.tensor([5, 5, 5])
    before, after = loaded.generator.model(labels, previous, 2), fresh.generator.model(labels, previous, 2)
    assert not torch.equal(before[0], before[1]) and torch.equal(after[0], after[1])  # class 3 now acts as class 1
    assert torch.equal(after[1:], before[1:])


def test_hook_register_commands(make_plugin_manager, arctl_cli):
    pm = make_plugin_manager(CommandPlugin())
    result = arctl_cli.invoke(["counter", "count", "3"], manager=pm)
    assert result.exit_code == 0 and result.stdout.strip() == "0 1 2"
    assert "counter" in arctl_cli.invoke(["--help"], manager=pm).stdout
    single = arctl_cli.invoke(["shout", "hey"], manager=pm)
    assert single.exit_code == 0 and single.stdout.strip() == "HEY"


def test_hook_register_judges(make_plugin_manager, toy_plugin):
    from dataclasses import replace

    from arctl.judges import build_judge, judge_for

    pm = make_plugin_manager(toy_plugin, JudgePlugin())
    assert pm.infos["JudgePlugin"].components == {"judge": ["nearest-colour"]}
    toy = pm.registry.get("generator", "toy")
    assert judge_for(pm.registry, toy, "class_fidelity") is None  # the toy names no domain
    palette_toy = replace(toy, domain="palette")
    spec = judge_for(pm.registry, palette_toy, "class_fidelity")
    assert spec.name == "nearest-colour" and spec.plugin == "JudgePlugin"
    assert judge_for(pm.registry, palette_toy, "features") is None
    judge = build_judge(spec, "cpu")
    solid = palette()[[7, 2, 7]][:, :, None, None].expand(3, 3, 4, 4)  # three one-colour images
    assert judge.device == "cpu" and judge.class_fidelity(solid, [7, 2, 7]) == 1.0
    assert judge.class_fidelity(solid, [7, 7, 7]) == pytest.approx(2 / 3)


def test_every_hook_is_tested_and_documented():
    assert HOOK_NAMES == ["register_accelerators", "register_commands", "register_erasers", "register_generators",
                          "register_judges", "register_samplers", "register_tokenizers", "register_watermarkers"]
    docs = DOCS.read_text()
    for name in HOOK_NAMES:
        assert callable(globals().get(f"test_hook_{name}")), f"hook {name} has no test_hook_{name}"
        assert f"`{name}(register)`" in docs, f"hook {name} is not documented in docs/plugins.md"


def test_registering_outside_the_hook_kind_fails(make_plugin_manager):
    class Confused:
        @arctl.hookimpl
        def register_erasers(self, register):
            register(arctl.CommandSpec("x", "Wrong hook.", dict))

    with pytest.raises(PluginError, match="register_erasers got CommandSpec; it takes EraserSpec"):
        make_plugin_manager(Confused(), strict=True)
