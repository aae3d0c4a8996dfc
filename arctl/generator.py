"""The contract between the core and a generator plugin.

The core owns conditions, batching, seeds, devices, sampling settings, progress and output files;
a generator only turns one batch of conditions into images, asking ``batch.sampling`` for every
token (or every diffusion step count) so that samplers and logits processors compose with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from arctl.accelerate import Accelerator
    from arctl.hub import ResolvedFile
    from arctl.registry import Checkpoint, GeneratorSpec
    from arctl.sampling import StepContext, TokenSampling


@dataclass
class GenerationBatch:
    """One batch: its conditions, the sampling pipeline and the generator's own options.

    ``classes`` (a None entry: the null class) or ``prompts`` hold one condition per row; ``images`` the image
    inputs the spec declares that were given, each a float tensor [B, C, image_size, image_size] in [0, 1] on the
    device (C is 3 for "RGB" inputs, 1 for "L"). ``note`` reports something the user should know (shown once)."""

    sampling: TokenSampling
    size: int
    classes: list[int | None] | None = None
    prompts: list[str] | None = None
    images: Mapping[str, torch.Tensor] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    on_step: Callable[[StepContext], None] = lambda ctx: None
    note: Callable[[str], None] = lambda text: None


class Generator:
    """Base class: subclasses implement ``from_checkpoint``, ``num_steps`` and ``generate``."""

    def __init__(self, spec: GeneratorSpec, checkpoint: Checkpoint, accelerator: Accelerator) -> None:
        self.spec = spec
        self.checkpoint = checkpoint
        self.accelerator = accelerator

    @classmethod
    def from_checkpoint(
        cls,
        spec: GeneratorSpec,
        checkpoint: Checkpoint,
        files: Mapping[str, ResolvedFile],
        accelerator: Accelerator,
    ) -> Generator:
        """Build the model(s) from ``checkpoint.config``, load ``files`` strictly, move to the device."""
        raise NotImplementedError

    @property
    def image_size(self) -> int:
        """The side of the square images it makes; image inputs are resized to it."""
        raise NotImplementedError(f"{type(self).__name__} declares image inputs but no image_size")

    def num_steps(self, options: Mapping[str, Any]) -> int:
        """How many times ``generate`` calls ``batch.on_step`` (for the progress bar)."""
        raise NotImplementedError

    def generate(self, batch: GenerationBatch) -> torch.Tensor:
        """Images for the batch as a float tensor [B, 3, H, W] in [0, 1]."""
        raise NotImplementedError
