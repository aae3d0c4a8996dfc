"""Tables a person can read at 80 columns and piped: one line per row, the columns that matter whole, long paths
keeping their file names and long descriptions their start; `arctl env` as two columns."""

import io
import json
import re

import pytest
from rich.console import Console

from arctl import Checkpoint, GeneratorSpec, TokenizerSpec, WeightFile
from arctl.cli.tables import KeyValueTable, OneLineTable, elide
from arctl.testing import spec_plugin

# rich lays out a pipe at 80 columns, COLUMNS overrides it: both narrow cases
NARROW = [{"COLUMNS": "80"}, {"COLUMNS": None}]


def render(renderable, width: int = 80) -> list[str]:
    console = Console(file=io.StringIO(), width=width)
    console.print(renderable)
    return console.file.getvalue().splitlines()


def test_elide_keeps_the_start_of_text_and_the_end_of_a_path():
    assert elide("VAR d16, ImageNet 256px class-conditional", 12, "start") == "VAR d16, Im…"
    assert elide("outputs/var-shapes_c3_s0_007.png", 15, "end") == "…_c3_s0_007.png"
    # from a folder separator where what is kept has one
    assert elide("/data/runs/outputs/var-shapes_c3_s0_007.png", 34, "end") == "…/outputs/var-shapes_c3_s0_007.png"
    assert elide("short", 12, "end") == "short" and elide("abc", 1, "start") == "…"


def test_paths_that_share_a_prefix_keep_their_distinct_ends_at_80_columns():
    paths = [f"/home/someone/experiments/2024-06/watermark-study/outputs/llamagen-shapes_c{i}_s0_00{i}.png"
             for i in range(3)]
    rows = [(p, "not watermarked" if i else "watermarked", "3.1e-09", "6.80") for i, p in enumerate(paths)]
    lines = render(OneLineTable(("image", "verdict", "p-value", "z-score"), rows, paths=("image",),
                                right=("p-value", "z-score")))
    assert len(lines) == 4 and all(len(line) <= 80 for line in lines)
    for i, line in enumerate(lines[1:]):
        assert f"/llamagen-shapes_c{i}_s0_00{i}.png" in line and line.startswith("…")
        assert line.endswith("3.1e-09     6.80")
    assert "  not watermarked  " in lines[2] and "  watermarked  " in lines[1]


def test_plain_columns_are_never_cut_and_lines_carry_no_trailing_spaces():
    rows = [("a-very-long-model-name-that-matters", "x" * 200)]
    lines = render(OneLineTable(("model", "description"), rows, texts=("description",)), width=60)
    assert lines[1].startswith("a-very-long-model-name-that-matters  xxx") and len(lines[1]) == 60
    assert lines[1].endswith("…") and lines[0] == "model".ljust(35) + "  description"
    wide = render(OneLineTable(("model", "description"), rows, texts=("description",)), width=300)
    assert wide[1].endswith("x" * 200)


def test_markup_in_cells_is_printed_as_is():
    assert render(OneLineTable(("image",), [("out/[bold]x[/bold].png",)], paths=("image",)))[1] == \
        "out/[bold]x[/bold].png"


def test_key_value_table_wraps_long_values_under_themselves():
    lines = render(KeyValueTable([("hub cache", "/x/" + "y" * 90), ("torch", "2.13.0")]))
    assert lines[0].startswith("hub cache  /x/yyy") and lines[1].startswith("           yyy")
    assert lines[2] == "torch      2.13.0" and all(len(line) <= 80 for line in lines)


LONG = "A description far longer than what is left of eighty columns once the other columns are laid out"


def long_models(tmp_path):
    shipped = tmp_path / "zoo"
    shipped.mkdir()
    (shipped / "w.safetensors").write_bytes(b"\0" * 12_345)
    local = WeightFile("arctl-tests/zoo", "w.safetensors", local_dir=str(shipped))
    hub = WeightFile("arctl-tests/big", "big.pth", size=1_700_000_000)
    generator = GeneratorSpec("long-generator", "A generator.", "x.y:z", num_classes=4, checkpoints=(
        Checkpoint("a-long-checkpoint-name", LONG, {"model": hub}),
        Checkpoint("shipped-zoo-model", LONG, {"model": local}),
    ))
    tokenizer = TokenizerSpec("long-tokenizer", "A tokenizer.", "x.y:z",
                              checkpoints=(Checkpoint("a-tokenizer-name", LONG, {"vq": hub}),))
    return spec_plugin(generator, tokenizer)


@pytest.mark.parametrize("env", NARROW)
def test_models_fits_one_row_per_model(arctl_cli, make_plugin_manager, hub_cache, tmp_path, env):
    manager = make_plugin_manager(long_models(tmp_path), strict=True)
    lines = arctl_cli.invoke(["models"], manager=manager, env=env).stdout.splitlines()
    assert len(lines) == 4 and all(len(line) <= 80 for line in lines), lines
    assert lines[0].split() == ["model", "kind", "plugin", "size", "cached", "description"]
    names = ["a-long-checkpoint-name", "a-tokenizer-name", "shipped-zoo-model"]
    for name, line in zip(names, lines[1:]):
        assert line.startswith(name + "  ") and "A descri" in line and line.endswith("…")
    assert "generator" in lines[1] and "tokenizer" in lines[2] and "TestComponents" in lines[1]


def test_shipped_models_show_their_size_on_disk(arctl_cli, make_plugin_manager, hub_cache, tmp_path):
    manager = make_plugin_manager(long_models(tmp_path), strict=True)
    rows = {r["name"]: r for r in json.loads(arctl_cli.invoke(["models", "--json"], manager=manager).stdout)}
    assert rows["shipped-zoo-model"]["size"] == 12_345 and rows["shipped-zoo-model"]["cached"] == "shipped"
    assert rows["shipped-zoo-model"]["files"]["model"]["size"] == 12_345
    assert rows["a-long-checkpoint-name"]["size"] == 1_700_000_000  # the registered download size
    table = arctl_cli.invoke(["models"], manager=manager).stdout
    assert "12.3 KB  shipped" in table and "1.7 GB  no" in table
    detail = arctl_cli.invoke(["models", "shipped-zoo-model"], manager=manager).stdout
    assert "size 12.3 KB, cached: shipped" in detail and "w.safetensors @ main (bare), 12.3 KB" in detail


@pytest.mark.parametrize("env", NARROW)
def test_env_is_a_two_column_table(arctl_cli, toy_manager, hub_cache, env):
    lines = arctl_cli.invoke(["env"], manager=toy_manager, env=env).stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    values = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in lines if not line.startswith(" "))
    assert values["torch"] and values["hub cache"].startswith(str(hub_cache.root)[:40])
    assert values["device cpu"].startswith("available; dtypes: fp32, bf16; threads: ")
    assert values["device mps"].startswith("not available") and "plugin arctl_toy" in values
    info = json.loads(arctl_cli.invoke(["env", "--json"], manager=toy_manager).stdout)
    assert info["devices"][0]["device"] == "cpu" and "arctl_toy" in info["plugins"]
