"""scripts/plot_metrics.py: validation mAP against epoch (or training seconds) per run, drawn with OpenCV."""

import json

import cv2
import numpy as np
import pytest

from tests.conftest import load_script


@pytest.fixture(scope="module")
def plot_metrics():
    return load_script("plot_metrics")


def write_run(path, aps, seconds=10.0):
    """A metrics.jsonl with one epoch per entry of `aps` (None: not evaluated)."""
    lines = []
    for epoch, ap in enumerate(aps, start=1):
        record = {"epoch": epoch, "step": epoch, "epoch_seconds": seconds, "load_average": [1, 1, 1]}
        if ap is not None:
            record.update(AP=ap, AP50=min(1.0, 2 * ap))
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")


def colour_mask(image, bgr, tolerance=12):
    return (np.abs(image.astype(int) - np.array(bgr)) <= tolerance).all(axis=2)


def test_series_take_the_evaluated_epochs_or_the_training_seconds_up_to_them(plot_metrics, tmp_path):
    write_run(tmp_path / "a_seed0.jsonl", [None, 0.1, None, 0.3], seconds=7.5)
    assert plot_metrics.series(tmp_path / "a_seed0.jsonl", "AP", "epoch") == [(2.0, 0.1), (4.0, 0.3)]
    assert plot_metrics.series(tmp_path / "a_seed0.jsonl", "AP", "seconds") == [(15.0, 0.1), (30.0, 0.3)]
    assert plot_metrics.series(tmp_path / "a_seed0.jsonl", "AP50", "epoch") == [(2.0, 0.2), (4.0, 0.6)]


def test_mean_series_averages_the_evaluations_all_seeds_reached(plot_metrics):
    runs = [[(5.0, 0.1), (10.0, 0.3)], [(5.0, 0.2), (10.0, 0.5), (15.0, 0.9)]]
    np.testing.assert_allclose(plot_metrics.mean_series(runs), [(5.0, 0.15), (10.0, 0.4)])


@pytest.mark.parametrize(("low", "high", "expected"), [(0, 15, [0, 5, 10, 15]), (0, 0.37, [0, 0.1, 0.2, 0.3, 0.4]),
                                                        (0, 1900, [0, 500, 1000, 1500, 2000]), (0, 0, [0, 0.5, 1])])
def test_ticks_are_round_and_cover_the_range(plot_metrics, low, high, expected):
    assert plot_metrics.nice_ticks(low, high, count=4) == pytest.approx(expected)


def test_the_better_row_is_drawn_higher_in_its_own_colour_with_a_legend(plot_metrics, tmp_path):
    for seed, offset in ((0, 0.0), (1, 0.02)):
        write_run(tmp_path / f"good_seed{seed}.jsonl", [0.1 + offset, 0.3 + offset, 0.5 + offset])
        write_run(tmp_path / f"poor_seed{seed}.jsonl", [0.05, 0.08 + offset, 0.1])
    out = tmp_path / "plots" / "map.png"
    plot_metrics.main(["--out", str(out), *(str(path) for path in sorted(tmp_path.glob("*.jsonl")))])
    image = cv2.imread(str(out))
    assert image is not None and image.shape == (plot_metrics.HEIGHT, plot_metrics.WIDTH, 3)
    assert (image < 128).all(axis=2).sum() > 500  # axes, ticks and text are drawn
    area = np.zeros(image.shape[:2], bool)
    area[plot_metrics.TOP:plot_metrics.HEIGHT - plot_metrics.BOTTOM, plot_metrics.LEFT:plot_metrics.WIDTH -
         plot_metrics.RIGHT] = True
    # rows in name order: good first (palette colour 0), then poor
    good = colour_mask(image, plot_metrics.PALETTE[0])
    poor = colour_mask(image, plot_metrics.PALETTE[1])
    assert (good & area).sum() > 200 and (poor & area).sum() > 200
    assert np.nonzero(good & area)[0].mean() < np.nonzero(poor & area)[0].mean()  # higher AP: smaller row index
    legend = ~area
    legend[:, :plot_metrics.WIDTH - plot_metrics.RIGHT] = False
    assert (good & legend).sum() > 20 and (poor & legend).sum() > 20


def test_a_run_at_the_top_of_the_range_stays_inside_the_plot(plot_metrics):
    image = plot_metrics.plot({"only": [[(1.0, 0.0), (3.0, 0.42)]]})
    drawn = colour_mask(image, plot_metrics.PALETTE[0])
    rows, columns = np.nonzero(drawn[:, :plot_metrics.WIDTH - plot_metrics.RIGHT])
    assert rows.min() >= plot_metrics.TOP - 4 and rows.max() <= plot_metrics.HEIGHT - plot_metrics.BOTTOM + 4
    assert columns.min() >= plot_metrics.LEFT - 4


def test_no_evaluation_anywhere_is_an_error(plot_metrics, tmp_path):
    write_run(tmp_path / "a_seed0.jsonl", [None, None])
    with pytest.raises(SystemExit, match="no run has an evaluation"):
        plot_metrics.main(["--out", str(tmp_path / "x.png"), str(tmp_path / "a_seed0.jsonl")])
