"""`arctl generate` and `arctl reproduce`."""


import re
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from arctl.cli.output import StepProgress, err, print_json
from arctl.cli.watermark_cmd import read_key
from arctl.errors import ArctlError, UsageError
from arctl.generation import MAX_SEED
from arctl.options import split_assignments

DTYPES = ["auto", "fp32", "bf16", "fp16"]


def parse_weights(values: list[str] | None, main_role: str) -> dict[str, str]:
    """``--weights PATH`` (the main file) or ``--weights ROLE=PATH``."""
    result: dict[str, str] = {}
    for value in values or []:
        role, sep, path = value.partition("=")
        if not sep:
            role, path = main_role, value
        if role in result:
            raise UsageError(f"--weights: file role {role!r} given twice")
        result[role] = path
    return result


def output_stem(recipe: dict) -> str:
    condition = recipe["condition"]
    if recipe["conditioning"] == "class":
        tag = f"c{condition}"
    elif recipe["conditioning"] == "text":
        tag = re.sub(r"[^a-z0-9]+", "-", str(condition).lower()).strip("-")[:40] or "prompt"
    else:
        tag = "u"
    return f"{recipe['model']}_{tag}_s{recipe['seed']}_{recipe['item']:03d}"


def add_commands(app: typer.Typer, manager) -> None:
    def complete_model(incomplete: str) -> list[str]:
        from arctl.registry import GeneratorSpec

        return [ref.checkpoint.name for ref in manager.registry.checkpoints()
                if isinstance(ref.owner, GeneratorSpec) and ref.checkpoint.name.startswith(incomplete)]

    @app.command()
    def generate(
        model: Annotated[Optional[str], typer.Argument(help="Checkpoint name (see `arctl models`); default: the installed default model.", autocompletion=complete_model)] = None,
        classes: Annotated[Optional[list[int]], typer.Option("--class", "-c", help="Class id; repeat for several.")] = None,
        prompts: Annotated[Optional[list[str]], typer.Option("--prompt", "-p", help="Text prompt; repeat for several.")] = None,
        num: Annotated[int, typer.Option("--num", "-n", min=1, help="Images per class or prompt.")] = 1,
        seed: Annotated[Optional[int], typer.Option("--seed", "-s", min=0, max=MAX_SEED, help="Random seed (default: random, recorded).")] = None,
        cfg: Annotated[Optional[float], typer.Option(min=0.0, help="Guidance strength, in each method's published meaning (see `arctl models MODEL --options`).")] = None,
        cfg_schedule: Annotated[Optional[str], typer.Option(help="CFG schedule: constant, linear, half-linear, interval, ...")] = None,
        top_k: Annotated[Optional[int], typer.Option(min=0, help="Keep the k most likely tokens (0: off).")] = None,
        top_p: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Nucleus mass to keep, in (0, 1] (1: off).")] = None,
        temperature: Annotated[Optional[float], typer.Option(help="Softmax temperature (> 0).")] = None,
        sampler: Annotated[Optional[str], typer.Option(help="Sampler: multinomial, greedy, or one a plugin adds.")] = None,
        option: Annotated[Optional[list[str]], typer.Option("--option", "-o", help="Plugin option KEY=VALUE; repeat.")] = None,
        batch_size: Annotated[Optional[int], typer.Option(min=1, help="Images per forward batch (default: the generator's).")] = None,
        device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N, mps.")] = "auto",
        dtype: Annotated[str, typer.Option(help="auto, fp32, bf16, fp16 (auto: bf16 on capable CUDA, else fp32).", autocompletion=lambda: DTYPES)] = "auto",
        weights: Annotated[Optional[list[str]], typer.Option(help="Local weights: PATH for the main file or ROLE=PATH.")] = None,
        out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("outputs"),
        grid: Annotated[bool, typer.Option(help="Also write all images as one grid PNG.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of paths.")] = False,
        watermark: Annotated[Optional[str], typer.Option(help="Mark the images with this watermarker (e.g. lbw); needs --key-file.")] = None,
        key_file: Annotated[Optional[Path], typer.Option("--key-file", help="The watermark's key (from `arctl watermark keygen`).")] = None,
    ) -> None:
        """Generate images; each PNG carries the full recipe to regenerate it."""
        from arctl import generation
        from arctl.images import make_grid, save_png, unique_path

        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out}: exists and is not a directory")
        model = model or manager.registry.default_model()
        ref = generation.generator_ref(manager.registry, model)
        marker = watermark_spec(manager.registry, watermark, key_file)
        settings = generation.resolve_settings(
            manager.registry, ref.owner, sampler=sampler, cfg=cfg, cfg_schedule=cfg_schedule, top_k=top_k,
            top_p=top_p, temperature=temperature, options=split_assignments(option or []), watermarker=marker,
        )
        generation.check_conditions(ref.owner, classes, prompts)
        active = keyed_watermark(marker, read_key(key_file) if marker else None, settings)
        loaded = generation.load_model(manager, model, device=device, dtype=dtype,
                                       weights=parse_weights(weights, ref.checkpoint.main_role))
        loaded.accelerator.reset_peak_memory()
        started = time.perf_counter()
        with StepProgress(f"{model}") as progress:
            results = generation.generate(
                manager, loaded, settings, classes=classes, prompts=prompts, num=num, seed=seed,
                batch_size=batch_size, progress=generation.Progress(progress.start, progress.advance), watermark=active,
            )
        loaded.accelerator.synchronize()
        seconds = time.perf_counter() - started
        paths = [save_png(r.image, unique_path(out, output_stem(r.recipe)), r.recipe) for r in results]
        grid_path = None
        if grid:
            grid_recipe = {k: v for k, v in results[0].recipe.items() if k not in ("item", "condition")}
            stem = f"{loaded.ref.checkpoint.name}_grid_s{results[0].recipe['seed']}"
            grid_path = save_png(make_grid([r.image for r in results]), unique_path(out, stem), grid_recipe)
        summary = {
            "model": model,
            "images": [{"path": str(p), "condition": r.recipe["condition"], "item": r.recipe["item"]} for p, r in zip(paths, results)],
            "grid": str(grid_path) if grid_path else None,
            "seed": results[0].recipe["seed"],
            "seconds": round(seconds, 3),
            "images_per_second": round(len(results) / seconds, 3) if seconds > 0 else None,
            "peak_memory_bytes": loaded.accelerator.peak_memory(),
            "watermark": active.record() if active else None,
            **loaded.accelerator.describe(),
        }
        if as_json:
            print_json(summary)
            return
        for p in paths + ([grid_path] if grid_path else []):
            typer.echo(str(p))
        err().print(f"{len(paths)} image(s) in {seconds:.2f}s on {summary['device']} ({summary['dtype']}), seed {summary['seed']}")

    @app.command()
    def reproduce(
        image: Annotated[Path, typer.Argument(help="A PNG written by `arctl generate`.")],
        device: Annotated[Optional[str], typer.Option(help="Override the recorded device.")] = None,
        dtype: Annotated[Optional[str], typer.Option(help="Override the recorded dtype.", autocompletion=lambda: DTYPES)] = None,
        out: Annotated[Optional[Path], typer.Option("--out", help="Also save the regenerated image here.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON verdict.")] = False,
        key_file: Annotated[Optional[Path], typer.Option("--key-file", help="The key a watermarked IMAGE was made with.")] = None,
    ) -> None:
        """Re-run the recipe stored in IMAGE and say whether the result is identical (exit 1 if not)."""
        import numpy as np

        from arctl.images import open_image, read_recipe, save_png

        recipe = read_recipe(image)
        original = np.asarray(open_image(image).convert("RGB"))
        regenerated = regenerate(manager, recipe, device=device, dtype=dtype, key_file=key_file)
        if out is not None:
            save_png(regenerated.image, out, regenerated.recipe)
        new = np.asarray(regenerated.image)
        identical = new.shape == original.shape and bool(np.array_equal(new, original))
        diff = None if new.shape != original.shape else int(np.abs(new.astype(int) - original.astype(int)).max())
        notes = [f"{name} {recipe['versions'].get(name)} -> {v}" for name, v in regenerated.recipe["versions"].items()
                 if recipe["versions"].get(name) != v]
        if as_json:
            print_json({"image": str(image), "identical": identical, "max_abs_pixel_diff": diff, "version_changes": notes})
        elif identical:
            typer.echo(f"{image}: identical")
        else:
            typer.echo(f"{image}: differs (max pixel difference {diff})" if diff is not None else f"{image}: differs (size changed)")
        if notes and not as_json:
            err().print("versions changed since the image was made: " + ", ".join(notes))
        if not identical:
            raise typer.Exit(1)


def watermark_spec(registry, name: str | None, key_file: Path | None):
    """The watermarker `--watermark NAME` asks for (None without it); --watermark and --key-file go together."""
    if name is None:
        if key_file is not None:
            raise UsageError("--key-file is only used with --watermark NAME")
        return None
    if key_file is None:
        raise UsageError(f"--watermark {name} needs --key-file KEY (make one with `arctl watermark keygen --out KEY`)")
    return registry.get("watermarker", name)


def keyed_watermark(spec, key, settings):
    """The watermark built from the key and the watermarker's share of the -o options, or None."""
    if spec is None:
        return None
    from arctl.watermark import build_watermark

    return build_watermark(spec, key, settings.watermark_options)


def recorded_watermark(registry, recipe: dict, key_file: Path | None):
    """(watermarker spec, key) to regenerate a marked image with: the key must be the recorded one."""
    mark = recipe.get("watermark")
    if mark is None:
        if key_file is not None:
            err().print("note: this image carries no watermark; --key-file is not needed", markup=False, highlight=False)
        return None, None
    if key_file is None:
        raise ArctlError(f"this image is watermarked ({mark['method']}, key fingerprint {mark['key']}); "
                         "pass --key-file with that key to reproduce it")
    key = read_key(key_file)
    if key.fingerprint != mark["key"]:
        raise ArctlError(f"--key-file {key_file} (fingerprint {key.fingerprint}) is not the key this image was "
                         f"watermarked with (fingerprint {mark['key']})")
    return registry.get("watermarker", mark["method"]), key


def regenerate(manager, recipe: dict, *, device: str | None = None, dtype: str | None = None,
               key_file: Path | None = None):
    """Re-run the one batch an image came from and return that image (a watermarked one needs its key file)."""
    from arctl import generation
    from arctl.hub import resolve_file
    from arctl.registry import WeightFile

    if recipe.get("format") != generation.RECIPE_FORMAT:
        raise ArctlError(f"recipe format {recipe.get('format')!r} is not supported by this arctl")
    if recipe.get("command", "generate") != "generate":
        raise ArctlError(f"this image was made by `arctl {recipe['command']}`; reproduce re-runs `arctl generate` recipes")
    if "item" not in recipe:
        raise ArctlError("this is a grid of several images; reproduce one of the single images instead")
    ref = generation.generator_ref(manager.registry, recipe["model"])
    marker, key = recorded_watermark(manager.registry, recipe, key_file)  # before any file is fetched
    weights = {}
    for role, source in recipe["files"].items():
        if "path" in source:
            weights[role] = source["path"]
        elif source.get("commit"):  # the exact commit the image was made with
            container = ref.checkpoint.files[role].container
            pinned = WeightFile(source["repo_id"], source["filename"], source["commit"], container)
            weights[role] = str(resolve_file(pinned, model=recipe["model"]).path)
    options = {**recipe["options"], **(recipe["watermark"]["options"] if marker else {})}
    settings = generation.resolve_settings(
        manager.registry, ref.owner, options={k: str(v) for k, v in options.items()}, watermarker=marker,
        **recipe["sampling"],
    )
    active = keyed_watermark(marker, key, settings)
    loaded = generation.load_model(manager, recipe["model"], device=device or recipe["device"],
                                   dtype=dtype or recipe["dtype"], weights=weights)
    conditions = recipe["conditions"]
    conditioning = recipe["conditioning"]
    results = generation.generate(
        manager, loaded, settings,
        classes=conditions if conditioning == "class" else None,
        prompts=conditions if conditioning == "text" else None,
        num=recipe["num"], seed=recipe["seed"], batch_size=recipe["batch_size"],
        only_batch=recipe["item"] // recipe["batch_size"], watermark=active,
    )
    return next(r for r in results if r.recipe["item"] == recipe["item"])
