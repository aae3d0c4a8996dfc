"""`arctl generate` and `arctl reproduce`: parsing and printing around ``arctl.pipeline`` and ``arctl.reproduction``."""


from pathlib import Path
from typing import Annotated, Optional

import typer

from arctl.cli.options import (
    DTYPES,
    BatchSizeOption,
    CfgOption,
    CfgScheduleOption,
    DeviceOption,
    DtypeOption,
    ErasureOption,
    ImagesOption,
    KeyFileOption,
    OptionsOption,
    SamplerOption,
    SeedOption,
    TemperatureOption,
    TopKOption,
    TopPOption,
    WatermarkOption,
    WeightsOption,
    number,
)
from arctl.cli.image_writer import MAX_GRID_IMAGES, ImageWriter
from arctl.cli.output import StepProgress, err, note, print_json
from arctl.errors import UsageError
from arctl.options import split_assignments


def parse_images(values: list[str] | None) -> dict[str, list[str]]:
    """``--image NAME=PATH`` (repeatable; a name given n times is one file per condition, in order)."""
    images: dict[str, list[str]] = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path:
            raise UsageError(f"--image {value!r}: expected NAME=PATH")
        images.setdefault(name.strip(), []).append(path)
    return images


def add_commands(app: typer.Typer, manager) -> None:
    def complete_model(incomplete: str) -> list[str]:
        from arctl.registry import GeneratorSpec

        return [ref.checkpoint.name for ref in manager.registry.checkpoints()
                if isinstance(ref.owner, GeneratorSpec) and ref.checkpoint.name.startswith(incomplete)]

    @app.command()
    def generate(
        model: Annotated[Optional[str], typer.Argument(help="Checkpoint name (see `arctl models`); default: the "
                                                       "installed default model.", autocompletion=complete_model)] = None,
        classes: Annotated[Optional[list[str]], typer.Option("--class", "-c", help="Class id or name (`arctl models "
                                                             "MODEL --classes`); repeat for several.")] = None,
        prompts: Annotated[Optional[list[str]], typer.Option("--prompt", "-p", help="Text prompt; repeat for several.")] = None,
        images: ImagesOption = None,
        num: Annotated[int, typer.Option("--num", "-n", parser=number("--num", int, lambda v: v >= 1, "must be >= 1"),
                                         help="Images per class or prompt.")] = 1,
        seed: SeedOption = None,
        cfg: CfgOption = None,
        cfg_schedule: CfgScheduleOption = None,
        top_k: TopKOption = None,
        top_p: TopPOption = None,
        temperature: TemperatureOption = None,
        sampler: SamplerOption = None,
        option: OptionsOption = None,
        batch_size: BatchSizeOption = None,
        device: DeviceOption = "auto",
        dtype: DtypeOption = "auto",
        weights: WeightsOption = None,
        erasure: ErasureOption = None,
        out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("outputs"),
        grid: Annotated[bool, typer.Option(help="Also write all images as one grid PNG.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of paths.")] = False,
        watermark: WatermarkOption = None,
        key_file: KeyFileOption = None,
    ) -> None:
        """Generate images; each PNG carries the full recipe to regenerate it."""
        from arctl import generation, pipeline
        from arctl.files import check_output_dir
        from arctl.hub import parse_weights

        check_output_dir(out)
        model = model or manager.registry.default_model()
        ref = generation.generator_ref(manager.registry, model)
        sampling = dict(sampler=sampler, cfg=cfg, cfg_schedule=cfg_schedule, top_k=top_k, top_p=top_p,
                        temperature=temperature)
        warnings: list[str] = []
        plan = pipeline.prepare_run(manager, ref.owner, classes=classes, prompts=prompts, images=parse_images(images),
                                    sampling=sampling, options=split_assignments(option or []), watermark=watermark,
                                    key=key_file, notes=warnings)
        run = generation.plan_run(ref.owner, plan.conditions, num=num, seed=seed, batch_size=batch_size)
        if grid and run.batches.images > MAX_GRID_IMAGES:
            raise UsageError(f"--grid: {run.batches.images} images are too many for one grid (at most "
                             f"{MAX_GRID_IMAGES}); leave out --grid")
        for text in warnings:
            note(text, "warning")
        pipe = pipeline.load(model, device=device, dtype=dtype, weights=parse_weights(weights, ref.checkpoint.main_role),
                             erasure=erasure, manager=manager)
        accelerator = pipe.loaded.accelerator
        where = accelerator.describe()
        err().print(f"{model} on {where['device']} ({where['dtype']}): {run.batches.images} image(s) in "
                    f"{len(run.batches)} batch(es) of up to {run.batches.size}, seed {run.seed}, into {out}",
                    markup=False, highlight=False)
        writer = ImageWriter(out, model, run, as_json=as_json, keep_for_grid=grid)
        accelerator.reset_peak_memory()
        try:
            with StepProgress(model, unit="images") as progress:
                for result in pipe.stream(plan, run, on_note=note,
                                          progress=generation.Progress(progress.start, progress.advance)):
                    writer.write(result)
            accelerator.synchronize()
            writer.finish(accelerator)
        except BaseException as exc:  # Ctrl-C or a failure: what is written stays, and the user hears how much
            writer.stop(interrupted=isinstance(exc, KeyboardInterrupt))
            raise

    @app.command()
    def reproduce(
        image: Annotated[Path, typer.Argument(help="A PNG written by `arctl generate` or `arctl edit`.")],
        device: Annotated[Optional[str], typer.Option(help="Override the recorded device.")] = None,
        dtype: Annotated[Optional[str], typer.Option(help="Override the recorded dtype.",
                                                     autocompletion=lambda: DTYPES)] = None,
        out: Annotated[Optional[Path], typer.Option("--out", help="Also save the regenerated image here (.png).")] = None,
        force: Annotated[bool, typer.Option(help="Overwrite --out if it exists.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON verdict.")] = False,
        key_file: Annotated[Optional[Path], typer.Option("--key-file", help="The key a watermarked IMAGE was made "
                                                                            "with.")] = None,
    ) -> None:
        """Re-run the recipe stored in IMAGE and say whether the result is identical (exit 1 if not)."""
        from arctl.files import check_output_file
        from arctl.images import save_png
        from arctl.reproduction import reproduce as reproduce_image

        if out is not None:
            if out.suffix.lower() != ".png":
                raise UsageError(f"--out {out}: must end in .png")
            check_output_file(out, force=force)
        verdict = reproduce_image(manager, image, device=device, dtype=dtype, key=key_file)
        for text in verdict.notes:
            note(text)
        if out is not None:
            save_png(verdict.regenerated.image, out, verdict.regenerated.recipe)
        if as_json:
            print_json(verdict.describe())
        elif verdict.identical:
            typer.echo(f"{image}: identical")
        elif verdict.max_abs_pixel_diff is not None:
            typer.echo(f"{image}: differs (max pixel difference {verdict.max_abs_pixel_diff})")
        else:
            typer.echo(f"{image}: differs (size changed)")
        if verdict.version_changes and not as_json:
            err().print("versions changed since the image was made: " + ", ".join(verdict.version_changes))
        if not verdict.identical:
            raise typer.Exit(1)
