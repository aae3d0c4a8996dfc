"""arctl: run, compare, watermark and edit autoregressive image generators.

Importing arctl is cheap (no torch); the torch-side modules are imported when they are used.
"""

__version__ = "0.1.0"

from arctl.hookspecs import hookimpl  # noqa: E402
from arctl.options import Option  # noqa: E402
from arctl.registry import (  # noqa: E402
    AcceleratorSpec,
    CFGScheduleSpec,
    Checkpoint,
    CommandSpec,
    EraserSpec,
    GeneratorSpec,
    ImageInput,
    JudgeSpec,
    SamplerSpec,
    SamplingDefaults,
    TokenizerSpec,
    WatermarkerSpec,
    WeightFile,
)

__all__ = [
    "AcceleratorSpec",
    "CFGScheduleSpec",
    "Checkpoint",
    "CommandSpec",
    "EraserSpec",
    "GeneratorSpec",
    "ImageInput",
    "JudgeSpec",
    "Option",
    "SamplerSpec",
    "SamplingDefaults",
    "TokenizerSpec",
    "WatermarkerSpec",
    "WeightFile",
    "__version__",
    "hookimpl",
]
