"""`arctl edit`: VAR's zero-shot editing (in-painting, out-painting, class-conditional editing) on the command line.

A thin layer over the generation path: the image and the mask are VAR's image inputs, so batching, seeds,
progress, recipes, watermarking and `arctl reproduce` work as for `arctl generate`. What editing does is in
``arctl_var.inference.ForcedTokens``.
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from arctl.cli.options import (
    CfgOption,
    DeviceOption,
    DtypeOption,
    ErasureOption,
    KeyFileOption,
    OptionsOption,
    TopKOption,
    TopPOption,
    WatermarkOption,
    WeightsOption,
)
from arctl.errors import UsageError

MASK_HELP = "PNG mask: white = regenerate, black = keep (in-painting: a white hole; out-painting: a black centre)."


def edit_command():
    def edit(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="A VAR checkpoint, e.g. var-d16 (var-d36 edits at 512px).")],
        image: Annotated[Path, typer.Option("--image", help="The image to edit.")],
        mask: Annotated[Path, typer.Option("--mask", help=MASK_HELP)],
        out: Annotated[Path, typer.Option("--out", help="Where to write the edited PNG.")],
        class_id: Annotated[Optional[str], typer.Option("--class", "-c", help="Class id or name to edit towards "
                                                        "(default: none, the null class).")] = None,
        seed: Annotated[int, typer.Option("--seed", "-s", min=0, help="Random seed.")] = 0,
        cfg: CfgOption = None,
        top_k: TopKOption = None,
        top_p: TopPOption = None,
        option: OptionsOption = None,
        device: DeviceOption = "auto",
        dtype: DtypeOption = "auto",
        weights: WeightsOption = None,
        erasure: ErasureOption = None,
        watermark: WatermarkOption = None,
        key_file: KeyFileOption = None,
        force: Annotated[bool, typer.Option(help="Overwrite --out if it exists.")] = False,
    ) -> None:
        """Regenerate the white part of MASK in IMAGE, keeping the rest (VAR zero-shot editing)."""
        from arctl import generation, pipeline
        from arctl.cli import plugin_manager
        from arctl.cli.output import StepProgress, note
        from arctl.files import check_output_file
        from arctl.hub import parse_weights
        from arctl.images import save_png
        from arctl.options import split_assignments

        manager = plugin_manager(ctx)
        if out.suffix.lower() != ".png":
            raise UsageError(f"--out {out}: must end in .png")
        check_output_file(out, force=force)
        ref = generation.generator_ref(manager.registry, model)
        warnings: list[str] = []
        plan = pipeline.prepare_run(manager, ref.owner, classes=None if class_id is None else [class_id],
                                    images={"image": [image], "mask": [mask]},
                                    sampling=dict(cfg=cfg, top_k=top_k, top_p=top_p),
                                    options=split_assignments(option or []), watermark=watermark, key=key_file,
                                    notes=warnings)
        for text in warnings:
            note(text, "warning")
        pipe = pipeline.load(model, device=device, dtype=dtype, manager=manager, erasure=erasure,
                             weights=parse_weights(weights, ref.checkpoint.main_role))
        with StepProgress(f"{model} edit", unit="images") as progress:
            [result] = pipe.run(plan, seed=seed, command="edit", on_note=note,
                                progress=generation.Progress(progress.start, progress.advance))
        save_png(result.image, out, result.recipe)
        typer.echo(str(out))

    return edit
