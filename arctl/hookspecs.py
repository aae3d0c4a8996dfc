"""The hooks a plugin implements. Each receives a ``register`` callable and calls it once per component.

Registration must be cheap: no torch import, no weights. Components name their implementation with a
lazy factory (``"package.module:attr"``) that is resolved on first use.
"""

import pluggy

hookspec = pluggy.HookspecMarker("arctl")
hookimpl = pluggy.HookimplMarker("arctl")


@hookspec
def register_tokenizers(register):
    """Register tokenizers: ``register(TokenizerSpec(...))``. A tokenizer turns images into token grids and back."""


@hookspec
def register_generators(register):
    """Register generators with their checkpoints: ``register(GeneratorSpec(...))``."""


@hookspec
def register_samplers(register):
    """Register samplers and CFG schedules: ``register(SamplerSpec(...))`` or ``register(CFGScheduleSpec(...))``."""


@hookspec
def register_accelerators(register):
    """Register device backends: ``register(AcceleratorSpec(...))`` (``--device NAME`` or ``NAME:INDEX``)."""


@hookspec
def register_watermarkers(register):
    """Register watermarkers: ``register(WatermarkerSpec(...))``; they embed and detect marks in token generators."""


@hookspec
def register_erasers(register):
    """Register concept erasers: ``register(EraserSpec(...))``; they fine-tune a generator to forget a concept."""


@hookspec
def register_judges(register):
    """Register judges and metrics: ``register(JudgeSpec(...))``; they score generated images (class or caption
    fidelity) or embed them for a Fréchet distance, for the generator domains they name."""


@hookspec
def register_commands(register):
    """Register CLI commands: ``register(CommandSpec(...))``; the factory returns a typer.Typer or a command function."""
