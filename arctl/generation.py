"""Running a generator: settings, batching, per-batch seeds, and the recipe each image carries.

Every batch gets its own generator stream derived from (seed, batch index), so batches never repeat
each other's noise, and one image can be regenerated exactly by re-running only its batch.
"""

from __future__ import annotations

import copy
import hashlib
import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from arctl.errors import UsageError
from arctl.options import Option, parse_options
from arctl.registry import GeneratorSpec, ModelRef

RECIPE_FORMAT = 1
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class SamplingSettings:
    """Everything that decides how tokens are drawn, after defaults are filled in."""

    sampler: str
    cfg: float
    cfg_schedule: str
    top_k: int
    top_p: float
    temperature: float


@dataclass(frozen=True)
class Settings:
    sampling: SamplingSettings
    generator_options: dict[str, Any]
    sampler_options: dict[str, Any]
    schedule_options: dict[str, Any]
    watermark_options: dict[str, Any] = field(default_factory=dict)  # recorded with the watermark, not in options()

    def options(self) -> dict[str, Any]:
        return {**self.schedule_options, **self.sampler_options, **self.generator_options}


@dataclass
class GeneratedImage:
    image: Any  # PIL.Image.Image
    recipe: dict[str, Any]


@dataclass
class Progress:
    """Callbacks for long work: ``start(total)`` once, ``advance()`` per step."""

    start: Callable[[int], None] = lambda total: None
    advance: Callable[[], None] = lambda: None


@dataclass
class LoadedModel:
    """A generator instance on its device, with the files it came from."""

    ref: ModelRef
    accelerator: Any
    files: dict[str, Any]
    generator: Any
    versions: dict[str, str] = field(default_factory=dict)
    sources: dict[str, dict] = field(default_factory=dict)  # what each file was, for recipes (hashed once)

    @property
    def spec(self) -> GeneratorSpec:
        return self.ref.owner


def generator_ref(registry, model: str) -> ModelRef:
    ref = registry.model(model)
    if not isinstance(ref.owner, GeneratorSpec):
        raise UsageError(f"{model} is a {ref.owner.kind} checkpoint, not a generator")
    return ref


def load_model(manager, model: str, *, device: str = "auto", dtype: str = "auto", weights: Mapping[str, str] | None = None) -> LoadedModel:
    from arctl import __version__
    from arctl.accelerate import make_accelerator
    from arctl.hub import resolve_checkpoint

    registry = manager.registry
    ref = generator_ref(registry, model)
    accelerator = make_accelerator(registry, device, dtype)
    files = resolve_checkpoint(ref.checkpoint, weights)
    generator = ref.owner.load().from_checkpoint(ref.owner, ref.checkpoint, files, accelerator)
    import torch

    versions = {"arctl": __version__, "torch": torch.__version__}
    info = manager.infos.get(ref.owner.plugin)
    if info is not None:
        versions[info.name] = info.version or "unknown"
    sources = {role: rf.describe() for role, rf in files.items()}
    return LoadedModel(ref, accelerator, files, generator, versions, sources)


def resolve_settings(
    registry,
    spec: GeneratorSpec,
    *,
    sampler: str | None = None,
    cfg: float | None = None,
    cfg_schedule: str | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    temperature: float | None = None,
    options: Mapping[str, str] | None = None,
    watermarker=None,
) -> Settings:
    """Fill in the generator's published defaults and validate every value and ``-o`` option.

    ``watermarker`` (a ``WatermarkerSpec``) adds its options to the shared ``-o`` namespace."""
    d = spec.sampling
    sampling = SamplingSettings(
        sampler=sampler or d.sampler,
        cfg=d.cfg if cfg is None else float(cfg),
        cfg_schedule=cfg_schedule or d.cfg_schedule,
        top_k=d.top_k if top_k is None else int(top_k),
        top_p=d.top_p if top_p is None else float(top_p),
        temperature=d.temperature if temperature is None else float(temperature),
    )
    if not (0 <= sampling.cfg < math.inf):  # written so that NaN fails too
        raise UsageError(f"--cfg {sampling.cfg}: must be a finite number >= 0")
    if sampling.top_k < 0:
        raise UsageError(f"--top-k {sampling.top_k}: must be >= 0 (0 disables top-k)")
    if not 0 < sampling.top_p <= 1:
        raise UsageError(f"--top-p {sampling.top_p}: must be in (0, 1] (1 disables top-p)")
    if not (0 < sampling.temperature < math.inf):
        raise UsageError(f"--temperature {sampling.temperature}: must be > 0 (use --sampler greedy for argmax)")
    sampler_spec = registry.get("sampler", sampling.sampler)
    schedule_spec = registry.get("cfg_schedule", sampling.cfg_schedule)

    raw = dict(options or {})
    owners: list[tuple[str, Sequence[Option]]] = [
        (f"generator {spec.name}", spec.options),
        (f"sampler {sampler_spec.name}", sampler_spec.options),
        (f"CFG schedule {schedule_spec.name}", schedule_spec.options),
    ]
    if watermarker is not None:
        owners.append((f"watermarker {watermarker.name}", watermarker.options))
    declared = {o.name for _, opts in owners for o in opts}
    unknown = sorted(set(raw) - declared)
    if unknown:
        valid = ", ".join(sorted(declared)) or "none"
        raise UsageError(f"unknown option {unknown[0]!r} for {spec.name} (valid options here: {valid})")
    parsed = [
        parse_options({k: v for k, v in raw.items() if k in {o.name for o in opts}}, opts, owner=owner)
        for owner, opts in owners
    ]
    return Settings(sampling, *parsed)


def batch_seed(seed: int, batch_index: int) -> int:
    """Independent 63-bit seed for each batch of a run."""
    digest = hashlib.sha256(f"arctl:{seed}:{batch_index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def check_conditions(spec: GeneratorSpec, classes: Sequence[int] | None, prompts: Sequence[str] | None) -> list:
    """The list of conditions to generate for, validated against what the generator accepts."""
    classes, prompts = list(classes or []), list(prompts or [])
    if spec.conditioning == "class":
        if prompts:
            raise UsageError(f"{spec.name} is class-conditional: use --class, not --prompt")
        if not classes:
            raise UsageError(f"{spec.name} is class-conditional: give at least one --class (0..{spec.num_classes - 1})")
        for c in classes:
            if not 0 <= c < spec.num_classes:
                raise UsageError(f"--class {c}: out of range for {spec.name} (0..{spec.num_classes - 1})")
        return classes
    if spec.conditioning == "text":
        if classes:
            raise UsageError(f"{spec.name} is text-conditional: use --prompt, not --class")
        if not prompts or any(not p.strip() for p in prompts):
            raise UsageError(f"{spec.name} is text-conditional: give at least one non-empty --prompt")
        return prompts
    if classes or prompts:
        raise UsageError(f"{spec.name} is unconditional: it takes neither --class nor --prompt")
    return [None]


def plan(conditions: Sequence[Any], num: int, batch_size: int) -> list[list[tuple[int, Any]]]:
    """Items (index, condition), ``num`` per condition in order, cut into batches."""
    items = [(i, c) for i, c in enumerate(c for c in conditions for _ in range(num))]
    return [items[i : i + batch_size] for i in range(0, len(items), batch_size)]


def build_sampling(registry, settings: Settings, rng, processors: Sequence = ()):
    from arctl.sampling import TokenSampling

    s = settings.sampling
    sampler = registry.get("sampler", s.sampler).load()(
        temperature=s.temperature, top_k=s.top_k, top_p=s.top_p, **settings.sampler_options
    )
    schedule = registry.get("cfg_schedule", s.cfg_schedule).load()(s.cfg, **settings.schedule_options)
    return TokenSampling(sampler, schedule, rng, processors)


def run_batch(registry, loaded: LoadedModel, settings: Settings, items, *, seed: int, batch_index: int,
              processors: Sequence = (), on_step: Callable[[Any], None] = lambda ctx: None):
    """Generate one batch; returns a float tensor [B, 3, H, W] in [0, 1] on the CPU."""
    import torch

    from arctl.generator import GenerationBatch
    from arctl.sampling import BatchInfo, bind_processors

    acc = loaded.accelerator
    info = BatchInfo(seed, batch_index, tuple(item for item, _ in items))
    sampling = build_sampling(registry, settings, acc.generator(batch_seed(seed, batch_index)),
                              bind_processors(processors, info))
    conditions = [c for _, c in items]
    conditioning = loaded.spec.conditioning
    batch = GenerationBatch(
        sampling=sampling,
        size=len(items),
        classes=conditions if conditioning == "class" else None,
        prompts=conditions if conditioning == "text" else None,
        options=settings.generator_options,
        on_step=on_step,
    )
    with torch.inference_mode(), acc.autocast():
        images = loaded.generator.generate(batch)
    return images.float().clamp(0, 1).cpu()


def to_pil(images) -> list:
    """[B, 3, H, W] floats in [0, 1] -> RGB PIL images."""
    import torch
    from PIL import Image

    array = (images * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [Image.fromarray(a, mode="RGB") for a in array]


def make_recipe(loaded: LoadedModel, settings: Settings, *, conditions, num, batch_size, seed, item, condition) -> dict:
    spec = loaded.spec
    return {
        "format": RECIPE_FORMAT,
        "model": loaded.ref.checkpoint.name,
        "generator": spec.name,
        "plugin": spec.plugin,
        "versions": dict(loaded.versions),
        "files": {role: dict(source) for role, source in loaded.sources.items()},
        "conditioning": spec.conditioning,
        "conditions": list(conditions),
        "num": num,
        "batch_size": batch_size,
        "item": item,
        "condition": condition,
        "seed": seed,
        "sampling": asdict(settings.sampling),
        "options": settings.options(),
        **loaded.accelerator.describe(),
    }


def generate(
    manager,
    loaded: LoadedModel,
    settings: Settings,
    *,
    classes: Sequence[int] | None = None,
    prompts: Sequence[str] | None = None,
    num: int = 1,
    seed: int | None = None,
    batch_size: int | None = None,
    only_batch: int | None = None,
    processors: Sequence = (),
    progress: Progress | None = None,
    watermark=None,
) -> list[GeneratedImage]:
    """Generate ``num`` images per condition; ``only_batch`` re-runs a single batch (for reproduce).

    ``watermark`` (an ``arctl.watermark.ActiveWatermark``) adds its processor after ``processors`` and is
    recorded in every recipe (method, options and key fingerprint, never the key)."""
    if num < 1:
        raise UsageError(f"--num {num}: must be >= 1")
    seed = secrets.randbits(63) if seed is None else int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed {seed}: must be in 0..{MAX_SEED}")
    spec = loaded.spec
    batch_size = batch_size or spec.batch_size
    if batch_size < 1:
        raise UsageError(f"--batch-size {batch_size}: must be >= 1")
    conditions = check_conditions(spec, classes, prompts)
    batches = plan(conditions, num, batch_size)
    selected = list(enumerate(batches)) if only_batch is None else [(only_batch, batches[only_batch])]
    progress = progress or Progress()
    progress.start(len(selected) * loaded.generator.num_steps(settings.generator_options))
    if watermark is not None:
        processors = [*processors, watermark.watermarker.processor()]
        marked = {"watermark": watermark.record(), "versions": dict(loaded.versions)}
        info = manager.infos.get(watermark.spec.plugin)
        if info is not None:  # the watermarker's plugin version decides the mark as much as the generator's
            marked["versions"][info.name] = info.version or "unknown"

    results = []
    for batch_index, items in selected:
        images = run_batch(manager.registry, loaded, settings, items, seed=seed, batch_index=batch_index,
                           processors=processors, on_step=lambda ctx: progress.advance())
        for (item, condition), image in zip(items, to_pil(images)):
            recipe = make_recipe(loaded, settings, conditions=conditions if spec.conditioning != "none" else [],
                                 num=num, batch_size=batch_size, seed=seed, item=item, condition=condition)
            if watermark is not None:
                recipe.update(copy.deepcopy(marked))
            results.append(GeneratedImage(image, recipe))
    return results
