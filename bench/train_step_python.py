#!/usr/bin/python3
"""The ConvNet-3 training step of bench_train_step, in Python torch (Debian's
python3-torch), written the way VICO-UoE/DatasetCondensation builds ConvNet:
nn.Sequential of conv -> GroupNorm(C, C) -> ReLU -> AvgPool per block.

    /usr/bin/python3 bench/train_step_python.py [--seconds 10]
Prints training and inference images/second and the thread count in use.
"""
import argparse
import time

import torch
import torch.nn as nn


def convnet(channel=1, num_classes=10, width=128, depth=3, im_size=28):
    layers, in_c, size = [], channel, 32 if im_size == 28 else im_size
    for d in range(depth):
        pad = 3 if (channel == 1 and im_size == 28 and d == 0) else 1
        layers += [nn.Conv2d(in_c, width, 3, padding=pad), nn.GroupNorm(width, width, affine=True),
                   nn.ReLU(inplace=True), nn.AvgPool2d(2, 2)]
        in_c, size = width, size // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * size * size, num_classes))


def rate(step, images, seconds):
    for _ in range(3):
        step()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        done += images
    return done / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    torch.manual_seed(0)
    net = convnet()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x, y = torch.randn(256, 1, 28, 28), torch.randint(0, 10, (256,))
    loss_fn = nn.CrossEntropyLoss()

    def train_step():
        loss = loss_fn(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()

    def infer():
        with torch.no_grad():
            net(x).sum().item()

    print(f"python torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"train step batch 256: {rate(train_step, 256, args.seconds):.1f} img/s")
    print(f"inference batch 256: {rate(infer, 256, args.seconds / 2):.1f} img/s")


if __name__ == "__main__":
    main()
