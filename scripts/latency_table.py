"""Print the README's CPU latency table from a log of `scripts/benchmark.py --sections inference` (batch 1): per
architecture, the end-to-end milliseconds of each path (float32, bf16, channels_last, onnxruntime) and the fastest.

Usage:
    python scripts/latency_table.py docs/cpu_speed/inference.log
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

ARCH_LINE = re.compile(r"^inference (?P<arch>\S+) ")
END_TO_END = re.compile(r"^\s+batch 1, (?P<path>.+?): end to end\s+(?P<ms>[0-9.]+) ms")


def read_log(path: Path) -> dict[str, dict[str, float]]:
    """{arch: {path: end-to-end ms at batch 1}} in the log's order."""
    table: dict[str, dict[str, float]] = {}
    arch = None
    for line in path.read_text().splitlines():
        if match := ARCH_LINE.match(line):
            arch = match["arch"]
            table[arch] = {}
        elif (match := END_TO_END.match(line)) and arch is not None:
            table[arch][match["path"]] = float(match["ms"])
    if not table:
        raise SystemExit(f"{path}: no inference section in it")
    return table


def markdown(table: dict[str, dict[str, float]]) -> str:
    paths = list(next(iter(table.values())))
    lines = ["| `--arch` | " + " | ".join(f"{path} (ms)" for path in paths) + " | fastest |",
             "|" + "---|" * (len(paths) + 2)]
    for arch, milliseconds in table.items():
        fastest = min(milliseconds, key=milliseconds.get)
        baseline = milliseconds[paths[0]]
        cells = [f"{milliseconds[path]:.0f}" if path in milliseconds else "-" for path in paths]
        lines.append(f"| `{arch}` | " + " | ".join(cells) + f" | {fastest}, {baseline / milliseconds[fastest]:.2f}x "
                     f"{paths[0]} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path, help="the output of scripts/benchmark.py --sections inference")
    print(markdown(read_log(parser.parse_args(argv).log)))


if __name__ == "__main__":
    main()
