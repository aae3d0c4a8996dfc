"""DiSA vs MAR's default sampler: diffusion-network evaluations and wall time per image, side by side in one run.

Uses the real architecture of a registered MAR checkpoint (mar-b by default) and the KL-16 VAE with random
weights, MAR's FID guidance (cfg 2.9 on the mask-linear schedule), and the same seed for every variant:
the default sampler (100 denoising steps at every iteration) at each requested number of iterations, and
DiSA (upper -> lower steps, the official clip at 950) at the same numbers. Counts are exact (the head's
forward is counted); each row runs in a fresh process.

    python benchmarks/disa_bench.py                                   # CPU, 64 iterations, prints a table
    python benchmarks/disa_bench.py --num-iters 64 256 --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import machine, run_in_fresh_process, time_calls, write_section


def run_one(model: str, device: str, dtype: str, batch: int, num_iter: int, sampler: str, upper: int, lower: int,
            strategy: str, cfg: float, seed: int) -> dict:
    """One configuration in this process: evaluations, timings (transformer, head, VAE decode) per image."""
    import arctl_disa
    import arctl_mar
    import torch
    from arctl_disa.sampler import DiSASampler
    from arctl_mar.guidance import MaskLinearCFG
    from arctl_mar.model import MAR
    from arctl_mar.noise import SeededNoise
    from arctl_mar.sampling import DiffusionChains, sample_tokens
    from arctl_mar.vae import AutoencoderKL

    from arctl.accelerate import make_accelerator
    from arctl.plugins import PluginManager
    from arctl.sampling import MultinomialSampler, TokenSampling

    manager = PluginManager([arctl_mar, arctl_disa], entry_points=False)
    checkpoint = manager.registry.model(model).checkpoint
    acc = make_accelerator(manager.registry, device, dtype)
    torch.manual_seed(0)  # the same random weights in every subprocess
    mar = MAR(**checkpoint.config["mar"]).to(acc.device).eval()
    vae = AutoencoderKL(**checkpoint.config["vae"]).to(acc.device).eval()
    counts = {"calls": 0, "rows": 0}
    forward = mar.diffloss.net.forward

    def counted(x, t, c):
        counts["calls"], counts["rows"] = counts["calls"] + 1, counts["rows"] + x.shape[0]
        return forward(x, t, c)

    mar.diffloss.net.forward = counted
    transformer, head, decode = (time_calls(mar, "condition", acc), time_calls(mar.diffloss, "sample", acc),
                                 time_calls(vae, "decode", acc))
    defaults = {option.name: option.default for option in arctl_disa.OPTIONS}  # what --sampler disa gives
    chosen = (DiSASampler(**{**defaults, "upper": upper, "lower": lower, "strategy": strategy}) if sampler == "disa"
              else MultinomialSampler())
    labels = torch.arange(batch, device=acc.device) * 97 % 1000
    rng = acc.generator(seed)
    sampling = TokenSampling(chosen, MaskLinearCFG(cfg), rng)
    start = time.perf_counter()
    with torch.inference_mode(), acc.autocast():
        orders = torch.rand(batch, mar.seq_len, generator=rng, device=acc.device).argsort(dim=-1)
        latents = sample_tokens(mar, labels, batch, num_iter, sampling, SeededNoise(rng), orders,
                                chains=DiffusionChains())
        vae.decode(latents / checkpoint.config["latent_scale"])
    acc.synchronize()
    seconds = time.perf_counter() - start
    return {
        "sampler": sampler, "num_iter": num_iter, "batch": batch, "seconds_per_image": seconds / batch,
        "transformer_seconds": sum(transformer) / batch, "head_seconds": sum(head) / batch,
        "decode_seconds": sum(decode) / batch, "head_calls": counts["calls"],
        "head_rows_per_image": counts["rows"] / batch, "latents_checksum": float(latents.double().sum()),
        "machine": machine(device), "dtype": acc.dtype_name,
        "params": sum(p.numel() for p in mar.parameters()),
        "head_params": sum(p.numel() for p in mar.diffloss.parameters()),
    }


def measure(args, num_iter: int, sampler: str) -> dict:
    return run_in_fresh_process(__file__, [
        "--model", args.model, "--device", args.device, "--dtype", args.dtype, "--batch", str(args.batch),
        "--num-iter", str(num_iter), "--sampler", sampler, "--upper", str(args.upper), "--lower", str(args.lower),
        "--strategy", args.strategy, "--cfg", str(args.cfg), "--seed", str(args.seed)])


def heading(args) -> str:
    return f"### DiSA vs MAR's default sampler on {args.device} ({args.model} architecture"


def table(args, rows: list[dict]) -> str:
    first = rows[0]
    command = (f"python benchmarks/disa_bench.py --device {args.device} --model {args.model} --batch {args.batch} "
               f"--num-iters {' '.join(map(str, args.num_iters))} --upper {args.upper} --lower {args.lower} "
               f"--strategy {args.strategy} --cfg {args.cfg}")
    setup = (
        f"Machine: {first['machine']}; dtype {first['dtype']}; {first['params'] / 1e6:.0f} M parameters, of which "
        f"{first['head_params'] / 1e6:.1f} M in the diffusion head; batch {args.batch}; cfg {args.cfg} (mask-linear, "
        f"so the head runs on conditional and unconditional rows); seed {args.seed} for every row; one timed run "
        f"per row, each in a fresh process. Default: 100 unclipped denoising steps at every iteration. DiSA: "
        f"{args.strategy} from {args.upper} to {args.lower} steps with the official clip at t = 950. Head calls "
        f"count forwards of the diffusion MLP per batch (one per denoising step, whatever the number of tokens); "
        f"token rows count tokens through it per image (x2 with guidance). Command: `{command}`."
    )
    columns = ("iterations", "sampler", "head calls", "token rows / image", "s / image", "transformer", "head",
               "VAE decode", "fewer calls", "fewer rows", "speed-up, whole", "speed-up, head")
    lines = [heading(args) + ", random weights)", "", setup, "", "| " + " | ".join(columns) + " |",
             "|" + "---|" * len(columns)]
    for num_iter in args.num_iters:
        default = next(r for r in rows if r["num_iter"] == num_iter and r["sampler"] == "default")
        disa = next(r for r in rows if r["num_iter"] == num_iter and r["sampler"] == "disa")
        for r in (default, disa):
            ratios = (f"{default['head_calls'] / r['head_calls']:.2f}x | "
                      f"{default['head_rows_per_image'] / r['head_rows_per_image']:.2f}x | "
                      f"{default['seconds_per_image'] / r['seconds_per_image']:.2f}x | "
                      f"{default['head_seconds'] / r['head_seconds']:.2f}x") if r is disa else " |  |  | "
            lines.append(f"| {num_iter} | {r['sampler']} | {r['head_calls']} | {r['head_rows_per_image']:.0f} | "
                         f"{r['seconds_per_image']:.1f} | {r['transformer_seconds']:.1f} | {r['head_seconds']:.1f} | "
                         f"{r['decode_seconds']:.1f} | {ratios} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mar-b")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--num-iters", type=int, nargs="+", default=[64])
    parser.add_argument("--upper", type=int, default=50)
    parser.add_argument("--lower", type=int, default=5)
    parser.add_argument("--strategy", default="linear")
    parser.add_argument("--cfg", type=float, default=2.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", type=Path, help="Markdown file to put the table in (e.g. docs/benchmarks.md)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--num-iter", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sampler", choices=("default", "disa"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.model, args.device, args.dtype, args.batch, args.num_iter, args.sampler,
                                 args.upper, args.lower, args.strategy, args.cfg, args.seed)))
        return
    rows = []
    for num_iter in args.num_iters:
        for sampler in ("default", "disa"):
            rows.append(measure(args, num_iter, sampler))
            print(f"{num_iter} iterations, {sampler}: {rows[-1]['seconds_per_image']:.1f} s/image", file=sys.stderr)
    report = table(args, rows)
    print(report)
    if args.write:
        write_section(args.write, heading(args), report)


if __name__ == "__main__":
    main()
