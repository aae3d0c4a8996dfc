"""Running a generator: settings, batching, per-batch seeds, and the recipe each image carries.

Every batch gets its own generator stream derived from (seed, batch index), so batches never repeat
each other's noise, and one image can be regenerated exactly by re-running only its batch. Batches are planned
when they are reached and images are handed on as each batch finishes, so a run of any length holds one batch.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from arctl.conditions import Condition, check_conditions, image_tensors
from arctl.errors import UsageError
from arctl.options import Option, parse_options
from arctl.recipes import new_recipe, versions
from arctl.registry import GeneratorSpec, ModelRef

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
    """Callbacks for long work: ``start(total)`` once, then ``advance(n, **fields)`` as work is done: ``n`` more
    units (1 if not given; 0 to update only the details) and fields a display may show (the step within a batch).

    Generation counts images: ``start(images in the run)``, ``advance(0, step="3/6")`` per step of a batch and
    ``advance(len(batch))`` when a batch's images are done."""

    start: Callable[[int], None] = lambda total: None
    advance: Callable[..., None] = lambda n=1, **fields: None


@dataclass
class LoadedModel:
    """A generator instance on its device, with the files it came from."""

    ref: ModelRef
    accelerator: Any
    files: dict[str, Any]
    generator: Any
    versions: dict[str, str] = field(default_factory=dict)
    sources: dict[str, dict] = field(default_factory=dict)  # what each file was, for recipes (hashed once)
    erasure: dict | None = None  # the record of the erasure applied to the weights (`--erasure FILE`), if any

    @property
    def spec(self) -> GeneratorSpec:
        return self.ref.owner


def generator_ref(registry, model: str) -> ModelRef:
    ref = registry.model(model)
    if not isinstance(ref.owner, GeneratorSpec):
        raise UsageError(f"{model} is a {ref.owner.kind} checkpoint, not a generator")
    return ref


def load_model(manager, model: str, *, device: str = "auto", dtype: str = "auto",
               weights: Mapping[str, str] | None = None, erasure: str | os.PathLike | None = None) -> LoadedModel:
    """The generator on its device; ``erasure`` is a file from `arctl erase-concept` applied to its weights."""
    import dataclasses

    from arctl.accelerate import make_accelerator
    from arctl.erasers import apply_erasure
    from arctl.hub import resolve_checkpoint

    registry = manager.registry
    ref = generator_ref(registry, model)
    accelerator = make_accelerator(registry, device, dtype)
    files = resolve_checkpoint(ref.checkpoint, weights)
    generator = ref.owner.load().from_checkpoint(ref.owner, ref.checkpoint, files, accelerator)
    sources = {role: rf.describe() for role, rf in files.items()}
    loaded = LoadedModel(ref, accelerator, files, generator, versions(manager, ref.owner), sources)
    return loaded if erasure is None else dataclasses.replace(loaded, erasure=apply_erasure(loaded, erasure))


def number(kind: type, flag: str, value: Any):
    """``value`` as an int or float, or a usage error naming the flag (values may come from Python)."""
    if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
        raise UsageError(f"--{flag} {value!r}: expected {kind.__name__}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise UsageError(f"--{flag} {value!r}: expected {kind.__name__}") from None


def not_finite(value: float) -> str:
    """What is wrong with a value beyond its range, as the start of a message."""
    return "not a number; " if math.isnan(value) else "not finite; " if math.isinf(value) else ""


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
    options: Mapping[str, Any] | None = None,
    watermarker=None,
) -> Settings:
    """Fill in the generator's published defaults and validate every value and ``-o`` option (text as on the
    command line, or typed values from Python).

    ``watermarker`` (a ``WatermarkerSpec``) adds its options to the shared ``-o`` namespace."""
    d = spec.sampling
    sampling = SamplingSettings(
        sampler=sampler or d.sampler,
        cfg=d.cfg if cfg is None else number(float, "cfg", cfg),
        cfg_schedule=cfg_schedule or d.cfg_schedule,
        top_k=d.top_k if top_k is None else number(int, "top-k", top_k),
        top_p=d.top_p if top_p is None else number(float, "top-p", top_p),
        temperature=d.temperature if temperature is None else number(float, "temperature", temperature),
    )
    if not (0 <= sampling.cfg < math.inf):  # written so that NaN fails too
        raise UsageError(f"--cfg {sampling.cfg}: {not_finite(sampling.cfg)}must be a finite number >= 0")
    if sampling.top_k < 0:
        raise UsageError(f"--top-k {sampling.top_k}: must be >= 0 (0 disables top-k)")
    if not 0 < sampling.top_p <= 1:
        raise UsageError(f"--top-p {sampling.top_p}: {not_finite(sampling.top_p)}must be in (0, 1] (1 disables top-p)")
    if not (0 < sampling.temperature < math.inf):
        raise UsageError(f"--temperature {sampling.temperature}: {not_finite(sampling.temperature)}must be > 0 and "
                         "finite (use --sampler greedy for argmax)")
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


@dataclass(frozen=True)
class Batches:
    """A run's items (index, condition), ``num`` per condition in order, cut into batches of ``size``. A batch is
    computed when it is asked for, so planning a run of any length takes constant time and memory."""

    conditions: tuple
    num: int
    size: int

    @property
    def images(self) -> int:
        return len(self.conditions) * self.num

    def __len__(self) -> int:
        return -(-self.images // self.size)

    def __getitem__(self, index: int) -> list[tuple[int, Any]]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of a run of {len(self)}")
        start = index * self.size
        return [(i, self.conditions[i // self.num]) for i in range(start, min(start + self.size, self.images))]

    def __iter__(self) -> Iterator[list[tuple[int, Any]]]:
        return (self[index] for index in range(len(self)))


def plan(conditions: Sequence[Any], num: int, batch_size: int) -> Batches:
    """Items (index, condition), ``num`` per condition in order, cut into batches."""
    return Batches(tuple(conditions), num, batch_size)


@dataclass(frozen=True)
class Run:
    """What a run generates, fixed before any work: its seed (drawn now when none is given, so it can be shown
    first) and its batches."""

    seed: int
    batches: Batches


def plan_run(spec: GeneratorSpec, conditions: Sequence[Condition], *, num: int = 1, seed: int | None = None,
             batch_size: int | None = None) -> Run:
    """Check the run's size and seed (before any weights load) and plan it; ``batch_size`` None: the spec's."""
    num = number(int, "num", num)
    if num < 1:
        raise UsageError(f"--num {num}: must be >= 1")
    seed = secrets.randbits(63) if seed is None else number(int, "seed", seed)
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed {seed}: must be in 0..{MAX_SEED}")
    batch_size = spec.batch_size if batch_size is None else number(int, "batch-size", batch_size)
    if batch_size < 1:
        raise UsageError(f"--batch-size {batch_size}: must be >= 1")
    return Run(seed, plan(conditions, num, batch_size))


def build_sampling(registry, settings: Settings, rng, processors: Sequence = ()):
    from arctl.sampling import TokenSampling

    s = settings.sampling
    sampler = registry.get("sampler", s.sampler).load()(
        temperature=s.temperature, top_k=s.top_k, top_p=s.top_p, **settings.sampler_options
    )
    schedule = registry.get("cfg_schedule", s.cfg_schedule).load()(s.cfg, **settings.schedule_options)
    return TokenSampling(sampler, schedule, rng, processors)


def run_batch(registry, loaded: LoadedModel, settings: Settings, items, *, seed: int, batch_index: int,
              processors: Sequence = (), on_step: Callable[[Any], None] = lambda ctx: None,
              on_note: Callable[[str], None] = lambda note: None):
    """Generate one batch of (item, Condition); returns a float tensor [B, 3, H, W] in [0, 1] on the CPU."""
    import torch

    from arctl.generator import GenerationBatch
    from arctl.sampling import BatchInfo, bind_processors

    acc = loaded.accelerator
    info = BatchInfo(seed, batch_index, tuple(item for item, _ in items))
    sampling = build_sampling(registry, settings, acc.generator(batch_seed(seed, batch_index)),
                              bind_processors(processors, info))
    conditions = [c for _, c in items]
    values = [c.value for c in conditions]
    conditioning = loaded.spec.conditioning
    notes: list[str] = []
    images = image_tensors(conditions, loaded.generator.image_size, notes) if conditions[0].images else {}
    for note in notes:
        on_note(note)
    batch = GenerationBatch(
        sampling=sampling,
        size=len(items),
        classes=values if conditioning == "class" else None,
        prompts=values if conditioning == "text" else None,
        images={name: tensor.to(acc.device) for name, tensor in images.items()},
        options=settings.generator_options,
        on_step=on_step,
        note=on_note,
    )
    with torch.inference_mode(), acc.autocast():
        images = loaded.generator.generate(batch)
    return images.float().clamp(0, 1).cpu()


def make_recipe(loaded: LoadedModel, settings: Settings, *, command: str, conditions: Sequence[Condition], num,
                batch_size, seed, item, condition: Condition) -> dict:
    spec = loaded.spec
    recipe = new_recipe(
        command, model=loaded.ref.checkpoint.name, files=loaded.sources, versions=loaded.versions,
        generator=spec.name, plugin=spec.plugin, conditioning=spec.conditioning,
        conditions=[c.value for c in conditions] if spec.conditioning != "none" else [],
        num=num, batch_size=batch_size, item=item, condition=condition.value, seed=seed,
        sampling=asdict(settings.sampling), options=settings.options(), **loaded.accelerator.describe(),
    )
    if loaded.erasure is not None:
        recipe["erasure"] = dict(loaded.erasure)
    if condition.images:  # every condition's inputs, so the whole run can be planned again
        recipe["inputs"] = {name: [c.images[name].record() for c in conditions] for name in condition.images}
    return recipe


def generate(
    manager,
    loaded: LoadedModel,
    settings: Settings,
    *,
    classes: Sequence[int] | None = None,
    prompts: Sequence[str] | None = None,
    images: Mapping[str, Sequence[Any]] | None = None,
    conditions: Sequence[Condition] | None = None,
    num: int = 1,
    seed: int | None = None,
    batch_size: int | None = None,
    only_batch: int | None = None,
    **streaming: Any,
) -> list[GeneratedImage]:
    """Generate ``num`` images per condition, as a list; ``only_batch`` re-runs a single batch (for reproduce).

    ``images`` maps a declared image input to its files (one for every condition, or one per condition);
    ``conditions`` are ones ``arctl.conditions.check_conditions`` already made (instead of the three above). The
    other keywords are ``stream``'s."""
    if conditions is None:
        conditions = check_conditions(loaded.spec, classes, prompts, images)
    run = plan_run(loaded.spec, conditions, num=num, seed=seed, batch_size=batch_size)
    return list(stream(manager, loaded, settings, run, only_batch=only_batch, **streaming))


def stream(
    manager,
    loaded: LoadedModel,
    settings: Settings,
    run: Run,
    *,
    only_batch: int | None = None,
    processors: Sequence = (),
    progress: Progress | None = None,
    watermark=None,
    on_note: Callable[[str], None] | None = None,
    command: str = "generate",
) -> Iterator[GeneratedImage]:
    """The images of a planned run (``plan_run``), handed on batch by batch as each finishes, so a caller that
    writes them as they come holds one batch whatever the run's length; ``only_batch`` runs a single batch.

    ``watermark`` (an ``arctl.watermark.ActiveWatermark``) adds its processor after ``processors`` and is
    recorded in every recipe (method, options and key fingerprint, never the key). ``on_note`` hears each distinct
    note (an input resized, a mask that keeps everything, ...) once; ``command`` is what the recipes record."""
    from arctl.images import to_pil

    batches = run.batches
    indices = range(len(batches)) if only_batch is None else [only_batch]
    if only_batch is not None:
        batches[only_batch]  # an index out of range fails here, before any work
    progress = progress or Progress()
    progress.start(batches.images if only_batch is None else len(batches[only_batch]))
    steps = loaded.generator.num_steps(settings.generator_options)
    heard: set[str] = set()

    def note(text: str) -> None:
        if text not in heard and on_note is not None:
            on_note(text)
        heard.add(text)

    marked = {}
    if watermark is not None:
        processors = [*processors, watermark.watermarker.processor()]
        # the watermarker's plugin version decides the mark as much as the generator's
        marked = {"watermark": watermark.record(), "versions": {**loaded.versions, **versions(manager, watermark.spec)}}

    for batch_index in indices:
        items = batches[batch_index]
        done = iter(range(1, steps + 1))
        tensors = run_batch(manager.registry, loaded, settings, items, seed=run.seed, batch_index=batch_index,
                            processors=processors, on_note=note,
                            on_step=lambda ctx: progress.advance(0, step=f"{next(done, steps)}/{steps}"))
        results = []
        for (item, condition), image in zip(items, to_pil(tensors)):
            recipe = make_recipe(loaded, settings, command=command, conditions=batches.conditions, num=batches.num,
                                 batch_size=batches.size, seed=run.seed, item=item, condition=condition)
            recipe.update(copy.deepcopy(marked))
            results.append(GeneratedImage(image, recipe))
        progress.advance(len(results))
        yield from results
