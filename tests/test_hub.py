"""Checkpoint resolution (local > cache > download), safe pickle loading, containers and strict keys."""

import os
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from arctl import hub
from arctl.errors import ArctlError, StateDictMismatchError, UnsafeCheckpointError, UsageError, WeightsNotFoundError
from arctl.registry import Checkpoint, WeightFile
from arctl.testing import HubCache, serialize

WF = WeightFile("org/model", "weights.pth", container="model")


def small_state():
    torch.manual_seed(0)
    return nn.Linear(3, 2).state_dict()


class RunsCode:
    """A pickle payload that would run a shell command when unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_cached_file_is_found_with_its_commit(hub_cache):
    path = hub_cache.add(WF.repo_id, WF.filename, small_state(), container="model")
    resolved = hub.resolve_file(WF)
    assert resolved.source == "cache"
    assert resolved.path == path
    assert resolved.commit == HubCache.commit_for(WF.repo_id, "main")
    assert resolved.describe() == {"repo_id": "org/model", "filename": "weights.pth", "revision": "main",
                                   "commit": resolved.commit}


def test_pinned_commit_and_nested_filename(hub_cache):
    commit = "0123456789abcdef0123456789abcdef01234567"
    hub_cache.add("org/model", "sub/dir/w.safetensors", small_state(), revision=commit, commit=commit)
    resolved = hub.resolve_file(WeightFile("org/model", "sub/dir/w.safetensors", revision=commit))
    assert resolved.commit == commit
    assert resolved.path.name == "w.safetensors"


def test_explicit_local_path_wins_over_the_cache(hub_cache, tmp_path):
    hub_cache.add(WF.repo_id, WF.filename, small_state(), container="model")
    local = tmp_path / "mine.pth"
    torch.save({"model": small_state()}, local)
    resolved = hub.resolve_file(WF, local)
    assert (resolved.source, resolved.path, resolved.commit) == ("local", local, None)
    with pytest.raises(ArctlError, match="does not exist"):
        hub.resolve_file(WF, tmp_path / "missing.pth")


def test_offline_and_not_cached_is_one_clear_sentence(hub_cache, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("must not try to download while HF_HUB_OFFLINE is set")

    monkeypatch.setattr("huggingface_hub.hf_hub_download", no_network)
    with pytest.raises(WeightsNotFoundError) as caught:
        hub.resolve_file(WF, model="my-model")
    message = str(caught.value)
    assert "\n" not in message
    assert "weights.pth from org/model (revision main)" in message
    assert str(hub_cache.root) in message
    assert "HF_HUB_OFFLINE is set" in message
    assert "arctl download my-model" in message and "--weights PATH" in message


def test_unreachable_hub_maps_to_the_same_sentence(tmp_path, monkeypatch):
    from huggingface_hub.errors import LocalEntryNotFoundError

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    calls = []

    def unreachable(repo_id, filename, **kwargs):
        calls.append((repo_id, filename, kwargs["revision"], kwargs["cache_dir"]))
        raise LocalEntryNotFoundError("connection refused")

    monkeypatch.setattr("huggingface_hub.hf_hub_download", unreachable)
    with pytest.raises(WeightsNotFoundError, match="the Hub could not be reached"):
        hub.resolve_file(WF, model="m")
    assert calls == [("org/model", "weights.pth", "main", tmp_path)]


def test_download_records_the_resolved_commit(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    commit = "f" * 40

    def fake_download(repo_id, filename, **kwargs):  # what huggingface_hub returns after a download
        return str(HubCache(tmp_path).add(repo_id, filename, small_state(), container="model", commit=commit))

    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    resolved = hub.resolve_file(WF)
    assert (resolved.source, resolved.commit) == ("download", commit)


def test_hf_environment_is_read_at_call_time(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hub.cache_dir() == tmp_path / "home" / "hub"
    HubCache(tmp_path / "home" / "hub").add(WF.repo_id, WF.filename, small_state(), container="model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.is_offline()
    assert hub.resolve_file(WF).source == "cache"
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not hub.is_offline()


def test_resolve_checkpoint_with_an_unknown_role(hub_cache):
    ckpt = Checkpoint("m", "A model.", {"model": WF})
    with pytest.raises(ArctlError, match="no file role 'vae'"):
        hub.resolve_checkpoint(ckpt, {"vae": "x.pth"})


@pytest.mark.parametrize(
    ("payload", "container"),
    [
        (lambda sd: sd, "bare"),
        (lambda sd: {"model": sd, "optimizer": {"step": 3}}, "model"),
        (lambda sd: {"model": {"w": torch.zeros(1)}, "model_ema": sd}, "model_ema"),
        (lambda sd: {"state_dict": sd, "epoch": 1}, "state_dict"),
        (lambda sd: {"module": sd}, "module"),
        (lambda sd: {"module": sd}, "auto"),
        (lambda sd: sd, "auto"),
    ],
)
def test_containers_are_unwrapped(tmp_path, payload, container):
    state = small_state()
    path = tmp_path / "ckpt.pth"
    torch.save(payload(state), path)
    loaded = hub.load_state_dict(path, container)
    assert list(loaded) == list(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_safetensors_and_legacy_pickles_load(tmp_path):
    state = small_state()
    (tmp_path / "w.safetensors").write_bytes(serialize(state, "w.safetensors"))
    torch.save(state, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    for name in ("w.safetensors", "legacy.pt"):
        loaded = hub.load_state_dict(tmp_path / name, "bare")
        assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_wrong_container_lists_what_is_there(tmp_path):
    path = tmp_path / "ckpt.pth"
    torch.save({"model": small_state()}, path)
    with pytest.raises(ArctlError, match=r"no state dict under 'model_ema' \(top-level keys: model\)"):
        hub.load_state_dict(path, "model_ema")
    with pytest.raises(ArctlError, match="not a tensor"):
        hub.load_state_dict(path, "bare")


def test_unsupported_and_corrupt_files(tmp_path):
    (tmp_path / "w.npz").write_bytes(b"x")
    with pytest.raises(ArctlError, match="unsupported checkpoint type .npz"):
        hub.load_state_dict(tmp_path / "w.npz")
    (tmp_path / "w.pth").write_bytes(b"this is not a checkpoint")
    with pytest.raises(ArctlError, match="cannot read checkpoint"):
        hub.load_state_dict(tmp_path / "w.pth")
    (tmp_path / "w.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ArctlError, match="cannot read safetensors file"):
        hub.load_state_dict(tmp_path / "w.safetensors")


def test_malicious_pickles_are_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    zip_path = tmp_path / "evil.pth"
    torch.save({"model": {"w": torch.zeros(2)}, "payload": RunsCode(marker)}, zip_path)
    raw_path = tmp_path / "evil-raw.ckpt"
    raw_path.write_bytes(pickle.dumps(RunsCode(marker), protocol=2))
    for path in (zip_path, raw_path):
        with pytest.raises(UnsafeCheckpointError) as caught:
            hub.load_state_dict(path, "model")
        assert f"refusing to load {path}" in str(caught.value)
        assert "system" in str(caught.value)  # names what the pickle asked for
    modern = tmp_path / "evil-p5.pt"
    modern.write_bytes(pickle.dumps(RunsCode(marker), protocol=5))
    with pytest.raises(UnsafeCheckpointError, match="refusing to load"):
        hub.load_state_dict(modern, "bare")
    assert not marker.exists()


def test_strict_loading_names_missing_unexpected_and_mismatched_keys():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    state = model.state_dict()
    state.pop("1.bias")
    state["extra.weight"] = torch.zeros(1)
    state["0.weight"] = torch.zeros(5, 3)
    with pytest.raises(StateDictMismatchError) as caught:
        hub.load_strict(model, state, source="var-d16")
    assert str(caught.value) == (
        "var-d16 does not fit the model: 1 missing key(s): 1.bias; 1 unexpected key(s): extra.weight; "
        "1 shape mismatch(es): 0.weight (checkpoint [5, 3], model [4, 3])"
    )


def test_strict_loading_lists_the_first_few_and_counts():
    model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(8)])
    with pytest.raises(StateDictMismatchError, match=r"16 missing key\(s\): 0.weight, 0.bias, 1.weight, 1.bias, 2.weight, \.\.\."):
        hub.load_strict(model, {})


def test_strict_loading_includes_persistent_buffers():
    model = nn.BatchNorm1d(3)
    state = {k: v for k, v in model.state_dict().items() if k != "num_batches_tracked"}
    with pytest.raises(StateDictMismatchError, match="num_batches_tracked"):
        hub.load_strict(model, state)
    loaded = hub.load_strict(nn.BatchNorm1d(3), model.state_dict())
    assert isinstance(loaded, nn.BatchNorm1d)


def test_hub_references_name_another_file_of_the_hub(hub_cache):
    commit = "a" * 40
    hub_cache.add("org/other", "dir/renamed.pt", small_state(), container="model", revision="v2", commit=commit)
    resolved = hub.resolve_file(WF, "hf://org/other/dir/renamed.pt@v2")
    assert (resolved.source, resolved.commit) == ("cache", commit)
    assert resolved.weight == WeightFile("org/other", "dir/renamed.pt", "v2", "model")  # keeps the registered container
    assert resolved.describe()["filename"] == "dir/renamed.pt"
    with pytest.raises(WeightsNotFoundError, match="missing.pt from org/other"):
        hub.resolve_file(WF, "hf://org/other/missing.pt")
    for bad in ("hf://org/file.pt", "hf://org//x.pt"):
        with pytest.raises(UsageError, match="expected hf://ORG/REPO/FILE"):
            hub.resolve_file(WF, bad)


def test_files_shipped_in_a_package_resolve_without_the_hub(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    save_file(small_state(), tmp_path / "w.safetensors")
    shipped = WeightFile("arctl-zoo/tiny", "w.safetensors", local_dir=str(tmp_path))
    resolved = hub.resolve_file(shipped)
    assert (resolved.source, resolved.path) == ("package", tmp_path / "w.safetensors")
    described = resolved.describe()
    assert described["repo_id"] == "arctl-zoo/tiny" and len(described["sha256"]) == 64
    assert hub.cached_path(shipped) == tmp_path / "w.safetensors"
    with pytest.raises(ArctlError, match="missing from .*reinstall"):
        hub.resolve_file(WeightFile("arctl-zoo/tiny", "gone.safetensors", local_dir=str(tmp_path)))


def test_assign_loading_keeps_the_model_dtype():
    model_state = {k: v.half() for k, v in small_state().items()}
    with torch.device("meta"):
        model = nn.Linear(3, 2)
    hub.load_strict(model, model_state, assign=True)
    assert model.weight.dtype == torch.float32 and torch.equal(model.weight, model_state["weight"].float())
