"""MAR as an arctl generator: loads the official files, samples latents by masked autoregression, decodes."""

from __future__ import annotations

import torch

from arctl.errors import UsageError
from arctl.generator import GenerationBatch, Generator
from arctl.hub import load_pretrained
from arctl_mar.model import MAR
from arctl_mar.noise import SeededNoise
from arctl_mar.sampling import DiffusionChains, sample_tokens
from arctl_mar.vae import AutoencoderKL


class MARGenerator(Generator):
    @classmethod
    def from_checkpoint(cls, spec, checkpoint, files, accelerator):
        self = cls(spec, checkpoint, accelerator)
        config = checkpoint.config
        self.mar = load_pretrained(lambda: MAR(**config["mar"]), files["model"].path,
                                   checkpoint.files["model"].container, accelerator.device)
        self.vae = load_pretrained(lambda: AutoencoderKL(**config["vae"]), files["vae"].path,
                                   checkpoint.files["vae"].container, accelerator.device)
        self.latent_scale = config["latent_scale"]
        self.chains = DiffusionChains()
        return self

    def num_steps(self, options) -> int:
        return options["num_iter"]

    def generate(self, batch: GenerationBatch) -> torch.Tensor:
        device = self.accelerator.device
        num_iter = batch.options["num_iter"]
        if num_iter > self.mar.seq_len:
            raise UsageError(f"-o num_iter={num_iter}: at most {self.mar.seq_len} (one token per iteration)")
        rng = batch.sampling.rng
        labels = torch.tensor(batch.classes, device=device)
        orders = torch.rand(batch.size, self.mar.seq_len, generator=rng, device=device).argsort(dim=-1)
        latents = sample_tokens(self.mar, labels, batch.size, num_iter, batch.sampling, SeededNoise(rng), orders,
                                default_steps=batch.options["num_sampling_steps"], chains=self.chains,
                                on_step=batch.on_step)
        images = self.vae.decode(latents / self.latent_scale)
        return ((images + 1) / 2).clamp(0, 1)  # the official evaluation clips the same way before saving
