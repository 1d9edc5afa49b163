#!/usr/bin/python3
"""One MTT iteration (docs/algorithms.md §7) at IPC 10 on Fashion-MNIST (ConvNet-3,
100 synthetic images, batch_syn all, DSA per sample) in Python torch (Debian's
python3-torch), written the way GeorgeCazenavette/mtt-distillation distill.py
does it: a ReparamModule-style network called with one flat parameter vector,
the student's parameters appended to a list step by step
(student_params.append(student_params[-1] - syn_lr * grad) with
create_graph=True), one backward of the normalized parameter distance through
all steps, SGD with momentum 0.5 on the images and on syn_lr. The Python side of
bench/mtt_speed.sh, the same work as bench/bench_mtt_iteration.cpp.

    /usr/bin/python3 bench/mtt_iteration_python.py [--syn-steps 30] [--iterations 1] [--ipc 10]

Prints, e.g.
    method=mtt seconds_per_iteration=41.2 syn_steps=10 iterations=2 threads=2 peak_rss_mb=8123 impl=python
The reference keeps the graph of every step: its memory grows with syn_steps
(about 0.7 GB per step at IPC 10), so 30 steps do not fit in 23 GB.
The ConvNet, the DiffAugment port and the data reader are shared with
bench/distill_iteration_python.py (the DC/DSA/DM side).
"""
import argparse
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from distill_iteration_python import ConvNet, DsaParam, diff_augment, load_fashion_mnist  # noqa: E402

STRATEGY = "color_crop_cutout_flip_scale_rotate"  # ddkit drops flip for MNIST digits only


class ReparamModule(nn.Module):
    """The reference's reparam_module.py, reduced to what distill.py uses: the
    module's parameters replaced by views of one flat vector at call time."""

    def __init__(self, module):
        super().__init__()
        self.module = module
        self._infos, shapes, numels, params = [], [], [], []
        for mn, m in module.named_modules():
            for n, p in m.named_parameters(recurse=False):
                self._infos.append((m, n))
                shapes.append(p.shape)
                numels.append(p.numel())
                params.append(p.detach())
        self._shapes, self._numels = shapes, numels
        self.flat_param = nn.Parameter(torch.cat([p.reshape(-1) for p in params]))
        for m, n in self._infos:
            delattr(m, n)

    def forward(self, x, flat_param):
        for (m, n), t, s in zip(self._infos, flat_param.split(self._numels), self._shapes):
            setattr(m, n, t.view(s))
        return self.module(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--syn-steps", type=int, default=30)
    ap.add_argument("--iterations", type=int, default=1)
    ap.add_argument("--ipc", type=int, default=10)
    ap.add_argument("--data-dir", default="/usr/share/datasets")
    args = ap.parse_args()
    torch.manual_seed(0)
    num_classes = 10
    data = load_fashion_mnist(args.data_dir)
    if data is not None:
        images_all, labels_all = data
        image_syn = torch.cat([images_all[labels_all == c][: args.ipc] for c in range(num_classes)])
    else:
        image_syn = torch.randn(num_classes * args.ipc, 1, 28, 28)
    label_syn = torch.arange(num_classes).repeat_interleave(args.ipc)
    image_syn = image_syn.detach().requires_grad_(True)
    syn_lr = torch.tensor(0.01).requires_grad_(True)
    optimizer_img = torch.optim.SGD([image_syn], lr=1000, momentum=0.5)
    optimizer_lr = torch.optim.SGD([syn_lr], lr=1e-5, momentum=0.5)
    criterion = nn.CrossEntropyLoss()
    param = DsaParam()
    # A synthetic expert trajectory (the work does not depend on the values).
    theta = torch.cat([p.detach().reshape(-1) for p in ConvNet().parameters()])
    trajectory = [theta + 0.01 * e * torch.randn_like(theta) for e in range(5)]
    batch_syn = num_classes * args.ipc

    def iteration():
        student_net = ReparamModule(ConvNet())
        student_net.train()
        num_params = sum(p.numel() for p in student_net.parameters())
        start_epoch = int(torch.randint(0, 2, (1,)))
        starting_params = trajectory[start_epoch]
        target_params = trajectory[start_epoch + 2]
        student_params = [starting_params.clone().requires_grad_(True)]
        indices_chunks = []
        for _ in range(args.syn_steps):
            if not indices_chunks:
                indices_chunks = list(torch.split(torch.randperm(len(image_syn)), batch_syn))
            these = indices_chunks.pop()
            x = diff_augment(image_syn[these], STRATEGY, param=param)
            out = student_net(x, flat_param=student_params[-1])
            ce = criterion(out, label_syn[these])
            grad = torch.autograd.grad(ce, student_params[-1], create_graph=True)[0]
            student_params.append(student_params[-1] - syn_lr * grad)
        param_loss = F.mse_loss(student_params[-1], target_params, reduction="sum") / num_params
        param_dist = F.mse_loss(starting_params, target_params, reduction="sum") / num_params
        grand_loss = param_loss / param_dist
        optimizer_img.zero_grad()
        optimizer_lr.zero_grad()
        grand_loss.backward()
        optimizer_img.step()
        optimizer_lr.step()
        for p in student_params:
            del p
        return float(grand_loss)

    # No warm-up (as bench_mtt_iteration): an iteration takes minutes here.
    start = time.time()
    for _ in range(args.iterations):
        iteration()
    seconds = (time.time() - start) / args.iterations
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"method=mtt seconds_per_iteration={seconds:.2f} syn_steps={args.syn_steps} iterations={args.iterations} "
          f"threads={torch.get_num_threads()} peak_rss_mb={rss_mb:.0f} impl=python")


if __name__ == "__main__":
    main()
