"""Round-trip fine-tuning of a zoo tokenizer's encoder.

A mark carried by the tokens (LBW) is read back by re-encoding the image, so it survives only as far as
decode -> 8-bit image -> encode gives back the tokens that were generated. Tokenizers trained only to
reconstruct give back about half of them on the shapes world (LlamaGen VQ 51%; VAR 46-88% by scale), and
fewer for the grids a green list forces. This stage trains the encoder alone (and the convolution into
the code space): the codebook and the decoder, so every generated image, stay exactly as they were. It
asks for two things at once:

- the token grids a watermark makes (real images quantized to a random subset of the codes, as the
  post-hoc watermark and a hard mark produce them) come back from their decoded images, stored at 8 bits
  and sometimes JPEG-compressed;
- real images keep the codes the frozen encoder gave them, the codes the transformers were trained on.

Jovanović et al. (Watermarking Autoregressive Image Generation, 2025) fine-tune the encoder for the same
reason; this is our own, smaller version of that idea for the shapes zoo.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from arctl.images import jpeg, stored
from arctl_shapes.training import Progress, batches, optimise

JPEG_QUALITIES = (50, 95)  # the range a compressed share of each batch is drawn from
GAMMAS = (0.1, 0.25, 0.5)  # green-list fractions the marked grids are drawn with


def tokenizer_of(module):
    """The arctl tokenizer around a zoo VQ module (LlamaGen's VQModel or VAR's VQVAE)."""
    from arctl_llamagen.vq import VQModel

    if isinstance(module, VQModel):
        from arctl_llamagen.tokenizer import VQTokenizer

        return VQTokenizer(module)
    from arctl_var.tokenizer import VARTokenizer

    return VARTokenizer(module)


def marked_tokens(tokenizer, images: torch.Tensor, generator: torch.Generator, gammas: Sequence[float] = GAMMAS):
    """Tokens of images quantized to a random green subset of the codes, one per image (what a watermark makes),
    each subset a fraction of the codebook drawn from ``gammas``."""
    gamma = torch.tensor(gammas)[torch.randint(len(gammas), (len(images), 1), generator=generator)]
    allowed = torch.rand(len(images), tokenizer.codebook_size, generator=generator) < gamma
    return tokenizer.encode(images, allowed=allowed)


def decoded_for_training(tokenizer, tokens, generator: torch.Generator) -> torch.Tensor:
    """Decoded images at 8 bits, a quarter of them JPEG-compressed at a random quality."""
    images = stored(tokenizer.decode(tokens))
    quarter = len(images) // 4
    quality = int(torch.randint(JPEG_QUALITIES[0], JPEG_QUALITIES[1] + 1, (1,), generator=generator))
    images[:quarter] = jpeg(images[:quarter], quality)
    return images


def finetune_encoder(module, images: torch.Tensor, recipe: dict, progress: Progress = lambda *a: None) -> list[float]:
    """Train the encoder of ``module`` (a zoo VQModel or VQVAE) in place on ``images`` [N, 3, H, W] in [0, 1]; the
    codebook and decoder are frozen. The loss is cross-entropy over the codes with logits -distance / temperature:
    a small temperature makes it a margin on the right code's being nearest. Returns the loss of every step."""
    frozen = tokenizer_of(copy.deepcopy(module).eval().requires_grad_(False))
    trained = tokenizer_of(module)
    temperature = recipe["roundtrip_temperature"]

    def code_loss(images: torch.Tensor, tokens) -> torch.Tensor:
        logits = -trained.code_distances(images, tokens).flatten(0, 1) / temperature
        return F.cross_entropy(logits, frozen.flat_tokens(tokens)[0].flatten())

    module.requires_grad_(False)
    for part in (module.encoder, module.quant_conv):
        part.requires_grad_(True)
    generator = torch.Generator().manual_seed(recipe["seed"])

    def loss_of(batch: torch.Tensor) -> torch.Tensor:
        real = images[batch]
        with torch.no_grad():
            original = frozen.encode(real)
            marked = marked_tokens(frozen, real, generator)
            decoded = decoded_for_training(frozen, marked, generator)
        return code_loss(decoded, marked) + recipe["roundtrip_keep_weight"] * code_loss(real, original)

    losses = optimise(module, loss_of, batches(len(images), recipe["roundtrip_batch"], recipe["seed"] + 2),
                      steps=recipe["roundtrip_steps"], lr=recipe["roundtrip_lr"], progress=progress)
    module.requires_grad_(False)
    return losses


@torch.no_grad()
def round_trip_agreement(module, images: torch.Tensor, seed: int = 0, gamma: float = 0.25) -> dict[str, float]:
    """Shares of tokens that come back from decode -> 8 bits -> encode: of real images' tokens (``real``), of
    grids quantized to a random gamma of the codes (``marked``), and of those after JPEG 75 (``marked_jpeg75``)."""
    tokenizer = tokenizer_of(module)
    generator = torch.Generator().manual_seed(seed)

    def agreement(tokens, images_back) -> float:
        a, b = tokenizer.flat_tokens(tokens)[0], tokenizer.flat_tokens(tokenizer.encode(images_back))[0]
        return (a == b).float().mean().item()

    real = tokenizer.encode(images)
    marked = marked_tokens(tokenizer, images, generator, (gamma,))
    decoded = stored(tokenizer.decode(marked))
    return {"real": agreement(real, stored(tokenizer.decode(real))), "marked": agreement(marked, decoded),
            "marked_jpeg75": agreement(marked, jpeg(decoded, 75))}
