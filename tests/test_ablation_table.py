"""scripts/ablation_table.py: a row per run from its metrics.jsonl, the last evaluation and the median epoch time."""

import json

from tests.conftest import load_script


def write_run(path, aps, seconds):
    lines = []
    for epoch, (ap, second) in enumerate(zip(aps, seconds, strict=True), start=1):
        record = {"epoch": epoch, "step": 10 * epoch, "epoch_seconds": second, "load_average": [1.0 + epoch, 0, 0]}
        if ap is not None:
            record.update(AP=ap, AP50=2 * ap, AP75=ap / 2, APs=None, APm=ap, APl=None)
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")


def test_rows_hold_the_last_evaluation_the_median_of_epochs_2_to_4_and_the_ratio(tmp_path, capsys):
    write_run(tmp_path / "reference.jsonl", [None, 0.01, None, 0.02, None], [9.0, 5.0, 7.0, 6.0, 1.0])
    write_run(tmp_path / "new.jsonl", [0.05, None, None, 0.08, None], [20.0, 8.0, 9.0, 10.0, 30.0])
    load_script("ablation_table").main(["--baseline", str(tmp_path / "reference.jsonl"),
                                        str(tmp_path / "reference.jsonl"), str(tmp_path / "new.jsonl")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| run | epochs | AP | AP50 |")
    assert lines[2] == "| reference | 4 | 0.020 | 0.040 | 0.010 | - | 0.020 | - | 1.00 | 6.0 | 4.00 |"
    assert lines[3] == "| new | 4 | 0.080 | 0.160 | 0.040 | - | 0.080 | - | 4.00 | 9.0 | 4.00 |"
