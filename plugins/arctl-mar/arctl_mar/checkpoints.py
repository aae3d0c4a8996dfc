"""MAR's released checkpoints as data: the community safetensors on the Hugging Face Hub (jadechoghari/mar),
one file per size plus the shared KL-16 VAE.

Architectures follow the official ``mar_base/large/huge`` factories (MAR-H has 16 heads, not 20) with the
training script's fixed settings: 256 px, VAE stride 16, patch size 1, 64 buffer positions. The official
``checkpoint-last.pth`` files ({"model", "model_ema"}) and ``kl16.ckpt`` ({"model"}) load through
``--weights`` (or an ``hf://`` reference): their containers are recorded here, so the model role reads the
EMA weights (what the official evaluation uses) and the VAE role the ``model`` entry; the safetensors files
are bare state dicts and ignore the container. Sizes are the file sizes of the Hub listing.
"""

from arctl import Checkpoint, WeightFile

REPO = "jadechoghari/mar"
LATENT_SCALE = 0.2325  # MAR's training code multiplies VAE latents by this before modelling them
VAE_FILE = WeightFile(REPO, "kl16.safetensors", container="model", size=265_856_244)
VAE_CONFIG = {"embed_dim": 16, "ch_mult": [1, 1, 2, 2, 4], "ch": 128, "num_res_blocks": 2, "resolution": 256}
COMMON = {"img_size": 256, "vae_stride": 16, "patch_size": 1, "vae_embed_dim": 16, "class_num": 1000,
          "buffer_size": 64, "mlp_ratio": 4.0, "mask_ratio_min": 0.7, "label_drop_prob": 0.1,
          "attn_dropout": 0.1, "proj_dropout": 0.1, "diffusion_batch_mul": 1}

# name: (paper size, file, width, depth, heads, head depth, head width, file bytes)
SIZES = {
    "b": ("MAR-B", "mar-base.safetensors", 768, 12, 12, 6, 1024, 831_736_456),
    "l": ("MAR-L", "mar-large.safetensors", 1024, 16, 16, 8, 1280, 1_913_355_128),
    "h": ("MAR-H", "mar-huge.safetensors", 1280, 20, 16, 12, 1536, 3_769_676_360),
}


def mar_config(width: int, depth: int, heads: int, head_depth: int, head_width: int) -> dict:
    return {**COMMON, "encoder_embed_dim": width, "encoder_depth": depth, "encoder_num_heads": heads,
            "decoder_embed_dim": width, "decoder_depth": depth, "decoder_num_heads": heads,
            "diffloss_d": head_depth, "diffloss_w": head_width}


def mar_checkpoint(size: str) -> Checkpoint:
    paper, filename, width, depth, heads, head_depth, head_width, nbytes = SIZES[size]
    return Checkpoint(
        name=f"mar-{size}",
        description=f"{paper}, ImageNet 256px class-conditional, continuous KL-16 tokens with a diffusion head",
        files={"model": WeightFile(REPO, filename, container="model_ema", size=nbytes), "vae": VAE_FILE},
        config={"mar": mar_config(width, depth, heads, head_depth, head_width), "vae": VAE_CONFIG,
                "latent_scale": LATENT_SCALE},
    )


CHECKPOINTS = tuple(mar_checkpoint(size) for size in SIZES)
