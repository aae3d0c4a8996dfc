"""The generator contract kit: it passes a correct toy token generator and a correct toy diffusion-head generator,
and catches each deliberately broken one below."""

import dataclasses

import pytest
import torch
from arctl_toy import TOY
from arctl_toy.generator import ToyGenerator

from arctl import Checkpoint, GeneratorSpec, Option, WeightFile
from arctl.generator import Generator
from arctl.hub import load_state_dict
from arctl.sampling import StepContext
from arctl.testing import (
    GeneratorContract,
    check_banned_token,
    check_batch_alone,
    check_different_seeds,
    check_diffusion_steps,
    check_inference_state,
    check_num_steps,
    check_output,
    check_recipe_round_trip,
    check_same_seed,
    spec_plugin,
)

CLASSES = {"classes": [0, 2]}


class TestToyContract(GeneratorContract):
    model = "toy-tiny"
    family = "token"
    conditions = CLASSES

    @pytest.fixture
    def contract_manager(self, toy_manager, toy_weights):
        return toy_manager


# --- a diffusion-head generator in miniature ----------------------------------------------------------------------

DIFFUSION_TOY = Checkpoint("diffusion-toy", "A toy diffusion-head generator.",
                           {"model": WeightFile("arctl-tests/diffusion-toy", "toy.safetensors")})
DEFAULT_STEPS = 20


class DiffusionToy(Generator):
    """Each iteration fills one pixel row: every pixel starts from noise and is denoised by ``head`` (a linear map)
    for as many steps as the sampler says."""

    @classmethod
    def from_checkpoint(cls, spec, checkpoint, files, accelerator):
        self = cls(spec, checkpoint, accelerator)
        self.head = torch.nn.Linear(3, 3)
        self.head.load_state_dict(load_state_dict(files["model"].path))
        self.head.eval().requires_grad_(False)
        return self

    def num_steps(self, options):
        return options["num_iter"]

    def denoising_steps(self, batch, ctx):
        return batch.sampling.diffusion_steps(ctx, DEFAULT_STEPS)

    def generate(self, batch):
        n, rng = batch.options["num_iter"], batch.sampling.rng
        shift = torch.tensor(batch.classes, dtype=torch.float32)[:, None, None] / 4
        image = torch.zeros(batch.size, 3, n, n)
        for k in range(n):
            ctx = StepContext(step=k, num_steps=n)
            x = torch.randn(batch.size, n, 3, generator=rng) + shift
            for _ in range(self.denoising_steps(batch, ctx)):
                x = x - 0.2 * self.head(x) + 0.05 * torch.randn(x.shape, generator=rng)
            image[:, :, k] = x.sigmoid().transpose(1, 2)
            batch.on_step(ctx)
        return image


DIFFUSION_SPEC = GeneratorSpec("diffusion-toy", "Toy generator with a diffusion head.", DiffusionToy,
                               checkpoints=(DIFFUSION_TOY,), num_classes=4,
                               options=(Option("num_iter", int, 4, "iterations", min=1),))


def diffusion_weights(checkpoint):
    generator = torch.Generator().manual_seed(0)
    return {"model": {"weight": torch.randn(3, 3, generator=generator) * 0.5, "bias": torch.zeros(3)}}


def diffusion_manager(make_plugin_manager, factory=DiffusionToy):
    spec = dataclasses.replace(DIFFUSION_SPEC, factory=factory)
    return make_plugin_manager(spec_plugin(spec), strict=True, weights={"diffusion-toy": diffusion_weights})


class TestDiffusionToyContract(GeneratorContract):
    model = "diffusion-toy"
    family = "diffusion-head"
    conditions = CLASSES
    diffusion_head = "head"

    @pytest.fixture
    def contract_manager(self, make_plugin_manager):
        return diffusion_manager(make_plugin_manager)


# --- broken generators: each breaks one rule, and the kit says so -------------------------------------------------


class GlobalRNG(ToyGenerator):
    """Draws every token from torch's global RNG instead of the batch's generator."""

    def generate(self, batch):
        sampling = batch.sampling

        def sample(logits, ctx, uncond=None, *, replacement=True):
            return torch.multinomial(sampling.process(logits, ctx, uncond).softmax(-1), 1)[:, 0]

        sampling.sample = sample
        return super().generate(batch)


class PrivateRNG(ToyGenerator):
    """Keeps one generator for its lifetime: a batch's images depend on the batches before it."""

    def generate(self, batch):
        if not hasattr(self, "rng"):
            self.rng = torch.Generator().manual_seed(0)
        batch.sampling.rng = self.rng
        return super().generate(batch)


class FixedSeed(ToyGenerator):
    """Reseeds every batch with 0: the run's seed changes nothing."""

    def generate(self, batch):
        batch.sampling.rng = torch.Generator().manual_seed(0)
        return super().generate(batch)


class SkipsTheChain(ToyGenerator):
    """Draws step 5 from the raw logits: no CFG, no logits processors, no top-k."""

    def generate(self, batch):
        sampling, sample = batch.sampling, batch.sampling.sample

        def shortcut(logits, ctx, uncond=None, *, replacement=True):
            if ctx.step == 5:
                return sampling.draw(logits, replacement=replacement)
            return sample(logits, ctx, uncond, replacement=replacement)

        sampling.sample = shortcut
        return super().generate(batch)


class LyingSteps(ToyGenerator):
    """Claims one step more than it reports through on_step."""

    def num_steps(self, options):
        return super().num_steps(options) + 1


class OutOfRange(ToyGenerator):
    """Returns pixels in [-0.1, 1.1] (a decoder without its clamp)."""

    def generate(self, batch):
        return super().generate(batch) * 1.2 - 0.1


class LeavesGradients(ToyGenerator):
    """Nudges its images along a gradient and leaves the gradients on the parameters."""

    def generate(self, batch):
        images = super().generate(batch)
        with torch.inference_mode(False), torch.enable_grad():
            self.model.pos_emb.square().sum().backward()
        return images


class LeftTraining(ToyGenerator):
    """Puts its model in training mode (dropout, if it had any, would be on)."""

    def generate(self, batch):
        self.model.train()
        return super().generate(batch)


class IgnoresTheAnswer(DiffusionToy):
    """Asks the sampler, then runs its default number of denoising steps anyway."""

    def denoising_steps(self, batch, ctx):
        batch.sampling.diffusion_steps(ctx, DEFAULT_STEPS)
        return DEFAULT_STEPS


class AsksEveryStep(DiffusionToy):
    """Asks the sampler again before each denoising step."""

    def denoising_steps(self, batch, ctx):
        steps = batch.sampling.diffusion_steps(ctx, DEFAULT_STEPS)
        for _ in range(steps - 1):
            batch.sampling.diffusion_steps(ctx, DEFAULT_STEPS)
        return steps


@pytest.fixture
def broken_toy(make_plugin_manager, toy_manager, toy_weights):
    """``broken_toy(Generator class)``: a manager whose toy-tiny is made by that class."""
    toy = toy_manager.registry.get("generator", "toy")

    def make(factory):
        return make_plugin_manager(spec_plugin(dataclasses.replace(toy, factory=factory, checkpoints=(TOY,))),
                                   strict=True)

    return make


@pytest.mark.parametrize(("factory", "check", "message"), [
    (GlobalRNG, check_same_seed, "seed 0 gave other pixels on a second run"),
    (GlobalRNG, check_batch_alone, "batch 0 run alone gave other pixels"),
    (PrivateRNG, check_same_seed, "seed 0 gave other pixels on a second run"),
    (PrivateRNG, check_batch_alone, "batch 0 run alone gave other pixels"),
    (FixedSeed, check_different_seeds, "seeds 0 and 1 gave identical images"),
    (SkipsTheChain, check_banned_token, r"processors were not called at step\(s\) \[5\]"),
    (LyingSteps, check_num_steps, "num_steps says 17 but generate called on_step 16 times"),
    (OutOfRange, check_output, r"pixels in \[[-\d.]+, 1\.04\d*\]; the contract is \[0, 1\]"),
    (LeavesGradients, check_inference_state, r"these parameters hold gradients: \['model.pos_emb'\]"),
    (LeftTraining, check_inference_state, r"modules in training mode after generation .*\['model'"),
])
def test_the_kit_catches_a_broken_token_generator(broken_toy, factory, check, message):
    with pytest.raises(AssertionError, match=message):
        check(broken_toy(factory), "toy-tiny", CLASSES)


def test_the_kit_catches_a_recipe_that_does_not_reproduce(broken_toy, tmp_path):
    with pytest.raises(AssertionError, match=r"reproducing item 3 from its recipe gave other pixels"):
        check_recipe_round_trip(broken_toy(GlobalRNG), "toy-tiny", CLASSES, tmp_path)


@pytest.mark.parametrize(("factory", "head", "message"), [
    (IgnoresTheAnswer, "head", r"the diffusion head ran \[20, 20, 20, 20\] times .* asked for 2 steps"),
    (IgnoresTheAnswer, None, "2 and 3 denoising steps gave identical images"),
    (AsksEveryStep, None, r"diffusion_steps was asked \[2, 2, 2, 2\] times"),
])
def test_the_kit_catches_a_broken_diffusion_head_generator(make_plugin_manager, factory, head, message):
    with pytest.raises(AssertionError, match=message):
        check_diffusion_steps(diffusion_manager(make_plugin_manager, factory), "diffusion-toy", CLASSES, head=head)
