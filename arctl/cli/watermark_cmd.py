"""`arctl watermark IMAGE` (post-hoc marking), `arctl watermark keygen` and `arctl detect`.

They work with any installed watermarker (``--method``, default: the only one installed) and re-encode
images with the tokenizer that MODEL's generator declares, so no command knows a particular method
or generator.
"""


from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from arctl.cli.options import DeviceOption
from arctl.cli.output import err, note, print_json
from arctl.errors import UsageError
from arctl.options import split_assignments

MethodOption = Annotated[Optional[str], typer.Option("--method", help="Watermarker (default: the only one installed).")]
ModelOption = Annotated[str, typer.Option("--model", help="Checkpoint whose generator's tokenizer re-encodes the image.")]
KeyOption = Annotated[Path, typer.Option("--key-file", help="Key file from `arctl watermark keygen`.")]
OptionsOption = Annotated[Optional[list[str]], typer.Option("--option", "-o", help="Watermarker option KEY=VALUE; repeat.")]
WeightsOption = Annotated[Optional[list[str]], typer.Option(help="Local tokenizer weights: PATH or ROLE=PATH.")]


class DefaultCommandGroup(TyperGroup):
    """A group whose first argument, when it names no subcommand, goes to the default one:
    `arctl watermark IMAGE ...` is `arctl watermark apply IMAGE ...`."""

    default_command = "apply"

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def read_key_file(path: Path):
    """Load a key file, printing its warnings (a key others can read) on stderr."""
    from arctl.keys import read_key

    key, warnings = read_key(path)
    for text in warnings:
        note(text, "warning")
    return key


def add_commands(app: typer.Typer, manager) -> None:
    marks = typer.Typer(cls=DefaultCommandGroup, no_args_is_help=True,
                        help="Watermark an existing image (`arctl watermark IMAGE ...`), or make a key (`keygen`).")

    @marks.command("apply")
    def apply(
        image: Annotated[Path, typer.Argument(help="The image to mark.")],
        model: ModelOption,
        key_file: KeyOption,
        out: Annotated[Path, typer.Option("--out", help="Where to write the marked PNG.")],
        method: MethodOption = None,
        option: OptionsOption = None,
        device: DeviceOption = "auto",
        weights: WeightsOption = None,
        force: Annotated[bool, typer.Option(help="Overwrite --out if it exists.")] = False,
    ) -> None:
        """Mark IMAGE after the fact: re-encode it with MODEL's tokenizer, keep only marked tokens, decode."""
        from arctl import marking
        from arctl.files import check_output_file
        from arctl.images import open_image, save_png

        if out.suffix.lower() != ".png":
            raise UsageError(f"--out {out}: must end in .png")
        request = marking.check_marking(manager, method=method, options=split_assignments(option or []), model=model,
                                        weights=weights)
        check_output_file(out, force=force)
        picture = open_image(image)
        loaded = marking.load_marking(manager, request, read_key_file(key_file), device=device)
        notes: list[str] = []
        marked, recipe = marking.mark(manager, loaded, picture, str(image), notes)
        for text in notes:
            note(text)
        save_png(marked, out, recipe)
        typer.echo(str(out))

    @marks.command("keygen")
    def keygen(
        out: Annotated[Path, typer.Option("--out", help="Where to write the key file (mode 0600).")],
        force: Annotated[bool, typer.Option(help="Overwrite --out if it exists.")] = False,
    ) -> None:
        """Write a new secret watermark key (32 random bytes) readable only by you."""
        from arctl.keys import WatermarkKey, write_key

        key = WatermarkKey.generate()
        write_key(out, key, force=force)
        typer.echo(str(out))
        err().print(f"wrote a new watermark key (fingerprint {key.fingerprint}); keep it secret", markup=False,
                    highlight=False)

    app.add_typer(marks, name="watermark")

    @app.command()
    def detect(
        images: Annotated[list[Path], typer.Argument(help="Images to check.")],
        model: ModelOption,
        key_file: KeyOption,
        fpr: Annotated[float, typer.Option(help="False-positive rate: report a mark when the p-value is <= this.")] = 0.01,
        method: MethodOption = None,
        option: OptionsOption = None,
        device: DeviceOption = "auto",
        weights: WeightsOption = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report.")] = False,
    ) -> None:
        """Say whether each IMAGE carries a watermark made with KEY (p-value, z-score, decision)."""
        from arctl import marking
        from arctl.images import open_image

        if not 0 < fpr < 1:
            raise UsageError(f"--fpr {fpr}: must be in (0, 1)")
        request = marking.check_marking(manager, method=method, options=split_assignments(option or []), model=model,
                                        weights=weights)
        pictures = [open_image(path) for path in images]  # every input first: a bad file fails before any loading
        loaded = marking.load_marking(manager, request, read_key_file(key_file), device=device, fpr=fpr)
        notes: list[str] = []
        rows = marking.detect(loaded, pictures, [str(path) for path in images], fpr, notes)
        for text in notes:
            note(text)
        if as_json:
            watermark = loaded.watermark
            print_json({"method": watermark.spec.name, "model": model, "key": watermark.key.fingerprint, "fpr": fpr,
                        "options": watermark.options, "images": rows})
            return
        from arctl.cli.output import out  # not at the top: the other commands' --out parameter is named out
        from arctl.cli.tables import OneLineTable

        cells = [(row["image"], "watermarked" if row["watermarked"] else "not watermarked", f"{row['p_value']:.3g}",
                  f"{row['z_score']:.2f}") for row in rows]
        out().print(OneLineTable(("image", "verdict", "p-value", "z-score"), cells, paths=("image",),
                                 right=("p-value", "z-score")))
