"""CPU latency of the network in PyTorch and in onnxruntime, measured in the same run.

Both run the same `ExportedNetwork` (uint8 images -> normalisation -> heads; no decoding) on the same images
with the same number of threads. Runs alternate between the two backends, so that load from other processes
on a shared machine falls on both alike. Weights are random: latency does not depend on their values.

    python scripts/benchmark_export.py --arch resnet18 --input-size 512 --batch 1 --runs 10
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import onnxruntime
import torch

from centernet.config import Config, DataConfig, ModelConfig
from centernet.export import ExportedNetwork, example_images, export_metadata, export_onnx
from centernet.model import build_model


def seconds(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def benchmark(arch: str, input_size: int, batch: int, runs: int, warmup: int, threads: int) -> dict[str, float]:
    """Median latency in milliseconds of each backend over `runs` alternating runs after `warmup` each."""
    torch.set_num_threads(threads)
    config = Config(model=ModelConfig(arch=arch, num_classes=80), data=DataConfig(input_size=input_size))
    model = build_model(arch, config.model.num_classes).eval()
    network = ExportedNetwork(model, config.data.mean, config.data.std).eval()
    metadata = export_metadata(config, [str(index) for index in range(80)], list(range(1, 81)), top_k=None)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{arch}.onnx"
        export_onnx(network, path, input_size, metadata, dynamic_batch=True)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    images = example_images(batch, input_size)
    feeds = {"images": images.numpy()}
    backends = {"pytorch": lambda: network(images), "onnxruntime": lambda: session.run(None, feeds)}
    timings: dict[str, list[float]] = {name: [] for name in backends}
    with torch.inference_mode():
        for run in range(warmup + runs):
            for name, backend in backends.items():
                elapsed = seconds(backend)
                if run >= warmup:
                    timings[name].append(elapsed * 1000)
    return {name: statistics.median(values) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--input-size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="for both backends")
    args = parser.parse_args()
    medians = benchmark(args.arch, args.input_size, args.batch, args.runs, args.warmup, args.threads)
    print(f"{args.arch} {args.input_size}x{args.input_size} batch {args.batch}, {args.threads} threads, "
          f"median of {args.runs} after {args.warmup} warm-up runs (torch {torch.__version__}, "
          f"onnxruntime {onnxruntime.__version__})")
    for name, milliseconds in medians.items():
        print(f"  {name:<12} {milliseconds:8.1f} ms")
    print(f"  onnxruntime / pytorch = {medians['onnxruntime'] / medians['pytorch']:.2f}")


if __name__ == "__main__":
    main()
