"""The official NAR class-conditional checkpoints, described as data.

Only NAR-B's file name (``last_version.pt``, ``{"model": state_dict}``) could be confirmed offline;
the others are assumed to follow it. Where that is wrong, point arctl at the right file with
``--weights hf://ORG/REPO/FILE`` (or a local path). Containers are read leniently like the official
sampler ({"model"}, {"module"}, {"state_dict"} or bare), the weights strictly. All are 256 px
(16x16 tokens) with LlamaGen's VQ-16 tokenizer. Sizes are fp32 tensor bytes.
"""

from arctl import Checkpoint, WeightFile
from arctl_llamagen.checkpoints import VQ_CONFIG, VQ_FILE, gpt_config

# name: (Hub repo, official GPT size, n_layer, n_head, dim, fp32 bytes, file name confirmed)
SIZES = {
    "b": ("chenfeng1271/NAR-imagenet-256-B", "GPT-B", 12, 12, 768, 522_206_208, True),
    "m": ("yefly/NAR-imagenet-256-M", "GPT-M", 18, 16, 1024, 1_181_814_784, False),
    "l": ("chenfeng1271/NAR-imagenet-256-L", "GPT-L", 24, 16, 1024, 1_490_145_280, False),
    "xl": ("yefly/NAR-imagenet-256-XL", "GPT-XL", 36, 20, 1280, 3_263_964_160, False),
    "xxl": ("chenfeng1271/NAR-imagenet-256-XXL", "GPT-XXL", 48, 24, 1536, 5_857_818_624, False),
}


def nar_checkpoint(size: str) -> Checkpoint:
    repo, model, n_layer, n_head, dim, nbytes, confirmed = SIZES[size]
    note = "" if confirmed else " (file name assumed: see docs/nar.md)"
    return Checkpoint(
        name=f"nar-{size}",
        description=f"NAR {model}+1 block, ImageNet 256px class-conditional, 31 passes per image{note}",
        files={"model": WeightFile(repo, "last_version.pt", container="auto", size=nbytes), "vq": VQ_FILE},
        config={"gpt": {**gpt_config(n_layer, n_head, dim, 256), "medusa_attention_num": 1}, "vq": VQ_CONFIG,
                "image_size": 256},
    )


CHECKPOINTS = tuple(nar_checkpoint(size) for size in SIZES)
