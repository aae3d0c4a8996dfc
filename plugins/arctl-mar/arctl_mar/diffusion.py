"""The Gaussian diffusion MAR's head is trained and sampled with (improved DDPM, as in ADM/DiT).

Training uses 1000 steps of the cosine noise schedule (alpha-bar(t) = cos^2((t/T + 0.008) / 1.008 * pi/2),
each beta capped at 0.999). Sampling runs a shorter chain: a subset of the training timesteps, spread evenly
("100" keeps 100 of them), re-expressed as a chain of its own with betas 1 - abar_i / abar_prev. The head
always sees the original timestep. The head predicts eps and a value v in [-1, 1]; the step's log-variance
is the interpolation (v + 1)/2 * log(beta) + (1 - v)/2 * log(posterior variance) ("learned range").

DiSA's official code caps every retained timestep at a clip value (950) before deduplicating them, so the
chain starts less noisy and may have fewer steps than asked for; ``clip`` reproduces that.

Schedules are computed in float64 (numpy) and each coefficient is cast to float32 when applied, as in the
official code, so that samples agree to float32 rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

NUM_TRAIN_STEPS = 1000
MAX_BETA = 0.999

ModelFn = Callable[[Tensor, Tensor], Tensor]  # (x_t, original timesteps) -> [N, 2C]


def cosine_betas(num_steps: int = NUM_TRAIN_STEPS) -> np.ndarray:
    def alpha_bar(s: float) -> float:
        return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2

    return np.array([min(1 - alpha_bar((i + 1) / num_steps) / alpha_bar(i / num_steps), MAX_BETA)
                     for i in range(num_steps)])


def spaced_timesteps(num_steps: int, count: int) -> list[int]:
    """``count`` timesteps of 0..num_steps-1, evenly spread, both ends included. Positions are a running sum of the
    stride, rounded by Python's round, as in the official code (i * stride would round some halves differently)."""
    if count > num_steps:
        raise ValueError(f"cannot take {count} steps out of {num_steps}")
    stride = (num_steps - 1) / (count - 1) if count > 1 else 1
    kept, position = set(), 0.0
    for _ in range(count):
        kept.add(round(position))
        position += stride
    return sorted(kept)


def kl_normal(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor) -> Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)), elementwise, in nats."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def _approx_normal_cdf(x: Tensor) -> Tensor:
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


def discretized_log_likelihood(x: Tensor, means: Tensor, log_scales: Tensor) -> Tensor:
    """Log-probability of x under a Gaussian discretised into bins of width 2/255 on [-1, 1] (the open end
    bins take the tails), as the variational bound's last term uses it."""
    centred = x - means
    inv_std = torch.exp(-log_scales)
    cdf_plus = _approx_normal_cdf(inv_std * (centred + 1.0 / 255.0))
    cdf_min = _approx_normal_cdf(inv_std * (centred - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_delta))


def mean_flat(x: Tensor) -> Tensor:
    return x.mean(dim=list(range(1, x.dim())))


class GaussianDiffusion:
    """A chain over ``timesteps`` (a subset of the training steps, ascending) of the cosine schedule."""

    def __init__(self, timesteps: Sequence[int], num_train_steps: int = NUM_TRAIN_STEPS) -> None:
        base_cumprod = np.cumprod(1.0 - cosine_betas(num_train_steps))
        self.timestep_map = list(timesteps)
        betas, last = [], 1.0
        for t in self.timestep_map:
            betas.append(1 - base_cumprod[t] / last)
            last = base_cumprod[t]
        self.betas = np.array(betas, dtype=np.float64)
        self.num_timesteps = len(betas)
        ac = np.cumprod(1.0 - self.betas)
        ac_prev = np.append(1.0, ac[:-1])
        self.alphas_cumprod, self.alphas_cumprod_prev = ac, ac_prev
        self.sqrt_alphas_cumprod = np.sqrt(ac)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - ac)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / ac)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / ac - 1)
        self.posterior_variance = self.betas * (1.0 - ac_prev) / (1.0 - ac)
        # the posterior variance is 0 at the first step; its log takes the second step's value there
        self.posterior_log_variance_clipped = (
            np.log(np.append(self.posterior_variance[1], self.posterior_variance[1:]))
            if self.num_timesteps > 1 else np.array([]))
        self.posterior_mean_coef1 = self.betas * np.sqrt(ac_prev) / (1.0 - ac)
        self.posterior_mean_coef2 = (1.0 - ac_prev) * np.sqrt(1.0 - self.betas) / (1.0 - ac)
        self.log_betas = np.log(self.betas)
        self._tensors: dict[tuple[str, torch.device], Tensor] = {}

    @classmethod
    def respaced(cls, steps: int, clip: int | None = None, num_train_steps: int = NUM_TRAIN_STEPS) -> GaussianDiffusion:
        """``steps`` evenly spread timesteps; with ``clip`` every timestep above it becomes ``clip`` (DiSA)."""
        kept = spaced_timesteps(num_train_steps, steps)
        if clip is not None:
            kept = sorted({min(t, clip) for t in kept})
        return cls(kept, num_train_steps)

    def coefficient(self, name: str, index: Tensor) -> Tensor:
        """A schedule array at the chain indices ``index``, as float32 [N, 1]."""
        key = (name, index.device)
        if key not in self._tensors:
            self._tensors[key] = torch.from_numpy(getattr(self, name)).to(index.device)
        return self._tensors[key][index].float()[:, None]

    def original_timesteps(self, index: Tensor) -> Tensor:
        return torch.tensor(self.timestep_map, device=index.device, dtype=index.dtype)[index]

    # --- forward process and its posterior ---

    def q_sample(self, x_start: Tensor, index: Tensor, noise: Tensor) -> Tensor:
        return (self.coefficient("sqrt_alphas_cumprod", index) * x_start
                + self.coefficient("sqrt_one_minus_alphas_cumprod", index) * noise)

    def q_posterior(self, x_start: Tensor, x_t: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and clipped log-variance of q(x_{t-1} | x_t, x_0)."""
        mean = (self.coefficient("posterior_mean_coef1", index) * x_start
                + self.coefficient("posterior_mean_coef2", index) * x_t)
        return mean, self.coefficient("posterior_log_variance_clipped", index)

    # --- the reverse process ---

    def p_mean_variance(self, model: ModelFn, x: Tensor, index: Tensor) -> dict[str, Tensor]:
        out = model(x, self.original_timesteps(index))
        eps, v = out.split(x.shape[1], dim=1)
        min_log = self.coefficient("posterior_log_variance_clipped", index)
        max_log = self.coefficient("log_betas", index)
        frac = (v + 1) / 2
        log_variance = frac * max_log + (1 - frac) * min_log
        pred_xstart = (self.coefficient("sqrt_recip_alphas_cumprod", index) * x
                       - self.coefficient("sqrt_recipm1_alphas_cumprod", index) * eps)
        mean, _ = self.q_posterior(pred_xstart, x, index)
        return {"mean": mean, "variance": torch.exp(log_variance), "log_variance": log_variance,
                "pred_xstart": pred_xstart}

    def p_sample_loop(self, model: ModelFn, x_T: Tensor, noise, temperature: float = 1.0) -> Tensor:
        """Denoise ``x_T`` [N, C] through the whole chain. ``noise.randn(shape, like)`` supplies one draw per step
        (also at the last step, where it is multiplied by 0); ``temperature`` scales that noise only."""
        x = x_T
        for i in reversed(range(self.num_timesteps)):
            index = torch.full((x.shape[0],), i, device=x.device, dtype=torch.long)
            out = self.p_mean_variance(model, x, index)
            step_noise = noise.randn(x.shape, x)
            nonzero = (index != 0).float()[:, None]
            x = out["mean"] + nonzero * torch.exp(0.5 * out["log_variance"]) * step_noise * temperature
        return x

    # --- training ---

    def training_losses(self, model: ModelFn, x_start: Tensor, index: Tensor, noise: Tensor) -> dict[str, Tensor]:
        """Per-row losses at chain indices ``index``: the eps MSE plus the variational bound term that trains the
        variance channels (with eps detached, so the bound does not move the mean)."""
        x_t = self.q_sample(x_start, index, noise)
        out = model(x_t, self.original_timesteps(index))
        eps, v = out.split(x_start.shape[1], dim=1)
        frozen = torch.cat([eps.detach(), v], dim=1)
        vb = self._variational_bound(lambda *_: frozen, x_start, x_t, index)
        mse = mean_flat((noise - eps) ** 2)
        return {"loss": mse + vb, "mse": mse, "vb": vb}

    def _variational_bound(self, model: ModelFn, x_start: Tensor, x_t: Tensor, index: Tensor) -> Tensor:
        """In bits: KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)), or at the first step the decoder's NLL."""
        true_mean, true_log_variance = self.q_posterior(x_start, x_t, index)
        out = self.p_mean_variance(model, x_t, index)
        kl = mean_flat(kl_normal(true_mean, true_log_variance, out["mean"], out["log_variance"])) / math.log(2.0)
        nll = -discretized_log_likelihood(x_start, out["mean"], 0.5 * out["log_variance"])
        return torch.where(index == 0, mean_flat(nll) / math.log(2.0), kl)
