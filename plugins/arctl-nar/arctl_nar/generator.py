"""NAR as an arctl generator: LlamaGen's loading, NAR's model and order."""

from __future__ import annotations

import torch

from arctl.generator import GenerationBatch
from arctl_llamagen.generator import GPTGenerator
from arctl_nar.model import NARTransformer
from arctl_nar.neighbors import generate_neighbors


class NARGenerator(GPTGenerator):
    model_class = NARTransformer

    def num_steps(self, options) -> int:
        return 2 * self.gpt.grid - 1

    def sample_tokens(self, labels: torch.Tensor, batch: GenerationBatch) -> torch.Tensor:
        return generate_neighbors(self.gpt, labels, batch.sampling, on_step=batch.on_step)
