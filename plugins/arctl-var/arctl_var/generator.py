"""VAR as an arctl generator: loads the official files, then samples scale by scale."""

from __future__ import annotations

import torch

from arctl.generator import GenerationBatch, Generator
from arctl.hub import load_pretrained
from arctl_var.inference import generate_scales
from arctl_var.model import VAR
from arctl_var.tokenizer import load_tokenizer


class VARGenerator(Generator):
    @classmethod
    def from_checkpoint(cls, spec, checkpoint, files, accelerator):
        self = cls(spec, checkpoint, accelerator)
        self.tokenizer = load_tokenizer(checkpoint, files, accelerator)
        vqvae = self.tokenizer.vqvae
        self.var = load_pretrained(
            lambda: VAR(Cvae=vqvae.Cvae, vocab_size=vqvae.vocab_size, **checkpoint.config["var"]),
            files["model"].path, checkpoint.files["model"].container, accelerator.device,
        )
        return self

    def num_steps(self, options) -> int:
        return len(self.var.patch_nums)

    def generate(self, batch: GenerationBatch) -> torch.Tensor:
        labels = torch.tensor(batch.classes, device=self.accelerator.device)
        return generate_scales(
            self.var, self.tokenizer.vqvae, labels, batch.sampling, on_step=batch.on_step,
            kv_cache=batch.options["kv_cache"], more_smooth=batch.options["more_smooth"],
        )
