"""Reference networks written here (torchvision's wheel does not import beside the CPU torch).

Each follows its paper / torchvision definition; ``width`` scales channel counts so tests stay
fast while benchmarks use the real sizes. :func:`seeded` gives every parameter seeded random
values and every batch norm non-trivial running statistics, so a wrong normalisation shows.

>>> net = seeded(lenet5())
>>> tuple(net(torch.zeros(2, 1, 32, 32)).shape)
(2, 10)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def seeded(net: nn.Module, seed: int = 0) -> nn.Module:
    """``net`` in eval mode with seeded weights and batch-norm statistics far from (0, 1)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(
                    torch.randn(module.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5
                )
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
            elif isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                assert module.running_mean is not None and module.running_var is not None
                module.running_mean.copy_(torch.randn(c, generator=gen) * 0.2)
                module.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
                module.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(c, generator=gen) * 0.1)
            elif isinstance(module, nn.LayerNorm) and module.weight is not None:
                module.weight.copy_(torch.rand(module.weight.shape, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
        for name, p in net.named_parameters():
            if name.endswith("layer_scale"):
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
    return net.eval()


def conv_bn(
    cin: int,
    cout: int,
    k: int = 3,
    stride: int = 1,
    groups: int = 1,
    act: type[nn.Module] | None = nn.ReLU,
) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------- LeNet-5
def lenet5() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5),
        nn.BatchNorm2d(6),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.BatchNorm2d(16),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120),
        nn.Tanh(),
        nn.Linear(120, 84),
        nn.Tanh(),
        nn.Linear(84, 10),
    )


# ----------------------------------------------------------------------------- VGG-11-BN
def vgg11_bn(width: float = 1.0, classes: int = 1000, hidden: int = 4096) -> nn.Module:
    cfg: list[int | str] = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
    layers: list[nn.Module] = []
    cin = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            cout = max(8, int(int(v) * width))
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(True)]
            cin = cout

    class VGG(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(cin * 49, hidden),
                nn.ReLU(True),
                nn.Dropout(),
                nn.Linear(hidden, hidden),
                nn.ReLU(True),
                nn.Dropout(),
                nn.Linear(hidden, classes),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.avgpool(self.features(x))
            return self.classifier(torch.flatten(x, 1))

    return VGG()


# ----------------------------------------------------------------------------- ResNet
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
            if stride != 1 or cin != planes
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))
            if stride != 1 or cin != out
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        y += identity
        return self.relu(y)


class ResNet(nn.Module):
    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: list[int],
        width: float = 1.0,
        classes: int = 1000,
    ) -> None:
        super().__init__()
        w = [max(8, int(c * width)) for c in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(3, w[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = w[0]
        stages = []
        for i, (planes, n) in enumerate(zip(w, layers, strict=True)):
            blocks = []
            for j in range(n):
                blocks.append(block(cin, planes, 2 if i > 0 and j == 0 else 1))
                cin = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(width: float = 1.0) -> nn.Module:
    return ResNet(BasicBlock, [2, 2, 2, 2], width)


def bottleneck_block() -> nn.Module:
    return Bottleneck(64, 32, stride=2)


# ----------------------------------------------------------------------------- MobileNetV2
class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(conv_bn(cin, hidden, 1, act=nn.ReLU6))
        layers += [
            conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


def mobilenet_v2(width: float = 1.0, classes: int = 1000) -> nn.Module:
    cfg = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]
    cin = max(8, int(32 * width))
    layers: list[nn.Module] = [conv_bn(3, cin, 3, 2, act=nn.ReLU6)]
    for t, c, n, s in cfg:
        cout = max(8, int(c * width))
        for i in range(n):
            layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
            cin = cout
    last = max(8, int(1280 * max(1.0, width)))
    layers.append(conv_bn(cin, last, 1, act=nn.ReLU6))

    class MobileNetV2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, classes))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
            return self.classifier(torch.flatten(x, 1))

    return MobileNetV2()


# ----------------------------------------------------------------------------- SqueezeNet 1.1
class Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, e1: int, e3: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [
                self.expand1x1_activation(self.expand1x1(x)),
                self.expand3x3_activation(self.expand3x3(x)),
            ],
            1,
        )


def squeezenet1_1(classes: int = 1000) -> nn.Module:
    class SqueezeNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, 3, 2),
                nn.ReLU(True),
                nn.MaxPool2d(3, 2, ceil_mode=True),
                Fire(64, 16, 64, 64),
                Fire(128, 16, 64, 64),
                nn.MaxPool2d(3, 2, ceil_mode=True),
                Fire(128, 32, 128, 128),
                Fire(256, 32, 128, 128),
                nn.MaxPool2d(3, 2, ceil_mode=True),
                Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256),
                Fire(512, 64, 256, 256),
            )
            self.classifier = nn.Sequential(
                nn.Dropout(0.5),
                nn.Conv2d(512, classes, 1),
                nn.ReLU(True),
                nn.AdaptiveAvgPool2d((1, 1)),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.flatten(self.classifier(self.features(x)), 1)

    return SqueezeNet()


# ----------------------------------------------------------------------------- DenseNet block
class DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int, bn_size: int = 4) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(self.relu1(self.norm1(x)))
        return self.conv2(self.relu2(self.norm2(y)))


class DenseBlock(nn.Module):
    def __init__(self, layers: int = 4, cin: int = 32, growth: int = 12) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DenseLayer(cin + i * growth, growth) for i in range(layers))
        self.transition = nn.Sequential(
            nn.BatchNorm2d(cin + layers * growth),
            nn.ReLU(True),
            nn.Conv2d(cin + layers * growth, cin, 1, bias=False),
            nn.AvgPool2d(2, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))
        return self.transition(torch.cat(features, 1))


# ----------------------------------------------------------------------------- MobileNetV3 block
class SqueezeExcitation(nn.Module):
    def __init__(self, c: int, squeeze: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.relu = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        s = self.scale_activation(self.fc2(self.relu(self.fc1(s))))
        return s * x


class MobileNetV3Block(nn.Module):
    def __init__(self, cin: int = 24, expanded: int = 72, cout: int = 24) -> None:
        super().__init__()
        self.expand = conv_bn(cin, expanded, 1, act=nn.Hardswish)
        self.depthwise = conv_bn(expanded, expanded, 5, 1, groups=expanded, act=nn.Hardswish)
        self.se = SqueezeExcitation(expanded, expanded // 4)
        self.project = conv_bn(expanded, cout, 1, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project(self.se(self.depthwise(self.expand(x))))


# ----------------------------------------------------------------------------- ShuffleNetV2 unit
def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.size()
    x = x.view(b, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(b, -1, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, c: int = 48) -> None:
        super().__init__()
        half = c // 2
        self.branch2 = nn.Sequential(
            nn.Conv2d(half, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(True),
            nn.Conv2d(half, half, 3, 1, 1, groups=half, bias=False),
            nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=1)
        return channel_shuffle(torch.cat((x1, self.branch2(x2)), dim=1), 2)


# ----------------------------------------------------------------------------- EfficientNet MBConv
class MBConv(nn.Module):
    def __init__(self, cin: int = 16, expand: int = 6, cout: int = 16) -> None:
        super().__init__()
        hidden = cin * expand
        self.expand = conv_bn(cin, hidden, 1, act=nn.SiLU)
        self.depthwise = conv_bn(hidden, hidden, 3, 1, groups=hidden, act=nn.SiLU)
        self.fc1 = nn.Conv2d(hidden, max(1, cin // 4), 1)
        self.fc2 = nn.Conv2d(max(1, cin // 4), hidden, 1)
        self.act = nn.SiLU()
        self.project = conv_bn(hidden, cout, 1, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.depthwise(self.expand(x))
        s = torch.sigmoid(self.fc2(self.act(self.fc1(y.mean((2, 3), keepdim=True)))))
        return x + self.project(y * s)


# ----------------------------------------------------------------------------- ConvNeXt block
class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int = 32) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.layer_scale = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        y = (self.layer_scale * y).permute(0, 3, 1, 2)
        return x + y


# ----------------------------------------------------------------------------- SegNet
class SegNet(nn.Module):
    def __init__(self, cin: int = 3, width: int = 16, classes: int = 5) -> None:
        super().__init__()
        w1, w2 = width, 2 * width
        self.enc1 = conv_bn(cin, w1)
        self.enc2 = conv_bn(w1, w2)
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.dec2 = conv_bn(w2, w1)
        self.dec1 = nn.Conv2d(w1, classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        p1, i1 = self.pool(e1)
        e2 = self.enc2(p1)
        p2, i2 = self.pool(e2)
        d2 = self.dec2(self.unpool(p2, i2, output_size=e2.size()))
        return self.dec1(self.unpool(d2, i1, output_size=e1.size()))


# ----------------------------------------------------------------------------- UNet
class UNet(nn.Module):
    def __init__(self, cin: int = 3, width: int = 8, classes: int = 2) -> None:
        super().__init__()
        w = [width, 2 * width, 4 * width]

        def double(a: int, b: int) -> nn.Sequential:
            return nn.Sequential(conv_bn(a, b), conv_bn(b, b))

        self.inc = double(cin, w[0])
        self.down1 = nn.Sequential(nn.MaxPool2d(2), double(w[0], w[1]))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), double(w[1], w[2]))
        self.up1 = nn.ConvTranspose2d(w[2], w[1], 2, stride=2)
        self.conv1 = double(2 * w[1], w[1])
        self.up2 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv2 = double(w[1] + w[0], w[0])
        self.outc = nn.Conv2d(w[0], classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        y = self.conv1(torch.cat([x2, self.up1(x3)], dim=1))
        y = self.conv2(torch.cat([x1, self.up2(y)], dim=1))
        return self.outc(y)


NETWORKS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "lenet5": (lenet5, (2, 1, 32, 32)),
    "vgg11_bn": (lambda: vgg11_bn(width=0.25, hidden=256, classes=10), (2, 3, 32, 32)),
    "resnet18": (resnet18, (2, 3, 64, 64)),
    "bottleneck": (bottleneck_block, (2, 64, 16, 16)),
    "mobilenet_v2": (mobilenet_v2, (2, 3, 64, 64)),
    "squeezenet1_1": (squeezenet1_1, (2, 3, 64, 64)),
    "densenet_block": (DenseBlock, (2, 32, 16, 16)),
    "mobilenet_v3_block": (MobileNetV3Block, (2, 24, 16, 16)),
    "shufflenet_v2_unit": (ShuffleUnit, (2, 48, 16, 16)),
    "efficientnet_mbconv": (MBConv, (2, 16, 16, 16)),
    "convnext_block": (ConvNeXtBlock, (2, 32, 14, 14)),
    "segnet": (SegNet, (2, 3, 32, 32)),
    "unet": (UNet, (2, 3, 32, 32)),
}
"""Name -> (factory, test input shape). Benchmarks use the full-size factories directly."""
