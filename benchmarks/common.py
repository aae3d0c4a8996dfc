"""Shared by the benchmark scripts: the machine's name, timing hooks, fresh-process runs, Markdown sections."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path


def machine(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                    if line.startswith("model name")), cpu)
    threads = torch.get_num_threads()
    return f"{cpu}, {threads} thread{'s' if threads != 1 else ''}, torch {torch.__version__}"


def claims_arguments(doc: str):
    """``--num`` (images per row) and ``--threads`` of a claims script, with torch set to those threads."""
    import argparse

    import torch

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--num", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args


def time_calls(obj, method: str, acc) -> list[float]:
    """Record the wall time of every call of ``obj.method`` (synchronised), e.g. a tokenizer's decode."""
    seconds: list[float] = []
    original = getattr(obj, method)

    def timed(*args, **kwargs):
        acc.synchronize()
        start = time.perf_counter()
        result = original(*args, **kwargs)
        acc.synchronize()
        seconds.append(time.perf_counter() - start)
        return result

    setattr(obj, method, timed)
    return seconds


def run_in_fresh_process(script: str, args: list[str]) -> dict:
    """Run ``script --one ARGS`` in a new interpreter (so peak memory is its own) and parse its last JSON line."""
    done = subprocess.run([sys.executable, script, "--one", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(script).name} {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_section(path: Path, heading: str, body: str, *, next_heading: str = "\n### ",
                  title: str = "# Benchmarks") -> None:
    """Replace (or append) the Markdown section that starts with ``heading``, up to ``next_heading`` (a file that
    does not exist yet starts with ``title``)."""
    text = path.read_text() if path.exists() else title + "\n"
    start = text.find(heading)
    if start < 0:
        text = text.rstrip() + "\n\n" + body
    else:
        end = text.find(next_heading, start + len(heading))
        text = text[:start] + body + (text[end + 1:] if end >= 0 else "")
    from arctl.files import atomic_write

    atomic_write(path, lambda tmp: tmp.write_text(text))


def sample_sheet(manager, model: str, path: Path, per_class: int = 6, seed: int = 0) -> None:
    """docs' sample sheet of a shapes-world model: ``per_class`` images of every class with its default settings."""
    from arctl import generation
    from arctl.files import atomic_write
    from arctl_shapes.grid import class_grid
    from arctl_shapes.world import NUM_CLASSES

    loaded = generation.load_model(manager, model, device="cpu")
    settings = generation.resolve_settings(manager.registry, loaded.spec)
    results = generation.generate(manager, loaded, settings, classes=list(range(NUM_CLASSES)), num=per_class, seed=seed)
    sheet = class_grid([r.image for r in results], [r.recipe["condition"] for r in results], per_class)
    atomic_write(path, lambda tmp: sheet.save(tmp, format="PNG"))
