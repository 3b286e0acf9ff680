"""The two networks, sized for a laptop CPU through onnxruntime.

Both are small U-Nets whose full-resolution path stays thin (16 channels): thin scratches need
full-resolution features, while context comes cheaply from the coarser levels. 16 is one block of
onnxruntime's AVX-512 convolution kernels: at 2 threads the detector at 16 channels runs within 2 %
of its time at 8, and the restorer runs 8 % faster at 16 than at 12 (measured on whole networks;
older checkpoints are widened with UNet.load_grown). Detector: RGB → defect logit. Restorer: RGB +
hole + Telea prefill → RGB, a correction to the prefill blended with the damaged pixel by a learnt
gate, so semi-transparent defects and false positives keep the picture that shows through them.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation),
                         nn.BatchNorm2d(cout), nn.LeakyReLU(0.1, inplace=True))


class UNet(nn.Module):
    """4-level U-Net; input H and W must be multiples of 8 (the engine pads tiles)."""
    multiple = 8

    def __init__(self, cin: int, cout: int, widths=(12, 24, 48, 64)):
        super().__init__()
        w0, w1, w2, w3 = widths
        self.enc0 = nn.Sequential(conv(cin, w0), conv(w0, w0))
        self.enc1 = nn.Sequential(conv(w0, w1, 2), conv(w1, w1))
        self.enc2 = nn.Sequential(conv(w1, w2, 2), conv(w2, w2), conv(w2, w2, dilation=2))
        self.enc3 = nn.Sequential(conv(w2, w3, 2), conv(w3, w3, dilation=2),
                                  conv(w3, w3, dilation=4))
        self.dec2 = nn.Sequential(conv(w3 + w2, w2), conv(w2, w2))
        self.dec1 = nn.Sequential(conv(w2 + w1, w1), conv(w1, w1))
        self.dec0 = nn.Sequential(conv(w1 + w0, w0), conv(w0, w0))
        self.head = nn.Conv2d(w0, cout, 1)

    @staticmethod
    def input_groups(key: str, weight: torch.Tensor, widths) -> list[int]:
        """Sizes of the inputs a conv weight reads, for a net of `widths`: a decoder's first conv
        reads the upsampled coarser level concatenated with the skip; every other conv one
        tensor."""
        if key.startswith("dec") and key.endswith(".0.0.weight"):
            level = int(key[3])
            return [widths[level + 1], widths[level]]
        return [weight.shape[1]]

    def load_grown(self, state: dict) -> None:
        """Load a checkpoint of a narrower net (fewer channels per level, or fewer input planes).

        Old channels keep their weights; new ones start at random but every weight from a new
        channel into an old one starts at zero, so the grown net computes exactly what the old one
        did and the added channels learn from there (the Net2Net idea). Used to grow a trained model
        for the onnxruntime kernels' channel blocks (16 on AVX-512), where the wider layer costs
        almost nothing."""
        own = self.state_dict()
        old_widths = [state[f"enc{k}.0.0.weight"].shape[0] for k in range(4)]
        new_widths = [own[f"enc{k}.0.0.weight"].shape[0] for k in range(4)]
        grown = {}
        for key, new in own.items():
            old = state[key]
            if old.shape == new.shape:
                grown[key] = old
                continue
            value = new.clone()
            n = old.shape[0]
            if old.ndim == 4:
                value[:n] = 0
                src = dst = 0
                for o, g in zip(self.input_groups(key, old, old_widths),
                                self.input_groups(key, new, new_widths)):
                    value[:n, dst:dst + o] = old[:, src:src + o]
                    src, dst = src + o, dst + g
            else:
                value[:n] = old
            grown[key] = value
        self.load_state_dict(grown)

    def load_onnx(self, path, sample: torch.Tensor) -> None:
        """Start from a shipped ONNX file: checkpoints live in runs/, which is never committed.

        The export folded each BatchNorm into the conv before it, so the conv takes the folded
        weights and its BatchNorm is made to pass them through: running statistics and affine are
        this net's own activations on `sample` (a batch of training inputs). Eval then computes
        exactly the ONNX output, and training, whose BatchNorm uses each batch's statistics, starts
        close to it."""
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(str(path)).graph
        weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        folded = [[torch.from_numpy(weights[name].copy()) for name in node.input[1:]]
                  for node in graph.node if node.op_type == "Conv"]
        convs = self._run_order(nn.Conv2d, sample)
        if len(folded) != len(convs) or any(c.weight.shape != f[0].shape
                                            for c, f in zip(convs, folded)):
            raise ValueError(f"{path}: its convolutions do not match a {type(self).__name__}")
        norms = [m for m in self.modules() if isinstance(m, nn.BatchNorm2d)]
        stats = {}

        def record(bn, inputs, _output):
            stats[bn] = inputs[0].mean((0, 2, 3)), inputs[0].var((0, 2, 3), unbiased=False)

        with torch.no_grad():
            for c, (w, b) in zip(convs, folded):
                c.weight.copy_(w)
                c.bias.copy_(b)
            # identity first, so each conv's output is what the ONNX graph computes
            for bn in norms:
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0)
                bn.weight.fill_((1.0 + bn.eps) ** 0.5)
                bn.bias.zero_()
            hooks = [bn.register_forward_hook(record) for bn in norms]
            self.eval()
            self(sample)
            for h in hooks:
                h.remove()
            for bn in norms:
                mean, var = stats[bn]
                bn.running_mean.copy_(mean)
                bn.running_var.copy_(var)
                bn.weight.copy_((var + bn.eps).sqrt())
                bn.bias.copy_(mean)

    def _run_order(self, kind, sample) -> list:
        """Modules of `kind` in the order a forward pass on `sample` calls them (the ONNX graph's
        order)."""
        order = []
        hooks = [m.register_forward_hook(lambda m, i, o: order.append(m)) for m in self.modules()
                 if isinstance(m, kind)]
        with torch.no_grad():
            self.eval()
            self(sample[:1])
        for h in hooks:
            h.remove()
        return order

    @staticmethod
    def _up(x):
        # inputs are multiples of 8 (`multiple`), so each level is exactly twice the next. A
        # constant scale, not a size read from the tensor, lets onnxruntime run the Resize in its
        # blocked (NCHWc) layout: the same output (within 4.2e-7) in 0.85x the time of reordering
        # around it (1-MP tile, AVX2)
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)

    def features(self, x):
        e0 = self.enc0(x)
        e1 = self.enc1(e0)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([self._up(e3), e2], 1))
        d1 = self.dec1(torch.cat([self._up(d2), e1], 1))
        d0 = self.dec0(torch.cat([self._up(d1), e0], 1))
        return self.head(d0)


TOPHAT_SIZES = (3, 7, 11)          # px, at full resolution: dust specks, hairs, thin scratches
COARSE_TOPHATS = ((2, 11), (4, 11))  # (downsampling, px there): blotches about 22 and 44 px wide


def _max(x, k):
    # a k×k max is a k×1 max of a 1×k max: same result, 2k instead of k² comparisons per pixel
    return F.max_pool2d(F.max_pool2d(x, (1, k), 1, (0, k // 2)), (k, 1), 1, (k // 2, 0))


def _tophat_pair(x, k):
    return [x - _max(-_max(-x, k), k), -_max(-_max(x, k), k) - x]


def tophats(rgb):
    """White and black morphological top-hats of luminance: x − opening(x) lights up bright
    structures narrower than the kernel, closing(x) − x dark ones. These are the classical
    dust-and-scratch cues; giving them to the network (MaxPool only, so they export to ONNX) lets a
    small model learn quickly which of them are defects and which are texture. Wide ones are
    computed on a downsampled image and upsampled: a 41-px MaxPool at full resolution would double
    the model's run time in onnxruntime."""
    luma = 0.299 * rgb[:, 0:1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3]
    out = []
    for k in TOPHAT_SIZES:
        out += _tophat_pair(luma, k)
    for factor, k in COARSE_TOPHATS:
        coarse = _tophat_pair(F.avg_pool2d(luma, factor), k)
        out += [F.interpolate(t, scale_factor=float(factor), mode="bilinear", align_corners=False)
                for t in coarse]
    return torch.cat(out, 1)


class Detector(UNet):
    """RGB in [0, 1] → defect probability (sigmoid applied inside, so the ONNX output is a
    probability)."""

    def __init__(self):
        super().__init__(3 + 2 * (len(TOPHAT_SIZES) + len(COARSE_TOPHATS)), 1,
                         widths=(16, 16, 32, 64))

    def logits(self, rgb):
        return self.features(torch.cat([rgb - 0.5, 4.0 * tophats(rgb)], 1))

    def forward(self, rgb):
        return torch.sigmoid(self.logits(rgb))


class Restorer(UNet):
    """Damaged RGB + hole mask + a classical (Telea) prefill → repaired RGB.

    The network predicts a correction to the prefill, with its last layer initialised to zero, so it
    starts exactly at Telea's quality and learns what Telea cannot: reusing the picture that shows
    through a semi-transparent defect, continuing texture and grain. Outside the hole the damaged
    input passes through unchanged.

    A fourth output is a gate: how much of the damaged pixel to keep as it is. Holes are grown
    around the defect and the user's mask holds false positives, so many hole pixels are fine
    already; without the gate the network has to rebuild them through the prefill and adds error
    there (measured on validation crops: 58× the damage's own error where defect opacity is below
    0.02). The gate starts almost shut (sigmoid(−4) = 0.018), so a restorer grown from one without
    it starts close to it.
    """
    GATE_BIAS = -4.0

    def __init__(self):
        super().__init__(7, 4, widths=(16, 24, 48, 64))
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        nn.init.constant_(self.head.bias[3:], self.GATE_BIAS)

    def forward(self, x):
        rgb, mask, prefill = x[:, :3], x[:, 3:4], x[:, 4:7]
        out = self.features(torch.cat([rgb - 0.5, mask, prefill - 0.5], 1))
        fill = torch.clamp(prefill + out[:, :3], 0.0, 1.0)
        repaired = fill + torch.sigmoid(out[:, 3:4]) * (rgb - fill)
        return rgb * (1 - mask) + repaired * mask
