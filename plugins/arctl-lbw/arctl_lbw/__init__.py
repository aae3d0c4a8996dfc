"""arctl-lbw: lexical-bias watermarking for token image generators (Hui et al., 2025).

A secret key selects a pool of green lists over the tokenizer's codebook; each image uses one list of the
pool. Generation masks the other logits (or adds a bias to green ones), post-hoc marking re-quantizes an
image to green codes, and detection scores how near the re-encoded latents lie to green codes. It works
through the core's seams only (logits processors, the tokenizer contract), so it composes with every token
generator. The defaults (gamma 0.45, hard mark, soft score) are the configuration docs/claims.md measures.

Registration only (no torch here). The Python API is in ``arctl_lbw.api``; `arctl lbw eval` (``arctl_lbw.cli``)
measures robustness to attacks.
"""

import arctl
from arctl import CommandSpec, Option, WatermarkerSpec

__version__ = "0.1.0"

# what other plugins and scripts may import (modules by name, so this file stays torch-free)
__all__ = ["OPTIONS", "__version__", "api", "attacks", "detect", "evaluate", "report", "roc", "roc_plot", "soft",
           "watermarker"]

OPTIONS = (
    Option("delta", float, 2.0, "logit bias added to green tokens in soft mode", min=0.0),
    Option("gamma", float, 0.45, "fraction of the codebook in each green list", min=0.01, max=0.99),
    Option("pool", int, 4, "number of green lists the key selects; each image uses one", min=1, max=1024),
    Option("mode", str, "hard", "hard: only green tokens can be drawn; soft: add delta to green logits",
           choices=("soft", "hard")),
    Option("scales", str, "all", "token scales detection counts: all, or indices and slices such as -1 or 6: "
           "(multi-scale tokenizers such as VAR's)"),
    Option("score", str, "soft", "detection score: soft (nearness to green codes, permutation null) or count "
           "(distinct green codes, exact hypergeometric null)", choices=("count", "soft")),
    Option("temperature", float, 0.3, "score=soft: softmax temperature, in units of the image's median margin "
           "between nearest and second-nearest code", min=1e-3, max=100.0),
    Option("draws", int, 10_000, "score=soft: random lists of the permutation null (p-values >= pool / (draws + 1))",
           min=100, max=1_000_000),
)


@arctl.hookimpl
def register_watermarkers(register):
    register(WatermarkerSpec("lbw", "Lexical-bias watermark: keyed green lists over the codebook, detected after "
                             "re-encoding with the model's tokenizer.", "arctl_lbw.watermarker:LBW", options=OPTIONS,
                             needs=("token-logits", "tokenizer")))


@arctl.hookimpl
def register_commands(register):
    register(CommandSpec("lbw", "LBW extras: the robustness evaluation (arctl lbw eval).", "arctl_lbw.cli:make_app"))
