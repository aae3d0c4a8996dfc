"""AUC, TPR at a false-positive rate (empirical and nominal) and the ROC plot, on hand-made scores."""

import pytest
from PIL import Image

from arctl.watermark import Detection
from arctl_lbw.evaluate import Rates
from arctl_lbw.roc import auc, empirical_threshold, roc_points, score, share_at_most, tpr_at_empirical_fpr
from arctl_lbw.roc_plot import PALETTE, write_roc_png

POSITIVE, NEGATIVE = [3, 5, 5, 6], [1, 2, 3, 4]


def test_auc_counts_ties_as_one_half():
    # pairs won: 3 beats 1, 2 and ties 3 (2.5 of 4); 5, 5 and 6 beat all four: 14.5 of 16
    assert auc(POSITIVE, NEGATIVE) == 14.5 / 16
    assert auc([1, 1], [1, 1, 1]) == 0.5
    assert auc([2, 3], [0, 1]) == 1.0 and auc([0, 1], [2, 3]) == 0.0
    with pytest.raises(ValueError):
        auc([], [1])


def test_empirical_threshold_allows_floor_fpr_n_clean_images_above_it():
    clean = list(range(1, 201))  # 200 clean scores
    assert empirical_threshold(clean, 0.01) == 198  # 199 and 200 above: FPR 2/200
    assert empirical_threshold(clean, 0.001) == 200  # below the resolution: nothing above, FPR 0
    assert empirical_threshold(clean, 1.0) == float("-inf")
    assert tpr_at_empirical_fpr(POSITIVE, NEGATIVE, 0.25) == 0.75  # threshold 3: the tie at 3 is not above it
    assert tpr_at_empirical_fpr(POSITIVE, NEGATIVE, 0.5) == 1.0
    assert tpr_at_empirical_fpr(POSITIVE, NEGATIVE, 0.0) == 0.75
    assert tpr_at_empirical_fpr([1, 1, 1], [1, 1, 1, 1], 0.25) == 0.0  # ties with the clean scores are never "above"


def test_nominal_rates_and_scores():
    assert share_at_most([0.001, 0.01, 0.5], 0.01) == pytest.approx(2 / 3)
    assert share_at_most([0.02, 0.5], 0.01) == 0.0
    assert score(1e-3) == pytest.approx(3) and score(1.0) == 0 and score(0.0) == 300  # underflow ties at the top


def test_roc_points_step_through_every_distinct_score():
    assert roc_points([2], [1]) == [(0, 0), (0, 1), (1, 1)]
    assert roc_points(POSITIVE, NEGATIVE) == [(0, 0), (0, 0.25), (0, 0.75), (0.25, 0.75), (0.5, 1), (0.75, 1), (1, 1)]


def test_rates_of_detections():
    marked = [Detection(p, 0.0) for p in (1e-9, 1e-4, 0.005, 0.2)]
    clean = [Detection(p, 0.0) for p in (0.0005, 0.3, 0.6, 0.9)]
    rates = Rates.of(marked, clean)
    assert rates.auc == 0.875  # 0.2 loses to 0.0005 only; 0.005 loses to 0.0005 too: 14 of 16
    assert rates.tpr_nominal == {0.01: 0.75, 0.001: 0.5}
    assert rates.clean_fpr_nominal == {0.01: 0.25, 0.001: 0.25}
    assert rates.tpr_empirical == {0.01: 0.5, 0.001: 0.5}  # floor(0.04) = 0 clean images may score above


def test_roc_png_is_a_valid_image_written_atomically(tmp_path):
    curves = {"none": roc_points(POSITIVE, NEGATIVE), "jpeg-75": roc_points([1, 2], [1, 2])}
    path = write_roc_png(tmp_path / "plots" / "roc.png", curves, {"none": "none (AUC 0.906)"}, "test plot")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (820, 560)
        colours = {colour for _, colour in image.convert("RGB").getcolors(maxcolors=1 << 20)}
    assert {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in PALETTE[:2]} <= colours  # both curves drawn
    assert [p.name for p in path.parent.iterdir()] == ["roc.png"]  # no temporary file left behind
    linear = write_roc_png(tmp_path / "linear.png", curves, {}, "linear", log_x=False)
    assert Image.open(linear).size == (820, 560)
