"""What a new user sees when something is wrong: one true line `Error: ...` on stderr and the README's exit codes
(0 ok, 1 runtime, 2 usage, 130 interrupt), never typer's panel, torch's advice or a flag the command lacks."""

import io
import json
import re
import subprocess

import pytest
import torch

from arctl.plugins import PluginManager
from arctl.registry import Checkpoint, GeneratorSpec, WeightFile
from arctl.testing import spec_plugin
from arctl.version import __version__


def one_error_line(result, code: int) -> str:
    """The single ``Error: ...`` line a failure prints, after checking its exit code; nothing on stdout."""
    assert result.exit_code == code, result.output
    assert result.stdout == "" and result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.output
    return result.stderr.strip()


@pytest.mark.parametrize("args, message", [
    (["generate", "toy-tiny", "--num", "abc"], "--num abc: not an integer; must be >= 1"),
    (["generate", "toy-tiny", "--num", "0"], "--num 0: must be >= 1"),
    (["generate", "toy-tiny", "--seed", "-1"], f"--seed -1: must be in 0..{2**63 - 1}"),
    (["generate", "toy-tiny", "--seed", "x"], "--seed x: not an integer"),
    (["generate", "toy-tiny", "--top-k", "1.5"], "--top-k 1.5: not an integer; must be >= 0"),
    (["generate", "toy-tiny", "--batch-size", "0"], "--batch-size 0: must be >= 1"),
    (["generate", "toy-tiny", "--bogus"], "No such option: --bogus"),
    (["generate", "toy-tiny", "--cfg"], "Option '--cfg' requires an argument."),
    (["download"], "Missing argument"),
    (["no-such-command"], "No such command 'no-such-command'."),
])
def test_typer_usage_errors_are_one_line_exit_2(arctl_cli, toy_manager, args, message):
    assert message in one_error_line(arctl_cli.invoke(args, manager=toy_manager), 2)


def test_help_and_no_arguments_still_show_the_help(arctl_cli, toy_manager):
    for args, code in ((["--help"], 0), (["generate", "-h"], 0), ([], 2)):
        result = arctl_cli.invoke(args, manager=toy_manager)
        assert result.exit_code == code and "Usage: arctl" in result.stdout and "Error" not in result.output, args


def test_interrupt_exits_130(arctl_cli, monkeypatch):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(subprocess, "call", interrupted)
    assert arctl_cli.invoke(["install", "arctl-var"]).exit_code == 130


@pytest.mark.parametrize("args, message", [
    (["--cfg", "nan"], "--cfg nan: not a number; must be a finite number >= 0"),
    (["--cfg", "inf"], "--cfg inf: not finite; must be a finite number >= 0"),
    (["--cfg", "-1"], "--cfg -1.0: must be a finite number >= 0"),
    (["--top-p", "nan"], "--top-p nan: not a number; must be in (0, 1] (1 disables top-p)"),
    (["--top-p", "2"], "--top-p 2.0: must be in (0, 1] (1 disables top-p)"),
    (["--temperature", "inf"], "--temperature inf: not finite; must be > 0 and finite (use --sampler greedy for "
                               "argmax)"),
    (["--temperature", "abc"], "--temperature abc: not a number; must be > 0 and finite"),
])
def test_sampling_values_say_what_is_wrong(arctl_cli, toy_manager, args, message):
    result = arctl_cli.invoke(["generate", "toy-tiny", "-c", "1", *args], manager=toy_manager)
    assert one_error_line(result, 2).startswith(f"Error: {message}")


def test_weights_a_directory_or_an_empty_assignment(arctl_cli, toy_manager, tmp_path):
    directory = arctl_cli.invoke(["generate", "toy-tiny", "-c", "1", "--weights", str(tmp_path)], manager=toy_manager)
    expected = f"Error: weights file {tmp_path} is a directory; give the checkpoint file in it"
    assert one_error_line(directory, 1) == expected
    for value in ("model=", "=x.pth", ""):
        empty = arctl_cli.invoke(["generate", "toy-tiny", "-c", "1", "--weights", value], manager=toy_manager)
        assert one_error_line(empty, 2) == f"Error: --weights {value!r}: expected PATH or ROLE=PATH"


def convert(arctl_cli, tmp_path, source):
    return arctl_cli.invoke(["convert", str(source), "--out", str(tmp_path / "out.safetensors")])


def test_convert_says_what_the_file_is(arctl_cli, tmp_path):
    (tmp_path / "adir").mkdir()
    (tmp_path / "zero.pth").write_bytes(b"")
    torch.save({}, tmp_path / "nothing.pth")
    (tmp_path / "notes.pth").write_text("hello, not a checkpoint\n")
    expected = {
        "adir": "is a directory, not a checkpoint file",
        "zero.pth": "is empty (0 bytes), not a checkpoint",
        "nothing.pth": "holds an empty state dict (no tensors); there is nothing to convert",
        "notes.pth": "not a PyTorch file (neither a zip archive nor a pickle)",
    }
    for name, message in expected.items():
        line = one_error_line(convert(arctl_cli, tmp_path, tmp_path / name), 1)
        assert line.endswith(message), line
    assert not (tmp_path / "out.safetensors").exists()


def test_a_refused_pickle_names_what_it_imports_without_torchs_advice(arctl_cli, tmp_path):
    from tests.test_hub import RunsCode

    torch.save({"model": RunsCode(tmp_path / "pwned")}, tmp_path / "evil.pth")
    line = one_error_line(convert(arctl_cli, tmp_path, tmp_path / "evil.pth"), 1)
    assert re.search(r"its pickle asks for the Python object (posix|nt)\.system; arctl never runs code", line), line
    assert "safe_globals" not in line and "allowlist" not in line and "weights_only" not in line


def test_download_offline_names_no_flag_it_lacks(arctl_cli, toy_manager, hub_cache):
    line = one_error_line(arctl_cli.invoke(["download", "toy-tiny"], manager=toy_manager), 1)
    assert "--weights" not in line
    assert line.endswith("HF_HUB_OFFLINE is set; run this again where the Hub is reachable, without HF_HUB_OFFLINE")


def test_download_of_a_shipped_checkpoint_says_so(arctl_cli, make_plugin_manager, tmp_path):
    (tmp_path / "w.safetensors").write_bytes(b"shipped")
    shipped = Checkpoint("zoo-tiny", "Shipped in a package.", {"model": WeightFile("arctl-zoo/tiny", "w.safetensors",
                                                                                    local_dir=str(tmp_path))})
    manager = make_plugin_manager(spec_plugin(GeneratorSpec("zoo", "A zoo generator.", "x:Y", checkpoints=(shipped,),
                                                                  num_classes=2)))
    result = arctl_cli.invoke(["download", "zoo-tiny"], manager=manager)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "w.safetensors")
    assert result.stderr.strip() == "model: arctl-zoo/tiny/w.safetensors ships with its plugin"


def test_load_plugins_naming_no_installed_plugin_says_so(arctl_cli, monkeypatch):
    monkeypatch.setenv("ARCTL_LOAD_PLUGINS", "bogus")
    error = PluginManager().infos["bogus"].error
    assert error.startswith("no such plugin is installed (installed: ")
    listed = arctl_cli.invoke(["plugins", "--json"], manager=PluginManager())
    assert [(i["name"], i["error"]) for i in json.loads(listed.stdout)] == [("bogus", error)]
    strict = arctl_cli.invoke(["models"], env={"ARCTL_STRICT_PLUGINS": "1"})
    assert one_error_line(strict, 1) == f"Error: plugin 'bogus' failed: {error}"


def test_version(arctl_cli):
    result = arctl_cli.invoke(["--version"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"arctl {__version__}\n", "")


@pytest.mark.parametrize("answer, uninstalls", [("y\n", True), ("n\n", False), ("", False)])
def test_uninstall_asks_first(arctl_cli, monkeypatch, answer, uninstalls):
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda args: calls.append(args) or 0)
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    result = arctl_cli.invoke(["uninstall", "arctl-var"])
    assert "Uninstall arctl-var? [y/N]" in result.stderr
    if uninstalls:
        assert result.exit_code == 0 and calls == [[calls[0][0], "-m", "pip", "uninstall", "--yes", "arctl-var"]]
    else:
        assert result.exit_code == 1 and not calls
        assert result.stderr.endswith("Error: nothing uninstalled (not confirmed; -y uninstalls without asking)\n")


def test_uninstall_yes_does_not_ask(arctl_cli, monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda args: calls.append(args) or 0)
    result = arctl_cli.invoke(["uninstall", "-y", "arctl-var"])
    assert result.exit_code == 0 and result.stderr == "" and calls[0][-3:] == ["uninstall", "--yes", "arctl-var"]
