"""The official VAR checkpoints on the Hugging Face Hub (FoundationVision/var), described as data.

Every file is a bare ``torch.save(state_dict)``. The transformer's width and head count follow
``build_vae_var``: width = 64 * depth, heads = depth. Sizes are the fp32 tensor bytes (the files
are a few KB larger).
"""

from arctl import Checkpoint, WeightFile

REPO = "FoundationVision/var"
PATCH_NUMS_256 = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)
PATCH_NUMS_512 = (1, 2, 3, 4, 6, 9, 13, 18, 24, 32)
VAE_FILE = WeightFile(REPO, "vae_ch160v4096z32.pth", size=435_957_260)
VAE_CONFIG = {"vocab_size": 4096, "z_channels": 32, "ch": 160, "using_znorm": False, "quant_conv_ks": 3,
              "quant_resi": 0.5, "share_quant_resi": 4, "beta": 0.25}
SIZES = {16: 1_243_051_936, 20: 2_405_623_264, 24: 4_135_597_216, 30: 8_042_164_144, 36: 9_435_986_752}


def var_checkpoint(depth: int) -> Checkpoint:
    patch_nums = PATCH_NUMS_512 if depth == 36 else PATCH_NUMS_256
    resolution = 16 * patch_nums[-1]
    return Checkpoint(
        name=f"var-d{depth}",
        description=f"VAR d{depth}, ImageNet {resolution}px class-conditional"
        + (" (shared AdaLN)" if depth == 36 else ""),
        files={"model": WeightFile(REPO, f"var_d{depth}.pth", size=SIZES[depth]), "vae": VAE_FILE},
        config={
            "var": {"num_classes": 1000, "depth": depth, "embed_dim": 64 * depth, "num_heads": depth,
                    "mlp_ratio": 4.0, "norm_eps": 1e-6, "shared_aln": depth == 36, "attn_l2_norm": True,
                    "patch_nums": list(patch_nums)},
            "vae": {**VAE_CONFIG, "v_patch_nums": list(patch_nums)},
            "resolution": resolution,
        },
    )


CHECKPOINTS = tuple(var_checkpoint(depth) for depth in (16, 20, 24, 30, 36))
VAE_CHECKPOINT = Checkpoint(
    name="var-vae",
    description="VAR's multi-scale VQVAE tokenizer (4096 codes, 32 channels, 16x downsampling)",
    files={"vae": VAE_FILE},
    config={"vae": {**VAE_CONFIG, "v_patch_nums": list(PATCH_NUMS_256)}},
)
