"""Round-trip fine-tuning of a zoo tokenizer's encoder and decoder.

A mark carried by the tokens (LBW) is read back by re-encoding the image, so it survives only as far as
decode -> 8-bit image -> encode gives back the tokens that were generated. Tokenizers trained only to
reconstruct give back about half of them on the shapes world (LlamaGen VQ 51%; VAR 46-88% by scale), and
fewer for the grids a green list forces. Training the encoder alone plateaus near a third for those grids
(docs/lbw.md): the frozen decoder draws many codes alike, and no encoder can tell them apart. So this stage
trains encoder and decoder together, with the codebook frozen (the generators' tokens keep their meaning).
It asks for three things at once:

- token grids come back from the images the *trained* decoder draws for them, stored at 8 bits and sometimes
  JPEG-compressed (straight through, so the decoder learns to draw codes apart): the grids a watermark makes
  (real images quantized to a random subset of the codes, as the post-hoc watermark and a hard mark produce
  them) and real images' own grids;
- real images keep the codes the frozen encoder gave them, the codes the transformers were trained on;
- the decoder draws every grid as the frozen one did (mean squared error, weighted by ``roundtrip_hold``), so
  the generators' images keep their class fidelity.

Jovanovic et al. (Watermarking Autoregressive Image Generation, 2025) fine-tune the tokenizer for the same
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


def as_stored(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Images at 8 bits, a quarter of them JPEG-compressed at a random quality; straight-through, so gradients
    reach the decoder as if storage were the identity."""
    kept = stored(images.detach())
    quarter = len(images) // 4
    quality = int(torch.randint(JPEG_QUALITIES[0], JPEG_QUALITIES[1] + 1, (1,), generator=generator))
    kept[:quarter] = jpeg(kept[:quarter], quality)
    return images + (kept - images).detach()


def finetune_round_trip(module, images: torch.Tensor, recipe: dict,
                        progress: Progress = lambda *a: None) -> list[float]:
    """Train the encoder and decoder of ``module`` (a zoo VQModel or VQVAE) in place on ``images`` [N, 3, H, W] in
    [0, 1]; the quantizer (codebook) is frozen. The code loss is cross-entropy over the codes with logits
    -distance / temperature: a small temperature makes it a margin on the right code's being nearest. Returns the
    loss of every step."""
    frozen = tokenizer_of(copy.deepcopy(module).eval().requires_grad_(False))
    trained = tokenizer_of(module)
    temperature = recipe["roundtrip_temperature"]

    def code_loss(images: torch.Tensor, tokens) -> torch.Tensor:
        logits = -trained.code_distances(images, tokens).flatten(0, 1) / temperature
        return F.cross_entropy(logits, frozen.flat_tokens(tokens)[0].flatten())

    def round_trip_and_hold(tokens, generator: torch.Generator) -> torch.Tensor:
        drawn = trained.render(tokens)
        with torch.no_grad():
            target = frozen.render(tokens)
        return code_loss(as_stored(drawn, generator), tokens) + recipe["roundtrip_hold"] * F.mse_loss(drawn, target)

    module.requires_grad_(True)
    module.quantize.requires_grad_(False)
    generator = torch.Generator().manual_seed(recipe["seed"])

    def loss_of(batch: torch.Tensor) -> torch.Tensor:
        real = images[batch]
        with torch.no_grad():
            original = frozen.encode(real)
            marked = marked_tokens(frozen, real, generator)
        return (round_trip_and_hold(marked, generator) + round_trip_and_hold(original, generator)
                + recipe["roundtrip_keep_weight"] * code_loss(real, original))

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
