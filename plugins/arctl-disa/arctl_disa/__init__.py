"""arctl-disa: DiSA, diffusion step annealing for autoregressive models with diffusion heads (Zhao et al., 2025).

Training-free: a sampler that gives the diffusion head fewer denoising steps as generation proceeds. It
works with any generator that asks the core's diffusion seam (``batch.sampling.diffusion_steps``), MAR
among them. Registration only here (no torch).
"""

import arctl
from arctl import Option, SamplerSpec
from arctl_disa.annealing import STRATEGIES

__version__ = "0.1.0"

# what other plugins and scripts may import: the sampler and its schedule
__all__ = ["OPTIONS", "__version__", "annealing", "sampler"]

OPTIONS = (
    Option("upper", int, 50, "denoising steps at the first iteration", min=1, max=1000),
    Option("lower", int, 5, "denoising steps at the last iteration", min=1, max=1000),
    Option("strategy", str, "linear", "how the count falls from upper to lower (constant: always lower)",
           choices=STRATEGIES),
    Option("clip", float, 0.95, "cap timesteps at this fraction of the training chain, as the official code does "
           "(0.95: t <= 950); 1 disables", min=0.001, max=1.0),
)


@arctl.hookimpl
def register_samplers(register):
    register(SamplerSpec("disa", "Diffusion step annealing: fewer denoising steps for later iterations (DiSA).",
                         "arctl_disa.sampler:DiSASampler", options=OPTIONS, acts_on=("diffusion-steps",)))
