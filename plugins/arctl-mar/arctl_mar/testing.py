"""Tiny MAR checkpoints in the official file layout, for the tests of this plugin and of the plugins that work
with any diffusion-head generator (DiSA, ...): same Hub repository and file names as mar-b, a tiny
architecture (16 px images, an 8x8 grid of 4-channel tokens, so MAR's default 64 iterations fit; all 1000
classes)."""

from __future__ import annotations

import contextlib
import dataclasses
import io

import torch

from arctl import Checkpoint, GeneratorSpec

TINY_MAR = {"img_size": 16, "vae_stride": 2, "patch_size": 1, "vae_embed_dim": 4, "class_num": 1000,
            "buffer_size": 4, "mlp_ratio": 4.0, "mask_ratio_min": 0.7, "label_drop_prob": 0.1, "attn_dropout": 0.1,
            "proj_dropout": 0.1, "diffusion_batch_mul": 1, "encoder_embed_dim": 32, "encoder_depth": 1,
            "encoder_num_heads": 2, "decoder_embed_dim": 24, "decoder_depth": 1, "decoder_num_heads": 2,
            "diffloss_d": 1, "diffloss_w": 32}
TINY_VAE = {"embed_dim": 4, "ch_mult": [1, 1], "ch": 32, "num_res_blocks": 1, "resolution": 16}


def tiny_checkpoint(checkpoint: Checkpoint) -> Checkpoint:
    """The same files and names with a tiny architecture."""
    return dataclasses.replace(checkpoint, config={**checkpoint.config, "mar": TINY_MAR, "vae": TINY_VAE})


def tiny_generator(spec: GeneratorSpec) -> GeneratorSpec:
    return dataclasses.replace(spec, checkpoints=tuple(tiny_checkpoint(c) for c in spec.checkpoints), batch_size=4)


def random_state_dicts(checkpoint: Checkpoint, seed: int = 0) -> dict:
    """Seeded weights for the roles "model" (MAR, perturbed so that classes and seeds change the image) and "vae"."""
    from arctl_mar.model import MAR
    from arctl_mar.vae import AutoencoderKL

    torch.manual_seed(seed)
    mar = MAR(**checkpoint.config["mar"])
    with torch.no_grad():
        for p in mar.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return {"model": mar.state_dict(), "vae": AutoencoderKL(**checkpoint.config["vae"]).state_dict()}


def official_training_checkpoint(ema: dict, seed: int = 1) -> bytes:
    """``torch.save({"model": ..., "model_ema": ...})`` as MAR's training writes checkpoint-last.pth; the ``model``
    entry differs from the EMA one, so loading the wrong entry shows."""
    generator = torch.Generator().manual_seed(seed)
    model = {k: v + 0.01 * torch.randn(v.shape, generator=generator) for k, v in ema.items()}
    buffer = io.BytesIO()
    torch.save({"model": model, "model_ema": dict(ema)}, buffer)
    return buffer.getvalue()


class GoldenCase:
    """A golden case folder of the official MAR code (MAR's or DiSA's): config.json, inputs/outputs, the MAR state
    dict and every recorded draw (rng_draws.safetensors + rng_draws_index.json, in call order)."""

    UNUSED = ("num_sampling_steps", "grad_checkpointing", "diff_upper_steps", "diff_lower_steps",
              "diff_annealing_strategy", "diff_sampler")  # sampler decisions here, or a training switch

    def __init__(self, folder) -> None:
        import json
        from pathlib import Path

        from safetensors.torch import load_file

        self.folder = Path(folder)
        self.config = json.loads((self.folder / "config.json").read_text())
        self.inputs = load_file(self.folder / "inputs.safetensors")
        self.outputs = load_file(self.folder / "outputs.safetensors")
        self.draws = load_file(self.folder / "rng_draws.safetensors")
        self.draw_index = json.loads((self.folder / "rng_draws_index.json").read_text())

    def mar_kwargs(self) -> dict:
        return {k: v for k, v in self.config["mar_constructor"]["kwargs"].items() if k not in self.UNUSED}

    def load_mar(self):
        from safetensors.torch import load_file

        from arctl.hub import load_strict
        from arctl_mar.model import MAR

        return load_strict(MAR(**self.mar_kwargs()), load_file(self.folder / "mar.state_dict.safetensors")).eval()

    def recorded_draws(self, name: str) -> list[torch.Tensor]:
        """Every draw the official code made for output ``name``, in call order."""
        return [draw for key, _fn, _count, _shape in self.draw_index[name] for draw in self.draws[key].unbind(0)]


def assert_close_rows(actual: torch.Tensor, expected: torch.Tensor, rows: int, atol: float) -> None:
    """The first ``rows`` rows to ``atol``; rows after them (a CFG run's discarded unconditional half, which the
    official code lets drift to values of hundreds) to 1e-3 of their largest magnitude."""
    torch.testing.assert_close(actual[:rows], expected[:rows], atol=atol, rtol=0)
    if rows < len(expected):
        scale = expected[rows:].abs().max().item()
        torch.testing.assert_close(actual[rows:], expected[rows:], atol=1e-3 * scale, rtol=0)


def official_orders(seed: int, batch: int, seq_len: int) -> torch.Tensor:
    """The generation orders the official sample_tokens draws after ``np.random.seed(seed)``: one in-place shuffle
    of 0..L-1 per image, from numpy's legacy global generator."""
    import numpy as np

    state = np.random.RandomState(seed)
    orders = []
    for _ in range(batch):
        order = np.arange(seq_len)
        state.shuffle(order)
        orders.append(order)
    return torch.from_numpy(np.stack(orders)).long()


@contextlib.contextmanager
def recorded_head_calls(model):
    """Within the block, every ``model.diffloss.sample`` call is kept as (z, cfg weight, sampled tokens, chain)."""
    calls: list[tuple] = []
    sample = model.diffloss.sample

    def recording(z, chain, noise, temperature=1.0, cfg=None):
        out = sample(z, chain, noise, temperature, cfg)
        calls.append((z, cfg, out, chain))
        return out

    model.diffloss.sample = recording
    try:
        yield calls
    finally:
        del model.diffloss.sample
