"""Where VAR loses LBW's mark: in the latent itself, or in the image round trip. Writes the section "### VAR's mark
in the latent (measured)" of docs/lbw.md.

    python benchmarks/lbw_var_latent.py [--num 200] [--seed 0] [--threads 2] [-o KEY=VALUE ...]

var-shapes generates --num clean and --num watermarked images (the LBW options given, same seeds). For each the
script keeps the latent f_hat the generator decoded, and reads the mark two ways: from the coarse-to-fine (greedy)
decomposition of that exact latent, which is what re-encoding would give with a perfect image round trip, and from
the 8-bit image re-encoded as `arctl detect` does. Per scale it reports the share of tokens on each image's own
green list; overall, the share of images detected at p <= 0.01 with the count and the soft score.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, write_section  # noqa: E402
from lbw_claims import lbw_options, lbw_parser, measurement_key  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs"
HEADING = "### VAR's mark in the latent (measured)"
MODEL = "var-shapes"


def record_latents(vqvae) -> list:
    """Keep every f_hat the VQVAE decodes from now on (the generator decodes its latent with fhat_to_img)."""
    latents, decode = [], vqvae.fhat_to_img

    def recording(f_hat):
        latents.append(f_hat.detach().clone())
        return decode(f_hat)

    vqvae.fhat_to_img = recording
    return latents


def own_share_by_scale(ids, scales, masks) -> list[float]:
    """Mean share of each image's tokens that are green on its own list (``masks`` [N, V]), scale by scale."""
    own = masks.gather(1, ids).float()  # [N, L]: 1 where the token is on the image's list
    return [round(float(own[:, scales == s].mean()), 3) for s in range(int(scales.max()) + 1)]


def read_marks(tokenizer, latents, lists, masks, score):
    """(green share by scale, share detected at p <= 0.01 by the count, by the soft score) from latents [N, C, h, w]
    decomposed coarse to fine."""
    import torch

    from arctl_lbw.detect import detect_tokens
    from arctl_lbw.soft import detect_soft

    quantizer = tokenizer.vqvae.quantize
    with torch.no_grad():
        tokens = quantizer.f_to_idx(latents)
        distances = quantizer.residual_distances(latents, tokens)
    ids, scales = tokenizer.flat_tokens(tokens)
    every = torch.ones_like(scales, dtype=torch.bool)
    count = detect_tokens(ids, scales, lists)
    soft = detect_soft(distances, ids, every, lists, score.temperature, score.draws)
    detected = [sum(d.p_value <= 0.01 for d in found) / len(found) for found in (count, soft)]
    return own_share_by_scale(ids, scales, masks), *detected


def main() -> None:
    parser = lbw_parser(__doc__)
    parser.add_argument("--docs", type=Path, default=DOCS, help="where lbw.md is")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from arctl import generation
    from arctl.images import stored
    from arctl.plugins import PluginManager
    from arctl.watermark import build_watermark
    from arctl_lbw.detect import Score
    from arctl_lbw.evaluate import conditions_for, generate_arm

    manager = PluginManager()
    options = lbw_options(manager, args.option)
    watermark = build_watermark(manager.registry.get("watermarker", "lbw"), measurement_key(), options)
    loaded = generation.load_model(manager, MODEL, device="cpu")
    settings = generation.resolve_settings(manager.registry, loaded.spec)
    classes, per_class = conditions_for(loaded.spec, args.num)
    tokenizer = loaded.generator.tokenizer
    latents = record_latents(tokenizer.vqvae)
    arms = {}
    for arm, mark in (("clean", None), ("watermarked", watermark)):
        latents.clear()
        images = generate_arm(manager, loaded, settings, classes, per_class, args.seed, None, mark)
        with torch.no_grad():
            back = tokenizer.vqvae.img_to_f(stored(images).mul(2).sub(1))
        arms[arm] = (torch.cat(latents), back)
    lists = watermark.watermarker.lists(tokenizer.codebook_size)
    masks = lists.masks[torch.tensor([lists.for_generated(args.seed, i) for i in range(args.num)])]
    score = Score("soft", options["temperature"], options["draws"])
    rows = []
    for arm, (exact, back) in arms.items():
        for source, latent in (("the latent the generator decoded", exact), ("the 8-bit image, re-encoded", back)):
            shares, count, soft = read_marks(tokenizer, latent, lists, masks, score)
            rows.append(f"| {arm} | {source} | {' / '.join(f'{s:.2f}' for s in shares)} | {count:.3f} | {soft:.3f} |")
    options_text = ", ".join(f"`{k}={v}`" for k, v in options.items())
    body = "\n".join([
        HEADING,
        "",
        f"Measured by `python benchmarks/lbw_var_latent.py{''.join(f' -o {o}' for o in args.option)}`: {MODEL}, "
        f"{args.num} clean and {args.num} watermarked "
        f"images (seed {args.seed}, the claims' measurement key), LBW options {options_text}; machine: "
        f"{machine('cpu')}. Each row reads the tokens from a latent decomposed coarse to fine, as re-encoding "
        f"does: the exact latent the generator decoded (what a perfect image round trip would give back), or the "
        f"latent the encoder finds in the stored image. Green share: tokens on the image's own list, scale by "
        f"scale from 1x1 to 8x8 (about gamma on clean images). Detected: share of images with p <= 0.01 (pool "
        f"corrected), with the count and with the soft score.",
        "",
        "| images | tokens read from | green share by scale | detected, count | detected, soft |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "",  # a blank line before the next section
    ])
    write_section(args.docs / "lbw.md", HEADING, body, next_heading="\n## ")
    print(body)


if __name__ == "__main__":
    main()
