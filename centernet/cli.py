"""`centernet train | evaluate | demo | export`: dispatches to `centernet.apps`; errors print as one line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from centernet import __version__
from centernet.apps.demo import add_demo_arguments, run_demo
from centernet.apps.evaluate import add_evaluate_arguments, run_evaluate
from centernet.apps.export import add_export_arguments, run_export
from centernet.apps.train import add_train_arguments, run_train
from centernet.errors import CenterNetError

COMMANDS = {
    "train": (add_train_arguments, run_train, "train a detector on a COCO-format dataset"),
    "evaluate": (add_evaluate_arguments, run_evaluate, "COCO mAP of a checkpoint on a dataset"),
    "demo": (add_demo_arguments, run_demo, "detect in a video, camera, image or folder; draw and time"),
    "export": (add_export_arguments, run_export, "a checkpoint -> ONNX or TorchScript, verified"),
}


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="centernet", description=__doc__)
    parser.add_argument("--version", action="version", version=f"centernet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (add_arguments, _, help_text) in COMMANDS.items():
        add_arguments(commands.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except (CenterNetError, FileNotFoundError, ValueError) as error:
        if os.environ.get("CENTERNET_DEBUG"):
            raise
        print(f"centernet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"centernet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
