"""VAR's multi-scale residual quantizer (the official ``VectorQuantizer2``, inference paths only).

A latent f of size H x W is tokenised coarse to fine. At scale k the residual r_k = f - f_hat_{k-1} is area-downsampled
to the scale's token grid (the last scale uses it at full size), every position takes its nearest codebook entry, and
the code map is upsampled back to H x W (bicubic) and refined by a light convolution Phi before it joins f_hat:

    f_hat_k = f_hat_{k-1} + Phi_k(upsample(embed(idx_k))),    Phi(h) = (1 - r) * h + r * conv3x3(h)

The few Phi convolutions are shared between scales: scale si of SN uses the one whose tick in (0, 1) lies nearest
to si / (SN - 1). State-dict keys are the official ones, so released checkpoints load strictly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from arctl.codebooks import restrict_codes

PatchNum = int | tuple[int, int]


def phi_ticks(num_phis: int) -> np.ndarray:
    """Where each of K shared Phi layers sits in [0, 1] (the official float64 values; K = 4 is spaced differently)."""
    margin = 1 / 3 / num_phis if num_phis == 4 else 1 / 2 / num_phis
    return np.linspace(margin, 1 - margin, num_phis)


def phi_index(si: int, num_scales: int, num_phis: int) -> int:
    """Which Phi scale si of num_scales uses.

    Kept in float64 numpy with argmin's first-minimum rule: several scales sit exactly half-way between two ticks,
    and only this arithmetic reproduces the official choice there (e.g. [0, 0, 1, 1, 1, 2, 2, 3, 3, 3] at 10 scales).
    """
    return int(np.argmin(np.abs(phi_ticks(num_phis) - si / (num_scales - 1))))


class Phi(nn.Conv2d):
    """Residual refinement of an upsampled code map: h * (1 - ratio) + conv3x3(h) * ratio."""

    def __init__(self, channels: int, ratio: float) -> None:
        super().__init__(channels, channels, kernel_size=3, padding=1)
        self.ratio = abs(ratio)

    def forward(self, h: Tensor) -> Tensor:
        return h * (1 - self.ratio) + super().forward(h) * self.ratio


class PhiBank(nn.Module):
    """The Phi layers under the official key names of each sharing mode.

    share_quant_resi == 0: one per scale, ``quant_resi.{k}``; == 1: a single one, ``quant_resi.qresi``;
    K > 1: K layers shared by neighbouring scales, ``quant_resi.qresi_ls.{k}``.
    """

    def __init__(self, phis: list[nn.Module], share_quant_resi: int) -> None:
        super().__init__()
        if share_quant_resi == 0:
            for k, phi in enumerate(phis):
                self.add_module(str(k), phi)
            self._names = [str(k) for k in range(len(phis))]
        elif share_quant_resi == 1:
            self.qresi = phis[0]
            self._names = ["qresi"]
        else:
            self.qresi_ls = nn.ModuleList(phis)
            self._names = [f"qresi_ls.{k}" for k in range(len(phis))]

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, k: int) -> nn.Module:
        return self.get_submodule(self._names[k])


class MultiScaleQuantizer(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        Cvae: int,
        using_znorm: bool = False,
        beta: float = 0.25,
        default_qresi_counts: int = 0,
        v_patch_nums: Sequence[int] = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16),
        quant_resi: float = 0.5,
        share_quant_resi: int = 4,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.Cvae = Cvae
        self.using_znorm = using_znorm
        self.beta = beta  # commitment-loss weight: only used in training, kept for the record
        self.v_patch_nums = tuple(v_patch_nums)

        if share_quant_resi == 0:
            num_phis = default_qresi_counts or len(self.v_patch_nums)
        else:
            num_phis = share_quant_resi
        # a ratio of ~0 means no refinement at all: identities, and no weights in the checkpoint
        phis = [Phi(Cvae, quant_resi) if abs(quant_resi) > 1e-6 else nn.Identity() for _ in range(num_phis)]
        self.quant_resi = PhiBank(phis, share_quant_resi)

        # codebook-usage statistics of VAE training: unused here, but part of every checkpoint
        self.register_buffer("ema_vocab_hit_SV", torch.zeros(len(self.v_patch_nums), vocab_size))
        self.embedding = nn.Embedding(vocab_size, Cvae)

    # --- building blocks ---------------------------------------------------------------------------------------

    def phi(self, si: int, num_scales: int | None = None) -> nn.Module:
        """The Phi used at scale index si of num_scales (default: this quantizer's own schedule)."""
        return self.quant_resi[phi_index(si, num_scales or len(self.v_patch_nums), len(self.quant_resi))]

    def lookup(self, idx: Tensor, ph: int, pw: int) -> Tensor:
        """Embed a token map given as [B, ph*pw] (row-major) or [B, ph, pw] indices -> [B, Cvae, ph, pw]."""
        return self.embedding(idx.flatten(1)).transpose(1, 2).reshape(idx.shape[0], self.Cvae, ph, pw)

    def _scale_contribution(self, si: int, num_scales: int, h: Tensor, size: tuple[int, int]) -> Tensor:
        """Phi(upsample(h)): what scale si's code map adds to f_hat (the last scale is already full size)."""
        if si != num_scales - 1:
            h = F.interpolate(h, size=size, mode="bicubic")
        return self.phi(si, num_scales)(h)

    def code_distances(self, z: Tensor) -> Tensor:
        """Rows z [N, Cvae] -> squared distances [N, V] to every code: L2, or between the L2-normalised vectors
        (2 - 2 cos) when ``using_znorm``; the nearest code is the one ``_nearest_codes`` picks."""
        codebook = self.embedding.weight
        if self.using_znorm:
            return 2 - 2 * F.normalize(z, dim=-1) @ F.normalize(codebook.T, dim=0)
        # |z|^2 + |e|^2 - 2 z.e, summed in this order like the official code so near-ties resolve identically
        dist = z.square().sum(dim=1, keepdim=True) + codebook.square().sum(dim=1)
        return torch.addmm(dist, z, codebook.T, alpha=-2)

    def residual_distances(self, f: Tensor, idx: Sequence[Tensor]) -> Tensor:
        """Squared distances [B, L, V] of every scale's residual to every code, all scales coarse to fine (the flat
        token order), where scale k's residual is what the given codes ``idx`` of scales 1..k-1 leave of f: the
        distances the coarse-to-fine search compares at each scale. Differentiable in f."""
        B, C = f.shape[:2]
        with torch.no_grad():  # f_hat after each scale of the given codes
            maps = [self.lookup(codes, pn, pn) for pn, codes in zip(self.v_patch_nums, idx)]
            explained = [torch.zeros_like(f), *self.embed_to_fhat(maps)[:-1]]
        distances = []
        for si, pn in enumerate(self.v_patch_nums):
            rest = f - explained[si]
            z = rest if si == len(self.v_patch_nums) - 1 else F.interpolate(rest, size=(pn, pn), mode="area")
            distances.append(self.code_distances(z.permute(0, 2, 3, 1).reshape(-1, C)).view(B, pn * pn, -1))
        return torch.cat(distances, dim=1)

    def _nearest_codes(self, z: Tensor, allowed: Tensor | None = None) -> Tensor:
        """Index of the nearest codebook entry for every row of z [N, Cvae] (rows grouped by image); with
        ``allowed`` (bool [V], or [B, V] per image) only the allowed entries compete."""
        if self.using_znorm:  # cosine similarity, as officially
            similarity = F.normalize(z, dim=-1) @ F.normalize(self.embedding.weight.T, dim=0)
            return torch.argmax(restrict_codes(similarity, allowed, float("-inf")), dim=1)
        return torch.argmin(restrict_codes(self.code_distances(z), allowed, float("inf")), dim=1)

    # --- image latent -> tokens ----------------------------------------------------------------------------------

    def _residual_quantize(
        self, f: Tensor, patch_nums: Sequence[PatchNum] | None, allowed: Tensor | None = None
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Quantize f [B, C, H, W] coarse to fine; yields (indices [B, ph*pw], running f_hat) after every scale.

        ``allowed`` (bool [V] or [B, V]) restricts every scale's search, so each residual takes its nearest allowed
        code and the finer scales correct what the restriction costs the coarser ones."""
        B, C, H, W = f.shape
        scales = [(pn, pn) if isinstance(pn, int) else tuple(pn) for pn in (patch_nums or self.v_patch_nums)]
        if scales[-1] != (H, W):
            raise ValueError(f"the last scale {scales[-1]} must be the latent size {(H, W)}")
        rest = f.detach().clone()
        f_hat = torch.zeros_like(rest)
        for si, (ph, pw) in enumerate(scales):
            z = rest if si == len(scales) - 1 else F.interpolate(rest, size=(ph, pw), mode="area")
            idx = self._nearest_codes(z.permute(0, 2, 3, 1).reshape(-1, C), allowed).view(B, ph * pw)
            h = self._scale_contribution(si, len(scales), self.lookup(idx, ph, pw), (H, W))
            f_hat.add_(h)
            rest.sub_(h)
            yield idx, f_hat

    def forward(self, f: Tensor) -> tuple[Tensor, Tensor, list[Tensor]]:
        """VQ-VAE training: (straight-through f_hat, codebook + beta * commitment loss averaged over scales,
        indices per scale), as the official training forward computes them."""
        B, C, H, W = f.shape
        num_scales = len(self.v_patch_nums)
        rest, f_hat, loss, indices = f.detach(), torch.zeros_like(f), f.new_zeros(()), []
        for si, pn in enumerate(self.v_patch_nums):
            z = rest if si == num_scales - 1 else F.interpolate(rest, size=(pn, pn), mode="area")
            idx = self._nearest_codes(z.permute(0, 2, 3, 1).reshape(-1, C)).view(B, pn * pn)
            h = self._scale_contribution(si, num_scales, self.lookup(idx, pn, pn), (H, W))
            f_hat = f_hat + h  # not in place: every scale's f_hat is part of the loss
            rest = rest - h.detach()
            loss = loss + F.mse_loss(f_hat, f.detach()) + self.beta * F.mse_loss(f_hat.detach(), f)
            indices.append(idx)
        return f + (f_hat - f).detach(), loss / num_scales, indices

    def f_to_idx(
        self, f: Tensor, patch_nums: Sequence[PatchNum] | None = None, allowed: Tensor | None = None
    ) -> list[Tensor]:
        """Token indices of every scale, each [B, ph*pw] in row-major order (only ``allowed`` codes, if given)."""
        return [idx for idx, _ in self._residual_quantize(f, patch_nums, allowed)]

    def f_to_fhat(self, f: Tensor, patch_nums: Sequence[PatchNum] | None = None) -> list[Tensor]:
        """The cumulative reconstruction f_hat [B, C, H, W] after every scale."""
        return [f_hat.clone() for _, f_hat in self._residual_quantize(f, patch_nums)]

    # --- tokens -> latent ------------------------------------------------------------------------------------------

    def embed_to_fhat(
        self, ms_h: list[Tensor], all_to_max_scale: bool = True, last_one: bool = False
    ) -> list[Tensor] | Tensor:
        """Sum embedded code maps ms_h[si] [B, C, pn, pn] into f_hat; every running f_hat, or only the final one.

        all_to_max_scale=False is the official experimental variant that grows f_hat scale by scale (bicubic)
        instead of upsampling every code map to the final size; VAR itself never uses it.
        """
        num_scales, final = len(self.v_patch_nums), self.v_patch_nums[-1]
        B = ms_h[0].shape[0]
        f_hats = []
        if all_to_max_scale:
            f_hat = ms_h[0].new_zeros(B, self.Cvae, final, final, dtype=torch.float32)
            for si, h in enumerate(ms_h):
                f_hat.add_(self._scale_contribution(si, num_scales, h, (final, final)))
                f_hats.append(f_hat.clone())
        else:
            first = self.v_patch_nums[0]
            f_hat = ms_h[0].new_zeros(B, self.Cvae, first, first, dtype=torch.float32)
            for si, (pn, h) in enumerate(zip(self.v_patch_nums, ms_h)):
                f_hat = F.interpolate(f_hat, size=(pn, pn), mode="bicubic") + self.phi(si)(h)
                f_hats.append(f_hat)
        return f_hats[-1] if last_one else f_hats

    # --- VAR's view: teacher-forcing inputs and autoregressive steps ------------------------------------------------

    def next_autoregressive_input(self, si: int, f_hat: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """Add scale si's code map h [B, C, pn, pn] into f_hat (in place) and return (f_hat, next input).

        The next input is f_hat area-downsampled to scale si+1's grid; after the last scale it is f_hat itself.
        """
        num_scales, final = len(self.v_patch_nums), self.v_patch_nums[-1]
        f_hat.add_(self._scale_contribution(si, num_scales, h, (final, final)))
        if si == num_scales - 1:
            return f_hat, f_hat
        pn_next = self.v_patch_nums[si + 1]
        return f_hat, F.interpolate(f_hat, size=(pn_next, pn_next), mode="area")

    def idx_to_var_input(self, idx: list[Tensor]) -> Tensor:
        """Teacher-forcing input of VAR: the next-scale inputs of scales 1..SN-1, channels-last [B, L - pn_0^2, Cvae].

        Scale 0 has no entry: its input is VAR's start token.
        """
        B, final = idx[0].shape[0], self.v_patch_nums[-1]
        f_hat = idx[0].new_zeros(B, self.Cvae, final, final, dtype=torch.float32)
        pieces = [f_hat.new_zeros(B, 0, self.Cvae)]
        for si, pn in enumerate(self.v_patch_nums[:-1]):
            f_hat, next_input = self.next_autoregressive_input(si, f_hat, self.lookup(idx[si], pn, pn))
            pieces.append(next_input.flatten(2).transpose(1, 2))
        return torch.cat(pieces, dim=1)
