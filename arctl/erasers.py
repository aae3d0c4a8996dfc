"""The eraser contract, and what the core does with one: validate the concepts, run it resumably, write, read and
apply the weight delta it returns.

An ``EraserSpec``'s factory is called as ``factory(**options)`` with the parsed ``-o`` options (defaults filled in)
and returns an ``Eraser``. ``erase_concept`` hands it an ``ErasureRequest`` (the loaded generator, the concepts and
their replacements, a seed, a ``Progress`` and a ``ResumeDir``); the eraser returns an ``ErasureDelta``: the new
values of the tensors it changed, keyed ``"<generator attribute>.<state-dict key>"`` (``model.class_emb.weight``
for a generator whose ``torch.nn.Module`` is ``generator.model``). It must not modify the loaded generator itself.

The core writes the delta as a small safetensors file (only the tensors that changed, each in the dtype of the
tensor it replaces) whose metadata names the model, its base files, the eraser, its options and the concepts.
``apply_erasure(loaded, path)`` checks that file against a loaded generator and *replaces* those tensors in place
(replaces rather than adds, so that the model ends up with exactly the trained weights). This module does not import
torch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arctl.errors import ArctlError, PluginError, UsageError
from arctl.files import atomic_write
from arctl.options import parse_options
from arctl.recipes import versions
from arctl.registry import EraserSpec, GeneratorSpec

if TYPE_CHECKING:  # only for annotations: arctl.generation applies erasures, so importing it here would be a circle
    from arctl.generation import LoadedModel, Progress

ERASURE_FORMAT = "arctl-erasure"
ERASURE_VERSION = 1
ERASURE_MODE = "replace"  # the file holds new values, not differences
METADATA_FIELDS = ("format", "format_version", "mode", "model", "generator", "base", "eraser", "options", "concepts",
                   "replacements", "seed", "info", "versions", "tensors_sha256")
IDENTITY_FIELDS = ("repo_id", "filename", "commit", "sha256")  # what identifies a base file's content


# --- the contract --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResumeState:
    """What an eraser saved last: named tensors (on the CPU) and a JSON-serialisable dict (its step, say)."""

    tensors: dict[str, Any]
    state: dict[str, Any]


class ResumeDir:
    """Where an eraser checkpoints its progress and finds it again after an interruption (Ctrl-C, a lost machine).

    The core ties the directory to one run (model, base files, eraser, options, concepts, seed) and refuses to resume
    another run from it; it clears the state once the delta is written."""

    RUN_FILE = "run.json"
    STATE_FILE = "state.safetensors"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_run(cls, path: str | Path, run: Mapping[str, Any]) -> ResumeDir:
        resume = cls(Path(path))
        run = json.loads(json.dumps(run))
        run_file = resume.path / cls.RUN_FILE
        if run_file.is_file():
            try:
                recorded = json.loads(run_file.read_text())
            except (OSError, ValueError) as exc:
                raise ArctlError(f"resume directory {resume.path}: cannot read {cls.RUN_FILE}: {exc}") from None
            differing = [k for k in run if recorded.get(k) != run[k]] if isinstance(recorded, dict) else ["run"]
            if differing:
                raise ArctlError(f"resume directory {resume.path} holds another erasure run (its {differing[0]} "
                                 "differs); continue that run or give another resume directory")
        else:
            atomic_write(run_file, lambda tmp: tmp.write_text(json.dumps(run, indent=1)))
        return resume

    def save(self, tensors: Mapping[str, Any], state: Mapping[str, Any]) -> None:
        """Replace the saved state (atomically: an interruption while saving leaves the previous one)."""
        from safetensors.torch import save_file

        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        text = json.dumps(dict(state))
        atomic_write(self.path / self.STATE_FILE, lambda tmp: save_file(tensors, tmp, metadata={"state": text}))

    def load(self) -> ResumeState | None:
        """The last saved state, or None when the run starts afresh."""
        path = self.path / self.STATE_FILE
        if not path.is_file():
            return None
        metadata, tensors = _read_safetensors(path, what="resume state")
        try:
            state = json.loads(metadata["state"])
        except (KeyError, ValueError):
            raise ArctlError(f"{path}: not a resume state written by arctl") from None
        return ResumeState(tensors, state)

    def clear(self) -> None:
        for name in (self.STATE_FILE, self.RUN_FILE):
            (self.path / name).unlink(missing_ok=True)
        if self.path.is_dir() and not any(self.path.iterdir()):
            self.path.rmdir()


@dataclass(frozen=True)
class ErasureRequest:
    """What an eraser receives. ``concepts`` are prompts (text generators) or class ids (class generators);
    ``replacements`` is empty (the eraser's own choice, e.g. the empty prompt or the null class) or holds one
    replacement per concept. Randomness derives from ``seed`` so that a resumed run repeats the interrupted one;
    ``progress.start(steps left)`` once, then ``progress.advance()`` per step."""

    loaded: LoadedModel
    concepts: tuple[Any, ...]
    replacements: tuple[Any, ...]
    seed: int
    progress: Progress
    resume: ResumeDir

    def pairs(self) -> list[tuple[Any, Any]]:
        """(concept, replacement or None) for every concept."""
        return list(zip(self.concepts, self.replacements or (None,) * len(self.concepts)))


@dataclass
class ErasureDelta:
    """What an eraser returns: new tensor values keyed ``"<generator attribute>.<state-dict key>"``, and a
    JSON-serialisable summary recorded in the file (steps run, final loss, ...)."""

    tensors: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)


class Eraser:
    """Base class of what an eraser factory returns; the options are in ``self.options``."""

    def __init__(self, **options: Any) -> None:
        self.options = options

    def erase(self, request: ErasureRequest) -> ErasureDelta:
        """Fine-tune (copies of) the generator's weights so that it forgets ``request.concepts``."""
        raise PluginError(f"{type(self).__name__} does not implement erase")


@dataclass
class ActiveEraser:
    """An eraser built with its parsed options."""

    spec: EraserSpec
    options: dict[str, Any]
    eraser: Eraser


def choose_eraser(registry, name: str | None) -> EraserSpec:
    """The named eraser, or the only installed one when no name is given."""
    return registry.named_or_only("eraser", name, install="arctl-ear")


def build_eraser(spec: EraserSpec, options: Mapping[str, Any] | None = None) -> ActiveEraser:
    """Parse ``options`` (text as after ``-o``, or typed values) and call the spec's factory with them."""
    parsed = parse_options(dict(options or {}), spec.options, owner=f"eraser {spec.name}")
    made = spec.load()(**parsed)
    if not isinstance(made, Eraser):
        raise PluginError(f"eraser {spec.name!r} (plugin {spec.plugin}): factory returned {type(made).__name__}, "
                          "not an arctl.erasers.Eraser")
    return ActiveEraser(spec, parsed, made)


def check_concepts(generator: GeneratorSpec, eraser: EraserSpec, concepts: Sequence[Any],
                   replacements: Sequence[Any] = ()) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The concepts and their replacements (none, one for all, or one per concept) as the eraser will see them.

    Cheap (specs only), so a command can check them before loading any weights."""
    if generator.conditioning not in eraser.conditioning:
        wanted = " or ".join(f"{c}-conditional" for c in eraser.conditioning)
        raise UsageError(f"eraser {eraser.name} needs a {wanted} generator; {generator.name} is "
                         f"{generator.conditioning}-conditional")
    concepts = tuple(_condition(generator, c, "--concept") for c in concepts)
    replacements = tuple(_condition(generator, r, "--replacement") for r in replacements)
    if not concepts:
        raise UsageError("give at least one concept to erase (--concept)")
    if len(replacements) == 1:
        replacements *= len(concepts)
    if replacements and len(replacements) != len(concepts):
        raise UsageError(f"{len(replacements)} replacements for {len(concepts)} concepts: give one replacement, "
                         "or one per concept")
    for concept, replacement in zip(concepts, replacements):
        if concept == replacement:
            raise UsageError(f"--replacement {replacement!r}: it is the concept being erased")
    both = [c for c in concepts if c in replacements]
    if both:
        raise UsageError(f"{both[0]!r} is both a concept to erase and a replacement")
    return concepts, replacements


def _condition(generator: GeneratorSpec, value: Any, flag: str) -> Any:
    if generator.conditioning == "text":
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"{flag} {value!r}: must be a non-empty prompt")
        return value
    digits = isinstance(value, str) and value.strip().lstrip("-").isdigit()
    if type(value) is not int and not digits:  # not bool, not a float that int() would truncate
        raise UsageError(f"{flag} {value!r}: {generator.name} is class-conditional, give a class id")
    class_id = int(value)
    if not 0 <= class_id < generator.num_classes:
        raise UsageError(f"{flag} {class_id}: out of range for {generator.name} (0..{generator.num_classes - 1})")
    return class_id


def erase_concept(manager, loaded: LoadedModel, active: ActiveEraser, *, concepts: Sequence[Any],
                  replacements: Sequence[Any] = (), out: str | Path, resume_dir: str | Path, progress: Progress,
                  seed: int = 0) -> Path:
    """Run the eraser on ``loaded`` and write its delta to ``out`` (nothing is written if it fails or is interrupted;
    running again with the same ``resume_dir`` and arguments continues from the eraser's last checkpoint)."""
    out = Path(out)
    if out.suffix != ".safetensors":
        raise UsageError(f"--out {out}: an erasure is written as a .safetensors file")
    concepts, replacements = check_concepts(loaded.spec, active.spec, concepts, replacements)
    run = {"model": loaded.ref.checkpoint.name, "base": loaded.sources, "eraser": active.spec.name,
           "options": active.options, "concepts": concepts, "replacements": replacements, "seed": seed}
    resume = ResumeDir.for_run(resume_dir, run)
    request = ErasureRequest(loaded, concepts, replacements, seed, progress, resume)
    delta = active.eraser.erase(request)
    who = f"eraser {active.spec.name!r} (plugin {active.spec.plugin})"
    if not isinstance(delta, ErasureDelta):
        raise PluginError(f"{who}: erase returned {type(delta).__name__}, not an arctl.erasers.ErasureDelta")
    tensors = _changed_tensors(loaded, delta, who)
    try:
        info = json.loads(json.dumps(delta.info))
    except (TypeError, ValueError) as exc:
        raise PluginError(f"{who}: the delta's info is not JSON-serialisable: {exc}") from None
    metadata = {**run, "format": ERASURE_FORMAT, "format_version": ERASURE_VERSION, "mode": ERASURE_MODE,
                "generator": loaded.spec.name, "info": info, "versions": versions(manager, loaded.spec, active.spec),
                "tensors_sha256": tensors_sha256(tensors)}
    write_erasure(out, tensors, metadata)
    resume.clear()
    return out


def _changed_tensors(loaded: LoadedModel, delta: ErasureDelta, who: str) -> dict[str, Any]:
    """The delta's tensors that differ from the loaded weights, on the CPU in the dtype of what they replace."""
    import torch

    targets = _targets(loaded.generator, delta.tensors, who)
    changed = {}
    for key, value in delta.tensors.items():
        if not isinstance(value, torch.Tensor):
            raise PluginError(f"{who}: delta entry {key!r} is a {type(value).__name__}, not a tensor")
        target = targets[key]
        _check_fits(key, value, target, who)
        value = value.detach().to("cpu", target.dtype).contiguous()
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise PluginError(f"{who}: delta entry {key!r} holds non-finite values (the fine-tuning diverged)")
        if not torch.equal(value, target.detach().cpu()):
            changed[key] = value
    if not changed:
        raise PluginError(f"{who}: the delta changes no weights (an eraser returns new values; it must not modify "
                          "the loaded generator in place)")
    return changed


# --- the delta file ------------------------------------------------------------------------------------------------


def tensors_sha256(tensors: Mapping[str, Any]) -> str:
    """A digest of names, dtypes, shapes and bytes, so that a file whose tensors were altered is refused."""
    import torch

    digest = hashlib.sha256()
    for key in sorted(tensors):
        tensor = tensors[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{list(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def write_erasure(path: str | Path, tensors: Mapping[str, Any], metadata: Mapping[str, Any]) -> Path:
    """Write the delta atomically; every metadata value is stored as JSON text."""
    from safetensors.torch import save_file

    text = {name: json.dumps(metadata[name]) for name in METADATA_FIELDS}
    return atomic_write(Path(path), lambda tmp: save_file(dict(tensors), tmp, metadata=text))


@dataclass(frozen=True)
class Erasure:
    """An erasure file read back and checked for integrity (not yet against a model)."""

    path: Path
    sha256: str
    metadata: dict[str, Any]
    tensors: dict[str, Any]

    def record(self) -> dict[str, Any]:
        """What an image's recipe says about the erasure applied to its generator."""
        m = self.metadata
        return {"file": str(self.path), "sha256": self.sha256, "eraser": m["eraser"], "options": m["options"],
                "concepts": m["concepts"], "replacements": m["replacements"]}


def _read_safetensors(path: Path, *, what: str) -> tuple[dict[str, str], dict[str, Any]]:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise ArctlError(f"{what} {path} does not exist")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return dict(f.metadata() or {}), {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ArctlError(f"{path} is not a readable safetensors {what} ({detail}); arctl reads no pickles") from None


def read_erasure(path: str | Path) -> Erasure:
    """Read an erasure file, refusing anything that is not an intact erasure of a format this arctl reads."""
    from arctl.hub import file_sha256

    path = Path(path)
    raw, tensors = _read_safetensors(path, what="erasure file")
    if raw.get("format") != json.dumps(ERASURE_FORMAT):
        raise ArctlError(f"{path} is a safetensors file but not an arctl erasure (no {ERASURE_FORMAT} metadata)")
    try:
        metadata = {name: json.loads(raw[name]) for name in METADATA_FIELDS}
    except (KeyError, ValueError):
        missing = next((n for n in METADATA_FIELDS if n not in raw), None)
        problem = f"lacks the {missing!r} metadata" if missing else "has malformed metadata"
        raise ArctlError(f"erasure file {path} {problem}") from None
    if metadata["format_version"] != ERASURE_VERSION or metadata["mode"] != ERASURE_MODE:
        raise ArctlError(f"erasure file {path}: format version {metadata['format_version']} ({metadata['mode']}) is "
                         f"not one this arctl reads (version {ERASURE_VERSION}, {ERASURE_MODE})")
    if not tensors:
        raise ArctlError(f"erasure file {path} holds no tensors")
    if tensors_sha256(tensors) != metadata["tensors_sha256"]:
        raise ArctlError(f"erasure file {path}: its tensors do not match the digest in its metadata (the file was "
                         "altered or damaged)")
    return Erasure(path, file_sha256(path), metadata, tensors)


def check_erasure(erasure: Erasure, loaded: LoadedModel) -> dict[str, Any]:
    """The tensors the erasure replaces on ``loaded`` (key -> the live parameter or buffer), after checking that it
    was made for this model and these base files and that every tensor fits."""
    m, where = erasure.metadata, f"erasure file {erasure.path}"
    model = loaded.ref.checkpoint.name
    if m["model"] != model or m["generator"] != loaded.spec.name:
        raise ArctlError(f"{where} was made for {m['model']} ({m['generator']}), not for {model}")
    for role, recorded in m["base"].items():
        current = loaded.sources.get(role, {})
        shared = [k for k in IDENTITY_FIELDS if recorded.get(k) is not None and current.get(k) is not None]
        differing = [k for k in shared if recorded[k] != current[k]]
        if differing:
            key = differing[0]
            raise ArctlError(f"{where} was made for other {model} weights ({role} file {key} {recorded[key]}, "
                             f"loaded: {current[key]})")
    targets = _targets(loaded.generator, erasure.tensors, where)
    for key, value in erasure.tensors.items():
        _check_fits(key, value, targets[key], where)
    return targets


def apply_erasure(loaded: LoadedModel, path: str | Path) -> dict[str, Any]:
    """Replace the erased tensors of ``loaded``'s generator in place (on their device and dtype; all or nothing)
    and return the record an image's recipe stores under ``erasure``."""
    import torch

    erasure = read_erasure(path)
    targets = check_erasure(erasure, loaded)
    with torch.no_grad():
        for key, value in erasure.tensors.items():
            targets[key].copy_(value.to(targets[key].device, targets[key].dtype))
    return erasure.record()


def _targets(generator: Any, keys: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Each key's live tensor: ``"<attr>.<name>"`` names entry ``name`` of the module ``generator.<attr>``."""
    from torch import nn

    states: dict[str, dict[str, Any]] = {}
    targets = {}
    for key in keys:
        attr, _, name = key.partition(".")
        module = getattr(generator, attr, None) if attr and not attr.startswith("_") else None
        if not isinstance(module, nn.Module):
            raise ArctlError(f"{where}: key {key!r} does not start with a module attribute of the generator")
        if attr not in states:
            states[attr] = module.state_dict(keep_vars=True)
        if name not in states[attr]:
            raise ArctlError(f"{where}: unknown key {key!r} (generator.{attr} has no {name!r})")
        targets[key] = states[attr][name]
    return targets


def _check_fits(key: str, value: Any, target: Any, where: str) -> None:
    if tuple(value.shape) != tuple(target.shape):
        raise ArctlError(f"{where}: {key} has shape {list(value.shape)}, the model's is {list(target.shape)}")
    if value.dtype != target.dtype and not (value.is_floating_point() and target.is_floating_point()):
        raise ArctlError(f"{where}: {key} is {value.dtype}, the model's is {target.dtype}")
