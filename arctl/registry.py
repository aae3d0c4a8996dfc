"""What plugins register: typed, torch-free specs with lazy factories, and the registry that holds them."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from arctl.errors import PluginError, UsageError
from arctl.options import Option

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
CONTAINERS = ("bare", "model", "model_ema", "state_dict", "module", "auto")


@dataclass(frozen=True)
class WeightFile:
    """One file of a checkpoint on the Hugging Face Hub and how its state dict sits inside it.

    ``local_dir`` marks a file shipped inside a package (a local Hub-style repository: the directory
    holding config.json and the weights); it is used as is, never downloaded.
    """

    repo_id: str
    filename: str
    revision: str = "main"
    container: str = "bare"
    size: int | None = None
    local_dir: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "filename": self.filename,
            "revision": self.revision,
            "container": self.container,
            "size": self.size,
        }


@dataclass(frozen=True)
class Checkpoint:
    """A named set of weight files (role -> file) plus the architecture config that reads them."""

    name: str
    description: str
    files: Mapping[str, WeightFile]
    config: Mapping[str, Any] = field(default_factory=dict)
    default: bool = False  # what `arctl generate` uses when no model is named

    @property
    def size(self) -> int | None:
        sizes = [f.size for f in self.files.values()]
        return None if any(s is None for s in sizes) else sum(sizes)

    @property
    def main_role(self) -> str:
        return next(iter(self.files))


@dataclass(frozen=True)
class ComponentSpec:
    """Common to every registered component: a name, a one-line description and a lazy factory."""

    kind: ClassVar[str] = "component"

    name: str
    description: str
    factory: str | Callable[..., Any]
    plugin: str | None = None

    def load(self) -> Any:
        """Resolve the factory (``"package.module:attr"`` or a callable)."""
        if callable(self.factory):
            return self.factory
        module_name, _, attr = self.factory.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as exc:
            raise PluginError(
                f"{self.kind} {self.name!r} (plugin {self.plugin}): cannot load factory {self.factory!r}: {exc}"
            ) from exc
        return target

    def validate(self) -> None:
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise PluginError(f"{self.kind} name {self.name!r} must match {NAME_PATTERN.pattern}")
        if not isinstance(self.description, str) or not self.description.strip() or "\n" in self.description:
            raise PluginError(f"{self.kind} {self.name!r}: description must be one non-empty line")
        if isinstance(self.factory, str):
            module_name, sep, attr = self.factory.partition(":")
            if not (module_name and sep and attr):
                raise PluginError(f"{self.kind} {self.name!r}: factory must look like 'package.module:attr'")
        elif not callable(self.factory):
            raise PluginError(f"{self.kind} {self.name!r}: factory must be an import string or a callable")


def _validate_checkpoints(spec: ComponentSpec, checkpoints: tuple[Checkpoint, ...]) -> None:
    for ckpt in checkpoints:
        if not isinstance(ckpt, Checkpoint):
            raise PluginError(f"{spec.kind} {spec.name!r}: checkpoints must be Checkpoint objects")
        if not NAME_PATTERN.match(ckpt.name):
            raise PluginError(f"checkpoint name {ckpt.name!r} must match {NAME_PATTERN.pattern}")
        if not ckpt.files:
            raise PluginError(f"checkpoint {ckpt.name!r} lists no files")
        for role, wf in ckpt.files.items():
            if wf.container not in CONTAINERS:
                raise PluginError(f"checkpoint {ckpt.name!r} file {role!r}: container must be one of {CONTAINERS}")


@dataclass(frozen=True)
class TokenizerSpec(ComponentSpec):
    """Images <-> token grids. The factory builds the tokenizer from a checkpoint."""

    kind: ClassVar[str] = "tokenizer"
    checkpoints: tuple[Checkpoint, ...] = ()

    def validate(self) -> None:
        super().validate()
        _validate_checkpoints(self, self.checkpoints)


@dataclass(frozen=True)
class SamplingDefaults:
    """A generator's published sampling settings, used where the user gives none."""

    cfg: float = 1.0
    cfg_schedule: str = "constant"
    top_k: int = 0
    top_p: float = 1.0
    temperature: float = 1.0
    sampler: str = "multinomial"


IMAGE_MODES = ("RGB", "L")

# The sampling seams a generator offers (GeneratorSpec.offers) and a sampler acts on (SamplerSpec.acts_on):
# "token-logits": discrete tokens drawn through the core's TokenSampling chain (processors, then the sampler's draw);
# "diffusion-steps": a diffusion head that asks the sampler for each iteration's denoising chain (steps, clip, noise).
SEAMS = ("token-logits", "diffusion-steps")
# What a watermarker may need (WatermarkerSpec.needs): a seam, or "tokenizer" (the generator declares one, so that
# images can be re-encoded for marking after the fact and for detection).
WATERMARK_NEEDS = (*SEAMS, "tokenizer")


def _validate_words(spec: ComponentSpec, field_name: str, words: tuple[str, ...], vocabulary: tuple[str, ...],
                    *, empty: bool) -> None:
    if not isinstance(words, tuple) or (not words and not empty) or any(w not in vocabulary for w in words):
        amount = "a subset" if empty else "a non-empty subset"
        raise PluginError(f"{spec.kind} {spec.name!r}: {field_name} must be {amount} of {vocabulary}")


@dataclass(frozen=True)
class ImageInput:
    """An image condition a generator accepts next to its classes or prompts (a control image, a source image, a
    mask), given as ``--image NAME=PATH``: one for every condition of a run, or one per condition, in order.

    The core reads each file, refuses what it cannot use (unreadable, a pixel format it cannot convert, smaller than
    ``min_size``), converts it to ``mode`` ("RGB" or "L") and hands the generator a float tensor in [0, 1] at the
    generator's ``image_size``. ``with_`` names inputs that must be given together with this one."""

    name: str
    description: str
    mode: str = "RGB"
    required: bool = False
    with_: tuple[str, ...] = ()
    min_size: int = 8

    def validate(self, owner: str) -> None:
        if not NAME_PATTERN.match(self.name):
            raise PluginError(f"{owner}: image input name {self.name!r} must match {NAME_PATTERN.pattern}")
        if self.mode not in IMAGE_MODES:
            raise PluginError(f"{owner}: image input {self.name!r}: mode must be one of {IMAGE_MODES}")
        if not isinstance(self.description, str) or not self.description.strip() or "\n" in self.description:
            raise PluginError(f"{owner}: image input {self.name!r}: description must be one non-empty line")


@dataclass(frozen=True)
class GeneratorSpec(ComponentSpec):
    """An image generator. ``conditioning`` is "class", "text" or "none"; ``cfg_help`` says what --cfg means.

    ``image_inputs`` are the image conditions it accepts (see ``ImageInput``). ``domain`` names the kind of images it
    makes ("imagenet", "shapes", "text-to-image"): judges declare the domains they can score. ``class_names`` names
    the classes, index = class id: a tuple, or a function returning one, called on first use (``arctl.classes``)."""

    kind: ClassVar[str] = "generator"
    checkpoints: tuple[Checkpoint, ...] = ()
    tokenizer: str | None = None
    conditioning: str = "class"
    num_classes: int | None = None
    options: tuple[Option, ...] = ()
    sampling: SamplingDefaults = field(default_factory=SamplingDefaults)
    cfg_help: str = ""
    batch_size: int = 8
    image_inputs: tuple[ImageInput, ...] = ()
    domain: str | None = None
    # the seams (SEAMS) its sampling goes through. The default is the token generator the docs describe, so an
    # undeclared one keeps every token sampler and watermarker; an undeclared diffusion head is refused diffusion
    # samplers in one line (loud, where a permissive default would record samplers that changed nothing).
    offers: tuple[str, ...] = ("token-logits",)
    class_names: tuple[str, ...] | Callable[[], tuple[str, ...]] = ()

    def validate(self) -> None:
        super().validate()
        _validate_checkpoints(self, self.checkpoints)
        _validate_words(self, "offers", self.offers, SEAMS, empty=False)
        if self.conditioning not in ("class", "text", "none"):
            raise PluginError(f"generator {self.name!r}: conditioning must be 'class', 'text' or 'none'")
        if self.conditioning == "class" and not (isinstance(self.num_classes, int) and self.num_classes > 0):
            raise PluginError(f"generator {self.name!r}: class-conditional generators must give num_classes")
        names = [i.name for i in self.image_inputs]
        for image_input in self.image_inputs:
            if not isinstance(image_input, ImageInput):
                raise PluginError(f"generator {self.name!r}: image_inputs must be ImageInput objects")
            image_input.validate(f"generator {self.name!r}")
            unknown = [n for n in image_input.with_ if n not in names]
            if unknown:
                raise PluginError(f"generator {self.name!r}: image input {image_input.name!r} names an unknown "
                                  f"companion {unknown[0]!r}")
        if len(set(names)) != len(names):
            raise PluginError(f"generator {self.name!r}: image input names must be unique")

    def image_input(self, name: str) -> ImageInput:
        for image_input in self.image_inputs:
            if image_input.name == name:
                return image_input
        known = ", ".join(i.name for i in self.image_inputs) or "none"
        raise UsageError(f"--image {name}=...: {self.name} takes no image input {name!r} (it takes: {known})")


@dataclass(frozen=True)
class SamplerSpec(ComponentSpec):
    """Turns processed logits into tokens; may also choose diffusion steps per iteration (DiSA)."""

    kind: ClassVar[str] = "sampler"
    options: tuple[Option, ...] = ()
    # the seams (SEAMS) it acts on; a generator offering none of them is refused. The default is what processors and
    # draw act on: an undeclared token sampler keeps working, one that chooses diffusion steps must say so.
    acts_on: tuple[str, ...] = ("token-logits",)

    def validate(self) -> None:
        super().validate()
        _validate_words(self, "acts_on", self.acts_on, SEAMS, empty=False)


@dataclass(frozen=True)
class CFGScheduleSpec(ComponentSpec):
    """How the CFG weight evolves over generation progress (constant, VAR's linear ramp, ...)."""

    kind: ClassVar[str] = "cfg_schedule"
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class AcceleratorSpec(ComponentSpec):
    """A device backend; ``--device NAME`` or ``NAME:INDEX`` selects it."""

    kind: ClassVar[str] = "accelerator"


@dataclass(frozen=True)
class WatermarkerSpec(ComponentSpec):
    """Embeds a mark during or after generation and detects it."""

    kind: ClassVar[str] = "watermarker"
    options: tuple[Option, ...] = ()
    # what marking a generator's images while generating needs of it (WATERMARK_NEEDS, all of them); marking existing
    # images and detection go through the tokenizer alone, so only a "tokenizer" need applies there. The default is
    # the watermarker the docs describe: it marks token logits and detects by re-encoding with the tokenizer.
    needs: tuple[str, ...] = ("token-logits", "tokenizer")

    def validate(self) -> None:
        super().validate()
        _validate_words(self, "needs", self.needs, WATERMARK_NEEDS, empty=True)


ERASABLE_CONDITIONING = ("class", "text")


@dataclass(frozen=True)
class EraserSpec(ComponentSpec):
    """Removes a concept from a loaded generator and returns the changed weights (see ``arctl.erasers``).

    The factory is called as ``factory(**options)`` (the parsed ``-o`` options, defaults filled in) and returns an
    ``arctl.erasers.Eraser``. ``conditioning`` names the generator conditionings it can erase from: "text" (concepts
    are prompts) and/or "class" (concepts are class ids); the core refuses any other generator."""

    kind: ClassVar[str] = "eraser"
    options: tuple[Option, ...] = ()
    conditioning: tuple[str, ...] = ("text",)

    def validate(self) -> None:
        super().validate()
        if not self.conditioning or any(c not in ERASABLE_CONDITIONING for c in self.conditioning):
            raise PluginError(f"eraser {self.name!r}: conditioning must be a non-empty subset of "
                              f"{ERASABLE_CONDITIONING}")


JUDGE_SCORES = ("class_fidelity", "caption_fidelity", "features")


@dataclass(frozen=True)
class JudgeSpec(ComponentSpec):
    """Scores generated images: ``scores`` says what it measures (class fidelity, caption fidelity, features for a
    Fréchet distance), ``domains`` which generators' images it can judge (``GeneratorSpec.domain``). The factory
    is called as ``factory(device)`` and returns an ``arctl.judges.Judge``."""

    kind: ClassVar[str] = "judge"
    scores: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()

    def validate(self) -> None:
        super().validate()
        if not self.scores or any(s not in JUDGE_SCORES for s in self.scores):
            raise PluginError(f"judge {self.name!r}: scores must be a non-empty subset of {JUDGE_SCORES}")
        if not self.domains or not all(isinstance(d, str) and d for d in self.domains):
            raise PluginError(f"judge {self.name!r}: domains must name at least one generator domain")


@dataclass(frozen=True)
class CommandSpec(ComponentSpec):
    """A CLI command: the factory returns a ``typer.Typer`` (a group, ``arctl NAME SUB``) or a function (``arctl NAME``)."""

    kind: ClassVar[str] = "command"


# Which spec types each hook's register callable accepts.
HOOK_KINDS: dict[str, tuple[type[ComponentSpec], ...]] = {
    "register_tokenizers": (TokenizerSpec,),
    "register_generators": (GeneratorSpec,),
    "register_samplers": (SamplerSpec, CFGScheduleSpec),
    "register_accelerators": (AcceleratorSpec,),
    "register_watermarkers": (WatermarkerSpec,),
    "register_erasers": (EraserSpec,),
    "register_judges": (JudgeSpec,),
    "register_commands": (CommandSpec,),
}
KINDS = tuple(dict.fromkeys(t.kind for types in HOOK_KINDS.values() for t in types))


@dataclass(frozen=True)
class ModelRef:
    """A checkpoint found by name, with the component that owns it."""

    owner: GeneratorSpec | TokenizerSpec
    checkpoint: Checkpoint


class Registry:
    """Every component by kind and name; names are unique per kind, checkpoint names unique overall."""

    def __init__(self) -> None:
        self._components: dict[str, dict[str, ComponentSpec]] = {kind: {} for kind in KINDS}
        self._checkpoints: dict[str, ModelRef] = {}

    def add(self, spec: ComponentSpec) -> None:
        spec.validate()
        table = self._components[spec.kind]
        if spec.name in table:
            other = table[spec.name]
            raise PluginError(
                f"{spec.kind} {spec.name!r} is registered by both plugin {other.plugin!r} and plugin {spec.plugin!r}"
            )
        for ckpt in getattr(spec, "checkpoints", ()):
            if ckpt.name in self._checkpoints:
                other = self._checkpoints[ckpt.name].owner
                raise PluginError(
                    f"checkpoint {ckpt.name!r} is registered by both plugin {other.plugin!r} and plugin {spec.plugin!r}"
                )
        table[spec.name] = spec
        for ckpt in getattr(spec, "checkpoints", ()):
            self._checkpoints[ckpt.name] = ModelRef(spec, ckpt)

    def merge(self, other: Registry) -> None:
        """Add every component of ``other`` (all or nothing)."""
        trial = self.copy()
        for spec in other.all():
            trial.add(spec)
        self._components, self._checkpoints = trial._components, trial._checkpoints

    def copy(self) -> Registry:
        clone = Registry()
        clone._components = {kind: dict(table) for kind, table in self._components.items()}
        clone._checkpoints = dict(self._checkpoints)
        return clone

    def all(self, kind: str | None = None) -> list[ComponentSpec]:
        kinds = [kind] if kind else list(KINDS)
        return [spec for k in kinds for spec in self._components[k].values()]

    def get(self, kind: str, name: str) -> ComponentSpec:
        table = self._components[kind]
        if name not in table:
            known = ", ".join(sorted(table)) or "none registered"
            raise UsageError(f"unknown {kind.replace('_', ' ')} {name!r} (known: {known})")
        return table[name]

    def names(self, kind: str) -> list[str]:
        return sorted(self._components[kind])

    def named_or_only(self, kind: str, name: str | None, *, install: str) -> ComponentSpec:
        """The named component, or the only one of its kind when no name is given (``--method NAME`` chooses among
        several; ``install`` is the package the error suggests when there is none)."""
        if name is not None:
            return self.get(kind, name)
        installed = self.names(kind)
        if len(installed) == 1:
            return self.get(kind, installed[0])
        if not installed:
            raise UsageError(f"no {kind} is installed (for example: arctl install {install})")
        raise UsageError(f"several {kind}s are installed; choose one with --method ({', '.join(installed)})")

    def checkpoints(self) -> list[ModelRef]:
        return list(self._checkpoints.values())

    def default_model(self) -> str:
        """The checkpoint marked as default (the first one registered, if several are)."""
        for ref in self._checkpoints.values():
            if ref.checkpoint.default:
                return ref.checkpoint.name
        raise UsageError("no MODEL given and no installed plugin provides a default; `arctl models` lists them")

    def model(self, name: str) -> ModelRef:
        """Find a checkpoint by name, or a generator/tokenizer by name (its first checkpoint)."""
        if name in self._checkpoints:
            return self._checkpoints[name]
        for kind in ("generator", "tokenizer"):
            spec = self._components[kind].get(name)
            if spec is not None and spec.checkpoints:
                return ModelRef(spec, spec.checkpoints[0])
        known = ", ".join(sorted(self._checkpoints)) or "none registered"
        raise UsageError(f"unknown model {name!r} (known: {known}); `arctl models` lists them")
