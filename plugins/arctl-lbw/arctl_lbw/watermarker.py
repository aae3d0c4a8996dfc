"""LBW as an arctl watermarker: what `--watermark lbw`, `arctl watermark` and `arctl detect` call."""

from __future__ import annotations

import torch

from arctl.keys import WatermarkKey
from arctl.watermark import Detection, Watermarker
from arctl_lbw.detect import Score, detect_images, parse_scales
from arctl_lbw.green import GreenLists
from arctl_lbw.posthoc import pixel_bytes, watermark_images
from arctl_lbw.processor import LBWProcessor
from arctl_lbw.soft import smallest_p_value


class LBW(Watermarker):
    def __init__(self, key: WatermarkKey, *, delta: float, gamma: float, pool: int, mode: str, scales: str, score: str,
                 temperature: float, draws: int) -> None:
        super().__init__(key, delta=delta, gamma=gamma, pool=pool, mode=mode, scales=scales, score=score,
                         temperature=temperature, draws=draws)
        self.selection = parse_scales(scales)  # a bad selection fails here, before any model loads
        self.score = Score(score, temperature, draws)
        self._lists: dict[int, GreenLists] = {}

    def lists(self, vocab_size: int) -> GreenLists:
        """The key's pool for a codebook of ``vocab_size`` codes (built once per size)."""
        if vocab_size not in self._lists:
            self._lists[vocab_size] = GreenLists(self.key, vocab_size, self.options["gamma"], self.options["pool"])
        return self._lists[vocab_size]

    def processor(self) -> LBWProcessor:
        return LBWProcessor(self.lists, delta=self.options["delta"], hard=self.options["mode"] == "hard")

    def embed(self, tokenizer, images: torch.Tensor) -> torch.Tensor:
        lists = self.lists(tokenizer.codebook_size)
        return watermark_images(tokenizer, images, lists, [lists.for_pixels(pixel_bytes(image)) for image in images])

    def detect(self, tokenizer, images: torch.Tensor) -> list[Detection]:
        return detect_images(tokenizer, images, self.lists(tokenizer.codebook_size), self.selection, self.score)

    @property
    def smallest_p_value(self) -> float:
        return smallest_p_value(self.options["pool"], self.options["draws"]) if self.score.kind == "soft" else 0.0
