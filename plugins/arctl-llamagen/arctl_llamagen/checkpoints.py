"""The official LlamaGen class-conditional checkpoints (Hub repo FoundationVision/LlamaGen) as data.

c2i_B_256 / c2i_L_256 / c2i_XL_384 are ``{"model": state_dict}``; c2i_XXL_384 and c2i_3B_384 are
bare FSDP-consolidated state dicts. The image size fixes the token grid: 256 px -> 16x16, 384 px ->
24x24 with the 16x-downsampling VQ tokenizer. Sizes are the fp32 tensor bytes.
"""

from arctl import Checkpoint, WeightFile

REPO = "FoundationVision/LlamaGen"
VQ_FILE = WeightFile(REPO, "vq_ds16_c2i.pt", container="model", size=287_795_756)
VQ_CONFIG = {"codebook_size": 16384, "codebook_embed_dim": 8, "codebook_l2_norm": True,
             "encoder_ch_mult": [1, 1, 2, 2, 4], "decoder_ch_mult": [1, 1, 2, 2, 4], "z_channels": 256}

# name: (official GPT size, n_layer, n_head, dim, image size, file container, fp32 bytes)
SIZES = {
    "b": ("GPT-B", 12, 12, 768, 256, "model", 443_553_792),
    "l": ("GPT-L", 24, 16, 1024, 256, "model", 1_371_643_904),
    "xl": ("GPT-XL", 36, 20, 1280, 384, "model", 3_098_798_080),
    "xxl": ("GPT-XXL", 48, 24, 1536, 384, "bare", 5_643_890_688),
    "3b": ("GPT-3B", 24, 32, 3200, 384, "bare", 12_386_636_800),
}


def gpt_config(n_layer: int, n_head: int, dim: int, image_size: int) -> dict:
    return {"dim": dim, "n_layer": n_layer, "n_head": n_head, "num_classes": 1000, "vocab_size": 16384,
            "cls_token_num": 1, "block_size": (image_size // 16) ** 2}


def llamagen_checkpoint(size: str) -> Checkpoint:
    model, n_layer, n_head, dim, image_size, container, nbytes = SIZES[size]
    return Checkpoint(
        name=f"llamagen-{size}",
        description=f"LlamaGen {model} class-conditional, ImageNet {image_size}px ({image_size // 16}x{image_size // 16} tokens)",
        files={"model": WeightFile(REPO, f"c2i_{size.upper()}_{image_size}.pt", container=container, size=nbytes),
               "vq": VQ_FILE},
        config={"gpt": gpt_config(n_layer, n_head, dim, image_size), "vq": VQ_CONFIG, "image_size": image_size},
    )


CHECKPOINTS = tuple(llamagen_checkpoint(size) for size in SIZES)
VQ_CHECKPOINT = Checkpoint("llamagen-vq16", "LlamaGen's VQ-16 tokenizer (16384 codes, 8 channels, l2-normalised)",
                           files={"vq": VQ_FILE}, config={"vq": VQ_CONFIG})
