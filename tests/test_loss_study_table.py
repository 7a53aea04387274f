"""scripts/loss_study_table.py: a row per ROW of ROW_seedS.jsonl files, mean ± half-range over the seeds."""

import json

import pytest

from tests.conftest import load_script


@pytest.fixture(scope="module")
def study_table():
    return load_script("loss_study_table")


def write_run(path, evaluations, seconds, aurocs=None, loads=None):
    """A metrics.jsonl of len(seconds) epochs; `evaluations` maps epoch -> (AP, AP50, per-class AP); `loads` the
    1-minute load average of each epoch (default 1.0)."""
    lines = []
    for epoch, second in enumerate(seconds, start=1):
        load = 1.0 if loads is None else loads[epoch - 1]
        record = {"epoch": epoch, "step": 10 * epoch, "epoch_seconds": second, "load_average": [load, 1.0, 1.0]}
        if epoch in evaluations:
            ap, ap50, per_class = evaluations[epoch]
            record.update(AP=ap, AP50=ap50, AP75=None, per_class_ap=per_class,
                          per_class_auroc=aurocs if aurocs is not None else {})
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")


def write_annotations(path, counts):
    """A COCO training file with counts[name] objects of each category (ids 1, 2, ... in the given order)."""
    categories = [{"id": index + 1, "name": name} for index, name in enumerate(counts)]
    annotations = [{"id": len(categories) * 100 + i, "category_id": category["id"], "iscrowd": 0}
                   for category in categories for i in range(counts[category["name"]])]
    annotations.append({"id": 1, "category_id": 1, "iscrowd": 1})  # a crowd region is no object
    path.write_text(json.dumps({"images": [], "annotations": annotations, "categories": categories}))


def test_rarest_class_is_the_least_frequent_in_training_not_the_first_or_last(study_table, tmp_path):
    write_annotations(tmp_path / "train.json", {"ellipse": 50, "star": 2, "cross": 9})
    assert study_table.rarest_class(tmp_path / "train.json") == "star"
    write_annotations(tmp_path / "tie.json", {"ellipse": 1, "star": 3, "cross": 1})  # crowd not counted: 1, 3, 1
    assert study_table.rarest_class(tmp_path / "tie.json") == "ellipse"


def test_mean_and_half_range_ignore_missing_values(study_table):
    assert study_table.mean_and_spread([0.2, 0.4]) == pytest.approx((0.3, 0.1))
    assert study_table.mean_and_spread([0.1, None, 0.4, 0.25]) == pytest.approx((0.25, 0.15))
    assert study_table.mean_and_spread([None, None]) is None
    assert study_table.cell([0.2, 0.4], 3) == "0.300 ± 0.100"
    assert study_table.cell([0.2], 3) == "0.200" and study_table.cell([None], 3) == "-"


def test_rows_average_the_last_evaluation_of_their_seeds(study_table, tmp_path, capsys):
    write_annotations(tmp_path / "train.json", {"ellipse": 50, "star": 2, "cross": 9})
    runs = tmp_path / "runs"
    runs.mkdir()
    # seed 0 of row "a": an early evaluation that must not count, then the last one; AUROC of one class unknown
    write_run(runs / "a_seed0.jsonl", {1: (0.9, 0.9, {"star": 0.9}), 3: (0.20, 0.50, {"star": 0.05, "cross": 0.3})},
              [10.0, 20.0, 30.0], aurocs={"ellipse": 0.8, "star": 0.6, "cross": None}, loads=[1.0, 2.1, 1.5])
    write_run(runs / "a_seed1.jsonl", {3: (0.30, 0.70, {"star": 0.15})}, [12.0, 20.0, 40.0],
              aurocs={"ellipse": 0.9, "star": 0.9, "cross": 0.9}, loads=[3.5, 1.0, 1.0])
    write_run(runs / "b_seed0.jsonl", {2: (0.10, 0.30, {"cross": 0.2})}, [5.0, 5.0])  # no star AP, no AUROC
    out = tmp_path / "docs" / "table.md"
    study_table.main(["--rarest-from", str(tmp_path / "train.json"), "--out", str(out),
                      *(str(runs / name) for name in ("b_seed0.jsonl", "a_seed0.jsonl", "a_seed1.jsonl"))])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("| row | seeds | mAP@[.5:.95] | AP50 | AP star (rarest) | heatmap AUROC | train s | "
                        "max load |")
    assert lines[2] == "| b | 0 | 0.100 | 0.300 | - | - | 10 | 1.0 |"
    # AUROC: seed 0 averages 0.8 and 0.6 (0.7), seed 1 0.9; seconds: 60 and 72; loads: 2.1 and 3.5 at most
    assert lines[3] == ("| a | 0, 1 | 0.250 ± 0.050 | 0.600 ± 0.100 | 0.100 ± 0.050 | 0.800 ± 0.100 | 66 ± 6 | "
                        "2.8 ± 0.7 |")
    assert out.read_text().splitlines()[:4] == lines[:4]
    assert "rarest class: star" in out.read_text()


def test_a_run_without_evaluation_is_an_error(study_table, tmp_path):
    write_annotations(tmp_path / "train.json", {"ellipse": 1})
    write_run(tmp_path / "a_seed0.jsonl", {}, [1.0])
    with pytest.raises(SystemExit, match="no evaluation"):
        study_table.main(["--rarest-from", str(tmp_path / "train.json"), str(tmp_path / "a_seed0.jsonl")])


def test_row_and_seed_come_from_the_file_or_run_directory_name():
    run_metrics = load_script("run_metrics")
    assert run_metrics.row_and_seed("docs/x/sigmoid_focal_seed12.jsonl") == ("sigmoid_focal", 12)
    assert run_metrics.row_and_seed("runs/longtail_plain_seed1/metrics.jsonl") == ("longtail_plain", 1)
    assert run_metrics.row_and_seed("docs/x/reference.jsonl") == ("reference", None)
