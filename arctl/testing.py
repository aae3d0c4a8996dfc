"""Test helpers for plugin authors, loaded by pytest as a plugin (entry point ``pytest11``).

Fixtures:
  hub_cache            an offline Hugging Face cache in tmp_path (HF_HUB_CACHE set, HF_HUB_OFFLINE=1)
                       with ``add(...)`` / ``add_checkpoint(...)`` writing files in the real layout
  make_plugin_manager  ``make_plugin_manager(plugin, ..., weights={model: state_dicts})``: an isolated manager with
                       the built-ins and the given plugin objects (modules or instances with hookimpls), no entry
                       points; ``weights`` writes each model's files into the offline cache (``hub_cache``)
  arctl_cli            ``arctl_cli.invoke(["generate", ...], manager=pm)`` -> result with exit_code/stdout/stderr
  golden               ``golden("var/public/var.safetensors")`` -> Path into ../shared/golden (or $ARCTL_GOLDEN_DIR);
                       skips when the data is absent, but fails when CI is set: CI must check parity

Helpers:
  spec_plugin(*specs)                              a plugin object registering the given specs (a tiny generator...)
  GeneratorContract, check_*                       the generator contract kit (``arctl.contract``)
  LogitsRecorder()                                 a logits processor that keeps what the sampling chain hands it
                                                   (the CFG-merged logits), to compare with official outputs
  assert_matches_manifest(module, manifest_path)   every state-dict key, shape, dtype and kind (parameter or
                                                   persistent buffer) equals an official checkpoint's manifest
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from arctl.contract import (  # noqa: F401  (re-exported: the contract kit is part of the testing helpers)
    DIFFUSION_HEAD,
    TOKEN,
    GeneratorContract,
    check_banned_token,
    check_batch_alone,
    check_different_seeds,
    check_diffusion_steps,
    check_inference_state,
    check_num_steps,
    check_output,
    check_recipe_round_trip,
    check_same_seed,
)
from arctl.hookspecs import hookimpl
from arctl.registry import HOOK_KINDS, Checkpoint, ComponentSpec


class HubCache:
    """Writes files exactly where huggingface_hub looks: models--org--name/{blobs,snapshots/<commit>,refs}."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @staticmethod
    def commit_for(repo_id: str, revision: str) -> str:
        return hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()

    def repo_dir(self, repo_id: str) -> Path:
        return self.root / ("models--" + repo_id.replace("/", "--"))

    def add_bytes(self, repo_id: str, filename: str, data: bytes, *, revision: str = "main", commit: str | None = None) -> Path:
        commit = commit or self.commit_for(repo_id, revision)
        repo = self.repo_dir(repo_id)
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        target = repo / "snapshots" / commit / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            target.symlink_to(os.path.relpath(blob, target.parent))
        except OSError:  # no symlinks on this filesystem: huggingface_hub copies too
            target.write_bytes(data)
        if revision != commit:  # a branch or tag points at the commit through refs/
            (repo / "refs").mkdir(exist_ok=True)
            (repo / "refs" / revision).write_text(commit)
        return target

    def add(
        self,
        repo_id: str,
        filename: str,
        state_dict: Mapping[str, Any],
        *,
        container: str = "bare",
        revision: str = "main",
        commit: str | None = None,
    ) -> Path:
        """Save a state dict as the official code would (safetensors, or torch.save in its container)."""
        return self.add_bytes(repo_id, filename, serialize(state_dict, filename, container), revision=revision, commit=commit)

    def add_checkpoint(self, checkpoint: Checkpoint, state_dicts: Mapping[str, Mapping[str, Any]]) -> dict[str, Path]:
        """Write every file of a registered checkpoint from ``{role: state_dict}``."""
        return {
            role: self.add(wf.repo_id, wf.filename, state_dicts[role], container=wf.container, revision=wf.revision)
            for role, wf in checkpoint.files.items()
        }


def serialize(state_dict: Mapping[str, Any], filename: str, container: str = "bare") -> bytes:
    import torch

    if filename.endswith(".safetensors"):
        from safetensors.torch import save

        return save({k: v.contiguous() for k, v in state_dict.items()})
    payload = dict(state_dict) if container in ("bare", "auto") else {container: dict(state_dict)}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


@dataclass
class CLIResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class _Stream(io.TextIOWrapper):
    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", write_through=True)

    def text(self) -> str:
        return self.buffer.getvalue().decode("utf-8")


@contextlib.contextmanager
def _environment(env: Mapping[str, str | None]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in env}
    try:
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class CLIRunner:
    """Runs ``arctl.cli.main`` in-process with captured stdout/stderr, as a user's shell would see them."""

    def __init__(self, manager=None) -> None:
        self.manager = manager

    def invoke(self, args: Sequence[str], *, manager=None, env: Mapping[str, str | None] | None = None) -> CLIResult:
        from arctl.cli import main

        out, err = _Stream(), _Stream()
        with _environment({"COLUMNS": "200", "TERM": "dumb", **(env or {})}), \
                contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in args], manager=manager or self.manager)
        return CLIResult(code, out.text(), err.text())


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU; skipped where torch sees none")


def pytest_collection_modifyitems(config, items) -> None:
    marked = [item for item in items if item.get_closest_marker("cuda")]
    if not marked:
        return
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU (run these on a machine with one)")
        for item in marked:
            item.add_marker(skip)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> HubCache:
    root = tmp_path / "hf-hub-cache"
    root.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return HubCache(root)


def spec_plugin(*specs: ComponentSpec, name: str = "TestComponents") -> Any:
    """A plugin object that registers ``specs``, each through the hook of its kind: what a test needs to put a tiny
    generator (and the samplers or tokenizers it uses) into a manager, without a class of hookimpls per test."""

    def registering(mine: list[ComponentSpec]):
        def hook(register) -> None:
            for spec in mine:
                register(spec)

        return staticmethod(hookimpl(hook))

    unknown = [s for s in specs if not isinstance(s, tuple(t for kinds in HOOK_KINDS.values() for t in kinds))]
    if unknown:
        raise TypeError(f"spec_plugin takes component specs, not {unknown[0]!r}")
    hooks = {hook: [s for s in specs if isinstance(s, kinds)] for hook, kinds in HOOK_KINDS.items()}
    return type(name, (), {hook: registering(mine) for hook, mine in hooks.items() if mine})()


@pytest.fixture
def make_plugin_manager(request):
    from arctl.plugins import PluginManager

    def make(*plugins: Any, entry_points: bool = False, strict: bool = False,
             weights: Mapping[str, Any] | None = None) -> PluginManager:
        """``weights`` maps a model name to its ``{role: state_dict}``, or to a function of its ``Checkpoint`` that
        makes them; every file goes into the offline Hub cache of the ``hub_cache`` fixture."""
        manager = PluginManager(plugins, entry_points=entry_points, strict=strict)
        if weights:
            cache = request.getfixturevalue("hub_cache")
            for model, states in weights.items():
                checkpoint = manager.registry.model(model).checkpoint
                cache.add_checkpoint(checkpoint, states(checkpoint) if callable(states) else states)
        return manager

    return make


@pytest.fixture
def arctl_cli() -> CLIRunner:
    return CLIRunner()


class LogitsRecorder:
    """Put it in ``TokenSampling(processors=[...])``: it records the logits after the CFG merge, before the
    sampler's temperature / top-k / top-p, once per ``sample`` call, and changes nothing."""

    def __init__(self) -> None:
        self.logits: list = []

    def __call__(self, logits, ctx):
        self.logits.append(logits.clone())
        return logits


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


@pytest.fixture
def golden(request):
    """Locate golden reference data; missing data skips locally and fails under CI."""
    explicit = os.environ.get("ARCTL_GOLDEN_DIR")
    root = Path(explicit) if explicit else Path(request.config.rootpath).resolve().parent / "shared" / "golden"

    def find(relative: str) -> Path:
        path = root / relative
        if not path.exists():
            message = f"golden data {path} is missing (set ARCTL_GOLDEN_DIR to the shared/golden folder)"
            if _truthy(os.environ.get("CI")):
                pytest.fail(message)
            pytest.skip(message)
        return path

    return find


def manifest_mismatches(module, manifest: Mapping[str, Any]) -> list[str]:
    """Differences between a module's state dict and a checkpoint manifest's ``tensors`` table."""
    params = {name for name, _ in module.named_parameters()}
    actual = {
        key: {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch."), "kind": "parameter" if key in params else "buffer"}
        for key, t in module.state_dict().items()
    }
    expected = manifest["tensors"]
    if "persistent_buffers" in manifest:  # manifests that list buffers once instead of a kind per tensor
        buffers = set(manifest["persistent_buffers"])
        expected = {k: {"kind": "buffer" if k in buffers else "parameter", **v} for k, v in expected.items()}
    problems = [f"missing in model: {k}" for k in expected if k not in actual]
    problems += [f"not in checkpoint: {k}" for k in actual if k not in expected]
    problems += [f"{k}: model {actual[k]} != checkpoint {expected[k]}" for k in expected
                 if k in actual and actual[k] != {f: expected[k][f] for f in ("shape", "dtype", "kind")}]
    return problems


def assert_matches_manifest(module, manifest_path: str | os.PathLike) -> None:
    manifest = json.loads(Path(manifest_path).read_text())
    problems = manifest_mismatches(module, manifest)
    assert not problems, f"{len(problems)} difference(s) from {manifest['name']}: " + "; ".join(problems[:8])


# --- transparent VQ autoencoders ---------------------------------------------------------------------------------

_CARRIER = 30.0  # the constant channels that keep GroupNorm from rescaling the signal (see make_transparent)
_LINEAR = 20.0  # GroupNorm shift that puts swish in its linear range


def sphere_codebook(size: int, dim: int, radius: float = 1.0):
    """``size`` codes spread evenly on a sphere in the first 3 of ``dim`` dimensions (a Fibonacci lattice)."""
    import math

    import torch

    i = torch.arange(size, dtype=torch.float64) + 0.5
    polar, turn = torch.acos(1 - 2 * i / size), math.pi * (1 + 5**0.5) * i
    points = torch.stack([torch.cos(turn) * torch.sin(polar), torch.sin(turn) * torch.sin(polar), torch.cos(polar)], 1)
    codes = torch.zeros(size, dim)
    codes[:, :3] = (points * radius).float()
    return codes


def make_transparent(model, codebook, *, pixel_scale: float = 0.9):
    """Set the weights of a VQGAN-family autoencoder (the ``arctl.vae_blocks`` layout: encoder and decoder with
    conv_in / norm_out / conv_out, quant_conv, post_quant_conv, quantize.embedding) so that decoding a token map
    and encoding the 8-bit image again gives back the same tokens, with the real classes and forward code.

    Tests of anything that re-encodes images (watermark detection) need that round trip, which random weights
    never give. Every residual and attention branch is zeroed (they become identities), resamplers copy pixels,
    convolutions inside the quantizer become identities, and a code's first 3 latent dimensions travel as RGB
    (``pixel_scale`` times the code, so codes must lie in those 3 dimensions; ``sphere_codebook`` makes such
    codes). GroupNorm would remove each channel's image-wide mean and scale: each signal channel therefore
    shares its group with its negation and a +-constant pair, which fixes the group's mean at 0 and its spread
    to within 0.1%. Widths must be constant (no 1x1 shortcuts) and at least 4 channels per GroupNorm group.
    """
    import math

    import torch
    from torch import nn

    from arctl.vae_blocks import Downsample, Upsample

    def centre(conv, out_channel, in_channel, value):
        conv.weight[out_channel, in_channel, conv.weight.shape[2] // 2, conv.weight.shape[3] // 2] = value

    encoder, decoder = model.encoder, model.decoder
    width = encoder.norm_out.num_channels
    group = width // encoder.norm_out.num_groups
    if group < 4 or decoder.norm_out.num_channels != width:
        raise ValueError("make_transparent needs equal encoder/decoder widths with >= 4 channels per GroupNorm group")
    gain = math.sqrt(group / 2) / _CARRIER  # what GroupNorm multiplies a signal channel by
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for module in model.modules():
            if isinstance(module, nn.GroupNorm):
                module.weight.fill_(1.0)
                module.bias.fill_(_LINEAR)
            elif isinstance(module, Downsample):  # keep the top-left pixel of every 2x2 block
                module.conv.weight[range(width), range(width), 0, 0] = 1.0
            elif isinstance(module, Upsample):
                for c in range(width):
                    centre(module.conv, c, c, 1.0)
        for module in model.quantize.modules():
            if isinstance(module, nn.Conv2d):
                for c in range(module.out_channels):
                    centre(module, c, c, 1.0)
        for d in range(3):  # signal d: +s and -s, then the +-carrier, all in group d
            for stem in (encoder.conv_in, decoder.conv_in):
                centre(stem, group * d, d, 1.0)
                centre(stem, group * d + 1, d, -1.0)
                stem.bias[group * d + 2], stem.bias[group * d + 3] = _CARRIER, -_CARRIER
            # (+s - -s) / 2 cancels the swish shift; the gains undo GroupNorm's
            centre(encoder.conv_out, d, group * d, 0.5 / (gain * pixel_scale))
            centre(encoder.conv_out, d, group * d + 1, -0.5 / (gain * pixel_scale))
            centre(decoder.conv_out, d, group * d, 0.5 * pixel_scale / gain)
            centre(decoder.conv_out, d, group * d + 1, -0.5 * pixel_scale / gain)
            centre(model.quant_conv, d, d, 1.0)
            centre(model.post_quant_conv, d, d, 1.0)
        model.quantize.embedding.weight.copy_(codebook)
    return model
