"""experiments/runs.sh: an experiment script skips the rows whose metrics in docs/ are finished and resumes a run
that stopped with a last.pt, so long studies go on across working periods."""

from __future__ import annotations

import subprocess

from tests.conftest import ROOT


def shell(command: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f"source {ROOT / 'experiments' / 'runs.sh'}; {command}"], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_finished_needs_the_record_of_the_last_epoch(tmp_path):
    (tmp_path / "row_seed0.jsonl").write_text('{"epoch": 1}\n{"epoch": 2, "AP": 0.1}\n\n')
    assert shell("finished row_seed0.jsonl 2", tmp_path).returncode == 0
    assert shell("finished row_seed0.jsonl 15", tmp_path).returncode == 1
    assert shell("finished missing.jsonl 2", tmp_path).returncode == 1


def test_a_run_with_a_last_checkpoint_resumes_and_an_unfinished_one_starts_clean(tmp_path):
    (tmp_path / "stopped").mkdir()
    (tmp_path / "stopped" / "last.pt").write_bytes(b"x")
    (tmp_path / "crashed").mkdir()
    (tmp_path / "crashed" / "metrics.jsonl").write_text('{"epoch": 1}\n')
    assert shell("resume_or_clear stopped", tmp_path).stdout.strip() == "--resume"
    assert (tmp_path / "stopped" / "last.pt").exists()
    assert shell("resume_or_clear crashed", tmp_path).stdout.strip() == ""
    assert not (tmp_path / "crashed").exists()
