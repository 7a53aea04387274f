"""Export: ONNX and TorchScript files reproduce the PyTorch heads and `decode`; the onnxruntime predictor
reproduces the PyTorch Predictor; bad inputs are one-line errors with exit code 2."""

import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from centernet.backends import load_predictor
from centernet.catalog import ARCHITECTURES
from centernet.checkpoint import save_checkpoint
from centernet.cli import main
from centernet.config import (
    Config,
    DataConfig,
    InferenceConfig,
    ModelConfig,
    config_to_dict,
    reference_neck_channels,
)
from centernet.decode import decode
from centernet.errors import CenterNetError
from centernet.export import METADATA_KEY, export_checkpoint
from centernet.model.dcn import ModulatedDeformConv2d
from centernet.onnx_backend import OnnxPredictor
from centernet.predictor import Predictor
from centernet.tasks import build_model
from centernet.tasks.boxes import LtrbBoxes

INPUT_SIZE = 64
CLASS_NAMES = ["circle", "square", "triangle"]
CATEGORY_IDS = [1, 3, 7]
HEAD_NAMES = ("heatmap", "size", "offset")  # the center box head's outputs, in order


def model_config(arch: str) -> ModelConfig:
    """The reference's network: the center box head, the plain up path of the arch (no shortcuts)."""
    return ModelConfig(arch=arch, num_classes=len(CLASS_NAMES), box_head="center", neck_shortcuts=False,
                       neck_channels=reference_neck_channels(arch))


def random_model(arch: str) -> torch.nn.Module:
    """A model whose outputs are far from their initial constants: features that vary over the image (the up
    path's transposed convs start at N(0, 0.001), which in eval mode leaves them nearly flat), spread heatmap logits
    (so top-K has no ties), boxes of a few pixels, non-zero deformable offsets (so DeformConv really samples off
    the grid)."""
    torch.manual_seed(0)
    model = build_model(model_config(arch))
    with torch.no_grad():
        torch.nn.init.normal_(model.heads.heatmap[-1].weight, std=0.5)
        for head, bias in ((model.heads.size, 3.0), (model.heads.offset, 0.5)):
            torch.nn.init.normal_(head[-1].weight, std=0.1)
            torch.nn.init.constant_(head[-1].bias, bias)
        for module in model.modules():
            if isinstance(module, ModulatedDeformConv2d):
                torch.nn.init.normal_(module.offset_and_mask.weight, std=0.05)
                torch.nn.init.normal_(module.offset_and_mask.bias, std=1.0)
            elif isinstance(module, torch.nn.ConvTranspose2d) and module.weight.std() < 0.01:
                torch.nn.init.normal_(module.weight, std=0.05)
    return model.eval()


def write_checkpoint(path, arch: str) -> torch.nn.Module:
    """Save a checkpoint as `engine.train.checkpoint_state` lays it out; returns the model."""
    model = random_model(arch)
    config = Config(model=model_config(arch), data=DataConfig(input_size=INPUT_SIZE))
    save_checkpoint(path, {"model": model.state_dict(), "optimizer": {}, "scheduler": {}, "scaler": {}, "epoch": 3,
                           "step": 30, "best_ap": 0.0, "config": config_to_dict(config),
                           "class_names": CLASS_NAMES, "category_ids": CATEGORY_IDS})
    return model


def export(capsys, *arguments: str) -> None:
    assert main(["export", *arguments]) == 0, capsys.readouterr().err
    assert "verified" in capsys.readouterr().out


def images(batch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(batch)
    return torch.randint(0, 256, (batch, 3, INPUT_SIZE, INPUT_SIZE), dtype=torch.uint8, generator=generator)


def expected_heads(model: torch.nn.Module, images_uint8: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.inference_mode():
        return model(images_uint8)  # the model normalises its uint8 input


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    """A ResNet-18 checkpoint and its model."""
    path = tmp_path_factory.mktemp("resnet") / "best.pt"
    return path, write_checkpoint(path, "resnet18")


def test_onnx_network_matches_the_pytorch_heads(resnet, tmp_path, capsys):
    checkpoint, model = resnet
    export(capsys, "--checkpoint", str(checkpoint), "--output", str(tmp_path / "net.onnx"), "--dynamic-batch")
    session = onnxruntime.InferenceSession(str(tmp_path / "net.onnx"), providers=["CPUExecutionProvider"])
    batch = images(3)
    outputs = dict(zip(HEAD_NAMES, session.run(list(HEAD_NAMES), {"images": batch.numpy()}), strict=True))
    for name, expected in expected_heads(model, batch).items():
        np.testing.assert_allclose(outputs[name], expected.numpy(), atol=1e-4, rtol=1e-4, err_msg=name)
    metadata = json.loads(session.get_modelmeta().custom_metadata_map[METADATA_KEY])
    assert metadata["class_names"] == CLASS_NAMES and metadata["category_ids"] == CATEGORY_IDS
    assert metadata["input_size"] == [INPUT_SIZE, INPUT_SIZE] and metadata["mean"] == list(DataConfig.mean)  # [W, H]
    assert not metadata["with_decode"] and metadata["outputs"] == list(HEAD_NAMES)


def test_onnx_with_decode_matches_decode(resnet, tmp_path, capsys):
    checkpoint, model = resnet
    export(capsys, "--checkpoint", str(checkpoint), "--output", str(tmp_path / "decode.onnx"), "--with-decode",
           "--top-k", "20", "--dynamic-batch")
    session = onnxruntime.InferenceSession(str(tmp_path / "decode.onnx"), providers=["CPUExecutionProvider"])
    batch = images(2)
    boxes, scores, classes = session.run(None, {"images": batch.numpy()})
    heads = expected_heads(model, batch)
    expected = decode(heads["heatmap"].sigmoid(), heads["size"], heads["offset"], k=20)
    assert boxes.shape == (2, 20, 4) and scores.shape == (2, 20) and classes.dtype == np.int64
    np.testing.assert_allclose(boxes, expected.boxes.numpy() * 4, atol=1e-4, rtol=1e-4)  # input pixels
    np.testing.assert_allclose(scores, expected.scores.numpy(), atol=1e-4)
    np.testing.assert_array_equal(classes, expected.classes.numpy())


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_torchscript_loads_and_matches(resnet, tmp_path, capsys):
    checkpoint, model = resnet
    for decoded in (False, True):
        path = tmp_path / f"model_{decoded}.pt"
        export(capsys, "--checkpoint", str(checkpoint), "--output", str(path), "--format", "torchscript",
               *(["--with-decode", "--top-k", "10"] if decoded else []))
        extra_files = {f"{METADATA_KEY}.json": ""}
        loaded = torch.jit.load(str(path), _extra_files=extra_files)
        assert json.loads(extra_files[f"{METADATA_KEY}.json"])["class_names"] == CLASS_NAMES
        batch = images(3)
        with torch.inference_mode():
            outputs = loaded(batch)
        heads = expected_heads(model, batch)
        if decoded:
            expected = decode(heads["heatmap"].sigmoid(), heads["size"], heads["offset"], k=10)
            torch.testing.assert_close(outputs[0], expected.boxes * 4, atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(outputs[1], expected.scores, atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(outputs[2], expected.classes)
        else:
            for output, name in zip(outputs, HEAD_NAMES, strict=True):
                torch.testing.assert_close(output, heads[name], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("flip_test", [False, True])
def test_onnxruntime_predictor_gives_the_pytorch_detections(resnet, tmp_path, capsys, flip_test):
    checkpoint, _ = resnet
    path = tmp_path / "static.onnx"  # batch fixed to 1: the predictor runs larger batches one image at a time
    export(capsys, "--checkpoint", str(checkpoint), "--output", str(path))
    rng = np.random.default_rng(0)
    pictures = [rng.integers(0, 256, (50, 90, 3), dtype=np.uint8), rng.integers(0, 256, (70, 40, 3), dtype=np.uint8)]
    ours = load_predictor(path, "onnxruntime", device="cpu", flip_test=flip_test)
    theirs = Predictor.from_file(checkpoint, device="cpu", amp="off", flip_test=flip_test)
    assert isinstance(ours, OnnxPredictor) and ours.class_names == CLASS_NAMES and ours.category_ids == CATEGORY_IDS
    for got, expected in zip(ours(pictures), theirs(pictures), strict=True):
        assert len(got) == len(expected) > 0
        np.testing.assert_allclose(got.boxes, expected.boxes, atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(got.scores, expected.scores, atol=1e-4)
        np.testing.assert_array_equal(got.classes, expected.classes)
        assert got.names == expected.names == [CLASS_NAMES[label] for label in expected.classes]


def test_a_rectangular_export_runs_in_onnxruntime_like_pytorch(resnet, tmp_path, capsys):
    """--input-size 96 64: the graph takes (B, 3, 64, 96), its heads are (16, 24) and match PyTorch's; the
    onnxruntime predictor letterboxes into 96 x 64 as the PyTorch one does at that size, and refuses --test-scales."""
    checkpoint, model = resnet
    path = tmp_path / "wide.onnx"
    export(capsys, "--checkpoint", str(checkpoint), "--output", str(path), "--input-size", "96", "64")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 3, 64, 96]
    batch = torch.randint(0, 256, (1, 3, 64, 96), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    outputs = dict(zip(HEAD_NAMES, session.run(list(HEAD_NAMES), {"images": batch.numpy()}), strict=True))
    for name, expected in expected_heads(model, batch).items():
        assert outputs[name].shape[-2:] == (16, 24)
        np.testing.assert_allclose(outputs[name], expected.numpy(), atol=1e-4, rtol=1e-4, err_msg=name)
    assert json.loads(session.get_modelmeta().custom_metadata_map[METADATA_KEY])["input_size"] == [96, 64]
    ours = load_predictor(path, "onnxruntime", device="cpu")
    theirs = Predictor.from_file(checkpoint, device="cpu", amp="off")
    theirs.set_input_size((96, 64))
    assert ours.input_size == (96, 64) and ours.fixed_input_size
    pictures = [np.random.default_rng(0).integers(0, 256, (54, 96, 3), dtype=np.uint8)]  # 16:9
    got, expected = ours(pictures)[0], theirs(pictures)[0]
    assert len(got) == len(expected) > 0
    np.testing.assert_allclose(got.boxes, expected.boxes, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(got.scores, expected.scores, atol=1e-4)
    with pytest.raises(CenterNetError, match="takes 96x64 inputs only"):
        ours.set_input_size(128)
    with pytest.raises(CenterNetError, match="multi-scale test needs --backend pytorch"):
        load_predictor(path, "onnxruntime", device="cpu", test_scales=(0.5, 1.0))


def test_the_predictor_refuses_a_decoding_export_and_a_foreign_file(resnet, tmp_path, capsys):
    checkpoint, _ = resnet
    export(capsys, "--checkpoint", str(checkpoint), "--output", str(tmp_path / "decode.onnx"), "--with-decode")
    with pytest.raises(CenterNetError, match="network-only"):
        OnnxPredictor.from_file(tmp_path / "decode.onnx", device="cpu")
    (tmp_path / "text.onnx").write_text("not a model")
    with pytest.raises(CenterNetError, match="cannot load"):
        OnnxPredictor.from_file(tmp_path / "text.onnx", device="cpu")


@pytest.mark.parametrize("arch", ["resnet18_dcn", "dla34"])
def test_deformable_architectures_round_trip_or_say_why(arch, tmp_path, capsys):
    """A deformable architecture exports to ONNX DeformConv and onnxruntime reproduces the PyTorch heads.

    The export extra requires an onnxruntime whose CPU kernel runs DeformConv (1.25.0 has it, 1.24.4 does
    not), so a failed export is a failure here; the error a runtime without the kernel gives is checked in
    `test_an_onnxruntime_without_deformconv_is_a_one_line_error`. Below opset 19 the export says why.
    """
    if arch not in ARCHITECTURES:
        pytest.skip(f"{arch} is not registered")
    model = write_checkpoint(tmp_path / "dcn.pt", arch)
    assert main(["export", "--checkpoint", str(tmp_path / "dcn.pt"), "--output", str(tmp_path / "old.onnx"),
                 "--opset", "17"]) == 2
    assert "deformable convolution, which ONNX has from opset 19" in capsys.readouterr().err
    code = main(["export", "--checkpoint", str(tmp_path / "dcn.pt"), "--output", str(tmp_path / "dcn.onnx")])
    assert code == 0, f"onnxruntime {onnxruntime.__version__}: {capsys.readouterr().err}"
    session = onnxruntime.InferenceSession(str(tmp_path / "dcn.onnx"), providers=["CPUExecutionProvider"])
    assert "DeformConv" in {node.op_type for node in onnx.load(str(tmp_path / "dcn.onnx")).graph.node}
    batch = images(1)
    outputs = session.run(list(HEAD_NAMES), {"images": batch.numpy()})
    for output, (name, expected) in zip(outputs, expected_heads(model, batch).items(), strict=True):
        np.testing.assert_allclose(output, expected.numpy(), atol=1e-4, rtol=1e-4, err_msg=name)


def test_an_onnxruntime_without_deformconv_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    """Simulates a runtime that lacks the DeformConv kernel: the file is written, and the error (from the API
    and from the command line) is one line naming the fallback, --format torchscript."""
    if "resnet18_dcn" not in ARCHITECTURES:
        pytest.skip("resnet18_dcn is not registered")
    write_checkpoint(tmp_path / "dcn.pt", "resnet18_dcn")

    def missing_kernel(*arguments, **options):
        raise RuntimeError("Could not find an implementation for DeformConv(19) node with name '/DeformConv'")

    monkeypatch.setattr(onnxruntime, "InferenceSession", missing_kernel)
    with pytest.raises(CenterNetError, match="cannot run its DeformConv.*--format torchscript") as error:
        export_checkpoint(tmp_path / "dcn.pt", tmp_path / "dcn.onnx")
    assert "\n" not in str(error.value) and (tmp_path / "dcn.onnx").is_file()
    assert main(["export", "--checkpoint", str(tmp_path / "dcn.pt"), "--output", str(tmp_path / "cli.onnx")]) == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and "DeformConv" in message and "--format torchscript" in message


def test_bad_inputs_are_one_line_errors(resnet, tmp_path, capsys):
    checkpoint, _ = resnet
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    cases = {
        "checkpoint not found": ["--checkpoint", str(tmp_path / "missing.pt")],
        "not a centernet checkpoint": ["--checkpoint", str(tmp_path / "other.pt")],
        "unsupported format 'tflite'": ["--checkpoint", str(checkpoint), "--format", "tflite"],
        "multiple of 32": ["--checkpoint", str(checkpoint), "--input-size", "100"],
        "--opset must be": ["--checkpoint", str(checkpoint), "--opset", "30"],
    }
    for message, arguments in cases.items():
        assert main(["export", *arguments, "--output", str(tmp_path / "out.onnx")]) == 2, message
        error = capsys.readouterr().err
        assert error.startswith("centernet export: error:") and message in error and error.count("\n") == 1
    assert not (tmp_path / "out.onnx").exists()


def test_an_unknown_arch_is_a_one_line_error(tmp_path, capsys):
    write_checkpoint(tmp_path / "best.pt", "resnet18")
    state = torch.load(tmp_path / "best.pt", weights_only=True)
    state["config"]["model"]["arch"] = "resnet7"
    save_checkpoint(tmp_path / "best.pt", state)
    assert main(["export", "--checkpoint", str(tmp_path / "best.pt"), "--output", str(tmp_path / "out.onnx")]) == 2
    error = capsys.readouterr().err
    assert "unknown arch 'resnet7'" in error and error.count("\n") == 1


def write_ltrb_checkpoint(path, dfl_bins: int) -> torch.nn.Module:
    """A ResNet-18 checkpoint with the ltrb box head (and DFL bins), its box outputs spread like a trained one's."""
    torch.manual_seed(0)
    config = Config(model=ModelConfig(arch="resnet18", num_classes=len(CLASS_NAMES), box_head="ltrb",
                                      dfl_bins=dfl_bins), data=DataConfig(input_size=INPUT_SIZE))
    model = build_model(config.model, config.data)  # neck shortcuts too, as the default
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.ConvTranspose2d):
                torch.nn.init.normal_(module.weight, std=0.05)
        torch.nn.init.normal_(model.heads.heatmap[-1].weight, std=0.5)
        torch.nn.init.normal_(model.heads.ltrb[-1].weight, std=0.1)
        torch.nn.init.constant_(model.heads.ltrb[-1].bias, 0.5)
    save_checkpoint(path, {"model": model.state_dict(), "epoch": 1, "step": 1, "config": config_to_dict(config),
                           "class_names": CLASS_NAMES, "category_ids": CATEGORY_IDS})
    return model.eval()


@pytest.mark.parametrize("dfl_bins", [0, 6])
def test_the_ltrb_head_exports_with_decoding_and_runs_in_the_onnx_predictor(dfl_bins, tmp_path, capsys):
    model = write_ltrb_checkpoint(tmp_path / "ltrb.pt", dfl_bins)
    export(capsys, "--checkpoint", str(tmp_path / "ltrb.pt"), "--output", str(tmp_path / "decode.onnx"),
           "--with-decode", "--top-k", "10")
    session = onnxruntime.InferenceSession(str(tmp_path / "decode.onnx"), providers=["CPUExecutionProvider"])
    batch = images(1)
    boxes, scores, _ = session.run(None, {"images": batch.numpy()})
    with torch.inference_mode():
        expected = LtrbBoxes(dfl_bins).decode(model(batch), InferenceConfig(top_k=10), flip_test=False)
    np.testing.assert_allclose(boxes, expected.boxes.numpy() * 4, atol=1e-3, rtol=1e-4)
    np.testing.assert_allclose(scores, expected.scores.numpy(), atol=1e-4)
    export(capsys, "--checkpoint", str(tmp_path / "ltrb.pt"), "--output", str(tmp_path / "net.onnx"))
    pictures = [np.random.default_rng(1).integers(0, 256, (40, 90, 3), dtype=np.uint8)]
    for flip_test in (False, True):
        ours = load_predictor(tmp_path / "net.onnx", "onnxruntime", device="cpu", flip_test=flip_test)(pictures)[0]
        theirs = Predictor.from_file(tmp_path / "ltrb.pt", device="cpu", amp="off", flip_test=flip_test)(pictures)[0]
        assert len(ours) == len(theirs) > 0
        np.testing.assert_allclose(ours.boxes, theirs.boxes, atol=1e-3, rtol=1e-4)
