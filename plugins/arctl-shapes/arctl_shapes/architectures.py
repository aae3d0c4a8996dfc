"""Architectures of the shapes zoo (torch-free: registration reads them). 64 px images, 8x8 token grids."""

VAR_PATCH_NUMS = [1, 2, 3, 4, 6, 8]
VAR_VAE = {"vocab_size": 512, "z_channels": 8, "ch": 32, "ch_mult": [1, 1, 2, 2], "num_res_blocks": 1,
           "using_znorm": False, "quant_conv_ks": 3, "quant_resi": 0.5, "share_quant_resi": 4, "beta": 0.25,
           "v_patch_nums": VAR_PATCH_NUMS}
VAR = {"num_classes": 10, "depth": 6, "embed_dim": 128, "num_heads": 4, "mlp_ratio": 4.0, "norm_eps": 1e-6,
       "shared_aln": False, "attn_l2_norm": True, "patch_nums": VAR_PATCH_NUMS}
