"""Train tiny Brevitas networks on the digits and export them as QONNX, with Brevitas' outputs.

Run by hand, not in CI (PyTorch and Brevitas are not numfmt dependencies), in a separate
environment::

    python3 -m venv /tmp/brevitas-venv
    /tmp/brevitas-venv/bin/pip install torch==2.13.0 brevitas==0.13.4 onnx onnxscript scikit-learn
    /tmp/brevitas-venv/bin/python tests/numfmt/nn/qonnx/make_exports.py [NAME ...]

For each model ``NAME`` (all, or only the ones named) it writes, next to this script:

* ``NAME.onnx`` — ``brevitas.export.export_qonnx`` of the trained model with a batch-1
  example input (Brevitas' default: the graph input has a fixed batch of 1);
* ``NAME.npz`` — what Brevitas computed at export time on the 360 images of the digits test
  split (the split of ``numfmt.nn.digits_data()``, reproduced below): ``y_test`` (the labels,
  to check the split), ``pred`` (argmax of the logits, lowest index on ties), ``logits``
  (float32) and, for models whose output is quantized, ``out_int`` (the output's integers,
  ``QuantTensor.int()``) and ``out_scale``.

Training is seeded (QAT, Adam, a few epochs, CPU, one thread), so the files are reproducible
on one machine; tests/numfmt/nn/test_qonnx.py checks numfmt against the recorded outputs.
"""

from __future__ import annotations

import pathlib

import numpy as np
import onnx
import torch
from torch import nn

import brevitas.nn as qnn
from brevitas.export import export_qonnx
from brevitas.quant_tensor import QuantTensor
from brevitas.quant import (Int8ActPerTensorFixedPoint, Int8ActPerTensorFloat, Int8WeightPerChannelFloat,
                            Int8WeightPerTensorFixedPoint, Int32Bias, RoundTo8bit, Uint8ActPerTensorFixedPoint,
                            Uint8ActPerTensorFloat)

HERE = pathlib.Path(__file__).resolve().parent
TEST_SAMPLES = 360          # numfmt.nn.digits: a permutation with seed 0, the first 360 are the test split


def digits_split():
    """``numfmt.nn.digits_data()``: pixels / 16, permutation of seed 0, 360 test samples."""
    from sklearn.datasets import load_digits
    data = load_digits()
    x = np.asarray(data.data, dtype=np.float64) / 16.0
    y = np.asarray(data.target, dtype=np.int64)
    order = np.random.default_rng(0).permutation(x.shape[0])
    test, train = order[:TEST_SAMPLES], order[TEST_SAMPLES:]
    return x[train], y[train], x[test], y[test]


class MlpInt8Pow2(nn.Module):
    """64-32-10, int8 weights and activations, power-of-two scales, int32 biases, int16 output."""

    input_shape = (64,)

    def __init__(self):
        super().__init__()
        self.inp = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.fc1 = qnn.QuantLinear(64, 32, bias=True, weight_quant=Int8WeightPerTensorFixedPoint,
                                   bias_quant=Int32Bias, return_quant_tensor=True)
        self.relu1 = qnn.QuantReLU(Uint8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.fc2 = qnn.QuantLinear(32, 10, bias=True, weight_quant=Int8WeightPerTensorFixedPoint,
                                   bias_quant=Int32Bias, output_quant=Int8ActPerTensorFixedPoint,
                                   output_bit_width=16, return_quant_tensor=True)

    def forward(self, x):
        return self.fc2(self.relu1(self.fc1(self.inp(x))))


class MlpW4A4ChannelPow2(nn.Module):
    """64-32-10, int4 weights with one power-of-two scale per output channel, uint4 hidden
    activations, int8 input, int32 biases, int16 output."""

    input_shape = (64,)

    def __init__(self):
        super().__init__()
        w4 = dict(weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=4,
                  weight_scaling_per_output_channel=True, bias_quant=Int32Bias, return_quant_tensor=True)
        self.inp = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.fc1 = qnn.QuantLinear(64, 32, bias=True, **w4)
        self.relu1 = qnn.QuantReLU(Uint8ActPerTensorFixedPoint, bit_width=4, return_quant_tensor=True)
        self.fc2 = qnn.QuantLinear(32, 10, bias=True, output_quant=Int8ActPerTensorFixedPoint,
                                   output_bit_width=16, **w4)

    def forward(self, x):
        return self.fc2(self.relu1(self.fc1(self.inp(x))))


class MlpW4A8ChannelFloat(nn.Module):
    """64-32-10, int4 weights with a float scale per output channel, int8/uint8 activations with
    float scales, float biases, float logits (no output quantizer)."""

    input_shape = (64,)

    def __init__(self):
        super().__init__()
        w4 = dict(weight_quant=Int8WeightPerChannelFloat, weight_bit_width=4)
        self.inp = qnn.QuantIdentity(Int8ActPerTensorFloat, return_quant_tensor=True)
        self.fc1 = qnn.QuantLinear(64, 32, bias=True, **w4)
        self.relu1 = qnn.QuantReLU(Uint8ActPerTensorFloat, return_quant_tensor=True)
        self.fc2 = qnn.QuantLinear(32, 10, bias=True, **w4)

    def forward(self, x):
        return self.fc2(self.relu1(self.fc1(self.inp(x))))


class CnnInt8Pow2(nn.Module):
    """conv3x3(1→4, pad 1) → ReLU → maxpool 2 → flatten (``view(batch, -1)``) → Dense(64→10);
    int8, power-of-two scales, int32 biases, int16 output."""

    input_shape = (1, 8, 8)

    def __init__(self):
        super().__init__()
        self.inp = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.conv = qnn.QuantConv2d(1, 4, 3, padding=1, bias=True, weight_quant=Int8WeightPerTensorFixedPoint,
                                    bias_quant=Int32Bias, return_quant_tensor=True)
        self.relu = qnn.QuantReLU(Uint8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.pool = nn.MaxPool2d(2)           # on a QuantTensor: keeps its scale and bit width
        self.fc = qnn.QuantLinear(64, 10, bias=True, weight_quant=Int8WeightPerTensorFixedPoint,
                                  bias_quant=Int32Bias, output_quant=Int8ActPerTensorFixedPoint,
                                  output_bit_width=16, return_quant_tensor=True)

    def forward(self, x):
        h = self.pool(self.relu(self.conv(self.inp(x))))
        return self.fc(h.view(h.shape[0], -1))


class CnnTruncAvgPoolPow2(nn.Module):
    """conv3x3(1→4, pad 1) → ReLU (uint8) → ``TruncAvgPool2d(2)`` → flatten (``view``) → Dense(64→10);
    int8, power-of-two scales, int32 biases, int16 output.

    The pool is Brevitas' quantized average: the 2×2 window sum of the uint8 integers (10 bits)
    cut to 8 bits by ``RoundTo8bit`` (round half to even, its default), exported as ``AveragePool``
    then a QONNX ``Trunc``; its output scale is the input's (``s / 4 · 2**2``)."""

    input_shape = (1, 8, 8)

    def __init__(self):
        super().__init__()
        self.inp = qnn.QuantIdentity(Int8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.conv = qnn.QuantConv2d(1, 4, 3, padding=1, bias=True, weight_quant=Int8WeightPerTensorFixedPoint,
                                    bias_quant=Int32Bias, return_quant_tensor=True)
        self.relu = qnn.QuantReLU(Uint8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.pool = qnn.TruncAvgPool2d(2, trunc_quant=RoundTo8bit, return_quant_tensor=True)
        self.fc = qnn.QuantLinear(64, 10, bias=True, weight_quant=Int8WeightPerTensorFixedPoint,
                                  bias_quant=Int32Bias, output_quant=Int8ActPerTensorFixedPoint,
                                  output_bit_width=16, return_quant_tensor=True)

    def forward(self, x):
        h = self.pool(self.relu(self.conv(self.inp(x))))
        return self.fc(h.view(h.shape[0], -1))


MODELS = {"mlp_int8_pow2": (MlpInt8Pow2, 11), "mlp_w4a4_channel_pow2": (MlpW4A4ChannelPow2, 12),
          "mlp_w4a8_channel_float": (MlpW4A8ChannelFloat, 13), "cnn_int8_pow2": (CnnInt8Pow2, 14),
          "cnn_truncavgpool_pow2": (CnnTruncAvgPoolPow2, 15)}


def train(model, x, y, *, seed, epochs=12, batch=32, lr=1e-2):
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.8)
    gen = torch.Generator().manual_seed(seed)
    xt = torch.tensor(x, dtype=torch.float32).reshape((-1,) + model.input_shape)
    yt = torch.tensor(y)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(batch):
            opt.zero_grad()
            out = model(xt[idx])
            loss = nn.functional.cross_entropy(out.value if isinstance(out, QuantTensor) else out, yt[idx])
            loss.backward()
            opt.step()
        sched.step()
    model.eval()


def main(names=()):
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        raise SystemExit(f"unknown model {unknown[0]!r}; the models are {', '.join(MODELS)}")
    torch.set_num_threads(1)
    x_train, y_train, x_test, y_test = digits_split()
    for name, (cls, seed) in MODELS.items():
        if names and name not in names:
            continue
        torch.manual_seed(seed)
        model = cls()
        train(model, x_train, y_train, seed=seed)
        xt = torch.tensor(x_test, dtype=torch.float32).reshape((-1,) + model.input_shape)
        with torch.no_grad():
            out = model(xt)
        record = {"y_test": y_test.astype(np.int8)}
        if isinstance(out, QuantTensor):
            logits = out.value.numpy()
            if out.scale is not None and out.bit_width is not None:
                record["out_int"] = out.int().numpy().astype(np.int32)
                record["out_scale"] = out.scale.detach().numpy().astype(np.float32)
        else:
            logits = out.numpy()
        record["logits"] = logits.astype(np.float32)
        record["pred"] = np.argmax(logits, axis=1).astype(np.int8)
        example = torch.tensor(x_test[:1], dtype=torch.float32).reshape((1,) + model.input_shape)
        path = HERE / f"{name}.onnx"
        export_qonnx(model, example, str(path))
        # the exporter may put the weights in a side file (NAME.onnx.data): keep one file
        proto = onnx.load(str(path))
        pathlib.Path(f"{path}.data").unlink(missing_ok=True)
        onnx.save(proto, str(path), save_as_external_data=False)
        np.savez_compressed(HERE / f"{name}.npz", **record)
        acc = float((record["pred"] == y_test).mean())
        print(f"{name}: test accuracy {100 * acc:.2f} %, quantized output: {'out_int' in record}")


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
