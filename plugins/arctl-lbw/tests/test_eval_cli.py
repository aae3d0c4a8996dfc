"""`arctl lbw eval` end to end on the tiny generators with transparent tokenizers, and its usage errors."""

import json

import pytest
from PIL import Image

from arctl.keys import load_key


def evaluate(arctl_cli, manager, *args):
    result = arctl_cli.invoke(["lbw", "eval", *args], manager=manager)
    assert result.exit_code == 0, result.output
    return result


def test_json_report_on_a_single_scale_tokenizer(arctl_cli, manager, key_file):
    result = evaluate(arctl_cli, manager, "--model", "llamagen-b", "--num", "6", "--attacks", "jpeg-75,regen",
                      "--key-file", key_file, "-o", "mode=hard", "--json")
    report = json.loads(result.stdout)
    assert list(report["attacks"]) == ["none", "jpeg-75", "regen"]
    none = report["attacks"]["none"]
    assert none["tpr_nominal"]["0.01"] == 1.0 and none["auc"] == 1.0  # a hard mark on a transparent tokenizer
    assert set(none) == {"auc", "tpr_empirical", "tpr_nominal", "clean_fpr_nominal"}
    assert set(report["clean_fpr_over_keys"]) == {"0.01", "0.001"}
    marked_share, clean_share = report["green_share"]["none"]
    assert marked_share == 1.0 and clean_share < 0.6  # every recovered code is on the image's own list
    assert report["key"] == load_key(key_file).fingerprint and report["num"] == 6 and report["num_scales"] == 1
    assert report["options"]["mode"] == "hard" and report["scales"] == {} and report["quality"] is None
    assert "no image-quality numbers: llamagen names no image domain, so no judge can give its class fidelity" \
        in report["notes"] and report["quality_judges"] == {}
    assert json.loads(key_file.read_text())["secret"] not in result.output


def test_soft_score_report(arctl_cli, manager, key_file):
    """score=soft through the evaluation: the hard mark is found, the clean arm is not flagged, and the 20-key
    calibration runs on the same null draws."""
    result = evaluate(arctl_cli, manager, "--model", "llamagen-b", "--num", "6", "--attacks", "regen", "--key-file",
                      key_file, "-o", "mode=hard", "-o", "score=soft", "-o", "draws=2000", "--json")
    report = json.loads(result.stdout)
    none = report["attacks"]["none"]
    assert none["tpr_nominal"]["0.01"] == 1.0 and none["clean_fpr_nominal"]["0.01"] == 0.0 and none["auc"] == 1.0
    assert set(report["clean_fpr_over_keys"]) == {"0.01", "0.001"} and report["clean_fpr_over_keys"]["0.01"] <= 0.1
    assert report["options"]["score"] == "soft"


def test_soft_score_leaves_the_by_scale_tpr_to_the_count(arctl_cli, manager):
    result = evaluate(arctl_cli, manager, "--model", "var-tiny", "--num", "4", "--attacks", "none", "-o",
                      "score=soft", "-o", "draws=500", "--json")
    report = json.loads(result.stdout)
    assert report["scales"] == {} and set(report["green_share_by_scale"]["none"]) >= {"all", "0", "1:"}
    assert any("score=soft: no TPR by counted scales" in note for note in report["notes"])


def test_table_roc_and_scale_breakdown_on_vars_pyramid(arctl_cli, manager, tmp_path):
    roc = tmp_path / "roc.png"
    result = evaluate(arctl_cli, manager, "--model", "var-tiny", "--num", "4", "--attacks", "blur-0.5,regen",
                      "--roc", roc, "-o", "score=count")  # the by-scale TPR is the count's (see the soft score test)
    for name in ("none", "blur-0.5", "regen"):
        assert any(line.split("│")[1].strip() == name for line in result.stdout.splitlines() if "│" in line), name
    assert "TPR at p <= 0.01 by counted scales" in result.stdout and "3:" in result.stdout  # runs 1: .. 3:
    assert "Green share of the watermarked images on their own list, by counted scales" in result.stdout
    assert "calibration: unattacked clean images with p <= 0.01 / 0.001, mean over 20 other keys" in result.stdout
    assert "fresh random key" in result.stderr and f"wrote {roc}" in result.stderr
    assert Image.open(roc).format == "PNG"


@pytest.mark.parametrize(("args", "message"), [
    (["--attacks", "jpeg-70"], "unknown attack 'jpeg-70'"),
    (["-o", "gamma=2"], "must be <= 0.99"),
    (["-o", "colour=red"], "unknown option 'colour'"),
    (["--num", "0"], "--num 0: must be >= 1"),
    (["--roc", "plot.jpg"], "--roc plot.jpg: must end in .png"),
    (["--seed", "-1"], "--seed -1"),
    (["--model", "no-such-model"], "no-such-model"),
])
def test_usage_errors_are_one_line_before_any_loading(arctl_cli, manager, args, message):
    base = {"--model": "nar-b", "--num": "4"}
    for flag, value in zip(args[::2], args[1::2]):
        base.pop(flag, None)
    flat = [item for pair in base.items() for item in pair]
    result = arctl_cli.invoke(["lbw", "eval", *flat, *args], manager=manager)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def test_a_missing_key_file_fails_in_one_line(arctl_cli, manager, tmp_path):
    result = arctl_cli.invoke(["lbw", "eval", "--model", "nar-b", "--num", "2", "--key-file", tmp_path / "gone.key"],
                              manager=manager)
    assert result.exit_code == 1 and "no such file" in result.stderr and result.stderr.count("\n") == 1
