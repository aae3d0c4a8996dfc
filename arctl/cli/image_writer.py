"""`arctl generate`'s output: each image written the moment its batch is done, its path printed as it lands
(stdout, or one JSON object whose ``images`` list streams), and a last word whether the run finished or stopped.

Nothing but the optional grid is kept, so a run of any length holds one batch in memory.
"""

import json
import re
import sys
import time
from pathlib import Path

from arctl.cli.output import err

MAX_GRID_IMAGES = 1024  # a grid keeps every image in memory until the end


def output_stem(recipe: dict) -> str:
    condition = recipe["condition"]
    if condition is None:  # the null condition (an edit towards no class)
        tag = "u"
    elif recipe["conditioning"] == "class":
        tag = f"c{condition}"
    elif recipe["conditioning"] == "text":
        tag = re.sub(r"[^a-z0-9]+", "-", str(condition).lower()).strip("-")[:40] or "prompt"
    else:
        tag = "u"
    return f"{recipe['model']}_{tag}_s{recipe['seed']}_{recipe['item']:03d}"


class ImageWriter:
    """Writes a run's images (``arctl.generation.GeneratedImage``) into ``out`` as they come, and reports them."""

    def __init__(self, out: Path, model: str, run, *, as_json: bool, keep_for_grid: bool) -> None:
        self.out = out
        self.model = model
        self.run = run
        self.as_json = as_json
        self.grid_images = [] if keep_for_grid else None
        self.written = 0
        self.first_recipe: dict | None = None  # the grid's recipe is the run's, without item and condition
        self.started = time.perf_counter()
        if as_json:
            self._emit("{\n" + "".join(f"  {json.dumps(k)}: {json.dumps(v)},\n" for k, v in
                                       {"model": model, "seed": run.seed, "total": run.batches.images}.items())
                       + '  "images": [')

    def write(self, result) -> None:
        from arctl.images import save_png, unique_path

        path = save_png(result.image, unique_path(self.out, output_stem(result.recipe)), result.recipe)
        self.written += 1
        self.first_recipe = self.first_recipe or result.recipe
        if self.grid_images is not None:
            self.grid_images.append(result.image)
        if self.as_json:
            entry = {"path": str(path), "condition": result.recipe["condition"], "item": result.recipe["item"]}
            self._emit(("," if self.written > 1 else "") + "\n    " + json.dumps(entry, default=str))
        else:
            self._emit(f"{path}\n")

    def finish(self, accelerator) -> None:
        """The run is complete: the grid if asked for, then the summary."""
        from arctl.images import make_grid, save_png, unique_path

        seconds = time.perf_counter() - self.started
        grid_path = None
        if self.grid_images:
            recipe = {k: v for k, v in self.first_recipe.items() if k not in ("item", "condition")}
            grid_path = save_png(make_grid(self.grid_images),
                                 unique_path(self.out, f"{self.model}_grid_s{self.run.seed}"), recipe)
            if not self.as_json:
                self._emit(f"{grid_path}\n")
        if self.as_json:
            self._close({"grid": str(grid_path) if grid_path else None, "seconds": round(seconds, 3),
                         "images_per_second": round(self.written / seconds, 3) if seconds > 0 else None,
                         "peak_memory_bytes": accelerator.peak_memory(), "watermark": (self.first_recipe or {}).get("watermark"),
                         **accelerator.describe(), "complete": True})
            return
        device = accelerator.describe()
        err().print(f"{self.written} image(s) in {seconds:.2f}s on {device['device']} ({device['dtype']}), "
                    f"seed {self.run.seed}", markup=False, highlight=False)

    def stop(self, *, interrupted: bool) -> None:
        """The run stopped early (Ctrl-C or a failure): say what was kept; the images written are complete."""
        if self.as_json:
            self._close({"complete": False, "interrupted": interrupted})
        why = "interrupted" if interrupted else "stopped by a failure"
        err().print(f"{why}: {self.written} of {self.run.batches.images} image(s) written to {self.out}, "
                    f"seed {self.run.seed}", markup=False, highlight=False)

    def _close(self, fields: dict) -> None:
        tail = "".join(f",\n  {json.dumps(k)}: {json.dumps(v, default=str)}" for k, v in fields.items())
        self._emit(("\n  ]" if self.written else "]") + tail + "\n}\n")

    @staticmethod
    def _emit(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()  # a pipe sees each path as its image lands
