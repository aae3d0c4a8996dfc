"""NAR vs LlamaGen at the same width and depth: forward passes per image, images/s, peak memory.

Both use the B-size architecture of their registered checkpoints (llamagen-b: GPT-B; nar-b: GPT-B plus
NAR's extra block and head) with random weights, LlamaGen's VQ-16 tokenizer, the official sampling
defaults (cfg 4, top-k 2000) and the same seed and batch. Each measurement runs in a fresh process.

    python benchmarks/nar_vs_llamagen.py                     # CPU, batch 1 and 8
    python benchmarks/nar_vs_llamagen.py --device cuda --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import machine, run_in_fresh_process, time_calls, write_section

MODELS = {"llamagen": "llamagen-b", "nar": "nar-b"}


def run_one(family: str, device: str, dtype: str, batch: int, seed: int, repeats: int) -> dict:
    import torch

    import arctl_llamagen
    import arctl_nar
    from arctl.accelerate import make_accelerator
    from arctl.plugins import PluginManager
    from arctl.sampling import ConstantCFG, MultinomialSampler, TokenSampling
    from arctl_llamagen.gpt import GPT
    from arctl_llamagen.raster import generate_raster
    from arctl_llamagen.tokenizer import VQTokenizer
    from arctl_llamagen.vq import VQModel
    from arctl_nar.model import NARTransformer
    from arctl_nar.neighbors import generate_neighbors

    manager = PluginManager([arctl_llamagen, arctl_nar], entry_points=False)
    checkpoint = manager.registry.model(MODELS[family]).checkpoint
    acc = make_accelerator(manager.registry, device, dtype)
    torch.manual_seed(0)
    model_class, sample = (GPT, generate_raster) if family == "llamagen" else (NARTransformer, generate_neighbors)
    gpt = model_class(**checkpoint.config["gpt"]).to(acc.device).eval()
    tokenizer = VQTokenizer(VQModel(**checkpoint.config["vq"]).to(acc.device).eval())
    labels = torch.arange(batch, device=acc.device) % 1000
    passes = []
    gpt.output.register_forward_hook(lambda *args: passes.append(1))
    decode = time_calls(tokenizer, "decode", acc)

    def generate():
        sampling = TokenSampling(MultinomialSampler(top_k=2000), ConstantCFG(4.0), acc.generator(seed))
        with torch.inference_mode(), acc.autocast():
            return tokenizer.decode(sample(gpt, labels, sampling))

    generate()  # warm-up, not timed
    acc.reset_peak_memory()
    runs = []
    for _ in range(repeats):
        decode.clear()
        passes.clear()
        start = time.perf_counter()
        generate()
        acc.synchronize()
        runs.append((time.perf_counter() - start, sum(decode)))
    best, decode_seconds = min(runs)
    return {"family": family, "model": MODELS[family], "batch": batch, "seconds": best, "decode_seconds": decode_seconds,
            "images_per_second": batch / best, "passes_per_image": len(passes),
            "tokens_per_image": gpt.block_size, "peak_memory_bytes": acc.peak_memory(),
            "params": sum(p.numel() for p in gpt.parameters()), "machine": machine(device), "dtype": acc.dtype_name}


def heading(args) -> str:
    return f"### NAR vs LlamaGen on {args.device} (B size, random weights"


def table(args, rows: list[dict]) -> str:
    first = rows[0]
    lines = [
        heading(args) + ")",
        "",
        f"Machine: {first['machine']}; dtype {first['dtype']}; 16x16 tokens (256 px); cfg 4, top-k 2000; seed "
        f"{args.seed}; best of {args.repeats} after a warm-up; each row in a fresh process. LlamaGen-B has "
        f"{next(r for r in rows if r['family'] == 'llamagen')['params'] / 1e6:.0f} M parameters, NAR-B "
        f"{next(r for r in rows if r['family'] == 'nar')['params'] / 1e6:.0f} M (one extra block and head). "
        f"Command: `python benchmarks/nar_vs_llamagen.py --device {args.device} --batches {' '.join(map(str, args.batches))}`.",
        "",
        "| batch | model | passes / image | s / batch | of which VQ decode | images / s | peak memory | NAR speed-up, whole | NAR speed-up, tokens only |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for batch in args.batches:
        base = next(r for r in rows if r["batch"] == batch and r["family"] == "llamagen")
        nar = next(r for r in rows if r["batch"] == batch and r["family"] == "nar")
        for r in (base, nar):
            peak = f"{r['peak_memory_bytes'] / 2**30:.2f} GiB" if r["peak_memory_bytes"] else "?"
            whole = f"{base['seconds'] / nar['seconds']:.2f}x" if r is nar else ""
            tokens = (f"{(base['seconds'] - base['decode_seconds']) / (nar['seconds'] - nar['decode_seconds']):.2f}x"
                      if r is nar else "")
            lines.append(f"| {batch} | {r['model']} | {r['passes_per_image']} | {r['seconds']:.2f} | "
                         f"{r['decode_seconds']:.2f} | {r['images_per_second']:.3f} | {peak} | {whole} | {tokens} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--write", type=Path, help="Markdown file to put the table in (e.g. docs/benchmarks.md)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--family", choices=sorted(MODELS), help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.family, args.device, args.dtype, args.batch, args.seed, args.repeats)))
        return
    rows = []
    for batch in args.batches:
        for family in ("llamagen", "nar"):
            rows.append(run_in_fresh_process(__file__, ["--family", family, "--device", args.device, "--dtype", args.dtype,
                                                        "--batch", str(batch), "--seed", str(args.seed),
                                                        "--repeats", str(args.repeats)]))
            print(f"batch {batch} {family}: {rows[-1]['seconds']:.2f}s", file=sys.stderr)
    report = table(args, rows)
    print(report)
    if args.write:
        write_section(args.write, heading(args), report)


if __name__ == "__main__":
    main()
