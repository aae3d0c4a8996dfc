"""A tiny random-weight VAR + VQVAE saved under the official file names in an offline Hub cache."""

import dataclasses

import pytest
import torch

import arctl
import arctl_var
from arctl import Checkpoint
from arctl_var.checkpoints import VAE_FILE, var_checkpoint

TINY_CONFIG = {
    "var": {"num_classes": 10, "depth": 2, "embed_dim": 64, "num_heads": 2, "mlp_ratio": 4.0, "norm_eps": 1e-6,
            "shared_aln": False, "attn_l2_norm": True, "patch_nums": [1, 2, 3, 4]},
    "vae": {"vocab_size": 64, "z_channels": 8, "ch": 32, "using_znorm": False, "quant_conv_ks": 3, "quant_resi": 0.5,
            "share_quant_resi": 4, "beta": 0.25, "v_patch_nums": [1, 2, 3, 4]},
    "resolution": 64,
}
# Same repository and file names as var-d16, tiny architecture.
TINY = Checkpoint("var-tiny", "Tiny random VAR in the official file layout.",
                  files=dict(var_checkpoint(16).files), config=TINY_CONFIG)


class TinyVARPlugin:
    @arctl.hookimpl
    def register_generators(self, register):
        register(dataclasses.replace(arctl_var.VAR_GENERATOR, name="var-test", checkpoints=(TINY,), num_classes=10,
                                     batch_size=4))


def tiny_state_dicts(seed: int = 0) -> dict:
    from arctl_var.model import VAR
    from arctl_var.vqvae import VQVAE

    torch.manual_seed(seed)
    vqvae = VQVAE(**TINY_CONFIG["vae"])
    var = VAR(Cvae=8, vocab_size=64, **TINY_CONFIG["var"])
    with torch.no_grad():  # make the head and AdaLN matter so that classes and seeds change the image
        for p in var.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return {"model": var.state_dict(), "vae": vqvae.state_dict()}


@pytest.fixture
def var_manager(make_plugin_manager):
    return make_plugin_manager(arctl_var, TinyVARPlugin())


@pytest.fixture
def tiny_var(hub_cache):
    """The tiny model in the offline cache, as `torch.save(state_dict)` files like the official ones."""
    states = tiny_state_dicts()
    paths = hub_cache.add_checkpoint(TINY, states)
    assert {p.name for p in paths.values()} == {"var_d16.pth", VAE_FILE.filename}
    return states
