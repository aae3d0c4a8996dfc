"""What vector quantizers share beyond their own normalisation: the distance, and restricting the nearest-code search.

Post-hoc watermarking quantizes a latent to the nearest code among an allowed subset of the codebook
(a bool mask over the V codes, one for all images or one per image). Each quantizer keeps its own
distance (L2, cosine after L2 normalisation, ...) and only masks the codes out of the search.
"""

from __future__ import annotations

import torch


def restrict_codes(scores: torch.Tensor, allowed: torch.Tensor | None, fill: float) -> torch.Tensor:
    """Set the score of every code not allowed to ``fill`` (``inf`` for distances, ``-inf`` for similarities).

    ``scores`` is [N, V] with the N rows grouped by image (B images of N / B positions each, image-major, as
    a flattened [B, C, h, w] latent gives them); ``allowed`` is a bool [V] for every row or [B, V] per image.
    """
    if allowed is None:
        return scores
    allowed = allowed.to(device=scores.device, dtype=torch.bool)
    if not allowed.any(dim=-1).all():
        raise ValueError("the allowed mask leaves no code to choose")
    if allowed.dim() == 1:
        return scores.masked_fill(~allowed, fill)
    batch, codes = allowed.shape
    return scores.view(batch, -1, codes).masked_fill(~allowed[:, None, :], fill).view(scores.shape)


def squared_distances(latents: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """[N, C] latents, [V, C] codes -> [N, V] squared L2 distances, expanded as |z|^2 + |e|^2 - 2 z.e (the official
    VQ codes' expansion, which decides near-ties the way they do)."""
    return latents.square().sum(1, keepdim=True) + codebook.square().sum(1) - 2 * latents @ codebook.T
