"""arctl: run, compare, watermark and edit autoregressive image generators.

    import arctl
    pipe = arctl.load("var-d16", device="cuda", dtype="bf16")
    images = pipe(classes=[207, 88], num=4, seed=0, cfg=4, top_k=900)
    arctl.reproduce("outputs/var-d16_c207_s0_000.png").identical

Importing arctl is cheap (no torch); the torch-side modules are imported when they are used.
"""

from arctl.version import __version__
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



def load(model=None, **kwargs):
    """A pipeline for ``model`` (see ``arctl.pipeline.load``): ``arctl.load("var-d16")(classes=[207])``."""
    from arctl.pipeline import load as load_pipeline

    return load_pipeline(model, **kwargs)


def reproduce(path, *, manager=None, **kwargs):
    """Regenerate an image from its recipe and compare (see ``arctl.reproduction.reproduce``): a ``Verdict``."""
    from arctl.plugins import PluginManager
    from arctl.reproduction import reproduce as reproduce_image

    return reproduce_image(manager or PluginManager(), path, **kwargs)


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
    "load",
    "reproduce",
]
