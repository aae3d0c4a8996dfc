"""MAR's linear guidance schedule (after Muse): the weight grows with the share of tokens already known.

At an iteration after which ``known`` of ``total`` tokens are known, w = 1 + (cfg - 1) * known / total;
the first iteration is nearly unguided. Because MAR always leaves one token for the last iteration when
counting, the last weight is 1 + (cfg - 1) (L - 1) / L, never cfg itself (as in the official code). The
value is computed in float32, as the official code does with its tensors. Generators that do not report
known tokens get w = 1 + (cfg - 1) * progress.
"""

from __future__ import annotations

import torch

from arctl.sampling import CFGSchedule, StepContext


class MaskLinearCFG(CFGSchedule):
    @property
    def uses_guidance(self) -> bool:
        return self.cfg != 1.0  # MAR guides whenever cfg differs from 1, also below it

    def weight(self, ctx: StepContext) -> float:
        if "known" not in ctx.extra:
            return 1.0 + (self.cfg - 1.0) * ctx.progress
        known = torch.tensor([float(ctx.extra["known"])], dtype=torch.float32)
        return (1 + (self.cfg - 1) * known / ctx.extra["total"]).item()
