"""The toy model: each token's logits depend on the class, the previous token and the position."""

import torch
from torch import nn


class ToyTokenModel(nn.Module):
    def __init__(self, vocab_size: int, num_classes: int, grid: int, dim: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.class_emb = nn.Embedding(num_classes + 1, dim)  # last row: the null class used for CFG
        self.tok_emb = nn.Embedding(vocab_size + 1, dim)  # last row: the start token
        self.pos_emb = nn.Parameter(torch.randn(grid * grid, dim) * 0.5)
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, vocab_size))

    def forward(self, labels: torch.Tensor, previous: torch.Tensor, position: int) -> torch.Tensor:
        h = self.class_emb(labels) + self.tok_emb(previous) + self.pos_emb[position]
        return self.head(h)
