"""scripts/cpu_precision_table.py: per seed, the bf16 default's final AP and median epoch seconds (epochs 3-15) as
ratios of the float32 row's."""

from __future__ import annotations

import json

from tests.conftest import load_script


def write_run(path, seconds: list[float], ap: float, loads: list[float]) -> None:
    records = []
    for epoch, (second, load) in enumerate(zip(seconds, loads, strict=True), start=1):
        record = {"epoch": epoch, "step": epoch * 37, "epoch_seconds": second, "load_average": [load, 1.0, 1.0]}
        if epoch == len(seconds):
            record.update(AP=ap, AP50=2 * ap)
        records.append(record)
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


def test_ratios_against_the_fp32_row_of_the_same_seed(tmp_path):
    # epochs 1-2 are slow (warm-up) and left out of the median; the load shown is the highest of epochs 3-15
    write_run(tmp_path / "fp32_seed0.jsonl", [90, 90, 50, 52, 48], 0.040, [1.0, 1.0, 2.0, 2.1, 2.2])
    write_run(tmp_path / "bf16_seed0.jsonl", [60, 60, 20, 26, 21], 0.042, [1.0, 1.0, 1.9, 2.4, 2.0])
    write_run(tmp_path / "bf16_seed1.jsonl", [20, 20, 20], 0.05, [1.0, 1.0, 1.5])
    (tmp_path / "bf16_seed0.commit").write_text("abc1234\n")
    (tmp_path / "other_seed0.jsonl").write_text("not a row of this table\n")
    rows = load_script("cpu_precision_table").table(tmp_path).splitlines()
    assert rows[2] == "| 0 | fp32 | 5 | 0.0400 | 0.0800 | 1.00 | 50.0 | 1.00 | 2.20 | - |"
    assert rows[3] == "| 0 | bf16 | 5 | 0.0420 | 0.0840 | 1.05 | 21.0 | 0.42 | 2.40 | abc1234 |"
    assert rows[4] == "| 1 | bf16 | 3 | 0.0500 | 0.1000 | - | 20.0 | - | 1.50 | - |"
    assert len(rows) == 5
