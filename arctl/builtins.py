"""Components the core ships, registered through the same hooks as any plugin's."""

from arctl.hookspecs import hookimpl
from arctl.options import Option
from arctl.registry import AcceleratorSpec, CFGScheduleSpec, SamplerSpec


@hookimpl
def register_accelerators(register):
    register(AcceleratorSpec("cpu", "The CPU (float32 by default).", "arctl.accelerate:CPUAccelerator"))
    register(AcceleratorSpec("cuda", "NVIDIA GPUs through CUDA (bf16 autocast where supported).", "arctl.accelerate:CUDAAccelerator"))
    register(AcceleratorSpec("mps", "Apple GPUs through Metal Performance Shaders.", "arctl.accelerate:MPSAccelerator"))


@hookimpl
def register_samplers(register):
    # --temperature also scales a diffusion head's noise, so multinomial acts on both seams; greedy only draws tokens
    register(SamplerSpec("multinomial", "Temperature, then top-k, then top-p, then a draw from the seeded generator.", "arctl.sampling:MultinomialSampler",
                         acts_on=("token-logits", "diffusion-steps")))
    register(SamplerSpec("greedy", "Always the most likely token (deterministic, ignores the seed).", "arctl.sampling:GreedySampler",
                         acts_on=("token-logits",)))
    register(CFGScheduleSpec("constant", "Guidance weight cfg at every step, off for cfg <= 1 (LlamaGen).", "arctl.sampling:ConstantCFG"))
    register(CFGScheduleSpec("linear", "Weight 1 + cfg * progress: unguided at the first step, 1 + cfg at the last (VAR).", "arctl.sampling:LinearCFG"))
    register(CFGScheduleSpec("half-linear", "Weight ramps from 1 to cfg over the first half of generation, then holds (Token-Shuffle).", "arctl.sampling:HalfLinearCFG"))
    register(
        CFGScheduleSpec(
            "interval",
            "Constant weight cfg until progress passes cfg_cutoff, unguided after it (LlamaGen's cfg_interval).",
            "arctl.sampling:IntervalCFG",
            options=(Option("cfg_cutoff", float, 1.0, "progress in [0, 1] after which guidance stops", min=0.0, max=1.0),),
        )
    )
