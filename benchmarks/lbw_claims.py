"""Measure LBW's robustness on the shapes zoo and write it into the docs: the section "## Robustness (measured)" of
docs/lbw.md (every table), the section "## LBW watermark robustness" of docs/claims.md (the targets, met or
not), and a ROC plot per model (docs/lbw-roc-MODEL.png). Each section is replaced in place; the rest of the
files is kept.

    python benchmarks/lbw_claims.py [--num 200] [--seed 0] [--threads 2] [-o KEY=VALUE ...] [--models a,b]
                                    [--docs DIR] [--tune MODEL] [--first-key N]

The key is fixed (derived from a public label, so it is no secret) to make the numbers reproducible. Detection
statistics do not depend on which key is used, but a hard or strong mark's quality cost does (it depends on which
codes the key's lists leave out), so class fidelity is also read over FIDELITY_KEYS keys and the target is
judged on their mean. ``--first-key N`` measures with keys N.. instead of 0.., to check options chosen on the
usual keys against keys they were not chosen on.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, write_section  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs"
MODELS = ("var-shapes", "llamagen-shapes", "nar-shapes")
CLAIMS_HEADING, DOCS_HEADING = "## LBW watermark robustness", "## Robustness (measured)"
# the targets of issue 6: clean TPR at FPR 1%, the attacks that must be survived, the quality budget
CLEAN_TPR, ATTACKED_TPR, SURVIVED, FIDELITY_BUDGET = 0.99, 0.9, ("jpeg-75", "regen"), 0.03
FIDELITY_KEYS = 5  # the measurement key and four more, each marking the same seeds
# option sets tried on one model (--tune), each over TUNING_BASE (not over -o), the weak mark the first defaults made
# (a soft bias on a quarter of the codebook, counted): stronger marks (hard, larger delta), smaller or larger lists,
# one list, and the soft score with the soft, stronger and the hard mark
TUNING_BASE = {"gamma": 0.25, "mode": "soft", "score": "count"}
TUNING = ({}, {"mode": "hard"}, {"gamma": 0.1, "mode": "hard"}, {"gamma": 0.4, "mode": "hard", "score": "soft"},
          {"gamma": 0.5, "mode": "hard", "score": "soft"},
          {"gamma": 0.1, "delta": 8.0, "pool": 1}, {"score": "soft"}, {"delta": 4.0, "score": "soft"},
          {"delta": 6.0, "score": "soft"}, {"mode": "hard", "score": "soft"},
          {"gamma": 0.1, "delta": 8.0, "pool": 1, "score": "soft"})


def calibrated(evaluation, alpha: float = 0.01) -> bool:
    """Clean images flagged at p <= alpha, averaged over the evaluation's calibration keys: at most alpha plus two
    binomial standard errors over all (image, key) pairs (one key's rate scatters more: images share codes)."""
    from arctl_lbw.evaluate import CALIBRATION_KEYS

    pairs = evaluation.num * CALIBRATION_KEYS
    return evaluation.clean_fpr_over_keys[alpha] <= alpha + 2 * math.sqrt(alpha * (1 - alpha) / pairs)


def measurement_key(index: int = 0):
    """Key 0 measures everything; keys 1.. only the fidelity. Derived from public labels: no secrets."""
    from arctl.keys import WatermarkKey

    label = b"arctl-lbw claims: a public measurement key" + (f" {index}".encode() if index else b"")
    return WatermarkKey(hashlib.sha256(label).digest())


def fidelity_over_keys(manager, evaluation, options, seed: int, first: int = 0) -> list[float]:
    """Class fidelity of the watermarked arm with each fidelity key: the evaluation's own (key ``first``), then the
    next keys marking the evaluation's seeds and conditions."""
    from arctl import generation
    from arctl.judges import build_judge, require_judge
    from arctl.watermark import build_watermark
    from arctl_lbw.evaluate import conditions_for, generate_arm

    loaded = generation.load_model(manager, evaluation.model, device="cpu")
    judge = build_judge(require_judge(manager.registry, loaded.spec, "class_fidelity"))
    settings = generation.resolve_settings(manager.registry, loaded.spec)
    classes, per_class = conditions_for(loaded.spec, evaluation.num)
    labels = [c for c in classes for _ in range(per_class)]
    spec = manager.registry.get("watermarker", "lbw")
    return [evaluation.quality["class_fidelity_watermarked"],
            *(round(judge.class_fidelity(generate_arm(manager, loaded, settings, classes, per_class, seed, None,
                                                      build_watermark(spec, measurement_key(i), options)), labels), 4)
              for i in range(first + 1, first + FIDELITY_KEYS))]


def mean_watermarked_fidelity(evaluation) -> float:
    return sum(evaluation.fidelity_over_keys) / len(evaluation.fidelity_over_keys)


def fidelity_cost(evaluation) -> float:
    """Clean minus watermarked class fidelity, the watermarked one averaged over the fidelity keys."""
    return evaluation.quality["class_fidelity_clean"] - mean_watermarked_fidelity(evaluation)


def targets_met(evaluation) -> dict[str, bool]:
    rates = evaluation.attacks
    return {
        "clean": rates["none"].tpr_nominal[0.01] >= CLEAN_TPR and rates["none"].tpr_empirical[0.01] >= CLEAN_TPR,
        "calibrated": calibrated(evaluation),
        **{name: rates[name].tpr_nominal[0.01] >= ATTACKED_TPR and rates[name].tpr_empirical[0.01] >= ATTACKED_TPR
           for name in SURVIVED},
        "fidelity": abs(fidelity_cost(evaluation)) <= FIDELITY_BUDGET,
    }


def claims_row(evaluation) -> str:
    rates, q, met = evaluation.attacks, evaluation.quality, targets_met(evaluation)
    tpr = {name: f"{rates[name].tpr_nominal[0.01]:.3f} / {rates[name].tpr_empirical[0.01]:.3f}"
           for name in ("none", *SURVIVED)}
    failed = [name for name, ok in met.items() if not ok]
    return (f"| {evaluation.model} | {tpr['none']} | {rates['none'].clean_fpr_nominal[0.01]:.3f} / "
            f"{evaluation.clean_fpr_over_keys[0.01]:.4f} | "
            f"{tpr['jpeg-75']} | {tpr['regen']} | {q['class_fidelity_clean']:.3f} -> "
            f"{q['class_fidelity_watermarked']:.3f}; {fidelity_over_keys_text(evaluation)} | "
            f"{q['fd_clean_vs_real']:.1f} -> {q['fd_watermarked_vs_real']:.1f} | "
            f"{'yes' if not failed else 'no: ' + ', '.join(failed)} |")


def fidelity_over_keys_text(evaluation) -> str:
    keys = evaluation.fidelity_over_keys
    return (f"{FIDELITY_KEYS} keys: {min(keys):.3f}-{max(keys):.3f}, mean {mean_watermarked_fidelity(evaluation):.3f} "
            f"(cost {fidelity_cost(evaluation):+.3f})")


def claims_section(evaluations, options_text: str, setup: str) -> str:
    return "\n".join([
        CLAIMS_HEADING,
        "",
        "Regenerated by `python benchmarks/lbw_claims.py` (every table and the ROC plots: "
        "[docs/lbw.md](lbw.md#robustness-measured)). " + setup,
        "",
        f"Targets: TPR >= {CLEAN_TPR} at FPR 1% on unattacked images, with clean images flagged at no more than the "
        f"nominal 1% (the mean over 20 keys, within two binomial standard errors; the rate of the one measurement "
        f"key is shown first: one key's false positives are correlated across images that share codes); TPR >= "
        f"{ATTACKED_TPR} at FPR 1% after JPEG quality 75 and after regeneration through the tokenizer; class "
        f"fidelity within {FIDELITY_BUDGET} of the clean images' (the mean over the measurement key and "
        f"{FIDELITY_KEYS - 1} more: a strong mark's cost depends on the codes its key's lists leave out; the "
        "measurement key's value is shown first). TPR columns read `p <= 0.01 / empirical` (the share of "
        "watermarked images with p <= 0.01, and the TPR at the "
        "threshold that lets 1% of the clean arm through); both must meet the target.",
        "",
        f"LBW options: {options_text}.",
        "",
        "The same options on keys they were not chosen on: "
        "[docs/lbw.md](lbw.md#where-the-targets-are-met-and-why-not-everywhere).",
        "",
        "| model | TPR@1%, no attack | clean FPR (p <= 0.01), this key / 20 keys | TPR@1%, JPEG 75 | "
        "TPR@1%, regeneration | "
        "class fidelity clean -> watermarked (measurement key; all keys) | FD vs real clean -> watermarked | "
        "targets met |",
        "|---|---|---|---|---|---|---|---|",
        *(claims_row(e) for e in evaluations),
        "",
        "",  # a blank line before the next section
    ])


def tuning_rows(tuned) -> list[str]:
    """One row per (changed options, evaluation)."""
    rows = []
    for changes, e in tuned:
        changed = ", ".join(f"{k}={v}" for k, v in changes.items()) or "base"
        tpr = " | ".join(f"{e.attacks[n].tpr_nominal[0.01]:.3f} / {e.attacks[n].tpr_empirical[0.01]:.3f}"
                         for n in ("none", *SURVIVED))
        q = e.quality
        rows.append(f"| {changed} | {e.attacks['none'].auc:.3f} | {tpr} | {e.green_share['none'][0]:.3f} / "
                    f"{e.green_share['none'][1]:.3f} | {q['class_fidelity_clean']:.3f} -> "
                    f"{q['class_fidelity_watermarked']:.3f} | {q['fd_clean_vs_real']:.1f} -> "
                    f"{q['fd_watermarked_vs_real']:.1f} |")
    return rows


def tuning_section(tuned) -> list[str]:
    if not tuned:
        return []
    return [
        f"### Tuning on {tuned[0][1].model}",
        "",
        "Other option sets on one model, each over "
        + ", ".join(f"`{k}={v}`" for k, v in TUNING_BASE.items())
        + " (the row *base*; the other options at their defaults), same seeds and key, no attack, JPEG 75 and "
        "regeneration (TPR at 1% as "
        "`p <= 0.01 / empirical`; green share watermarked / clean, no attack):",
        "",
        "| options | AUC | TPR@1%, no attack | TPR@1%, JPEG 75 | TPR@1%, regeneration | green share | "
        "class fidelity clean -> watermarked | FD vs real clean -> watermarked |",
        "|---|---|---|---|---|---|---|---|",
        *tuning_rows(tuned),
        "",
    ]


def docs_section(evaluations, options_text: str, setup: str, tuned=()) -> str:
    from arctl_lbw.report import calibration, markdown, tables

    lines = [
        DOCS_HEADING,
        "",
        "Measured by `python benchmarks/lbw_claims.py` with `arctl lbw eval` (see [Commands](#commands)); the "
        "targets and whether they are met are in [docs/claims.md](claims.md#lbw-watermark-robustness). " + setup,
        "",
        f"LBW options: {options_text}. *empirical*: the threshold lets through at most 1% (0.1%) of the clean "
        "arm's scores, so with fewer than 1000 clean images the 0.1% column is the TPR above every clean score "
        "(FPR 0). *p <=*: the share of images whose p-value is at most the rate, which is what `arctl detect --fpr` "
        "decides; the *clean* columns are its observed false-positive rate (the calibration check).",
        "",
    ]
    for evaluation in evaluations:
        lines += [f"### {evaluation.model}", ""]
        for title, header, rows in tables(evaluation):
            lines += [f"{title}:", "", markdown(header, rows), ""]
        lines += [f"Calibration: {calibration(evaluation)}.", ""]
        lines += [f"![ROC of LBW on {evaluation.model}](lbw-roc-{evaluation.model}.png)", ""]
    return "\n".join(lines + tuning_section(list(tuned))) + "\n"


def write_roc(evaluation, path: Path) -> None:
    """The ROC plot of one evaluation, one curve per attack with its AUC (as `arctl lbw eval --roc` draws it)."""
    from arctl_lbw.roc_plot import write_roc_png

    labels = {name: f"{name} (AUC {rates.auc:.3f})" for name, rates in evaluation.attacks.items()}
    title = f"LBW on {evaluation.model}: {evaluation.num} watermarked vs {evaluation.num} clean images"
    write_roc_png(path, evaluation.curves, labels, title)


def lbw_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments of every LBW benchmark: images per arm, seed, threads and LBW options (-o KEY=VALUE)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--num", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("-o", "--option", action="append", default=[], help="LBW option KEY=VALUE")
    return parser


def lbw_options(manager, assignments) -> dict:
    """LBW's options from ``-o`` assignments, over its defaults (none given: the defaults)."""
    from arctl.options import parse_options, split_assignments

    spec = manager.registry.get("watermarker", "lbw")
    return parse_options(split_assignments(assignments), spec.options, owner="watermarker lbw")


def main() -> None:
    parser = lbw_parser(__doc__)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated; the sections list only these")
    parser.add_argument("--docs", type=Path, default=DOCS, help="where lbw.md, claims.md and the plots are")
    parser.add_argument("--tune", metavar="MODEL", help="also try the TUNING option sets on this model")
    parser.add_argument("--first-key", type=int, default=0, help="measure with keys N.. (default 0..)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from arctl.cli.output import err
    from arctl.plugins import PluginManager
    from arctl_lbw.attacks import ATTACKS
    from arctl_lbw.evaluate import evaluate

    manager = PluginManager()
    options = lbw_options(manager, args.option)
    defaults = lbw_options(manager, [])
    key = measurement_key(args.first_key)
    evaluations = []
    for model in args.models.split(","):
        err().print(f"{model} ...", markup=False, highlight=False)
        evaluation = evaluate(manager, model, key, options, num=args.num, seed=args.seed, attacks=list(ATTACKS),
                              device="cpu")
        write_roc(evaluation, args.docs / f"lbw-roc-{model}.png")
        evaluation.fidelity_over_keys = fidelity_over_keys(manager, evaluation, options, args.seed,
                                                           args.first_key)
        evaluations.append(evaluation)
    tuned = []
    for changes in TUNING if args.tune else ():
        err().print(f"{args.tune} with {changes or 'the base'} ...", markup=False, highlight=False)
        evaluation = evaluate(manager, args.tune, key, {**defaults, **TUNING_BASE, **changes}, num=args.num,
                              seed=args.seed, attacks=["none", *SURVIVED], device="cpu")
        tuned.append((changes, evaluation))
    options_text = ", ".join(f"`{k}={v}`" for k, v in options.items())
    options_text += " (arctl-lbw's defaults)" if options == defaults else ""
    setup = (f"Each model generates {args.num} clean and {args.num} watermarked images with the same seeds (seed "
             f"{args.seed}, its default sampling settings, every class equally often)"
             + (f"; measurement keys {args.first_key}-{args.first_key + FIDELITY_KEYS - 1}" if args.first_key else "")
             + f"; machine: {machine('cpu')}.")
    write_section(args.docs / "lbw.md", DOCS_HEADING, docs_section(evaluations, options_text, setup, tuned),
                  next_heading="\n## ")
    claims = claims_section(evaluations, options_text, setup)
    write_section(args.docs / "claims.md", CLAIMS_HEADING, claims, next_heading="\n## ",
                  title="# Claims, measured in the shapes world")
    print(claims)


if __name__ == "__main__":
    main()
