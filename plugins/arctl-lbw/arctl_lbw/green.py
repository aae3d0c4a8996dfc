"""The pool of keyed green lists, and which list an image uses.

List j ranks the V codes by 64-bit values read from SHAKE-256 of a key-derived seed and makes the first
round(gamma * V) green. Only hashlib and numpy's argsort decide the lists, so a key gives the same lists
on every machine and with every torch version (a watermark must stay detectable after upgrades). An image's
list is derived from the key and the image's identity, never stored: a generated image by its run seed and
item index (so `arctl reproduce` gives it the same list), an existing image by a hash of its pixels.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from arctl.keys import WatermarkKey


def green_count(vocab_size: int, gamma: float) -> int:
    """round(gamma * V) codes per list, at least 1 and at most V - 1 (both colours always exist)."""
    return min(max(round(gamma * vocab_size), 1), vocab_size - 1)


def _pick(key: WatermarkKey, pool: int, label: str) -> int:
    return int.from_bytes(key.derive(label)[:8], "little") % pool


class GreenLists:
    """K green lists over a codebook of V codes: ``masks`` is bool [K, V] (on the CPU)."""

    def __init__(self, key: WatermarkKey, vocab_size: int, gamma: float, pool: int) -> None:
        if vocab_size < 2 or pool < 1:
            raise ValueError("green lists need a codebook of at least 2 codes and a pool of at least 1 list")
        self.key, self.vocab_size, self.gamma, self.pool = key, vocab_size, gamma, pool
        self.size = green_count(vocab_size, gamma)
        self.masks = torch.stack([self._list(j) for j in range(pool)])
        self._on_device: dict[torch.device, torch.Tensor] = {}

    def _list(self, j: int) -> torch.Tensor:
        stream = hashlib.shake_256(self.key.derive(f"arctl-lbw/list/{j}")).digest(8 * self.vocab_size)
        order = np.argsort(np.frombuffer(stream, dtype="<u8"), kind="stable")
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        mask[torch.from_numpy(order[: self.size].copy())] = True
        return mask

    def masks_on(self, device: torch.device | str) -> torch.Tensor:
        """``masks`` on ``device`` (moved once, then reused)."""
        device = torch.device(device)
        if device not in self._on_device:
            self._on_device[device] = self.masks.to(device)
        return self._on_device[device]

    def for_generated(self, seed: int, item: int) -> int:
        """The list of item ``item`` of a generation run with seed ``seed``."""
        return _pick(self.key, self.pool, f"arctl-lbw/generated/{seed}/{item}")

    def for_pixels(self, pixels: bytes) -> int:
        """The list of an existing image marked after the fact, from its 8-bit pixels."""
        return _pick(self.key, self.pool, "arctl-lbw/pixels/" + hashlib.sha256(pixels).hexdigest())
