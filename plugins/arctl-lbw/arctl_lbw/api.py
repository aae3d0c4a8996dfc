"""The Python API of arctl-lbw, for scripts and evaluations that go beyond the CLI.

    from arctl_lbw.api import GreenLists, Score, detect_images, load_key, watermark_images

    key = load_key("lbw.key")
    lists = GreenLists(key, tokenizer.codebook_size, gamma=0.25, pool=4)
    marked = watermark_images(tokenizer, images, lists, choices=[0] * len(images))
    found = detect_images(tokenizer, marked, lists, None, Score("soft", temperature=0.3, draws=10_000))
    # found: list[arctl.watermark.Detection]; LBW(key, **options) builds all of this from the -o options
"""

from arctl.keys import WatermarkKey, load_key, write_key
from arctl.watermark import Detection
from arctl_lbw.detect import Score, counted_scales, detect_images, detect_tokens, parse_scales
from arctl_lbw.green import GreenLists, green_count
from arctl_lbw.posthoc import pixel_bytes, watermark_images
from arctl_lbw.processor import GreenBias, LBWProcessor
from arctl_lbw.stats import hypergeom_log_sf, z_score
from arctl_lbw.watermarker import LBW

__all__ = [
    "LBW",
    "Detection",
    "GreenBias",
    "GreenLists",
    "LBWProcessor",
    "Score",
    "WatermarkKey",
    "counted_scales",
    "detect_images",
    "detect_tokens",
    "green_count",
    "hypergeom_log_sf",
    "load_key",
    "parse_scales",
    "pixel_bytes",
    "watermark_images",
    "write_key",
    "z_score",
]
