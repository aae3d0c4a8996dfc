"""VAR as an arctl generator: loads the official files, then samples scale by scale."""

from __future__ import annotations

import torch

from arctl.generator import GenerationBatch, Generator
from arctl.hub import load_pretrained
from arctl_var.inference import ForcedTokens, generate_scales
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

    @property
    def image_size(self) -> int:
        return self.tokenizer.resolution

    def num_steps(self, options) -> int:
        return len(self.var.patch_nums)

    def generate(self, batch: GenerationBatch) -> torch.Tensor:
        # no class (an edit towards nothing in particular) is VAR's null class
        labels = torch.tensor([self.var.num_classes if c is None else c for c in batch.classes],
                              device=self.accelerator.device)
        return generate_scales(
            self.var, self.tokenizer.vqvae, labels, batch.sampling, on_step=batch.on_step,
            kv_cache=batch.options["kv_cache"], more_smooth=batch.options["more_smooth"], forced=self.forced(batch),
        )

    @torch.no_grad()
    def forced(self, batch: GenerationBatch) -> ForcedTokens | None:
        """Zero-shot editing when the batch carries an image and a mask: the image's tokens where the mask keeps it."""
        if "image" not in batch.images:
            return None
        vqvae = self.tokenizer.vqvae
        forced = ForcedTokens.from_mask(vqvae.img_to_f(batch.images["image"].mul(2).sub(1)), batch.images["mask"])
        kept = forced.keep_at(self.var.patch_nums[-1]).flatten(1)
        if kept.all(dim=1).any():
            side = vqvae.downsample
            batch.note(f"a mask keeps every token: nothing will be regenerated in its image (a white area is "
                       f"regenerated only where it covers whole {side}x{side}-pixel tokens)")
        if not kept.any(dim=1).all():
            batch.note("a mask is white everywhere: its image is generated from scratch (plain generation)")
        return forced
