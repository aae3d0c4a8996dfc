"""The diffusion loss: MAR models each continuous token with a small denoising diffusion conditioned on z.

Training draws a timestep per token and regresses the noise (plus the variational term for the variance);
sampling runs the reverse chain the caller chooses (its step count is the sampler's decision, see
``arctl_mar.sampling``) from Gaussian noise, with classifier-free guidance on eps.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from arctl_mar.diffusion import GaussianDiffusion
from arctl_mar.head import SimpleMLPAdaLN


class DiffLoss(nn.Module):
    def __init__(self, target_channels: int, z_channels: int, depth: int, width: int) -> None:
        super().__init__()
        self.in_channels = target_channels
        self.net = SimpleMLPAdaLN(target_channels, width, 2 * target_channels, z_channels, depth)
        self.train_diffusion = GaussianDiffusion.respaced(1000)

    def forward(self, target: Tensor, z: Tensor, mask: Tensor | None = None,
                generator: torch.Generator | None = None) -> Tensor:
        """Mean loss over the tokens where ``mask`` is 1 (all tokens without a mask)."""
        t = torch.randint(0, self.train_diffusion.num_timesteps, (target.shape[0],), device=target.device,
                          generator=generator)
        noise = torch.randn(target.shape, device=target.device, dtype=target.dtype, generator=generator)
        loss = self.train_diffusion.training_losses(lambda x, ts: self.net(x, ts, z), target, t, noise)["loss"]
        if mask is not None:
            loss = (loss * mask).sum() / mask.sum()
        return loss.mean()

    def sample(self, z: Tensor, diffusion: GaussianDiffusion, noise, temperature: float = 1.0,
               cfg: float | None = None) -> Tensor:
        """Tokens [N, C] for conditions z [N, Z]. With ``cfg`` z is [conditional; unconditional] and both halves
        start from the same draw; the result then has 2N' rows of which the first half is the guided sample."""
        rows = z.shape[0] // 2 if cfg is not None else z.shape[0]
        x_T = noise.randn((rows, self.in_channels), z)
        if cfg is None:
            return diffusion.p_sample_loop(lambda x, t: self.net(x, t, z), x_T, noise, temperature)
        return diffusion.p_sample_loop(lambda x, t: self.net.forward_with_cfg(x, t, z, cfg), torch.cat([x_T, x_T]),
                                       noise, temperature)
