"""Long runs stream and survive: batches are planned when reached, each batch's PNGs land as it finishes, and a
run stopped by Ctrl-C or a failure keeps what it wrote, says how much, and exits 130 or 1."""

import os
import re
import signal
import subprocess
import sys
import time
import tracemalloc

import pytest

from arctl import generation
from arctl.conditions import Condition
from arctl.images import open_image, read_recipe


def test_a_billion_image_plan_takes_constant_memory(toy_manager):
    spec = toy_manager.registry.model("toy-tiny").owner
    tracemalloc.start()
    try:
        run = generation.plan_run(spec, [Condition(1), Condition(2)], num=10**9, seed=3, batch_size=32)
        first = list(zip(range(1000), run.batches))  # the first thousand batches, as a run walks them
        last = run.batches[len(run.batches) - 1]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert run.batches.images == 2 * 10**9 and len(run.batches) == 2 * 10**9 // 32
    assert first[0][1][0] == (0, Condition(1)) and last[-1] == (2 * 10**9 - 1, Condition(2))
    assert peak < 4 * 2**20, f"planning took {peak / 2**20:.1f} MiB"


def generate_traced(arctl_cli, manager, out, num):
    tracemalloc.start()
    try:
        result = arctl_cli.invoke(["generate", "toy-tiny", "-c", "1", "-n", num, "--batch-size", 10, "--seed", 1,
                                   "--out", out], manager=manager)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, result.stderr
    assert len(list(out.glob("*.png"))) == num
    return peak


def test_memory_is_bounded_by_one_batch_whatever_the_number_of_images(arctl_cli, toy_manager, toy_weights, tmp_path):
    generate_traced(arctl_cli, toy_manager, tmp_path / "warm", 10)  # imports and caches, once
    small = generate_traced(arctl_cli, toy_manager, tmp_path / "small", 20)
    large = generate_traced(arctl_cli, toy_manager, tmp_path / "large", 200)
    # holding every image (PIL object and recipe) until the end costs several KiB per image: ~1 MiB more here
    assert large < small * 1.1 + 64 * 2**10, f"20 images: {small / 2**10:.0f} KiB, 200 images: {large / 2**10:.0f} KiB"


@pytest.fixture
def failing_at_batch(monkeypatch):
    """Make the toy generator raise ``error`` when it starts batch ``k`` (0-based)."""
    from arctl_toy.generator import ToyGenerator

    def arm(k: int, error: BaseException):
        real = ToyGenerator.generate
        calls = []

        def generate(self, batch):
            calls.append(batch.size)
            if len(calls) == k + 1:
                raise error
            return real(self, batch)

        monkeypatch.setattr(ToyGenerator, "generate", generate)

    return arm


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if not p.name.endswith(".png"))


@pytest.mark.parametrize("error, code, why", [(KeyboardInterrupt(), 130, "interrupted"),
                                               (RuntimeError("out of memory"), 1, "stopped by a failure")])
def test_a_stopped_run_keeps_every_finished_batch(arctl_cli, toy_manager, toy_weights, tmp_path, failing_at_batch,
                                                   error, code, why):
    failing_at_batch(3, error)
    result = arctl_cli.invoke(["generate", "toy-tiny", "-c", "0", "-c", "2", "-n", "10", "--batch-size", "4",
                               "--seed", "11", "--out", tmp_path / "out"], manager=toy_manager)
    assert result.exit_code == code
    out = tmp_path / "out"
    written = sorted(out.glob("*.png"))
    assert len(written) == 12 and leftovers(out) == []  # batches 0, 1 and 2, complete; no temporary files
    assert [read_recipe(p)["item"] for p in written] == list(range(12))
    assert result.stdout.split() == [str(p) for p in written]  # each path printed as its image landed
    first, *rest = result.stderr.strip().splitlines()
    assert "seed 11" in first and "20 image(s) in 5 batch(es)" in first  # the seed before any work
    assert f"{why}: 12 of 20 image(s) written to {out}, seed 11" in rest
    if code == 1:
        assert rest[-1] == "Error: unexpected RuntimeError: out of memory (set ARCTL_DEBUG=1 for the traceback)"


def test_json_summary_is_valid_when_a_run_stops(arctl_cli, toy_manager, toy_weights, tmp_path, failing_at_batch):
    import json

    failing_at_batch(1, KeyboardInterrupt())
    result = arctl_cli.invoke(["generate", "toy-tiny", "-c", "1", "-n", "6", "--batch-size", "4", "--seed", "2",
                               "--json", "--out", tmp_path / "out"], manager=toy_manager)
    summary = json.loads(result.stdout)
    assert result.exit_code == 130
    assert summary["complete"] is False and summary["interrupted"] is True and summary["total"] == 6
    assert [e["item"] for e in summary["images"]] == [0, 1, 2, 3]


def test_sigint_on_a_real_run(tmp_path):
    """Ctrl-C as a terminal sends it, to a real process generating with the shipped zoo."""
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "arctl", "generate", "var-shapes", "-c", "1", "-n", "1000000000", "--batch-size", "2",
         "--seed", "5", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not (out.exists() and len(list(out.glob("*.png"))) >= 4):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1]
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    written = sorted(out.glob("*.png"))
    assert leftovers(out) == [] and len(written) % 2 == 0 and len(written) >= 4
    for path in written:
        assert open_image(path).size == (64, 64) and read_recipe(path)["seed"] == 5
    assert stdout.split() == [str(p) for p in written]
    counted = re.search(r"interrupted: (\d+) of 1000000000 image\(s\) written to .*, seed 5", stderr)
    assert counted and int(counted.group(1)) == len(written), stderr


def test_the_progress_bar_counts_images_with_the_step_rate_and_time_left(monkeypatch):
    from rich.console import Console

    from arctl.cli import output

    console = Console(record=True, width=140, force_terminal=True, color_system=None)
    monkeypatch.setattr(output, "err", lambda: console)
    with output.StepProgress("var-shapes", unit="images") as bar:
        bar.start(10)
        bar.advance(0, step="3/6")
        bar.advance(2)
        time.sleep(0.2)
        bar.advance(2)
        bar.progress.refresh()
        line = console.export_text().strip().splitlines()[-1]
    assert re.search(r"var-shapes .* 4/10 images step 3/6 [\d.]+ images/s \d+:\d\d:\d\d$", line), line
