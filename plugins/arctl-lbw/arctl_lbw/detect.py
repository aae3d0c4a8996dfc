"""Detection: re-encode, score each list of the pool, test, correct.

The count (``score=count``, ``Score("count", ...)`` here) counts each list's green codes among the image's distinct
codes; list j's p-value is the exact hypergeometric tail of that count (see ``stats``). ``score=soft`` (the
option's default) scores how near every position lies to green codes, with a permutation null (see ``soft``).
Either way the image's p-value is the smallest list's times the pool size K (Bonferroni, capped at 1), so a
clean image is flagged at most with probability ``fpr`` whichever list it would have used. Multi-scale
tokenizers give every token a scale index (``tokenizer.flat_tokens``); ``scales`` selects the ones counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from arctl.errors import UsageError
from arctl.watermark import Detection
from arctl_lbw.green import GreenLists
from arctl_lbw.soft import detect_soft
from arctl_lbw.stats import hypergeom_log_sf, z_score


@dataclass(frozen=True)
class Score:
    """How an image is scored: ``count`` (distinct green codes) or ``soft`` (with its temperature and draws)."""

    kind: str
    temperature: float
    draws: int


def parse_scales(text: str) -> tuple[slice | int, ...] | None:
    """``all`` -> None; else comma-separated indices and slices, negative from the finest: ``-1``, ``6:``, ``0,2:4``."""
    text = text.strip().lower()
    if text == "all":
        return None
    parts: list[slice | int] = []
    for part in (p.strip() for p in text.split(",")):
        try:
            if ":" in part:
                start, _, stop = part.partition(":")
                parts.append(slice(int(start) if start.strip() else None, int(stop) if stop.strip() else None))
            else:
                parts.append(int(part))
        except ValueError:
            raise UsageError(f"option scales={text!r}: expected 'all' or indices and slices such as -1, 6: or 0,2:4") from None
    return tuple(parts)


def counted_scales(selection: Sequence[slice | int] | None, num_scales: int) -> list[int]:
    """The scale indices a selection names for a tokenizer with ``num_scales`` scales."""
    every = list(range(num_scales))
    if selection is None:
        return every
    chosen: set[int] = set()
    for part in selection:
        if isinstance(part, slice):
            chosen.update(every[part])
        elif -num_scales <= part < num_scales:
            chosen.add(every[part])
        else:
            raise UsageError(f"option scales: this tokenizer has scales 0..{num_scales - 1}, not {part}")
    if not chosen:
        raise UsageError(f"option scales: the selection names none of this tokenizer's scales 0..{num_scales - 1}")
    return sorted(chosen)


def counted_positions(scales: torch.Tensor, selection: Sequence[slice | int] | None) -> torch.Tensor:
    """Bool [L]: the positions whose scale (``scales`` [L]) the selection counts."""
    num_scales = int(scales.max()) + 1 if scales.numel() else 1
    return torch.isin(scales, torch.tensor(counted_scales(selection, num_scales), device=scales.device))


def code_distances(tokenizer, images: torch.Tensor, tokens) -> torch.Tensor:
    """The tokenizer's code distances [B, L, V] (an optional member of the tokenizer contract), without the
    autograd graph that member keeps for training."""
    if not hasattr(tokenizer, "code_distances"):
        raise UsageError(f"score=soft needs a tokenizer with code_distances; {type(tokenizer).__name__} has none "
                         "(use score=count)")
    with torch.no_grad():
        return tokenizer.code_distances(images, tokens)


def detect_tokens(ids: torch.Tensor, scales: torch.Tensor, lists: GreenLists,
                  selection: Sequence[slice | int] | None = None) -> list[Detection]:
    """One Detection per row of ``ids`` [B, L] (scale index [L] per position; ``selection`` as ``parse_scales``)."""
    keep = counted_positions(scales, selection)
    masks = lists.masks_on(ids.device)
    found = []
    for row in ids[:, keep]:
        distinct = row.unique()
        green = masks[:, distinct].sum(dim=1).cpu()  # [K]
        log_p = hypergeom_log_sf(green, lists.vocab_size, lists.size, len(distinct))
        best = int(torch.argmin(log_p))
        p_value = min(1.0, lists.pool * float(torch.exp(log_p[best])))
        z = float(z_score(green[best : best + 1], lists.vocab_size, lists.size, len(distinct))[0])
        found.append(Detection(p_value, z, {"list": best, "tokens": len(distinct), "green": int(green[best])}))
    return found


def detect_images(tokenizer, images: torch.Tensor, lists: GreenLists,
                  selection: Sequence[slice | int] | None, score: Score) -> list[Detection]:
    """Re-encode images [B, 3, H, W] in [0, 1] with the tokenizer and test them."""
    tokens = tokenizer.encode(images)
    ids, scales = tokenizer.flat_tokens(tokens)
    if score.kind == "count":
        return detect_tokens(ids, scales, lists, selection)
    distances = code_distances(tokenizer, images, tokens)
    return detect_soft(distances, ids, counted_positions(scales, selection), lists, score.temperature, score.draws)
