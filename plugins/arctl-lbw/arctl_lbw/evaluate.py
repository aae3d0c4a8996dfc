"""`arctl lbw eval`: how well the in-generation mark survives attacks, and what it costs in quality.

Both arms come from the normal generation path with the same seed, so image i of the clean arm and image i
of the watermarked arm share their condition and their random stream and differ only by the mark; any
token generator works unchanged. Every attack is applied to both arms, the attacked images are stored at 8
bits (as a file would keep them), re-encoded with the generator's tokenizer, and tested. Multi-scale
tokenizers are also tested counting each single scale, each run of the finest scales, and all scales, so the
``scales`` default can follow evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from arctl import generation
from arctl.errors import UsageError
from arctl.images import stored
from arctl.keys import WatermarkKey
from arctl.tokenizers import load_tokenizer, to_tensor
from arctl.watermark import Detection, build_watermark
from arctl_lbw.attacks import ATTACKS, AttackContext
from arctl_lbw.detect import Score, code_distances, counted_positions, counted_scales, detect_tokens, parse_scales
from arctl_lbw.green import GreenLists
from arctl_lbw.quality import arm_quality
from arctl_lbw.roc import auc, roc_points, score, share_at_most, tpr_at_empirical_fpr
from arctl_lbw.soft import detect_soft, detect_soft_pools

FPRS = (0.01, 0.001)
ENCODE_BATCH = 32
CALIBRATION_KEYS = 20


@dataclass
class Rates:
    """Watermarked vs clean under one attack and one scale selection. Keys of the dicts are the FPRs."""

    auc: float
    tpr_empirical: dict[float, float]  # threshold from the clean arm's scores
    tpr_nominal: dict[float, float]  # share of watermarked images with p <= fpr
    clean_fpr_nominal: dict[float, float]  # share of clean images with p <= fpr: the calibration check

    @classmethod
    def of(cls, marked: Sequence[Detection], clean: Sequence[Detection]) -> Rates:
        positive, negative = [score(d.p_value) for d in marked], [score(d.p_value) for d in clean]
        marked_p, clean_p = [d.p_value for d in marked], [d.p_value for d in clean]
        return cls(
            auc=round(auc(positive, negative), 4),
            tpr_empirical={f: tpr_at_empirical_fpr(positive, negative, f) for f in FPRS},
            tpr_nominal={f: share_at_most(marked_p, f) for f in FPRS},
            clean_fpr_nominal={f: share_at_most(clean_p, f) for f in FPRS},
        )


@dataclass
class Evaluation:
    model: str
    num: int
    seed: int
    key: str  # the key's fingerprint, never the key
    options: dict[str, Any]
    sampling: dict[str, Any]
    num_scales: int
    counted_scales: list[int]
    attacks: dict[str, Rates]
    green_share: dict[str, tuple[float, float]]  # attack -> (watermarked, clean) share of codes on the image's list
    clean_fpr_over_keys: dict[float, float]  # unattacked clean images with p <= fpr, mean over CALIBRATION_KEYS keys
    scales: dict[str, dict[str, Rates]]  # attack -> selection ("all", "3", "4:") -> rates; multi-scale only
    green_share_by_scale: dict[str, dict[str, float]]  # attack -> selection -> the watermarked arm's green share
    quality: dict[str, float] | None  # from the judges registered for the model's domain (arctl.judges)
    notes: list[str]
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # ROC of each attack
    quality_judges: dict[str, str] = field(default_factory=dict)  # score -> the judge that gave it

    def describe(self) -> dict[str, Any]:
        """Everything but the ROC points, for --json."""
        return {k: v for k, v in asdict(self).items() if k != "curves"}


class Tracker:
    """Progress of the long parts: ``task(description)`` gives an ``arctl.generation.Progress`` (silent here)."""

    def task(self, description: str) -> generation.Progress:
        return generation.Progress()


def conditions_for(spec, num: int) -> tuple[list[int] | None, int]:
    """(classes, images per class) for ``num`` images: every class in turn, or unconditional."""
    if num < 1:
        raise UsageError(f"--num {num}: must be >= 1")
    if spec.conditioning == "class":
        return [i % spec.num_classes for i in range(num)], 1
    if spec.conditioning == "none":
        return None, num
    raise UsageError(f"{spec.name} is text-conditional; arctl lbw eval needs a class-conditional or "
                     "unconditional generator")


def scale_selections(num_scales: int) -> dict[str, Any]:
    """"all", every single scale, and every run of the finest scales ("k:"), as parsed selections."""
    labels = ["all", *(str(s) for s in range(num_scales)), *(f"{s}:" for s in range(1, num_scales))]
    return {label: parse_scales(label) for label in labels}


def generate_arm(manager, loaded, settings, classes, per_class, seed, progress, watermark=None) -> torch.Tensor:
    results = generation.generate(manager, loaded, settings, classes=classes, num=per_class, seed=seed,
                                  progress=progress, watermark=watermark)
    return to_tensor([r.image for r in results])


@dataclass
class Encoded:
    """One arm re-encoded: ids [N, L], the scale index [L] of each position, and for score=soft the code
    distances [N, L, V] (else None)."""

    ids: torch.Tensor
    scales: torch.Tensor
    distances: torch.Tensor | None = None


def encode(tokenizer, images: torch.Tensor, device, score: Score) -> Encoded:
    """Images re-encoded in chunks, on the CPU."""
    ids, distances, scales = [], [], None
    with torch.inference_mode():
        for start in range(0, len(images), ENCODE_BATCH):
            chunk = images[start : start + ENCODE_BATCH].to(device)
            tokens = tokenizer.encode(chunk)
            chunk_ids, scales = tokenizer.flat_tokens(tokens)
            ids.append(chunk_ids.cpu())
            if score.kind == "soft":
                distances.append(code_distances(tokenizer, chunk, tokens).cpu())
    return Encoded(torch.cat(ids), scales.cpu(), torch.cat(distances) if distances else None)


def detect_arm(arm: Encoded, lists: GreenLists, selection, score: Score) -> list[Detection]:
    if score.kind == "count":
        return detect_tokens(arm.ids, arm.scales, lists, selection)
    return detect_soft(arm.distances, arm.ids, counted_positions(arm.scales, selection), lists, score.temperature,
                       score.draws)


def own_green_share(ids: torch.Tensor, scales: torch.Tensor, lists, own: torch.Tensor, selection) -> float:
    """Mean share of each row's distinct counted codes that are green on the list its image was generated with
    (``own[i]``): about gamma without a mark, 1 for a hard mark that re-encoding recovers completely."""
    keep = torch.isin(scales, torch.tensor(counted_scales(selection, int(scales.max()) + 1)))
    masks = lists.masks[own]
    shares = [masks[i, row.unique()].float().mean() for i, row in enumerate(ids[:, keep])]
    return round(float(torch.stack(shares).mean()), 4)


def clean_fpr_over_keys(arm: Encoded, key: WatermarkKey, lists, selection, score: Score,
                        keys: int = CALIBRATION_KEYS) -> dict[float, float]:
    """Share of clean images with p <= fpr, averaged over ``keys`` other keys (derived from ``key``).

    The p-values are exact for a key drawn independently of the image, i.e. on average over keys. One fixed key's
    lists meet every image, and images share codes (backgrounds, a class's coarse tokens), so one key's false
    positives are correlated across images: its observed rate scatters more than a binomial around the mean."""
    totals = dict.fromkeys(FPRS, 0.0)
    others = [GreenLists(WatermarkKey(key.derive(f"arctl-lbw/calibration/{index}")), lists.vocab_size, lists.gamma,
                         lists.pool) for index in range(keys)]
    if score.kind == "soft":  # one pass scores every key's lists against the same null draws
        found_by_key = detect_soft_pools(arm.distances, arm.ids, counted_positions(arm.scales, selection), others,
                                         score.temperature, score.draws)
    else:
        found_by_key = [detect_tokens(arm.ids, arm.scales, other, selection) for other in others]
    for found in found_by_key:
        p_values = [d.p_value for d in found]
        for fpr in FPRS:
            totals[fpr] += share_at_most(p_values, fpr) / keys
    return {fpr: round(total, 5) for fpr, total in totals.items()}


def measure(arms: Sequence[Encoded], lists, selection, how: Score
            ) -> tuple[Rates, list[tuple[float, float]], dict[str, Rates]]:
    """(rates, ROC points, rates by scale selection when the tokenizer has several scales and the score is the
    count) for the watermarked and the clean arm."""
    def detected(chosen):
        return [detect_arm(arm, lists, chosen, how) for arm in arms]

    found = detected(selection)
    curve = roc_points(*([score(d.p_value) for d in arm] for arm in found))
    num_scales = int(arms[0].scales.max()) + 1
    by_scale = {label: Rates.of(*detected(chosen)) for label, chosen in scale_selections(num_scales).items()} \
        if num_scales > 1 and how.kind == "count" else {}
    return Rates.of(*found), curve, by_scale


def evaluate(manager, model: str, key: WatermarkKey, options: Mapping[str, Any], *, num: int, seed: int = 0,
             attacks: Sequence[str] = ("none",), device: str = "auto", tracker: Tracker | None = None) -> Evaluation:
    """Generate ``num`` clean and ``num`` watermarked images with LBW's ``options`` and measure every attack."""
    tracker = tracker or Tracker()
    watermark = build_watermark(manager.registry.get("watermarker", "lbw"), key, options)
    loaded = generation.load_model(manager, model, device=device)
    classes, per_class = conditions_for(loaded.spec, num)
    settings = generation.resolve_settings(manager.registry, loaded.spec)
    clean = generate_arm(manager, loaded, settings, classes, per_class, seed, tracker.task("clean images"))
    marked = generate_arm(manager, loaded, settings, classes, per_class, seed, tracker.task("watermarked images"),
                          watermark)
    device = loaded.accelerator.device
    tokenizer = load_tokenizer(manager, model, device=str(device)).tokenizer
    lists = watermark.watermarker.lists(tokenizer.codebook_size)

    context = AttackContext(tokenizer=tokenizer, device=device, seed=seed)
    selection = watermark.watermarker.selection
    own = torch.tensor([lists.for_generated(seed, item) for item in range(num)])  # items are 0 .. num - 1
    results, green_share, by_scale, green_by_scale, curves, notes = {}, {}, {}, {}, {}, []
    progress = tracker.task("attacks")
    progress.start(len(attacks))
    how = watermark.watermarker.score
    for name in attacks:
        arms = [encode(tokenizer, stored(ATTACKS[name](images, context)), device, how) for images in (marked, clean)]
        results[name], curves[name], per_scale = measure(arms, lists, selection, how)
        green_share[name] = tuple(own_green_share(arm.ids, arm.scales, lists, own, selection) for arm in arms)
        if name == "none":
            calibration = clean_fpr_over_keys(arms[1], key, lists, selection, how)
        num_scales = int(arms[0].scales.max()) + 1
        if per_scale:
            by_scale[name] = per_scale
        if num_scales > 1:
            green_by_scale[name] = {label: own_green_share(arms[0].ids, arms[0].scales, lists, own, chosen)
                                    for label, chosen in scale_selections(num_scales).items()}
        progress.advance()
    if num_scales > 1 and how.kind == "soft":
        notes.append("score=soft: no TPR by counted scales (score=count measures that table)")

    if num < 1 / min(FPRS):
        notes.append(f"TPR at empirical FPR {min(FPRS):g} is below the resolution of {num} clean images: its "
                     "threshold is the highest clean score, so it is the TPR at an observed FPR of 0")
    quality = arm_quality(manager.registry, loaded.spec, clean, marked, classes, num, device=str(device))
    notes.extend(quality.notes)
    return Evaluation(
        model=model, num=num, seed=seed, key=key.fingerprint, options=dict(watermark.options),
        sampling={**asdict(settings.sampling), **settings.options()}, num_scales=num_scales,
        counted_scales=counted_scales(selection, num_scales),
        attacks=results, green_share=green_share,
        clean_fpr_over_keys=calibration, scales=by_scale,
        green_share_by_scale=green_by_scale, quality=quality.numbers, notes=notes, curves=curves,
        quality_judges=quality.judges,
    )
