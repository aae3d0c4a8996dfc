"""Registration: cheap (no torch), the options the CLI validates, and the factory the core builds."""

import os
import subprocess
import sys

import arctl_lbw
from arctl.keys import WatermarkKey
from arctl.watermark import Watermarker, build_watermark


def test_import_and_help_do_not_import_torch():
    code = (
        "import sys, arctl_lbw\n"
        "assert 'torch' not in sys.modules, 'import arctl_lbw imported torch'\n"
        "from arctl.cli import main\n"
        "for argv in (['--help'], ['detect', '--help'], ['watermark', '--help'], ['plugins', '--json']):\n"
        "    assert main(argv) == 0, argv\n"
        "    assert 'torch' not in sys.modules, f'arctl {argv} imported torch'\n"
    )
    env = {**os.environ, "ARCTL_LOAD_PLUGINS": "lbw", "ARCTL_STRICT_PLUGINS": "1"}  # this plugin, and only it
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr


def test_registered_watermarker_and_its_defaults(make_plugin_manager):
    pm = make_plugin_manager(arctl_lbw, strict=True)
    spec = pm.registry.get("watermarker", "lbw")
    # the configuration docs/claims.md measures (gamma 0.45, a hard mark, the soft score)
    assert {o.name: o.default for o in spec.options} == {"delta": 2.0, "gamma": 0.45, "pool": 4, "mode": "hard",
                                                         "scales": "all", "score": "soft", "temperature": 0.3,
                                                         "draws": 10_000}
    made = build_watermark(spec, WatermarkKey.generate(), {o.name: o.default for o in spec.options})
    assert isinstance(made.watermarker, Watermarker) and made.record()["method"] == "lbw"
