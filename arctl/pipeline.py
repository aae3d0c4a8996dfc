"""The short Python API: ``arctl.load(model)`` gives a pipeline, calling it gives images.

    import arctl
    pipe = arctl.load("var-d16", device="cuda", dtype="bf16")
    images = pipe(classes=[207, 88], num=4, seed=0, cfg=4, top_k=900)   # PIL images; .info["arctl-recipe"]

A call takes what `arctl generate` takes, as keyword arguments: ``classes`` / ``prompts``, ``images`` (image
inputs by name: a path, or a list of paths one per condition), ``sampler``, ``cfg``, ``cfg_schedule``, ``top_k``,
``top_p``, ``temperature``, ``batch_size``, ``watermark`` with ``key`` (a ``WatermarkKey`` or a key file), and
every ``-o`` option by its name (``more_smooth=True``). It validates with the same rules and raises the same
errors (``arctl.errors.UsageError`` for a bad request) as the command line, because both go through
``prepare_run`` and ``arctl.generation.generate``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from arctl.conditions import check_conditions
from arctl.errors import UsageError
from arctl.images import RECIPE_KEY

SAMPLING_ARGUMENTS = ("sampler", "cfg", "cfg_schedule", "top_k", "top_p", "temperature")


@dataclass(frozen=True)
class RunPlan:
    """A checked request: settings with defaults filled in, the watermark built from its key (or None), and the
    conditions with their image inputs already read."""

    settings: Any  # arctl.generation.Settings
    watermark: Any  # arctl.watermark.ActiveWatermark | None
    conditions: list  # arctl.conditions.Condition


def prepare_run(manager, spec, *, classes=None, prompts=None, images=None, sampling: Mapping[str, Any] | None = None,
                options: Mapping[str, Any] | None = None, watermark: str | None = None, key=None,
                notes: list[str] | None = None) -> RunPlan:
    """Every check a run needs before (or without) loading weights, once; ``Pipeline.run`` carries the plan out.

    ``sampling`` holds the sampling arguments given (``SAMPLING_ARGUMENTS``; None or absent: the generator's
    default), ``options`` the ``-o`` options; warnings about a key file go to ``notes``."""
    from arctl import generation
    from arctl.compositions import check_composition
    from arctl.reproduction import as_key, keyed_watermark, watermark_spec

    sampling = dict(sampling or {})
    unknown = sorted(set(sampling) - set(SAMPLING_ARGUMENTS))
    if unknown:
        raise UsageError(f"unknown sampling argument {unknown[0]!r} (known: {', '.join(SAMPLING_ARGUMENTS)})")
    marker = watermark_spec(manager.registry, watermark, key is not None)
    settings = generation.resolve_settings(manager.registry, spec, options=options, watermarker=marker, **sampling)
    check_composition(spec, manager.registry.get("sampler", settings.sampling.sampler), marker)
    conditions = check_conditions(spec, classes, prompts, image_lists(images))
    return RunPlan(settings, keyed_watermark(marker, as_key(key, [] if notes is None else notes), settings), conditions)


def image_lists(images: Mapping[str, Any] | None) -> dict[str, list]:
    """``{"mask": "hole.png"}`` or ``{"control": ["a.png", "b.png"]}`` -> name -> list of paths."""
    return {name: [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
            for name, paths in (images or {}).items()}


class Pipeline:
    """A loaded generator, ready to be called with conditions and settings."""

    def __init__(self, manager, loaded) -> None:
        self.manager = manager
        self.loaded = loaded
        self.notes: list[str] = []  # what the last call wanted the user to know (a resized input, a key's mode)

    @property
    def spec(self):
        return self.loaded.spec

    def __repr__(self) -> str:
        acc = self.loaded.accelerator.describe()
        return f"Pipeline({self.loaded.ref.checkpoint.name!r}, device={acc['device']!r}, dtype={acc['dtype']!r})"

    def __call__(self, *, classes: Sequence[int] | None = None, prompts: Sequence[str] | None = None,
                 images: Mapping[str, Any] | None = None, num: int = 1, seed: int | None = None,
                 sampler: str | None = None, cfg: float | None = None, cfg_schedule: str | None = None,
                 top_k: int | None = None, top_p: float | None = None, temperature: float | None = None,
                 batch_size: int | None = None, watermark: str | None = None, key=None, progress=None,
                 options: Mapping[str, Any] | None = None, **more_options: Any) -> list:
        """Images (RGB PIL images) for every condition, ``num`` each; each carries its recipe as JSON text in
        ``image.info["arctl-recipe"]`` (``arctl.images.save_png(image, path)`` writes it into the file).

        ``-o`` options go in ``options`` or as extra keywords (an option whose name is one of this call's own
        arguments, such as LBW's ``temperature``, only in ``options``)."""
        sampling = dict(sampler=sampler, cfg=cfg, cfg_schedule=cfg_schedule, top_k=top_k, top_p=top_p,
                        temperature=temperature)
        self.notes = []
        plan = prepare_run(self.manager, self.spec, classes=classes, prompts=prompts, images=images, sampling=sampling,
                           options={**(options or {}), **more_options}, watermark=watermark, key=key, notes=self.notes)
        results = self.run(plan, num=num, seed=seed, batch_size=batch_size, progress=progress)
        for result in results:
            result.image.info[RECIPE_KEY] = json.dumps(result.recipe, sort_keys=True)
        return [result.image for result in results]

    def run(self, plan: RunPlan, *, num: int = 1, seed: int | None = None, batch_size: int | None = None,
            progress=None, command: str = "generate", on_note=None) -> list:
        """Carry out a plan from ``prepare_run`` (checked before loading), as a list of
        ``arctl.generation.GeneratedImage`` (image and recipe); ``stream`` hands them on batch by batch instead."""
        from arctl import generation

        run = generation.plan_run(self.spec, plan.conditions, num=num, seed=seed, batch_size=batch_size)
        return list(self.stream(plan, run, progress=progress, command=command, on_note=on_note))

    def stream(self, plan: RunPlan, run, *, progress=None, command: str = "generate", on_note=None):
        """The images of ``run`` (``arctl.generation.plan_run``: seed and batches, fixed before loading), yielded as
        each batch finishes; ``command`` names the command the recipes record (`arctl edit` runs through here too);
        ``on_note`` hears each note as it comes, and ``self.notes`` keeps them."""
        from arctl import generation

        def hear(text: str) -> None:
            self.notes.append(text)
            if on_note is not None:
                on_note(text)

        return generation.stream(self.manager, self.loaded, plan.settings, run, progress=progress,
                                 watermark=plan.watermark, on_note=hear, command=command)

def load(model: str | None = None, *, device: str = "auto", dtype: str = "auto",
         weights: Mapping[str, str] | None = None, erasure: str | os.PathLike | None = None, manager=None) -> Pipeline:
    """Resolve (local > Hub cache > download) and strictly load ``model`` (default: the installed default model)
    onto the device; ``weights`` maps file roles to local files, as ``--weights ROLE=PATH`` does; ``erasure`` applies
    a concept erasure (a file from `arctl erase-concept`) to the weights, as ``--erasure FILE`` does."""
    from arctl import generation
    from arctl.plugins import PluginManager

    manager = manager or PluginManager()
    model = model or manager.registry.default_model()
    return Pipeline(manager, generation.load_model(manager, model, device=device, dtype=dtype, weights=weights,
                                                   erasure=erasure))
