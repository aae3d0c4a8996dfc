"""Command-line options more than one command takes (generate, edit, watermark, detect), declared once.

Public for plugin commands: ``from arctl.cli.options import SeedOption`` and annotate a parameter with it.
"""

import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from arctl.errors import UsageError
from arctl.generation import MAX_SEED, not_finite

DTYPES = ["auto", "fp32", "bf16", "fp16"]


def number(flag: str, kind: type, valid: Callable[[float], bool], rule: str) -> Callable[[str], float]:
    """A typer ``parser``: the text of ``flag`` as ``kind`` (int or float) if ``valid``, else a one-line usage
    error that says what is wrong with the value and what ``rule`` it must follow."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise UsageError(f"{flag} {text}: not {'an integer' if kind is int else 'a number'}; {rule}") from None
        if not valid(value):
            raise UsageError(f"{flag} {value}: {not_finite(value)}{rule}")
        return value

    return parse


SeedOption = Annotated[Optional[int], typer.Option(
    "--seed", "-s", parser=number("--seed", int, lambda v: 0 <= v <= MAX_SEED, f"must be in 0..{MAX_SEED}"),
    help="Random seed (default: random, recorded).")]
CfgOption = Annotated[Optional[float], typer.Option(
    "--cfg", parser=number("--cfg", float, lambda v: 0 <= v < math.inf, "must be a finite number >= 0"),
    help="Guidance strength, in each method's published meaning (see `arctl models MODEL --options`).")]
CfgScheduleOption = Annotated[Optional[str], typer.Option(
    help="CFG schedule: constant, linear, half-linear, interval, ...")]
TopKOption = Annotated[Optional[int], typer.Option(
    "--top-k", parser=number("--top-k", int, lambda v: v >= 0, "must be >= 0 (0 disables top-k)"),
    help="Keep the k most likely tokens (0: off).")]
TopPOption = Annotated[Optional[float], typer.Option(
    "--top-p", parser=number("--top-p", float, lambda v: 0 < v <= 1, "must be in (0, 1] (1 disables top-p)"),
    help="Nucleus mass to keep, in (0, 1] (1: off).")]
TemperatureOption = Annotated[Optional[float], typer.Option(
    "--temperature", parser=number("--temperature", float, lambda v: 0 < v < math.inf,
                                   "must be > 0 and finite (use --sampler greedy for argmax)"),
    help="Softmax temperature (> 0).")]
SamplerOption = Annotated[Optional[str], typer.Option(help="Sampler: multinomial, greedy, or one a plugin adds.")]
OptionsOption = Annotated[Optional[list[str]], typer.Option("--option", "-o", help="Plugin option KEY=VALUE; repeat.")]
BatchSizeOption = Annotated[Optional[int], typer.Option(
    "--batch-size", parser=number("--batch-size", int, lambda v: v >= 1, "must be >= 1"),
    help="Images per forward batch (default: the generator's).")]
DeviceOption = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N, mps.")]
DtypeOption = Annotated[str, typer.Option(help="auto, fp32, bf16, fp16 (auto: bf16 on capable CUDA, else fp32).",
                                          autocompletion=lambda: DTYPES)]
WeightsOption = Annotated[Optional[list[str]], typer.Option(help="Local weights: PATH for the main file or ROLE=PATH.")]
WatermarkOption = Annotated[Optional[str], typer.Option(
    help="Mark the images with this watermarker (e.g. lbw); needs --key-file.")]
KeyFileOption = Annotated[Optional[Path], typer.Option("--key-file", help="The watermark's key (from `arctl watermark "
                                                                          "keygen`).")]
ImagesOption = Annotated[Optional[list[str]], typer.Option(
    "--image", "-i", help="Image condition NAME=PATH (see `arctl models MODEL --options`); once for every condition "
    "or once per condition, in order.")]
ErasureOption = Annotated[Optional[Path], typer.Option(
    "--erasure", help="Apply a concept erasure (a .safetensors file from `arctl erase-concept`) to the weights.")]
