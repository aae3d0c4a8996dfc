"""DiSA with two diffusion-head generators from an offline Hub cache: a tiny MAR in the official file layout,
and a toy generator that only exposes the diffusion seam (so nothing here depends on MAR's internals)."""

import arctl_disa
import arctl_mar
import pytest
import torch
from arctl_mar.testing import random_state_dicts, tiny_generator

from arctl import Checkpoint, GeneratorSpec, Option, WeightFile
from arctl.generator import Generator
from arctl.hub import load_state_dict
from arctl.sampling import StepContext
from arctl.testing import spec_plugin

SEAM_TOY = Checkpoint("seam-toy", "A toy diffusion-head generator.", {"model": WeightFile("arctl-tests/seam-toy", "toy.safetensors")})
DEFAULT_STEPS = 20


class SeamToy(Generator):
    """Per iteration: asks the seam for (steps, clip, temperature), runs that many damped noise steps, and writes
    the step count (row 0), clip (row 1) and temperature (row 2) into the image, one column per iteration."""

    @classmethod
    def from_checkpoint(cls, spec, checkpoint, files, accelerator):
        self = cls(spec, checkpoint, accelerator)
        self.scale = load_state_dict(files["model"].path)["scale"]
        return self

    def num_steps(self, options):
        return options["num_iter"]

    def generate(self, batch):
        num_iter, rng = batch.options["num_iter"], batch.sampling.rng
        image = torch.zeros(batch.size, 3, num_iter, num_iter)
        for k in range(num_iter):
            ctx = StepContext(step=k, num_steps=num_iter)
            steps = batch.sampling.diffusion_steps(ctx, DEFAULT_STEPS)
            x = torch.randn(batch.size, 3, generator=rng)
            for _ in range(steps):
                x = 0.9 * x + 0.1 * torch.randn(batch.size, 3, generator=rng) * self.scale
            image[:, :, 0, k] = steps / 255
            image[:, :, 1, k] = batch.sampling.diffusion_clip(ctx)
            image[:, :, 2, k] = batch.sampling.diffusion_temperature(ctx)
            image[:, :, 3:, k] = x.sigmoid()[:, :, None]
            batch.on_step(ctx)
        return image


SEAM_TOY_SPEC = GeneratorSpec("seam-toy", "Toy generator that only exposes the diffusion seam.", SeamToy,
                              checkpoints=(SEAM_TOY,), conditioning="none", offers=("diffusion-steps",),
                              options=(Option("num_iter", int, 8, "iterations", min=4),))


@pytest.fixture
def manager(make_plugin_manager):
    generators = spec_plugin(tiny_generator(arctl_mar.MAR_GENERATOR), SEAM_TOY_SPEC, arctl_mar.MASK_LINEAR_CFG)
    weights = {"mar-b": random_state_dicts, "seam-toy": {"model": {"scale": torch.tensor(1.0)}}}
    return make_plugin_manager(arctl_disa, generators, strict=True, weights=weights)
