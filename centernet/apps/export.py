"""`centernet export`: the command line over `centernet.export` (formats, frames and metadata are documented there).

`centernet.export` is imported inside `run_export`: `centernet --help` imports this module to build its parser,
and torch alone takes seconds to import.
"""

from __future__ import annotations

import argparse

from centernet.apps.options import add_config_options
from centernet.catalog import EXPORT_FORMATS


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a centernet checkpoint (last.pt / best.pt)")
    parser.add_argument("--output", required=True, help="the file to write (.onnx, or .pt for TorchScript)")
    # checked by export_checkpoint rather than by choices=, so that a wrong name is our one-line error
    parser.add_argument("--format", default="onnx", metavar="|".join(EXPORT_FORMATS), help="default: onnx")
    add_config_options(parser, only=("data.input_size",), overrides=True, group="data", help_suffix={
        "data.input_size": "; default: the checkpoint's; the file then takes only this size"})
    parser.add_argument("--with-decode", action="store_true", help="put peak extraction and top-K decoding in "
                        "the graph: outputs boxes_xyxy (B, K, 4) in input pixels, scores (B, K), classes (B, K)")
    parser.add_argument("--top-k", type=int, help="K for --with-decode (default: the checkpoint's, 100)")
    parser.add_argument("--dynamic-batch", action="store_true", help="ONNX: any batch size (default: batch 1); "
                        "TorchScript files always take any batch size")
    parser.add_argument("--opset", type=int, help="ONNX opset, 11 to 20 (default: 19, the first with DeformConv, "
                        "which the deformable architectures need)")


def run_export(args: argparse.Namespace) -> int:
    from centernet.export import export_checkpoint

    path = export_checkpoint(args.checkpoint, args.output, export_format=args.format,
                             input_size=getattr(args, "data.input_size"), with_decode=args.with_decode,
                             top_k=args.top_k, dynamic_batch=args.dynamic_batch, opset=args.opset)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB, {args.format}, verified)")
    return 0
