"""`arctl edit`: VAR's zero-shot editing (in-painting, out-painting, class-conditional editing).

The image is tokenized at every scale; wherever the mask is black its tokens are teacher-forced,
wherever it is white VAR generates, conditioned on everything kept. No fine-tuning is involved.
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from arctl.errors import ArctlError, UsageError

MASK_HELP = "PNG mask: white = regenerate, black = keep (in-painting: a white hole; out-painting: a black centre)."


def load_rgb(path: Path, size: int, what: str, notices: list[str]):
    """An image as a [1, 3, size, size] tensor in [0, 1], resized (with a notice) when needed."""
    import numpy as np
    import torch

    from arctl.images import open_image

    image = open_image(path).convert("RGB")
    if image.size != (size, size):
        notices.append(f"{what} {path} is {image.size[0]}x{image.size[1]}; resized to {size}x{size}")
        image = image.resize((size, size), resample=3)  # bicubic
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float().div(255)


def keep_map(mask_path: Path, size: int, grid: int, notices: list[str]):
    """[grid, grid] map, 1 where the finest-scale token is kept (mostly black under the mask)."""
    import torch.nn.functional as F

    mask = load_rgb(mask_path, size, "mask", notices).mean(dim=1, keepdim=True)
    regenerate = F.interpolate(mask, size=(grid, grid), mode="area")[0, 0]
    keep = (regenerate < 0.5).float()
    if keep.all():
        notices.append("the mask is black everywhere: nothing will be regenerated")
    elif not keep.any():
        notices.append("the mask is white everywhere: this is plain generation")
    return keep


def edit_command():
    def edit(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="A VAR checkpoint, e.g. var-d16 (var-d36 edits at 512px).")],
        image: Annotated[Path, typer.Option("--image", help="The image to edit.")],
        mask: Annotated[Path, typer.Option("--mask", help=MASK_HELP)],
        out: Annotated[Path, typer.Option("--out", help="Where to write the edited PNG.")],
        class_id: Annotated[Optional[int], typer.Option("--class", "-c", help="Class to edit towards (default: none, the null class).")] = None,
        seed: Annotated[int, typer.Option("--seed", "-s", min=0, help="Random seed.")] = 0,
        cfg: Annotated[Optional[float], typer.Option(help="VAR's guidance strength (ramped over scales).")] = None,
        top_k: Annotated[Optional[int], typer.Option(min=0, help="Top-k (0: off).")] = None,
        top_p: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Top-p in (0, 1] (1: off).")] = None,
        option: Annotated[Optional[list[str]], typer.Option("--option", "-o", help="KEY=VALUE, e.g. more_smooth=true.")] = None,
        device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N, mps.")] = "auto",
        dtype: Annotated[str, typer.Option(help="auto, fp32, bf16, fp16.")] = "auto",
        weights: Annotated[Optional[list[str]], typer.Option(help="Local weights: PATH for the model or ROLE=PATH.")] = None,
        force: Annotated[bool, typer.Option(help="Overwrite --out if it exists.")] = False,
    ) -> None:
        """Regenerate the white part of MASK in IMAGE, keeping the rest (VAR zero-shot editing)."""
        import torch

        from arctl import generation
        from arctl.cli import plugin_manager
        from arctl.cli.generate_cmd import parse_weights
        from arctl.cli.output import err
        from arctl.images import save_png
        from arctl.options import split_assignments
        from arctl_var.generator import VARGenerator
        from arctl_var.inference import ForcedTokens, generate_scales

        manager = plugin_manager(ctx)
        if out.suffix.lower() != ".png":
            raise UsageError(f"--out {out}: must end in .png")
        if out.exists() and not force:
            raise ArctlError(f"{out} exists; pass --force to overwrite it")
        ref = generation.generator_ref(manager.registry, model)
        if not issubclass(ref.owner.load(), VARGenerator):
            raise UsageError(f"{model} is not a VAR checkpoint; zero-shot editing needs next-scale prediction")
        settings = generation.resolve_settings(manager.registry, ref.owner, cfg=cfg, top_k=top_k, top_p=top_p,
                                               options=split_assignments(option or []))
        if class_id is not None:
            generation.check_conditions(ref.owner, [class_id], None)
        label = ref.owner.num_classes if class_id is None else class_id  # the null class: no condition

        loaded = generation.load_model(manager, model, device=device, dtype=dtype,
                                       weights=parse_weights(weights, ref.checkpoint.main_role))
        generator: VARGenerator = loaded.generator
        tokenizer, var = generator.tokenizer, generator.var
        notices: list[str] = []
        pixels = load_rgb(image, tokenizer.resolution, "image", notices).to(loaded.accelerator.device)
        keep = keep_map(mask, tokenizer.resolution, tokenizer.patch_nums[-1], notices)
        for notice in notices:
            err().print(f"note: {notice}")

        acc = loaded.accelerator
        sampling = generation.build_sampling(manager.registry, settings, acc.generator(generation.batch_seed(seed, 0)))
        labels = torch.tensor([label], device=acc.device)
        with torch.inference_mode(), acc.autocast():
            forced = ForcedTokens(tokenizer.encode(pixels), keep)
            result = generate_scales(var, tokenizer.vqvae, labels, sampling, forced=forced,
                                     kv_cache=settings.generator_options["kv_cache"],
                                     more_smooth=settings.generator_options["more_smooth"])
        recipe = {
            "command": "edit", "model": model, "image": str(image), "mask": str(mask), "class": class_id,
            "seed": seed, "sampling": vars(settings.sampling), "options": settings.options(),
            "versions": loaded.versions, "files": loaded.sources,
            **acc.describe(),
        }
        save_png(generation.to_pil(result.float().clamp(0, 1).cpu())[0], out, recipe)
        typer.echo(str(out))

    return edit
