"""scripts/readme_tables.py: the CPU-speed tables from docs/cpu_speed, ratios against the float32 row of the same
seed, and the README blocks that hold them."""

from __future__ import annotations

import json

from tests.conftest import ROOT, load_script

tables = load_script("readme_tables")


def write_run(path, seconds: list[float], ap: float, loads: list[float]) -> None:
    records = []
    for epoch, (second, load) in enumerate(zip(seconds, loads, strict=True), start=1):
        record = {"epoch": epoch, "step": epoch * 37, "epoch_seconds": second, "load_average": [load, 1.0, 1.0]}
        if epoch == len(seconds):
            record.update(AP=ap, AP50=2 * ap)
        records.append(record)
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


def test_precision_ratios_are_against_the_fp32_row_of_the_same_seed(tmp_path):
    # epochs 1-2 are slow (warm-up) and left out of the median; the load shown is the highest of epochs 3-15
    write_run(tmp_path / "fp32_seed0.jsonl", [90, 90, 50, 52, 48], 0.040, [1.0, 1.0, 2.0, 2.1, 2.2])
    write_run(tmp_path / "bf16_seed0.jsonl", [60, 60, 20, 26, 21], 0.042, [1.0, 1.0, 1.9, 2.4, 2.0])
    write_run(tmp_path / "bf16_seed1.jsonl", [20, 20, 20], 0.05, [1.0, 1.0, 1.5])
    (tmp_path / "bf16_seed0.commit").write_text("abc1234\n")
    (tmp_path / "other_seed0.jsonl").write_text("not a row of this table\n")
    rows = tables.precision_table(tmp_path).splitlines()
    assert rows[2] == "| 0 | fp32 | 5 | 0.0400 | 0.0800 | 1.00 | 50.0 | 1.00 | 2.20 | - |"
    assert rows[3] == "| 0 | bf16 | 5 | 0.0420 | 0.0840 | 1.05 | 21.0 | 0.42 | 2.40 | abc1234 |"
    assert rows[4] == "| 1 | bf16 | 3 | 0.0500 | 0.1000 | - | 20.0 | - | 1.50 | - |"
    assert len(rows) == 5


def test_ablation_rows_have_their_ratio_to_the_reference_of_the_same_seed_and_seconds_only_where_the_cores_were_free(
        tmp_path):
    write_run(tmp_path / "reference_seed0.jsonl", [80, 80, 80, 81, 79], 0.010, [1.0, 1.0, 2.0, 2.1, 2.2])
    write_run(tmp_path / "default_seed0.jsonl", [20, 20, 18, 17, 18], 0.050, [1.0, 1.0, 2.0, 2.1, 2.2])
    write_run(tmp_path / "ema_seed0.jsonl", [60, 60, 60, 61, 59], 0.020, [1.0, 1.0, 2.0, 3.1, 2.2])  # shared cores
    write_run(tmp_path / "default_seed1.jsonl", [20, 20, 18, 17, 18], 0.060, [1.0, 1.0, 2.0, 2.1, 2.2])
    records = [json.loads(line) for line in (tmp_path / "default_seed0.jsonl").read_text().splitlines()]
    records[4].update(AP=0.050, AP50=0.1)
    records[2].update(AP=0.020, AP50=0.04)  # an evaluation after epoch 3: neither "after 5" nor the last
    (tmp_path / "default_seed0.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    rows = tables.ablation_table(tmp_path).splitlines()
    assert rows[2] == "| 0 | reference | 5 | 0.0100 | 0.0100 | - | 0.0200 | 1.00 | 80.0 | 2.20 | - | - |"
    assert rows[3] == "| 0 | ema | 5 | 0.0200 | 0.0200 | - | 0.0400 | 2.00 | - | 3.10 | - | - |"
    assert rows[4] == "| 0 | default | 5 | 0.0500 | 0.0500 | - | 0.1000 | 5.00 | 18.0 | 2.20 | - | - |"
    assert rows[5] == "| 1 | default | 5 | 0.0600 | 0.0600 | - | 0.1200 | - | 18.0 | 2.20 | - | - |"  # no reference
    assert len(rows) == 6


def test_learn_faster_rows_have_their_ratio_to_the_default_and_the_share_of_their_ap_reached_after_epoch_5(
        tmp_path):
    write_run(tmp_path / "default_seed0.jsonl", [20] * 15, 0.050, [1.0] * 15)
    write_run(tmp_path / "mosaic_seed0.jsonl", [22] * 15, 0.100, [1.0] * 15)
    records = [json.loads(line) for line in (tmp_path / "mosaic_seed0.jsonl").read_text().splitlines()]
    records[4].update(AP=0.040, AP50=0.08)  # after epoch 5: 40% of the end's AP
    (tmp_path / "mosaic_seed0.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    rows = tables.learn_faster_table(tmp_path).splitlines()
    assert rows[2] == "| 0 | default | 15 | - | 0.0500 | - | 0.1000 | 1.00 | 20.0 | 1.00 | - | - |"
    assert rows[3] == "| 0 | mosaic | 15 | 0.0400 | 0.1000 | 0.40 | 0.2000 | 2.00 | 22.0 | 1.00 | - | - |"
    write_run(tmp_path / "mixup_seed0.jsonl", [22] * 5, 0.030, [1.0] * 5)  # a screen stopped after epoch 5
    rows = tables.learn_faster_table(tmp_path).splitlines()
    assert rows[4] == "| 0 | mixup | 5 | 0.0300 | 0.0300 | - | 0.0600 | - | 22.0 | 1.00 | - | - |"


def test_update_fills_each_marked_block_and_leaves_the_rest():
    text = ("a\n<!-- table: zero -->\n<!-- /table -->\nkept\n<!-- table: one -->\nold\nrows\n<!-- /table -->\nb\n"
            "<!-- table: two -->\n<!-- /table -->\n")
    assert tables.update(text, {"zero": "| 0 |", "one": "| x |", "two": "| y |"}) == (
        "a\n<!-- table: zero -->\n| 0 |\n<!-- /table -->\nkept\n<!-- table: one -->\n| x |\n<!-- /table -->\nb\n"
        "<!-- table: two -->\n| y |\n<!-- /table -->\n")
    assert tables.update(text, {}) == text


def test_the_documentation_holds_the_tables_the_docs_make():
    made = {name: make(tables.DOCS / tables.TABLE_FOLDERS[name]) for name, make in tables.TABLES.items()}
    texts = {path: path.read_text() for path in tables.documents()}
    assert ROOT / "README.md" in texts and len(texts) > 1
    for path, text in texts.items():
        assert tables.update(text, made) == text, f"{path}: run python scripts/readme_tables.py --update"
    for name, table in made.items():
        block = f"<!-- table: {name} -->\n{table}\n<!-- /table -->"
        assert sum(block in text for text in texts.values()) == 1, name  # in exactly one document


def test_keypoint_rows_join_the_runs_box_ap_with_both_decodings_of_its_last_checkpoint(tmp_path):
    write_run(tmp_path / "clutter_seed0.jsonl", [30, 30, 20, 21, 19], 0.10, [1.0, 1.0, 2.0, 2.1, 2.2])
    write_run(tmp_path / "clean_seed0.jsonl", [30, 30, 20, 21, 19], 0.30, [1.0, 1.0, 2.0, 2.1, 2.2])
    write_run(tmp_path / "clean_seed1.jsonl", [30, 30, 20, 21, 19], 0.32, [1.0, 1.0, 2.0, 3.1, 2.2])
    (tmp_path / "clean_snapped_seed0.json").write_text(json.dumps({"AP": 0.3, "keypoints_AP": 0.41,
                                                                   "keypoints_AP50": 0.7}))
    (tmp_path / "clean_regressed_seed0.json").write_text(json.dumps({"keypoints_AP": 0.22, "keypoints_AP50": 0.5}))
    rows = tables.keypoints_table(tmp_path).splitlines()
    assert rows[2] == "| clean | 0 | 5 | 0.3000 | 0.4100 | 0.7000 | 0.2200 | 0.5000 | 20.0 | 2.20 | - | - |"
    assert rows[3] == "| clean | 1 | 5 | 0.3200 | - | - | - | - | - | 3.10 | - | - |"  # not evaluated; shared cores
    assert rows[4] == "| clutter | 0 | 5 | 0.1000 | - | - | - | - | 20.0 | 2.20 | - | - |"
    assert len(rows) == 5
