"""Command-line options more than one command takes (generate, edit, watermark, detect), declared once.

Public for plugin commands: ``from arctl.cli.options import SeedOption`` and annotate a parameter with it.
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from arctl.generation import MAX_SEED

DTYPES = ["auto", "fp32", "bf16", "fp16"]

SeedOption = Annotated[Optional[int], typer.Option("--seed", "-s", min=0, max=MAX_SEED,
                                                   help="Random seed (default: random, recorded).")]
CfgOption = Annotated[Optional[float], typer.Option(
    min=0.0, help="Guidance strength, in each method's published meaning (see `arctl models MODEL --options`).")]
CfgScheduleOption = Annotated[Optional[str], typer.Option(
    help="CFG schedule: constant, linear, half-linear, interval, ...")]
TopKOption = Annotated[Optional[int], typer.Option(min=0, help="Keep the k most likely tokens (0: off).")]
TopPOption = Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Nucleus mass to keep, in (0, 1] (1: off).")]
TemperatureOption = Annotated[Optional[float], typer.Option(help="Softmax temperature (> 0).")]
SamplerOption = Annotated[Optional[str], typer.Option(help="Sampler: multinomial, greedy, or one a plugin adds.")]
OptionsOption = Annotated[Optional[list[str]], typer.Option("--option", "-o", help="Plugin option KEY=VALUE; repeat.")]
BatchSizeOption = Annotated[Optional[int], typer.Option(
    min=1, help="Images per forward batch (default: the generator's).")]
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
