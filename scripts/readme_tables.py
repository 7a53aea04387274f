"""The documentation's tables, made from the run logs and metrics in docs/, and the blocks they fill.

Each table stands in README.md or a page of docs/ between `<!-- table: NAME -->` and `<!-- /table -->`:
- benchmark_train: each training-step path of `docs/cpu_speed/benchmark_train.log` (scripts/benchmark.py
  --sections train): images/s, ratio to float32 NCHW, peak extra memory.
- cpu_precision: experiments/cpu_precision.sh's runs (`docs/cpu_speed/ROW_seedS.jsonl`): per seed, the float32
  row and the bf16 default's final AP and median seconds of epochs 3-15, each as a ratio of the float32 row's,
  with the highest 1-minute load average over those epochs and the commit the run ran at.
- cpu_latency: `docs/cpu_speed/inference.log` (experiments/cpu_latency.sh): per architecture, the end-to-end
  milliseconds at batch 1 of each inference path and the fastest.
- finetune: experiments/finetune.sh's runs (`docs/finetune/RUN_seedS.jsonl`): per seed, the old task from
  scratch, the new task from scratch and fine-tuned from the old task's best.pt, their last AP and AP50.
- exdet: experiments/exdet.sh's runs (`docs/exdet/ROW_seedS.jsonl`): per seed, box AP of --task detect and
  --task exdet at the last epoch, the octagons' segm AP, epoch seconds, load, precision and commit.
- ablation: experiments/learning_speed.sh's runs (`docs/ablation/ROW_seedS.jsonl`): per seed and row, the AP
  after epoch 5 and at the end, the end's AP as a ratio of the reference row of the same seed, the median epoch
  seconds of epochs 3-15 (shown only where the highest load over them stayed <= MAX_TIMED_LOAD), precision and
  commit.
- keypoints: experiments/keypoints.sh's runs (`docs/keypoints/SET_seedS.jsonl`) and the evaluations of their last
  checkpoints (`SET_snapped_seedS.json`, `SET_regressed_seedS.json`): per set and seed, box AP, keypoint OKS AP and
  AP50 with the joints snapped to the joint heatmaps and regressed only, epoch seconds, load, precision and commit.
- learn_faster: experiments/learn_faster.sh's runs (`docs/learn_faster/ROW_seedS.jsonl`): as the ablation, with
  the AP after epoch 5 as a ratio of the end's, ratios to the default row of the study's start.
- learn_faster_epyc: the same study's rows run on another CPU (`docs/learn_faster/epyc/`), with their own default.
- learn_faster_xeon2: and on a third (`docs/learn_faster/xeon2/`).
- learn_faster_epyc2: and on a slower AMD EPYC of the same model as the second (`docs/learn_faster/epyc2/`).
- learn_faster_epyc3: and on an AMD EPYC of model 2 with the second's arithmetic (`docs/learn_faster/epyc3/`).
- learn_faster_epyc4: and on an EPYC of model 2 again, on 2026-12-08 (`docs/learn_faster/epyc4/`).
- tracking: experiments/tracking.sh's scripts/track_eval.py rows (`docs/tracking/metrics.json`).
- heatmap_losses: experiments/heatmap_losses.sh's runs (`docs/heatmap_losses/ROW_seedS.jsonl`):
  scripts/loss_study_table.py's table, the rarest class being the last of make_hard_shapes.py's (its --long-tail
  frequencies decay to it).

Usage:
    python scripts/readme_tables.py                          # print every table
    python scripts/readme_tables.py --table cpu_precision    # one of them
    python scripts/readme_tables.py --update                 # rewrite the blocks in README.md and docs/*.md
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is no package; also when loaded from elsewhere
import loss_study_table  # noqa: E402
from make_hard_shapes import CATEGORIES  # noqa: E402
from run_metrics import evaluations, last_evaluation, read_records, row_and_seed  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"
ROWS = ("fp32", "bf16")  # experiments/cpu_precision.sh's rows, the baseline first
FIRST_TIMED_EPOCH = 3
MAX_TIMED_LOAD = 2.5  # seconds columns only from runs that had the 2 cores to themselves (main process + workers)
ABLATION_ROWS = ("reference", "lr_schedule", "ltrb_giou", "ema", "elliptical", "ttf_neck", "dfl", "default")
LEARN_FASTER_ROWS = ("default", "mosaic", "mosaic_full", "mixup", "head_group", "head_batch", "lr_2x",
                     "head_group_lr_2x", "iou_aware", "head_batch_lr_2x", "head_batch_iou_aware",
                     "head_batch_ema_short", "head_batch_lr_half", "head_batch_warmup_20",
                     "head_batch_conv128", "head_batch_conv256", "head_group_conv128",
                     "head_batch_conv128_ema_short", "conv128_prior_001", "conv128_box_weight_1", "conv128_mosaic",
                     "conv128_aug_light", "conv128_no_aug", "conv128_aug_light_box_weight_1", "new_warmup_37",
                     "new_lr_1_5x", "new_ema_window_20", "new_zero_res", "new_shortcut_bn", "new_box_weight_05",
                     "new_warmup_37_ema_20", "new_min_radius_1", "new_min_radius_2",
                     "new_min_radius_1_warmup_37_ema_20", "new_copy_paste",
                     "min_r1_head_none", "min_r1_head_none_box_weight_5", "min_r1_batch_8", "min_r1_batch_8_lr_2x",
                     "min_r1_task_exdet", "min_r1_copy_paste",
                     "min_r1_copy_paste_1")  # learn_faster.sh's rows, in table order
LOSS_STUDY_ROWS = ("penalty_reduced", "quality_focal", "sigmoid_focal", "longtail_plain", "longtail_balanced",
                   "retinanet")  # experiments/heatmap_losses.sh's rows, in its order
FIGURE = r"baseline\s+(?P<baseline>[0-9.]+) \S+\s+ours\s+(?P<ours>[0-9.]+) \S+\s+ratio"
THROUGHPUT = re.compile(rf"^\s+(?P<path>.+?)(?P<default> \(default\))?: throughput\s+{FIGURE}")
MEMORY = re.compile(rf"^\s+(?P<path>.+?)(?: \(default\))?: peak extra memory\s+{FIGURE}")
ARCH_LINE = re.compile(r"^inference (?P<arch>\S+) .*; baseline = (?P<baseline>[^;]+); the default here: "
                       r"(?P<default>[^;]+);")
END_TO_END = re.compile(r"^\s+batch 1, (?P<path>.+?): end to end\s+(?P<ms>[0-9.]+) ms")


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def epoch_timing(records: list[dict]) -> tuple[float | None, float | None]:
    """(median training seconds, highest 1-minute load average) over the epochs from FIRST_TIMED_EPOCH on (the
    first ones also warm caches and workers); (None, None) for a run without them."""
    timed = [record for record in records if record["epoch"] >= FIRST_TIMED_EPOCH]
    if not timed:
        return None, None
    return (statistics.median(record["epoch_seconds"] for record in timed),
            max(record["load_average"][0] for record in timed))


def precision_summary(path: Path) -> dict:
    """{"AP", "AP50", "epoch", "seconds", "load", "commit"} of one ROW_seedS.jsonl file."""
    records = read_records(path)
    last = last_evaluation(records, path)
    seconds, load = epoch_timing(records)
    commit = path.with_suffix(".commit")
    return {"AP": last["AP"], "AP50": last["AP50"], "epoch": last["epoch"], "seconds": seconds, "load": load,
            "commit": commit.read_text().strip() if commit.exists() else "-"}


def precision_table(folder: Path = DOCS / "cpu_speed") -> str:
    runs: dict[tuple[int, str], dict] = {}
    for path in sorted(folder.glob("*_seed*.jsonl")):
        row, seed = row_and_seed(path)
        if row in ROWS and seed is not None:
            runs[seed, row] = precision_summary(path)
    rows = []
    for (seed, row), run in sorted(runs.items(), key=lambda item: (item[0][0], ROWS.index(item[0][1]))):
        base = runs.get((seed, ROWS[0]))
        ap_ratio = f"{run['AP'] / base['AP']:.2f}" if base and base["AP"] else "-"
        time_ratio = f"{run['seconds'] / base['seconds']:.2f}" if base and base["seconds"] and run["seconds"] else "-"
        rows.append([str(seed), row, str(run["epoch"]), f"{run['AP']:.4f}", f"{run['AP50']:.4f}", ap_ratio,
                     "-" if run["seconds"] is None else f"{run['seconds']:.1f}", time_ratio,
                     "-" if run["load"] is None else f"{run['load']:.2f}", run["commit"]])
    return markdown(["seed", "row", "epochs", "AP", "AP50", "AP x fp32", "s / epoch (3-15)", "time x fp32",
                     "max load", "commit"], rows)


def train_table(folder: Path = DOCS / "cpu_speed") -> str:
    log = folder / "benchmark_train.log"
    throughput: dict[str, tuple[float, float, bool]] = {}
    memory: dict[str, tuple[float, float]] = {}
    for line in log.read_text().splitlines():
        if match := THROUGHPUT.match(line):
            throughput[match["path"]] = (float(match["baseline"]), float(match["ours"]), bool(match["default"]))
        elif match := MEMORY.match(line):
            memory[match["path"]] = (float(match["baseline"]), float(match["ours"]))
    if not throughput:
        raise SystemExit(f"{log}: no training-step figures in it")
    baseline_rate, baseline_memory = next(iter(throughput.values()))[0], next(iter(memory.values()))[0]
    rows = [["fp32, NCHW (baseline)", f"{baseline_rate:.1f}", "1.00x", f"{baseline_memory:.0f}"]]
    for path, (_, rate, default) in throughput.items():
        rows.append([path + (" **(default)**" if default else ""), f"{rate:.1f}", f"{rate / baseline_rate:.2f}x",
                     f"{memory[path][1]:.0f}"])
    return markdown(["path", "images / s", "x fp32 NCHW", "peak extra MiB"], rows)


def latency_table(folder: Path = DOCS / "cpu_speed") -> str:
    """Per architecture, the end-to-end ms at batch 1 of each path (the log's order) and the fastest."""
    log = folder / "inference.log"
    table: dict[str, dict[str, float]] = {}
    arch, baseline, default = None, "", ""
    for line in log.read_text().splitlines():
        if match := ARCH_LINE.match(line):
            arch, baseline, default = match["arch"], match["baseline"], match["default"]
            table[arch] = {}
        elif (match := END_TO_END.match(line)) and arch is not None:
            table[arch][match["path"]] = float(match["ms"])
    if not table:
        raise SystemExit(f"{log}: no inference section in it")
    paths = list(next(iter(table.values())))
    rows = []
    for arch, milliseconds in table.items():
        fastest = min(milliseconds, key=milliseconds.get)
        rows.append([f"`{arch}`", *(f"{milliseconds[path]:.0f}" if path in milliseconds else "-" for path in paths),
                     f"{fastest} ({milliseconds[baseline] / milliseconds[fastest]:.2f}x)"])
    header = [f"{path}{' (default)' if path == default else ''}" for path in paths]
    return markdown(["`--arch`", *header, f"fastest (x {baseline})"], rows)


def exdet_table(folder: Path = DOCS / "exdet") -> str:
    """Per seed and task, the last evaluation's box AP (and the octagons' segm AP for exdet) and epoch seconds."""
    rows = []
    paths = sorted(folder.glob("*_seed*.jsonl"), key=lambda path: (row_and_seed(path)[1], path.name))
    for path in paths:
        task, seed = row_and_seed(path)
        records = read_records(path)
        last = last_evaluation(records, path)
        seconds, load = epoch_timing(records)
        segm = [last.get(name) for name in ("segm_AP", "segm_AP50")]
        rows.append([str(seed), f"`--task {task}`", str(last["epoch"]), f"{last['AP']:.4f}", f"{last['AP50']:.4f}",
                     f"{last['AP75']:.4f}", *("-" if value is None else f"{value:.4f}" for value in segm),
                     "-" if seconds is None else f"{seconds:.1f}", "-" if load is None else f"{load:.2f}",
                     str(last.get("precision", "-")), str(last.get("commit", "-"))])
    return markdown(["seed", "task", "epochs", "box AP", "AP50", "AP75", "octagon segm AP", "segm AP50",
                     "s / epoch (3-15)", "max load", "precision", "commit"], rows)


KEYPOINT_SETS = ("clean", "clutter")  # experiments/keypoints.sh's sets, in table order


def keypoints_table(folder: Path = DOCS / "keypoints") -> str:
    """Per set and seed, the last evaluation's box AP and the keypoint OKS AP of the last checkpoint's joints,
    snapped and regressed only, with epoch seconds (where the load allowed) and provenance."""
    rows = []
    runs = sorted(folder.glob("*_seed*.jsonl"), key=lambda path: (KEYPOINT_SETS.index(row_and_seed(path)[0]),
                                                                   row_and_seed(path)[1]))
    for path in runs:
        keypoint_set, seed = row_and_seed(path)
        records = read_records(path)
        last = last_evaluation(records, path)
        seconds, load = epoch_timing(records)
        timed = seconds is not None and load <= MAX_TIMED_LOAD
        decoded = []
        for decoding in ("snapped", "regressed"):
            metrics_file = folder / f"{keypoint_set}_{decoding}_seed{seed}.json"
            metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
            decoded += [metrics.get(f"keypoints_{name}") for name in ("AP", "AP50")]
        rows.append([keypoint_set, str(seed), str(last["epoch"]), f"{last['AP']:.4f}",
                     *("-" if value is None else f"{value:.4f}" for value in decoded),
                     f"{seconds:.1f}" if timed else "-", "-" if load is None else f"{load:.2f}",
                     str(last.get("precision", "-")), str(last.get("commit", "-"))])
    return markdown(["set", "seed", "epochs", "box AP", "keypoint AP", "keypoint AP50", "regressed only: AP", "AP50",
                     "s / epoch (3-15)", "max load", "precision", "commit"], rows)


FINETUNE_RUNS = ("old_scratch", "new_scratch", "new_finetuned")  # experiments/finetune.sh's runs, in its order


def finetune_table(folder: Path = DOCS / "finetune") -> str:
    """Per seed, each run's last AP and AP50, and the fine-tuned run's AP as a ratio of the new task's scratch run."""
    found = {row_and_seed(path): last_evaluation(read_records(path), path) for path in folder.glob("*_seed*.jsonl")}
    rows = []
    for seed in sorted({seed for _, seed in found}):
        scratch = found.get(("new_scratch", seed))
        for run in FINETUNE_RUNS:
            last = found.get((run, seed))
            if last is None:
                continue
            ratio = f"{last['AP'] / scratch['AP']:.2f}" if run != "old_scratch" and scratch and scratch["AP"] else "-"
            rows.append([str(seed), run, str(last["epoch"]), f"{last['AP']:.4f}", f"{last['AP50']:.4f}", ratio,
                         str(last.get("precision", "-")), str(last.get("commit", "-"))])
    return markdown(["seed", "run", "epochs", "AP", "AP50", "AP x new_scratch", "precision", "commit"], rows)


def _ap_after(records: list[dict], epoch: int) -> float | None:
    return next((record["AP"] for record in evaluations(records) if record["epoch"] == epoch), None)


def one_change_table(folder: Path, rows: Sequence[str], baseline: str) -> str:
    """Per seed, each row of a one-change study that has run (`ROW_seedS.jsonl` in `folder`): AP after epoch 5 and
    at the end, their ratio, the end's AP as a ratio of the `baseline` row of the same seed (where both ran as many
    epochs: a screen stopped early has none), seconds per epoch where the load allowed, precision and commit."""
    found = {row_and_seed(path): read_records(path) for path in folder.glob("*_seed*.jsonl")}
    lines = []
    for seed in sorted({seed for _, seed in found}):
        reference = found.get((baseline, seed))
        baseline_last = last_evaluation(reference, baseline) if reference else {}
        baseline_ap, baseline_epoch = baseline_last.get("AP"), baseline_last.get("epoch")
        for row in rows:
            records = found.get((row, seed))
            if records is None:
                continue
            last = last_evaluation(records, f"{row}_seed{seed}")
            seconds, load = epoch_timing(records)
            timed = seconds is not None and load <= MAX_TIMED_LOAD
            early = _ap_after(records, 5)
            share = early is not None and last["AP"] and last["epoch"] > 5  # a screen stopped at 5 has no share
            same_length = baseline_ap and last["epoch"] == baseline_epoch
            lines.append([str(seed), row, str(last["epoch"]), "-" if early is None else f"{early:.4f}",
                          f"{last['AP']:.4f}", f"{early / last['AP']:.2f}" if share else "-",
                          f"{last['AP50']:.4f}", f"{last['AP'] / baseline_ap:.2f}" if same_length else "-",
                          f"{seconds:.1f}" if timed else "-", "-" if load is None else f"{load:.2f}",
                          str(last.get("precision", "-")), str(last.get("commit", "-"))])
    return markdown(["seed", "row", "epochs", "AP after 5", "AP", "after 5 / end", "AP50", f"x {baseline}",
                     "s / epoch (3-15)", "max load", "precision", "commit"], lines)


def ablation_table(folder: Path = DOCS / "ablation") -> str:
    """The learning-speed ablation (experiments/learning_speed.sh): ratios to the reference row."""
    return one_change_table(folder, ABLATION_ROWS, "reference")


def learn_faster_table(folder: Path = DOCS / "learn_faster") -> str:
    """The learn-faster study (experiments/learn_faster.sh): ratios to the default row of its start."""
    return one_change_table(folder, LEARN_FASTER_ROWS, "default")


def heatmap_losses_table(folder: Path = DOCS / "heatmap_losses") -> str:
    """scripts/loss_study_table.py's table of the loss study's runs, rows in the study's order."""
    paths = sorted(folder.glob("*_seed*.jsonl"), key=lambda path: (LOSS_STUDY_ROWS.index(row_and_seed(path)[0]),
                                                                   row_and_seed(path)[1]))
    rarest = CATEGORIES[-1]["name"]
    return loss_study_table.table([loss_study_table.run_summary(path, rarest) for path in paths], rarest)


TRACKERS = {"ours": "ours (`demo --track`)", "naive": "naive (greedy IoU, no memory)",
            "ours_offline": "ours, run on the raw detections",
            "bytetrack_trackers": "`trackers` 2.6.1 ByteTrack, per class",
            "ours_on_dropped_gt": "ours on the ground truth, 10% dropped, 2 px jitter"}  # track_eval.py's rows


def tracking_table(folder: Path = DOCS / "tracking") -> str:
    """scripts/track_eval.py's rows (metrics.json), with the commits of the evaluation and of the detector."""
    rows = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
    detector = last_evaluation(read_records(folder / "detector.jsonl"), "detector") if rows else {}
    log = (folder / "eval.log").read_text() if rows else ""
    commit = re.search(r"commit: (\w+)", log)
    lines = [[label, *(f"{rows[row][name]:.3f}" for name in ("HOTA", "DetA", "AssA", "MOTA", "IDF1")),
              *(str(round(rows[row][name])) for name in ("IDSW", "CLR_FN", "CLR_FP")),
              f"{rows[row]['ms_per_frame']:.2f}" if "ms_per_frame" in rows[row] else "-",
              f"{detector['AP']:.3f}" if row != "ours_on_dropped_gt" else "-",
              commit[1] if commit else "-",
              str(detector.get("commit", "-")) if row != "ours_on_dropped_gt" else "-"]
             for row, label in TRACKERS.items() if row in rows]
    return markdown(["tracker", "HOTA", "DetA", "AssA", "MOTA", "IDF1", "ID switches", "misses", "false positives",
                     "ms / frame", "detector AP", "commit", "detector's commit"], lines)


TABLES: dict[str, Callable[[Path], str]] = {"benchmark_train": train_table, "cpu_precision": precision_table,
                                        "cpu_latency": latency_table, "exdet": exdet_table,
                                        "finetune": finetune_table, "ablation": ablation_table,
                                        "heatmap_losses": heatmap_losses_table, "keypoints": keypoints_table,
                                        "tracking": tracking_table, "learn_faster": learn_faster_table,
                                        "learn_faster_epyc": learn_faster_table,  # its folder, its own default
                                        "learn_faster_xeon2": learn_faster_table,
                                        "learn_faster_epyc2": learn_faster_table,
                                        "learn_faster_epyc3": learn_faster_table,
                                        "learn_faster_epyc4": learn_faster_table}
TABLE_FOLDERS = {"benchmark_train": "cpu_speed", "cpu_precision": "cpu_speed", "cpu_latency": "cpu_speed",
                 "exdet": "exdet", "finetune": "finetune", "ablation": "ablation",
                 "heatmap_losses": "heatmap_losses", "keypoints": "keypoints",
                 "tracking": "tracking", "learn_faster": "learn_faster",
                 "learn_faster_epyc": "learn_faster/epyc",
                 "learn_faster_xeon2": "learn_faster/xeon2",
                 "learn_faster_epyc2": "learn_faster/epyc2",
                 "learn_faster_epyc3": "learn_faster/epyc3",
                 "learn_faster_epyc4": "learn_faster/epyc4"}  # the folder of docs/ each table reads


def documents() -> list[Path]:
    """The markdown files that hold the tables: README.md and the pages of docs/."""
    return [DOCS.parent / "README.md", *sorted(DOCS.glob("*.md"))]


def update(text: str, tables: dict[str, str]) -> str:
    """`text` with each `<!-- table: NAME -->` ... `<!-- /table -->` block holding tables[NAME]."""
    def fill(match: re.Match) -> str:
        name = match["name"]
        return f"<!-- table: {name} -->\n{tables[name]}\n<!-- /table -->" if name in tables else match[0]

    # the lazy body ends at the nearest closing marker: an empty block never reaches into the next one
    return re.sub(r"<!-- table: (?P<name>\w+) -->\n(?P<body>.*?)<!-- /table -->", fill, text, flags=re.S)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", type=Path, nargs="*", metavar="MARKDOWN",
                        help="rewrite the table blocks of these files (none named: README.md and docs/*.md)")
    parser.add_argument("--table", choices=tuple(TABLES), action="append", help="only these tables (default: all)")
    parser.add_argument("--docs", type=Path, help="the folder of the runs and logs of the --table given (default: "
                                                  "its folder of docs/)")
    args = parser.parse_args(argv)
    tables = {name: make(args.docs or DOCS / TABLE_FOLDERS[name]) for name, make in TABLES.items()
              if not args.table or name in args.table}
    if args.update is not None:
        for path in args.update or documents():
            path.write_text(update(path.read_text(), tables))
        return
    for name, table in tables.items():
        print(f"{name}:\n{table}\n")


if __name__ == "__main__":
    main()
