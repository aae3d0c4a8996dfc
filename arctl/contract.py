"""The generator contract kit: checks that every generator plugin runs on its tiny model (in the spirit of
diffusers' PipelineTesterMixin), re-exported by ``arctl.testing``.

Each ``check_*(manager, model, conditions, ...)`` loads ``model`` from ``manager``, generates through the core's
path (``arctl.generation.generate``) and raises ``AssertionError`` saying what the generator got wrong.
``conditions`` are ``generate``'s: ``{"classes": [1, 3]}``, ``{"prompts": [...]}``, ``{"images": {...}}``.
The keyword arguments shared by every check (``num``, ``batch_size``, ``options``: sampling arguments and ``-o``
options, ``device``) make the run small enough for a tiny model and leave at least two batches.

The kit watches a run at the generator's boundary (``Watch``): it wraps the loaded instance's ``generate`` to see
every ``GenerationBatch``, its ``on_step`` calls, every draw and diffusion-step answer of the batch's sampler, and
the raw output before the core clamps it. ``GeneratorContract`` is the test mixin whose tests call the checks.

Importing this module does not import torch (the checks do).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

TOKEN = "token"  # draws tokens from logits through batch.sampling (VAR, LlamaGen, NAR)
DIFFUSION_HEAD = "diffusion-head"  # asks batch.sampling how many denoising steps to run (MAR)
FAMILIES = (TOKEN, DIFFUSION_HEAD)


@dataclass
class BatchRecord:
    """One ``generate`` call as the kit saw it: the batch, what happened in order, and the raw output.

    ``events`` holds ``("step", ctx)`` for ``on_step``, ``("processed", ctx)`` for the kit's logits processor,
    ``("draw", (logits, tokens))`` for the sampler's draws, ``("asked", ctx)`` for a diffusion-step question and
    ``("head", None)`` for a call of the watched diffusion-head module."""

    batch: Any
    events: list[tuple[str, Any]] = field(default_factory=list)
    output: Any = None

    @property
    def steps(self) -> list:
        return [ctx for kind, ctx in self.events if kind == "step"]

    def per_step(self) -> list[list[tuple[str, Any]]]:
        """The events of each step: those after the previous ``on_step`` up to this step's."""
        segments, current = [], []
        for event in self.events:
            if event[0] == "step":
                segments.append(current)
                current = []
            else:
                current.append(event)
        return segments


class RecordingSampler:
    """Stands in for a batch's sampler and delegates to it, recording every draw and every diffusion-step question;
    with ``steps`` set it answers that many denoising steps instead of the sampler's choice."""

    def __init__(self, inner, events: list, steps: int | None = None) -> None:
        self.inner, self.events, self.steps = inner, events, steps

    def processors(self):
        return self.inner.processors()

    def draw(self, logits, rng, *, replacement: bool = True):
        tokens = self.inner.draw(logits, rng, replacement=replacement)
        self.events.append(("draw", (logits.detach().clone(), tokens.detach().clone())))
        return tokens

    def diffusion_steps(self, ctx, default: int) -> int:
        self.events.append(("asked", ctx))
        return self.inner.diffusion_steps(ctx, default) if self.steps is None else self.steps

    def diffusion_clip(self, ctx) -> float:
        return self.inner.diffusion_clip(ctx)

    def diffusion_temperature(self, ctx) -> float:
        return self.inner.diffusion_temperature(ctx)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()


def attribute(obj, path: str):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


class Watch:
    """Records every batch a loaded generator generates (see ``BatchRecord``). ``steps`` answers the sampler's
    diffusion-step questions; ``head`` (an attribute path on the generator, e.g. ``"mar.diffloss.net.input_proj"``)
    names a module called once per denoising step, whose calls are recorded."""

    def __init__(self, loaded, *, steps: int | None = None, head: str | None = None) -> None:
        self.records: list[BatchRecord] = []
        self.steps = steps
        generator = loaded.generator
        self._generate = generator.generate
        generator.generate = self._watched  # the instance only; the class is untouched
        if head is not None:
            attribute(generator, head).register_forward_hook(lambda *_: self.records[-1].events.append(("head", None)))

    def _watched(self, batch):
        record = BatchRecord(batch)
        self.records.append(record)
        on_step = batch.on_step

        def step(ctx) -> None:
            record.events.append(("step", ctx))
            on_step(ctx)

        batch.on_step = step
        batch.sampling.sampler = RecordingSampler(batch.sampling.sampler, record.events, self.steps)
        record.output = self._generate(batch)
        return record.output


class BanToken:
    """A logits processor that sets one token's logit to -inf, and notes each call in the watched batch."""

    def __init__(self, token: int, watch: Watch) -> None:
        self.token, self.watch = token, watch

    def __call__(self, logits, ctx):
        self.watch.records[-1].events.append(("processed", ctx))
        logits = logits.clone()
        logits[..., self.token] = float("-inf")
        return logits


class Subject:
    """A model loaded from a manager with settings for the conditions: what every check generates with."""

    def __init__(self, manager, model: str, conditions: Mapping[str, Any], *, num: int = 2, batch_size: int = 2,
                 options: Mapping[str, Any] | None = None, device: str = "cpu") -> None:
        from arctl.generation import load_model
        from arctl.pipeline import image_lists, prepare_run

        self.manager, self.model = manager, model
        self.num, self.batch_size = num, batch_size
        self.conditions = {k: (image_lists(v) if k == "images" else v) for k, v in conditions.items()}
        self.loaded = load_model(manager, model, device=device)
        self.settings = prepare_run(manager, self.loaded.spec, options=options, **conditions).settings

    def generate(self, seed: int | None = 0, **kwargs) -> list:
        from arctl.generation import generate

        return generate(self.manager, self.loaded, self.settings, **self.conditions, num=self.num, seed=seed,
                        batch_size=self.batch_size, **kwargs)

    def watch(self, **kwargs) -> Watch:
        return Watch(self.loaded, **kwargs)

    @property
    def num_steps(self) -> int:
        return self.loaded.generator.num_steps(self.settings.generator_options)


def pixels(result):
    import numpy as np

    return np.asarray(result.image)


def same_pixels(a, b) -> bool:
    import numpy as np

    return np.array_equal(pixels(a), pixels(b))


def items_differing(first: list, second: list) -> list[int]:
    return [a.recipe["item"] for a, b in zip(first, second, strict=True) if not same_pixels(a, b)]


def batches_of(results: list, batch_size: int) -> list[list]:
    return [results[i : i + batch_size] for i in range(0, len(results), batch_size)]


# --- the checks ---------------------------------------------------------------------------------------------------


def check_same_seed(manager, model: str, conditions: Mapping[str, Any], **run) -> None:
    """The same seed gives the same pixels, run after run on one loaded model."""
    subject = Subject(manager, model, conditions, **run)
    differ = items_differing(subject.generate(seed=0), subject.generate(seed=0))
    assert not differ, (f"{model}: seed 0 gave other pixels on a second run (items {differ}): every random draw must "
                        "come from batch.sampling.rng (not torch's global RNG), and no state may carry over")


def check_different_seeds(manager, model: str, conditions: Mapping[str, Any], **run) -> None:
    """Another seed gives other images, and no two images of one run are the same."""
    subject = Subject(manager, model, conditions, **run)
    first, second = subject.generate(seed=0), subject.generate(seed=1)
    same = [a.recipe["item"] for a, b in zip(first, second, strict=True) if same_pixels(a, b)]
    assert not same, (f"{model}: seeds 0 and 1 gave identical images (items {same}): the generator does not draw "
                      "from batch.sampling.rng")
    repeats = [(a.recipe["item"], b.recipe["item"]) for i, a in enumerate(first) for b in first[i + 1 :]
               if same_pixels(a, b)]
    assert not repeats, f"{model}: items {repeats} of one run are identical: every image needs its own draws"


def check_batch_alone(manager, model: str, conditions: Mapping[str, Any], **run) -> None:
    """Every batch, run alone (``only_batch``, as reproduce does), gives the images it gave within the whole run."""
    subject = Subject(manager, model, conditions, **run)
    batches = batches_of(subject.generate(seed=0), subject.batch_size)
    assert len(batches) >= 2, f"{model}: the run has one batch; give more conditions or a smaller batch_size"
    for k, batch in enumerate(batches):
        differ = items_differing(batch, subject.generate(seed=0, only_batch=k))
        assert not differ, (f"{model}: batch {k} run alone gave other pixels (items {differ}) than within the whole "
                            "run: a batch may depend only on its own seed and conditions (state carried over?)")


def check_banned_token(manager, model: str, conditions: Mapping[str, Any], *, token: int = 0, **run) -> None:
    """A logits processor that bans ``token`` is called at every step, and every draw obeys it (token generators)."""
    import torch

    subject = Subject(manager, model, conditions, **run)
    watch = subject.watch()
    subject.generate(seed=0, processors=[BanToken(token, watch)])
    for record in watch.records:
        missed = [i for i, events in enumerate(record.per_step()) if not any(k == "processed" for k, _ in events)]
        assert not missed, (f"{model}: the logits processors were not called at step(s) {missed}: every token must "
                            "be drawn through batch.sampling (sample, or process then draw)")
        draws = [payload for kind, payload in record.events if kind == "draw"]
        assert draws, f"{model}: no token was drawn through batch.sampling's sampler"
        unbanned = [i for i, (logits, _) in enumerate(draws) if not torch.isneginf(logits[..., token].float()).all()]
        assert not unbanned, (f"{model}: draw(s) {unbanned} were handed logits in which the banned token {token} is "
                              "not -inf: those logits skipped the processors")
        drawn = [i for i, (_, tokens) in enumerate(draws) if (tokens == token).any()]
        assert not drawn, f"{model}: the banned token {token} was drawn (draws {drawn})"


def check_diffusion_steps(manager, model: str, conditions: Mapping[str, Any], *, steps: int = 2,
                          head: str | None = None, **run) -> None:
    """The sampler is asked for the denoising steps once per iteration, and its answer decides how many run
    (diffusion-head generators). ``head``: a module on the generator called once per denoising step."""
    subject = Subject(manager, model, conditions, **run)
    watch = subject.watch(steps=steps, head=head)
    first = subject.generate(seed=0)
    for record in watch.records:
        per_step = record.per_step()
        asked = [sum(k == "asked" for k, _ in events) for events in per_step]
        assert asked and all(n == 1 for n in asked), (f"{model}: the sampler's diffusion_steps was asked {asked} times "
                                                      "at the iterations of a batch; once per iteration expected")
        if head is not None:
            ran = [sum(k == "head" for k, _ in events) for events in per_step]
            assert all(n == steps for n in ran), (f"{model}: the diffusion head ran {ran} times at the iterations of a "
                                                  f"batch, but the sampler asked for {steps} steps")
    watch.steps = steps + 1
    same = [a.recipe["item"] for a, b in zip(first, subject.generate(seed=0), strict=True) if same_pixels(a, b)]
    assert not same, (f"{model}: {steps} and {steps + 1} denoising steps gave identical images (items {same}): the "
                      "sampler's diffusion_steps answer is not used")


def check_num_steps(manager, model: str, conditions: Mapping[str, Any], **run) -> None:
    """``num_steps(options)`` is the number of ``on_step`` calls per batch, whose contexts count 0..n-1 of n."""
    subject = Subject(manager, model, conditions, **run)
    watch = subject.watch()
    subject.generate(seed=0)
    n = subject.num_steps
    for record in watch.records:
        steps = record.steps
        assert len(steps) == n, f"{model}: num_steps says {n} but generate called on_step {len(steps)} times"
        assert [ctx.step for ctx in steps] == list(range(n)), (
            f"{model}: on_step's ctx.step went {[ctx.step for ctx in steps]}, expected 0..{n - 1}")
        assert all(ctx.num_steps == n for ctx in steps), (
            f"{model}: on_step's ctx.num_steps was {sorted({ctx.num_steps for ctx in steps})}, num_steps says {n}")


def check_recipe_round_trip(manager, model: str, conditions: Mapping[str, Any], directory, **run) -> None:
    """An image of the last batch (with a random seed), saved with its recipe in ``directory``, reproduces exactly."""
    from arctl.images import save_png
    from arctl.reproduction import reproduce

    result = Subject(manager, model, conditions, **run).generate(seed=None)[-1]
    path = save_png(result.image, Path(directory) / f"{model}-contract.png", result.recipe)
    verdict = reproduce(manager, path)
    assert verdict.identical, (f"{model}: reproducing item {result.recipe['item']} from its recipe gave other pixels "
                               f"(largest difference {verdict.max_abs_pixel_diff})")


def check_output(manager, model: str, conditions: Mapping[str, Any], *, image_size: int | None = None,
                 **run) -> None:
    """``generate`` returns a float tensor [B, 3, H, H] in [0, 1] (before the core's clamp), and the images are RGB
    of the generator's size (``image_size``, else ``generator.image_size`` where it has one)."""
    import torch

    subject = Subject(manager, model, conditions, **run)
    watch = subject.watch()
    results = subject.generate(seed=0)
    for record in watch.records:
        out = record.output
        assert isinstance(out, torch.Tensor) and out.is_floating_point(), (
            f"{model}: generate returned {type(out).__name__} {getattr(out, 'dtype', '')}, not a float tensor")
        size = record.batch.size
        assert out.dim() == 4 and out.shape[:2] == (size, 3) and out.shape[2] == out.shape[3], (
            f"{model}: generate returned shape {list(out.shape)} for a batch of {size}; expected [{size}, 3, H, H]")
        assert bool(torch.isfinite(out).all()), f"{model}: generate returned non-finite pixels"
        low, high = out.min().item(), out.max().item()
        assert 0 <= low and high <= 1, (f"{model}: generate returned pixels in [{low:.4f}, {high:.4f}]; the contract "
                                        "is [0, 1] (clamp before returning: the core's clamp hides it)")
    if image_size is None:
        try:
            image_size = subject.loaded.generator.image_size
        except NotImplementedError:
            image_size = watch.records[0].output.shape[-1]
    wrong = sorted({(r.image.mode, r.image.size) for r in results} - {("RGB", (image_size, image_size))})
    assert not wrong, f"{model}: images are {wrong}, expected RGB of {image_size}x{image_size}"


def generator_modules(generator, depth: int = 3) -> dict[str, Any]:
    """Every torch module a generator holds, by attribute path (through plain objects, lists and dicts)."""
    from torch import nn

    found: dict[str, nn.Module] = {}
    seen: set[int] = set()

    def visit(obj, path: str, level: int) -> None:
        if id(obj) in seen or level > depth:
            return
        seen.add(id(obj))
        if isinstance(obj, nn.Module):
            found[path] = obj
            return
        if isinstance(obj, Mapping):
            children = obj.items()
        elif isinstance(obj, (list, tuple)):
            children = enumerate(obj)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            children = vars(obj).items()
        else:
            return
        for name, child in children:
            visit(child, f"{path}.{name}" if path else str(name), level + 1)

    visit(generator, "", 0)
    return found


def check_inference_state(manager, model: str, conditions: Mapping[str, Any], **run) -> None:
    """Generation (which the core runs under ``torch.inference_mode``) leaves no gradient anywhere, an output that
    needs none, the caller's grad mode as it was, and every module in eval mode."""
    import torch

    subject = Subject(manager, model, conditions, **run)
    watch = subject.watch()
    with torch.enable_grad():
        subject.generate(seed=0)
        assert torch.is_grad_enabled(), f"{model}: generation switched grad mode off for its caller"
    modules = generator_modules(subject.loaded.generator)
    assert modules, f"{model}: the generator holds no torch module the kit can find"
    with_grad = [f"{path}.{name}" for path, module in modules.items() for name, p in module.named_parameters()
                 if p.grad is not None]
    assert not with_grad, f"{model}: after generation these parameters hold gradients: {with_grad[:5]}"
    needing = [i for i, r in enumerate(watch.records) if r.output.requires_grad]
    assert not needing, f"{model}: generate returned tensors that require grad (batches {needing})"
    training = [f"{path}.{name}".rstrip(".") for path, module in modules.items()
                for name, m in module.named_modules() if m.training]
    assert not training, f"{model}: modules in training mode after generation (dropout would be on): {training[:5]}"


# --- the test mixin -----------------------------------------------------------------------------------------------


class GeneratorContract:
    """Mix into a test class (named ``Test...``; this one is not collected itself) to run every contract check on a
    tiny model. The plugin provides the fixture ``contract_manager``: a PluginManager whose ``model`` has its files
    in the offline Hub cache. Class attributes configure the run:

    ``model`` (required), ``family`` (required: ``"token"`` or ``"diffusion-head"``), ``conditions``
    (default ``{"classes": [1, 3]}``), ``num`` and ``batch_size`` (2 and 2: two batches), ``options`` (sampling
    arguments and ``-o`` options that keep it fast), ``device``, ``banned_token``, ``diffusion_steps`` and
    ``diffusion_head`` (a module path on the generator called once per denoising step), ``image_size`` (when the
    generator has no ``image_size``)."""

    model: ClassVar[str]
    family: ClassVar[str]
    conditions: ClassVar[Mapping[str, Any]] = {"classes": [1, 3]}
    num: ClassVar[int] = 2
    batch_size: ClassVar[int] = 2
    options: ClassVar[Mapping[str, Any]] = {}
    device: ClassVar[str] = "cpu"
    banned_token: ClassVar[int] = 0
    diffusion_steps: ClassVar[int] = 2
    diffusion_head: ClassVar[str | None] = None
    image_size: ClassVar[int | None] = None

    def run_arguments(self) -> dict[str, Any]:
        return {"num": self.num, "batch_size": self.batch_size, "options": dict(self.options), "device": self.device}

    def test_same_seed_gives_the_same_images(self, contract_manager):
        check_same_seed(contract_manager, self.model, self.conditions, **self.run_arguments())

    def test_different_seeds_give_different_images(self, contract_manager):
        check_different_seeds(contract_manager, self.model, self.conditions, **self.run_arguments())

    def test_a_batch_run_alone_gives_the_same_images(self, contract_manager):
        check_batch_alone(contract_manager, self.model, self.conditions, **self.run_arguments())

    def test_the_sampling_seam_is_obeyed(self, contract_manager):
        """Token generators: a banned token is never drawn; diffusion-head generators: the sampler's step count."""
        assert self.family in FAMILIES, f"family {self.family!r}: one of {FAMILIES}"
        if self.family == TOKEN:
            check_banned_token(contract_manager, self.model, self.conditions, token=self.banned_token,
                               **self.run_arguments())
        else:
            check_diffusion_steps(contract_manager, self.model, self.conditions, steps=self.diffusion_steps,
                                  head=self.diffusion_head, **self.run_arguments())

    def test_num_steps_counts_the_on_step_calls(self, contract_manager):
        check_num_steps(contract_manager, self.model, self.conditions, **self.run_arguments())

    def test_the_recipe_reproduces_the_image(self, contract_manager, tmp_path):
        check_recipe_round_trip(contract_manager, self.model, self.conditions, tmp_path, **self.run_arguments())

    def test_output_is_rgb_in_the_unit_range(self, contract_manager):
        check_output(contract_manager, self.model, self.conditions, image_size=self.image_size, **self.run_arguments())

    def test_generation_leaves_no_grad_state(self, contract_manager):
        check_inference_state(contract_manager, self.model, self.conditions, **self.run_arguments())
