"""arctl-shapes: a procedural world, a judge and a tiny trained model zoo, so every method runs (and every
claim can be measured) offline on a CPU. Registration only here (no torch)."""

import arctl
from arctl import CommandSpec, JudgeSpec
from arctl_shapes.zoo import DOMAIN, zoo_generators

__version__ = "0.1.0"

# what other plugins and scripts may import: the world, its judge and metrics, the evaluation, sample sheets
__all__ = ["__version__", "evaluate", "grid", "judge", "metrics", "world"]


@arctl.hookimpl
def register_generators(register):
    for spec in zoo_generators():
        register(spec)


@arctl.hookimpl
def register_judges(register):
    register(JudgeSpec("shapes", "The shapes world's CNN judge: class fidelity, and 128-d features for the FD.",
                       "arctl_shapes.metrics:ShapesJudge", scores=("class_fidelity", "features"), domains=(DOMAIN,)))


@arctl.hookimpl
def register_commands(register):
    register(CommandSpec("shapes", "The shapes world: train the zoo, judge images, evaluate models.",
                         "arctl_shapes.cli:shapes_app"))
