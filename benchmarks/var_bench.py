"""VAR generation speed and memory: KV cache on vs recomputing the prefix, side by side in one run.

Uses the real architecture of a registered checkpoint (var-d16 by default) with random weights, the
official demo's sampling settings (cfg 4 on VAR's linear ramp, top-k 900, top-p 0.95), and the same
seed for both variants, then checks that both produce the same tokens. Each measurement runs in a
fresh subprocess so that peak memory is that configuration's own.

    python benchmarks/var_bench.py                      # CPU, batch 1 and 8, prints a table
    python benchmarks/var_bench.py --device cuda --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import machine, run_in_fresh_process, time_calls, write_section


def run_one(model: str, device: str, dtype: str, batch: int, kv_cache: bool, seed: int, repeats: int) -> dict:
    """One configuration in this process: returns timings, peak memory and the generated tokens."""
    import torch

    from arctl.accelerate import make_accelerator
    from arctl.plugins import PluginManager
    from arctl.sampling import LinearCFG, MultinomialSampler, TokenSampling
    from arctl_var.inference import generate_scales
    from arctl_var.model import VAR
    from arctl_var.vqvae import VQVAE

    import arctl_var

    manager = PluginManager([arctl_var], entry_points=False)
    checkpoint = manager.registry.model(model).checkpoint
    acc = make_accelerator(manager.registry, device, dtype)
    torch.manual_seed(0)  # the same random weights in every subprocess
    vqvae = VQVAE(**checkpoint.config["vae"]).to(acc.device).eval()
    var = VAR(Cvae=vqvae.Cvae, vocab_size=vqvae.vocab_size, **checkpoint.config["var"]).to(acc.device).eval()
    labels = torch.arange(batch, device=acc.device) % 1000
    decode = time_calls(vqvae, "fhat_to_img", acc)

    def generate():
        tokens = []
        sampling = TokenSampling(MultinomialSampler(top_k=900, top_p=0.95), LinearCFG(4.0), acc.generator(seed))
        draw = sampling.draw
        sampling.draw = lambda p, replacement=True: tokens.append(draw(p, replacement=replacement)) or tokens[-1]
        with torch.inference_mode(), acc.autocast():
            images = generate_scales(var, vqvae, labels, sampling, kv_cache=kv_cache)
        acc.synchronize()
        return images, tokens

    generate()  # warm-up (allocator, kernels); not timed
    acc.reset_peak_memory()
    runs = []
    for _ in range(repeats):
        decode.clear()
        start = time.perf_counter()
        images, tokens = generate()
        runs.append((time.perf_counter() - start, sum(decode)))
    best, decode_seconds = min(runs)
    return {
        "batch": batch, "kv_cache": kv_cache, "seconds": best, "images_per_second": batch / best,
        "decode_seconds": decode_seconds,
        "peak_memory_bytes": acc.peak_memory(), "tokens": [t.cpu().tolist() for t in tokens],
        "image_checksum": float(images.double().sum()), "machine": machine(device), "dtype": acc.dtype_name,
        "params": sum(p.numel() for p in var.parameters()),
    }


def measure(args, batch: int, kv_cache: bool) -> dict:
    return run_in_fresh_process(__file__, ["--model", args.model, "--device", args.device, "--dtype", args.dtype,
                                           "--batch", str(batch), "--kv-cache", str(int(kv_cache)),
                                           "--seed", str(args.seed), "--repeats", str(args.repeats)])

def heading(args) -> str:
    return f"### VAR generation on {args.device}: KV cache vs recomputing the prefix ({args.model} architecture"


def table(args, rows: list[dict]) -> str:
    first = rows[0]
    lines = [
        heading(args) + ", random weights)",
        "",
        f"Machine: {first['machine']}; dtype {first['dtype']}; {first['params'] / 1e6:.0f} M transformer parameters; "
        f"cfg 4 (linear ramp), top-k 900, top-p 0.95, seed {args.seed}; best of {args.repeats} after a warm-up; "
        "each row in a fresh process. Command: `python benchmarks/var_bench.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in (("device", args.device), ("dtype", args.dtype),
                                                                ("model", args.model)))
        + f" --batches {' '.join(map(str, args.batches))}`.",
        "",
        "The VQVAE decode is the same work in both variants; the last column leaves it out, comparing the",
        "transformer + sampling part that the KV cache changes.",
        "",
        "| batch | KV cache | s / batch | of which decode | images / s | peak memory | speed-up, whole generate | speed-up, without decode | same tokens |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for batch in args.batches:
        on = next(r for r in rows if r["batch"] == batch and r["kv_cache"])
        off = next(r for r in rows if r["batch"] == batch and not r["kv_cache"])
        same = "yes" if on["tokens"] == off["tokens"] else "NO"
        tokens_on, tokens_off = (r["seconds"] - r["decode_seconds"] for r in (on, off))
        for r in (on, off):
            peak = f"{r['peak_memory_bytes'] / 2**30:.2f} GiB" if r["peak_memory_bytes"] else "?"
            whole = f"{off['seconds'] / on['seconds']:.2f}x" if r is on else ""
            core = f"{tokens_off / tokens_on:.2f}x" if r is on else ""
            lines.append(f"| {batch} | {'on' if r['kv_cache'] else 'off'} | {r['seconds']:.2f} | {r['decode_seconds']:.2f} | "
                         f"{r['images_per_second']:.3f} | {peak} | {whole} | {core} | {same if r is on else ''} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="var-d16")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--write", type=Path, help="Markdown file to put the table in (e.g. docs/benchmarks.md)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--kv-cache", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.model, args.device, args.dtype, args.batch, bool(args.kv_cache), args.seed, args.repeats)))
        return
    rows = []
    for batch in args.batches:
        for kv_cache in (True, False):
            rows.append(measure(args, batch, kv_cache))
            print(f"batch {batch} kv_cache={kv_cache}: {rows[-1]['seconds']:.2f}s", file=sys.stderr)
    report = table(args, rows)
    print(report)
    if args.write:
        write_section(args.write, heading(args), report)


if __name__ == "__main__":
    main()
