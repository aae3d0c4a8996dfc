"""Architectures of the shapes zoo (torch-free: registration reads them). 64 px images, 8x8 token grids."""

VAR_PATCH_NUMS = [1, 2, 3, 4, 6, 8]
VAR_VAE = {"vocab_size": 1024, "z_channels": 16, "ch": 32, "ch_mult": [1, 2, 4, 4], "num_res_blocks": 1,
           "using_znorm": False, "quant_conv_ks": 3, "quant_resi": 0.5, "share_quant_resi": 4, "beta": 0.25,
           "v_patch_nums": VAR_PATCH_NUMS}
VAR = {"num_classes": 10, "depth": 6, "embed_dim": 128, "num_heads": 4, "mlp_ratio": 4.0, "norm_eps": 1e-6,
       "shared_aln": False, "attn_l2_norm": True, "patch_nums": VAR_PATCH_NUMS}

# LlamaGen's VQ at 8x downsampling (4 levels) and a small GPT over its 8x8 grid; NAR reuses both the tokenizer
# and the GPT shape (its extra block and head come from the NAR class itself).
LLAMAGEN_VQ = {"codebook_size": 1024, "codebook_embed_dim": 8, "codebook_l2_norm": True,
               "encoder_ch_mult": [1, 2, 2, 4], "decoder_ch_mult": [1, 2, 2, 4], "z_channels": 64, "ch": 32}
LLAMAGEN_GPT = {"dim": 128, "n_layer": 6, "n_head": 4, "num_classes": 10, "vocab_size": 1024, "cls_token_num": 1,
                "block_size": 64}

# MAR's KL VAE at 8x downsampling (4 levels: 64 px -> an 8x8 grid of 8-channel continuous tokens) and a small MAR
# over it. The buffer holds only the class embedding, so 8 positions do (the official 64 serve 256 tokens); no
# dropout, since the model sees each image only a few times in the CPU budget.
MAR_VAE = {"embed_dim": 8, "ch_mult": [1, 1, 1, 2], "ch": 32, "num_res_blocks": 1, "resolution": 64}
MAR = {"img_size": 64, "vae_stride": 8, "patch_size": 1, "vae_embed_dim": 8, "class_num": 10, "buffer_size": 8,
       "mlp_ratio": 4.0, "mask_ratio_min": 0.7, "label_drop_prob": 0.1, "attn_dropout": 0.0, "proj_dropout": 0.0,
       "diffusion_batch_mul": 4, "encoder_embed_dim": 128, "encoder_depth": 2, "encoder_num_heads": 4,
       "decoder_embed_dim": 128, "decoder_depth": 2, "decoder_num_heads": 4, "diffloss_d": 3, "diffloss_w": 128}
# 1 / std of the shipped VAE's training latents, as the recipe measured it (train_mar.measure_latent_scale, recorded
# in zoo/mar-shapes/config.json; a test checks the two agree): MAR's 0.2325 for KL-16, for this VAE
MAR_LATENT_SCALE = 0.6542
