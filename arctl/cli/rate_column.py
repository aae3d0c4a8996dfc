"""A progress column for the rate of any unit (rich's own speed column speaks of bytes)."""

from rich.progress import ProgressColumn
from rich.text import Text


class RateColumn(ProgressColumn):
    """Units per second over rich's recent window; blank until a unit is done."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.3g} {self.unit}/s", style="progress.data.speed")
