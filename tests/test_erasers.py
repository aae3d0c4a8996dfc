"""The eraser contract: concept checks, the resumable run, and the delta file (write, read, refuse, apply)."""

import json
import pickle

import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file

from arctl import EraserSpec, GeneratorSpec, Option, generation
from arctl.erasers import (
    Eraser,
    ErasureDelta,
    apply_erasure,
    build_eraser,
    check_concepts,
    choose_eraser,
    erase_concept,
    read_erasure,
    tensors_sha256,
)
from arctl.errors import ArctlError, PluginError, UsageError
from arctl.hub import file_sha256
from arctl.registry import Registry
from tests.conftest import toy_state_dict

WEIGHT = "model.class_emb.weight"
TEXT_GENERATOR = GeneratorSpec("words", "A text generator.", "x:y", conditioning="text")


class Counting:
    """A Progress that counts its calls and can stop the run (as Ctrl-C does) after some steps."""

    def __init__(self, stop_after=None):
        self.totals, self.steps, self.stop_after = [], 0, stop_after

    def start(self, total):
        self.totals.append(total)

    def advance(self):
        self.steps += 1
        if self.steps == self.stop_after:
            raise KeyboardInterrupt


@pytest.fixture
def toy(toy_manager, toy_weights):
    return generation.load_model(toy_manager, "toy-tiny", device="cpu")


@pytest.fixture
def forget(toy_manager):
    return toy_manager.registry.get("eraser", "toy-forget")


def next_token_kl(model, concept, replacement):
    """KL(replacement || concept) of the next-token distributions, over every (previous token, position)."""
    previous, positions = torch.meshgrid(torch.arange(17), torch.arange(16), indexing="ij")
    previous, positions = previous.reshape(-1), positions.reshape(-1)
    with torch.no_grad():
        p = F.log_softmax(model(torch.full_like(previous, concept), previous, positions), -1)
        q = F.log_softmax(model(torch.full_like(previous, replacement), previous, positions), -1)
    return F.kl_div(p, q, log_target=True, reduction="batchmean").item()


def erase(manager, loaded, spec, tmp_path, *, name="erasure", options=None, progress=None, concepts=(2,),
          replacements=(0,)):
    return erase_concept(manager, loaded, build_eraser(spec, options), concepts=concepts, replacements=replacements,
                         out=tmp_path / f"{name}.safetensors", resume_dir=tmp_path / f"{name}.resume",
                         progress=progress or Counting())


def rewrite(path, tensors=None, **metadata):
    """Save the erasure at ``path`` again with some tensors or metadata changed (JSON values)."""
    with safe_open(str(path), "pt") as f:
        raw, old = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    raw.update({k: json.dumps(v) for k, v in metadata.items()})
    save_file(old if tensors is None else tensors, path, metadata=raw)


# --- the contract --------------------------------------------------------------------------------------------------


def test_spec_says_which_conditioning_it_erases_from():
    assert EraserSpec("e", "An eraser.", "x:y").conditioning == ("text",)
    with pytest.raises(PluginError, match="conditioning must be a non-empty subset"):
        EraserSpec("e", "An eraser.", "x:y", conditioning=("none",)).validate()


def test_build_eraser_fills_defaults_and_checks_what_the_factory_returns(forget):
    active = build_eraser(forget, {"steps": "5"})
    assert active.options == {"steps": 5, "lr": 0.1, "checkpoint_every": 10} == active.eraser.options
    with pytest.raises(UsageError, match="unknown option 'window' for eraser toy-forget"):
        build_eraser(forget, {"window": "3"})
    with pytest.raises(UsageError, match="steps=0: must be >= 1"):
        build_eraser(forget, {"steps": "0"})
    with pytest.raises(PluginError, match="factory returned dict, not an arctl.erasers.Eraser"):
        build_eraser(EraserSpec("bad", "Returns a dict.", dict, options=(Option("n", int, 1),)))


def test_choose_eraser():
    registry = Registry()
    with pytest.raises(UsageError, match="no eraser is installed"):
        choose_eraser(registry, None)
    registry.add(EraserSpec("one", "An eraser.", "x:y"))
    assert choose_eraser(registry, None).name == "one"
    registry.add(EraserSpec("two", "Another.", "x:y"))
    with pytest.raises(UsageError, match=r"several erasers are installed; choose one with --method \(one, two\)"):
        choose_eraser(registry, None)


def test_concepts_are_checked_against_the_generator(toy, forget):
    spec = toy.spec
    assert check_concepts(spec, forget, ["2", 3], ["0"]) == ((2, 3), (0, 0))  # one replacement serves every concept
    assert check_concepts(spec, forget, [1]) == ((1,), ())
    cases = [
        (spec, forget, [], [], "give at least one concept"),
        (spec, forget, ["church"], [], "--concept 'church': toy is class-conditional, give a class id"),
        (spec, forget, [2.5], [], "--concept 2.5: toy is class-conditional, give a class id"),
        (spec, forget, [4], [], r"--concept 4: out of range for toy \(0..3\)"),
        (spec, forget, [1, 2], [0, 3, 3], "3 replacements for 2 concepts"),
        (spec, forget, [2], [2], "--replacement 2: it is the concept being erased"),
        (spec, forget, [1, 2], [2, 0], "2 is both a concept to erase and a replacement"),
        (spec, EraserSpec("ear", "Text only.", "x:y"), [2], [], "eraser ear needs a text-conditional generator; "
                                                                 "toy is class-conditional"),
        (TEXT_GENERATOR, EraserSpec("ear", "Text only.", "x:y"), ["  "], [], "--concept '  ': must be a non-empty"),
    ]
    for generator, eraser, concepts, replacements, message in cases:
        with pytest.raises(UsageError, match=message):
            check_concepts(generator, eraser, concepts, replacements)
    text = EraserSpec("ear", "Text only.", "x:y")
    assert check_concepts(TEXT_GENERATOR, text, ["a church"], ["a building"]) == (("a church",), ("a building",))


# --- running an eraser ---------------------------------------------------------------------------------------------


def test_erasure_round_trip_changes_the_concept_and_nothing_else(toy_manager, toy, forget, tmp_path):
    before = next_token_kl(toy.generator.model, 2, 0)
    progress = Counting()
    path = erase(toy_manager, toy, forget, tmp_path, progress=progress)
    assert progress.totals == [60] and progress.steps == 60
    assert not (tmp_path / "erasure.resume").exists()  # a finished run leaves no resume state
    assert torch.equal(toy.generator.model.class_emb.weight, toy_state_dict()["class_emb.weight"])  # not in place

    erasure = read_erasure(path)
    assert list(erasure.tensors) == [WEIGHT] and path.stat().st_size < 2000
    m = erasure.metadata
    assert (m["format"], m["format_version"], m["mode"]) == ("arctl-erasure", 1, "replace")
    assert (m["model"], m["generator"], m["eraser"]) == ("toy-tiny", "toy", "toy-forget")
    assert (m["concepts"], m["replacements"], m["seed"]) == ([2], [0], 0)
    assert m["options"] == {"steps": 60, "lr": 0.1, "checkpoint_every": 10} and m["info"]["steps"] == 60
    assert m["base"] == toy.sources and m["base"]["model"]["commit"]
    assert "arctl" in m["versions"] and "torch" in m["versions"]

    fresh = generation.load_model(toy_manager, "toy-tiny", device="cpu")
    record = apply_erasure(fresh, path)
    assert record == {"file": str(path), "sha256": file_sha256(path), "eraser": "toy-forget",
                            "options": m["options"], "concepts": [2], "replacements": [0]}
    model = fresh.generator.model
    after = next_token_kl(model, 2, 0)
    assert after < 0.02 * before, (before, after)  # class 2 now continues like class 0 does
    base = toy_state_dict()
    changed_rows = (model.class_emb.weight != base["class_emb.weight"]).any(dim=1).tolist()
    assert changed_rows == [False, False, True, False, False]  # the other classes and the null class are untouched
    for key, value in model.state_dict().items():
        if key != "class_emb.weight":
            assert torch.equal(value, base[key]), key


def test_an_erased_generator_draws_the_replacement_s_images(toy_manager, toy, forget, tmp_path):
    path = erase(toy_manager, toy, forget, tmp_path)
    settings = generation.resolve_settings(toy_manager.registry, toy.spec)

    def tokens(loaded, cls):
        images = generation.generate(toy_manager, loaded, settings, classes=[cls], num=32, seed=3)
        return [g.image.tobytes() for g in images]

    replacement = tokens(toy, 0)
    concept_before = tokens(toy, 2)
    fresh = generation.load_model(toy_manager, "toy-tiny", device="cpu")
    apply_erasure(fresh, path)
    concept_after = tokens(fresh, 2)
    same_before = sum(a == b for a, b in zip(concept_before, replacement))
    same_after = sum(a == b for a, b in zip(concept_after, replacement))
    assert same_before == 0 and same_after >= 12, (same_before, same_after)  # 17 of 32 identical images here


def test_resume_after_an_interruption_gives_the_same_delta(toy_manager, toy, forget, tmp_path):
    whole = read_erasure(erase(toy_manager, toy, forget, tmp_path, name="whole"))

    with pytest.raises(KeyboardInterrupt):
        erase(toy_manager, toy, forget, tmp_path, name="cut", progress=Counting(stop_after=25))
    assert not (tmp_path / "cut.safetensors").exists()  # nothing half-written
    assert sorted(p.name for p in (tmp_path / "cut.resume").iterdir()) == ["run.json", "state.safetensors"]

    resumed = Counting()
    cut = read_erasure(erase(toy_manager, toy, forget, tmp_path, name="cut", progress=resumed))
    assert resumed.totals == [40] and resumed.steps == 40  # continued from the checkpoint at step 20
    assert torch.equal(cut.tensors[WEIGHT], whole.tensors[WEIGHT])
    assert cut.metadata["tensors_sha256"] == whole.metadata["tensors_sha256"]


def test_a_resume_directory_serves_only_its_own_run(toy_manager, toy, forget, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        erase(toy_manager, toy, forget, tmp_path, progress=Counting(stop_after=12))
    with pytest.raises(ArctlError, match=r"erasure.resume holds another erasure run \(its concepts differs\)"):
        erase(toy_manager, toy, forget, tmp_path, concepts=(3,))
    with pytest.raises(ArctlError, match=r"holds another erasure run \(its options differs\)"):
        erase(toy_manager, toy, forget, tmp_path, options={"lr": "0.2"})
    assert not (tmp_path / "erasure.safetensors").exists()


class Misbehaving(Eraser):
    def erase(self, request):
        model = request.loaded.generator.model
        how = self.options["how"]
        if how == "dict":
            return {"model.class_emb.weight": model.class_emb.weight}
        if how == "in-place":
            with torch.no_grad():
                model.class_emb.weight[2] += 1
            return ErasureDelta({WEIGHT: model.class_emb.weight})
        if how == "nan":
            return ErasureDelta({WEIGHT: torch.full_like(model.class_emb.weight, float("nan"))})
        if how == "unknown":
            return ErasureDelta({"model.no_such.weight": torch.zeros(3)})
        if how == "shape":
            return ErasureDelta({WEIGHT: torch.zeros(2, 2)})
        return ErasureDelta({WEIGHT: model.class_emb.weight + 1}, info={"when": object()})


@pytest.mark.parametrize("how, message", [
    ("dict", "erase returned dict, not an arctl.erasers.ErasureDelta"),
    ("in-place", "the delta changes no weights"),
    ("nan", "holds non-finite values"),
    ("unknown", r"unknown key 'model.no_such.weight' \(generator.model has no 'no_such.weight'\)"),
    ("shape", r"class_emb.weight has shape \[2, 2\], the model's is \[5, 32\]"),
    ("info", "the delta's info is not JSON-serialisable"),
])
def test_what_an_eraser_returns_is_checked(toy_manager, toy, tmp_path, how, message):
    spec = EraserSpec("misbehaving", "Breaks the contract.", Misbehaving, conditioning=("class",),
                      options=(Option("how", str, how),))
    with pytest.raises(ArctlError, match=message):
        erase(toy_manager, toy, spec, tmp_path)
    assert not (tmp_path / "erasure.safetensors").exists()


def test_the_output_is_a_safetensors_file(toy_manager, toy, forget, tmp_path):
    with pytest.raises(UsageError, match="an erasure is written as a .safetensors file"):
        erase_concept(toy_manager, toy, build_eraser(forget), concepts=[2], out=tmp_path / "e.pt",
                      resume_dir=tmp_path / "r", progress=Counting())


# --- reading and applying the file ---------------------------------------------------------------------------------


def test_an_erasure_is_refused_by_another_model_or_other_base_weights(toy_manager, toy, toy_plugin, forget, tmp_path,
                                                                      hub_cache):
    path = erase(toy_manager, toy, forget, tmp_path)
    other = generation.load_model(toy_manager, "toy-tiny-pth", device="cpu")
    with pytest.raises(ArctlError, match=r"erasure.safetensors was made for toy-tiny \(toy\), not for toy-tiny-pth"):
        apply_erasure(other, path)
    assert torch.equal(other.generator.model.class_emb.weight, toy_state_dict()["class_emb.weight"])

    wf = toy_plugin.TOY.files["model"]
    hub_cache.add(wf.repo_id, wf.filename, toy_state_dict(seed=1), commit="f" * 40)  # main now points elsewhere
    retrained = generation.load_model(toy_manager, "toy-tiny", device="cpu")
    with pytest.raises(ArctlError, match=f"was made for other toy-tiny weights \\(model file commit "
                                         f"{toy.sources['model']['commit']}, loaded: {'f' * 40}\\)"):
        apply_erasure(retrained, path)


def refusal(path):
    with pytest.raises(ArctlError) as caught:
        read_erasure(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_damaged_tampered_or_pickled_files_are_refused(toy_manager, toy, forget, tmp_path):
    path = erase(toy_manager, toy, forget, tmp_path)
    good = path.read_bytes()
    tensor = read_erasure(path).tensors[WEIGHT]

    pickled = tmp_path / "pickled.safetensors"
    pickled.write_bytes(pickle.dumps({WEIGHT: tensor}))
    assert "is not a readable safetensors erasure file" in refusal(pickled)
    torch_saved = tmp_path / "saved.safetensors"
    torch.save({WEIGHT: tensor}, torch_saved)
    assert "arctl reads no pickles" in refusal(torch_saved)

    path.write_bytes(good[:-7])
    assert "is not a readable safetensors erasure file" in refusal(path)
    path.write_bytes(good[:-4] + bytes(b ^ 0xFF for b in good[-4:]))  # one weight's bytes flipped
    assert "its tensors do not match the digest in its metadata" in refusal(path)

    plain = tmp_path / "plain.safetensors"
    save_file({WEIGHT: tensor}, plain)
    assert "is a safetensors file but not an arctl erasure" in refusal(plain)
    path.write_bytes(good)
    rewrite(path, format_version=2)
    assert "format version 2 (replace) is not one this arctl reads" in refusal(path)
    assert "does not exist" in refusal(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("tensors, message", [
    ({"model.class_emb.bias": torch.zeros(5, 32)}, r"unknown key 'model.class_emb.bias'"),
    ({"tokenizer.weight": torch.zeros(5, 32)}, "does not start with a module attribute of the generator"),
    ({WEIGHT: torch.zeros(4, 32)}, r"model.class_emb.weight has shape \[4, 32\], the model's is \[5, 32\]"),
    ({WEIGHT: torch.zeros(5, 32, dtype=torch.int64)}, "model.class_emb.weight is torch.int64, the model's is"),
])
def test_a_delta_that_does_not_fit_the_model_is_refused_whole(toy_manager, toy, forget, tmp_path, tensors, message):
    path = erase(toy_manager, toy, forget, tmp_path)
    valid = {WEIGHT: read_erasure(path).tensors[WEIGHT]}
    tensors = {**valid, **tensors}
    rewrite(path, tensors, tensors_sha256=tensors_sha256(tensors))
    with pytest.raises(ArctlError, match=message):
        apply_erasure(toy, path)
    assert torch.equal(toy.generator.model.class_emb.weight, toy_state_dict()["class_emb.weight"])  # all or nothing


def test_floating_tensors_take_the_loaded_dtype(toy_manager, toy, forget, tmp_path):
    path = erase(toy_manager, toy, forget, tmp_path)
    trained = read_erasure(path).tensors[WEIGHT]
    toy.generator.model.double()
    apply_erasure(toy, path)
    weight = toy.generator.model.class_emb.weight
    assert weight.dtype == torch.float64 and torch.equal(weight, trained.double())
