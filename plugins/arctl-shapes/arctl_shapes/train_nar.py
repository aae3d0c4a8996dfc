"""The nar-shapes recipe: NAR (next-neighbour prediction) trained on the llamagen-shapes tokenizer, so the two
differ only in the order they generate; saved as the local repository zoo/nar-shapes (the tokenizer is not
copied: the checkpoint points at llamagen-shapes' file)."""

from __future__ import annotations

from pathlib import Path

import torch

from arctl_shapes.architectures import LLAMAGEN_GPT, LLAMAGEN_VQ
from arctl_shapes.train_llamagen import train_token_model, world_tokens
from arctl_shapes.training import Progress, Timer, save_repo, summary, transformer_images
from arctl_shapes.zoo import ZOO

SHIPPED_VQ = "shipped"  # the llamagen-shapes tokenizer in this package; any other value is a file path

RECIPE = {"seed": 0, "images": 20_000, "vq": SHIPPED_VQ,
          "nar_steps": 2000, "nar_batch": 48, "nar_lr": 1e-3, "nar_refine_steps": 4000, "nar_refine_lr": 7e-4,
          "nar_extend_steps": 6000, "nar_extend_lr": 5e-4, "nar_extend_images": 80_000, "class_dropout_prob": 0.1}


def load_vq(path: str):
    from arctl.hub import file_sha256, load_state_dict, load_strict
    from arctl_llamagen.vq import VQModel

    file = ZOO / "llamagen-shapes" / "vq.safetensors" if path == SHIPPED_VQ else Path(path)
    vq = load_strict(VQModel(**LLAMAGEN_VQ), load_state_dict(file), source=str(file))  # fp16 file, fp32 model
    return vq.eval().requires_grad_(False), file_sha256(file)


def train_nar(tokens: torch.Tensor, labels: torch.Tensor, recipe: dict, progress: Progress,
              out_dir: Path | None = None):
    from arctl_nar.model import NARTransformer

    torch.manual_seed(recipe["seed"])
    nar = NARTransformer(**LLAMAGEN_GPT, class_dropout_prob=recipe["class_dropout_prob"])
    nar.init_weights()
    # NAR's teacher forcing takes all tokens: each is predicted from its left and upper neighbours
    losses = train_token_model(nar, "nar", tokens, labels, lambda t, c: nar(t, c), recipe, "nar", progress, out_dir)
    return nar, losses


def train(out_dir: Path, recipe: dict | None = None, progress: Progress = lambda step, steps, loss: None) -> dict:
    """Run the recipe on a trained tokenizer (recipe["vq"]) and write out_dir/{nar.safetensors, config.json}."""
    recipe = {**RECIPE, **(recipe or {})}
    timer = Timer()
    vq, vq_sha256 = load_vq(recipe["vq"])
    nar, losses = train_nar(*world_tokens(vq, transformer_images(recipe, "nar")), recipe, progress, out_dir)
    record = {
        "family": "nar", "gpt": LLAMAGEN_GPT, "vq": LLAMAGEN_VQ, "vq_sha256": vq_sha256, "recipe": recipe,
        "resolution": 64, "nar_loss": summary(losses), "seconds": {"total": timer.seconds},
        "threads": torch.get_num_threads(),
    }
    save_repo(out_dir, {"nar.safetensors": nar.state_dict()}, record)
    return record
