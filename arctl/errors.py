"""Errors that reach the user as one line and an exit code (1 runtime, 2 usage)."""


class ArctlError(Exception):
    """A failure the user can act on; the CLI prints its message without a traceback."""

    exit_code = 1


class UsageError(ArctlError):
    """The command line asked for something invalid (exit 2)."""

    exit_code = 2


class PluginError(ArctlError):
    """A plugin failed to load or registered something invalid."""


class WeightsNotFoundError(ArctlError):
    """A checkpoint file is neither given locally, nor cached, nor downloadable."""


class UnsafeCheckpointError(ArctlError):
    """A pickled checkpoint asks to run code; arctl refuses to load it."""


class StateDictMismatchError(ArctlError):
    """A state dict does not fit the model it is loaded into (strict loading)."""


class DeviceUnavailableError(ArctlError):
    """The requested device (cuda, mps, ...) is not usable on this machine."""
