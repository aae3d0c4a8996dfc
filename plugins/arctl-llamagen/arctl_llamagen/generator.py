"""LlamaGen as an arctl generator; ``GPTGenerator`` is the base NAR and others extend."""

from __future__ import annotations

import torch

from arctl.generator import GenerationBatch, Generator
from arctl.hub import load_pretrained
from arctl_llamagen.gpt import GPT
from arctl_llamagen.raster import generate_raster
from arctl_llamagen.tokenizer import load_tokenizer


def load_gpt(model_class: type[GPT], config: dict, path, container: str, device) -> GPT:
    """``model_class(**config)`` with the official file loaded strictly. Some exports carry the derived RoPE table
    (``freqs_cis``); it is recomputed, never a weight, and the official loaders drop it too."""
    return load_pretrained(lambda: model_class(**config), path, container, device, ignore=("freqs_cis",))


class GPTGenerator(Generator):
    """Loads the VQ tokenizer and a GPT-family model; subclasses choose the model class and the order."""

    model_class: type[GPT] = GPT

    @classmethod
    def from_checkpoint(cls, spec, checkpoint, files, accelerator):
        self = cls(spec, checkpoint, accelerator)
        self.tokenizer = load_tokenizer(checkpoint, files, accelerator)
        self.gpt = load_gpt(cls.model_class, checkpoint.config["gpt"], files["model"].path,
                            checkpoint.files["model"].container, accelerator.device)
        return self

    def sample_tokens(self, labels: torch.Tensor, batch: GenerationBatch) -> torch.Tensor:
        raise NotImplementedError

    def generate(self, batch: GenerationBatch) -> torch.Tensor:
        labels = torch.tensor(batch.classes, device=self.accelerator.device)
        return self.tokenizer.decode(self.sample_tokens(labels, batch))


class LlamaGenGenerator(GPTGenerator):
    def num_steps(self, options) -> int:
        return self.gpt.block_size

    def sample_tokens(self, labels: torch.Tensor, batch: GenerationBatch) -> torch.Tensor:
        return generate_raster(self.gpt, labels, batch.sampling, on_step=batch.on_step)
