"""Raster-order generation for the toy model through the core's sampling seam."""

import torch

from arctl.generator import GenerationBatch, Generator
from arctl.hub import load_state_dict, load_strict
from arctl.sampling import StepContext
from arctl_toy.model import ToyTokenModel
from arctl_toy.tokenizer import PaletteTokenizer


class ToyGenerator(Generator):
    @classmethod
    def from_checkpoint(cls, spec, checkpoint, files, accelerator):
        self = cls(spec, checkpoint, accelerator)
        config = dict(checkpoint.config)
        self.model = ToyTokenModel(**config)
        load_strict(self.model, load_state_dict(files["model"].path, checkpoint.files["model"].container),
                    source=checkpoint.name)
        self.model.to(accelerator.device).eval()
        self.grid = config["grid"]
        self.vocab_size = config["vocab_size"]
        return self

    def num_steps(self, options):
        return self.grid * self.grid

    def generate(self, batch: GenerationBatch) -> torch.Tensor:
        device = self.accelerator.device
        labels = torch.tensor(batch.classes, device=device)
        null = torch.full_like(labels, self.model.num_classes)
        previous = torch.full_like(labels, self.vocab_size)  # start token
        tokens = []
        for position in range(self.grid * self.grid):
            ctx = StepContext(step=position, num_steps=self.grid * self.grid, position=position)
            logits = self.model(labels, previous, position)
            uncond = self.model(null, previous, position) if batch.sampling.guidance_active(ctx) else None
            previous = batch.sampling.sample(logits, ctx, uncond, replacement=False)
            tokens.append(previous)
            batch.on_step(ctx)
        grid = torch.stack(tokens, dim=1).view(-1, self.grid, self.grid)
        return PaletteTokenizer(self.vocab_size, batch.options["patch"]).decode(grid)
