#!/usr/bin/python3
"""One distillation iteration of DC, DSA and DM at IPC 10 on Fashion-MNIST
(ConvNet-3), in Python torch (Debian's python3-torch), written the way the
reference implementation VICO-UoE/DatasetCondensation does it (main.py for
DC/DSA, main_DM.py for DM, utils.py for DiffAugment, match_loss and epoch,
networks.py for ConvNet) — the Python side of bench/distill_speed.sh, the same
work as bench/bench_distill_iteration.cpp.

    /usr/bin/python3 bench/distill_iteration_python.py [--methods dc,dsa,dm]
        [--iterations N] [--warmup short|full|none] [--ipc 10]
        [--outer-loop N] [--inner-loop N] [--data-dir DIR] [--random-data]

Like the reference (and unlike ddkit, which batches all classes), DM embeds one
class per forward pass; DSA draws a fresh Siamese seed from the clock per class
and re-seeds torch's global generator before every draw; the scale/rotate maps
are built per sample in Python lists; the inner loop goes through a
DataLoader and `epoch()`'s per-batch loss.item() and numpy accuracy.
--iterations defaults to 1 for dc/dsa and 5 for dm; the warm-up is the same as
bench_distill_iteration's ("short": a DC/DSA iteration with outer loop 2, inner
loop 2; DM: one full iteration); "dm-only" skips the DC/DSA warm-up.
Prints one line per method, e.g.
    method=dc seconds_per_iteration=75.1 iterations=1 threads=1 impl=python
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.2861, 0.3530  # Fashion-MNIST (docs/algorithms.md §1)
STRATEGY = "color_crop_cutout_flip_scale_rotate"


# ---------------------------------------------------------------- data


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_fashion_mnist(data_dir):
    """The training split, normalized, as one tensor (the reference keeps
    images_all on the device), or None if the files are not there."""
    for folder in (os.path.join(data_dir, "fashion-mnist"), data_dir):
        for suffix in (".gz", ""):
            images = os.path.join(folder, "train-images-idx3-ubyte" + suffix)
            labels = os.path.join(folder, "train-labels-idx1-ubyte" + suffix)
            if os.path.exists(images) and os.path.exists(labels):
                x = torch.from_numpy(read_idx(images).astype(np.float32) / 255.0).unsqueeze(1)
                y = torch.from_numpy(read_idx(labels).astype(np.int64))
                return (x - MEAN) / STD, y
    return None


# ---------------------------------------------------------------- ConvNet-3


class ConvNet(nn.Module):
    """depth x [conv 3x3 -> GroupNorm(C, C) ("instancenorm") -> ReLU -> AvgPool 2],
    flatten, linear; 28x28x1 input gets padding 3 in the first conv (-> 32x32)."""

    def __init__(self, channel=1, num_classes=10, width=128, depth=3, im_size=(28, 28)):
        super().__init__()
        size = (32, 32) if im_size[0] == 28 else im_size
        layers, in_c = [], channel
        for d in range(depth):
            layers.append(nn.Conv2d(in_c, width, kernel_size=3, padding=3 if channel == 1 and d == 0 else 1))
            layers.append(nn.GroupNorm(width, width, affine=True))
            layers.append(nn.ReLU(inplace=True))
            layers.append(nn.AvgPool2d(kernel_size=2, stride=2))
            in_c, size = width, (size[0] // 2, size[1] // 2)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width * size[0] * size[1], num_classes)

    def embed(self, x):
        out = self.features(x)
        # The reference's out.view(out.size(0), -1) fails on CPU after DSA's crop
        # of 1-channel images: the crop's permute leaves strides that are also
        # channels-last, oneDNN's conv then keeps the net channels-last and the
        # view is impossible. reshape copies in that case (ddkit's flatten(1) too).
        return out.reshape(out.size(0), -1)

    def forward(self, x):
        return self.classifier(self.embed(x))


# ---------------------------------------------------------------- DSA (DiffAugment)


class DsaParam:
    def __init__(self):
        self.aug_mode = "S"
        self.prob_flip = 0.5
        self.ratio_scale = 1.2
        self.ratio_rotate = 15.0
        self.ratio_crop_pad = 0.125
        self.ratio_cutout = 0.5
        self.brightness = 1.0
        self.saturation = 2.0
        self.contrast = 0.5
        self.siamese = False
        self.latestseed = -1


def reseed(param):
    # Siamese: re-seed the global generator before every draw, the seed advancing by one.
    if param.latestseed != -1:
        torch.random.manual_seed(param.latestseed)
        param.latestseed += 1


def share_first(t, param):
    if param.siamese:
        t[:] = t[0]
    return t


def aug_scale(x, param):
    r = param.ratio_scale
    reseed(param)
    sx = torch.rand(x.shape[0]) * (r - 1.0 / r) + 1.0 / r
    reseed(param)
    sy = torch.rand(x.shape[0]) * (r - 1.0 / r) + 1.0 / r
    # The maps are built per sample from Python lists, as the reference does.
    theta = torch.tensor([[[sx[i], 0, 0], [0, sy[i], 0]] for i in range(x.shape[0])], dtype=torch.float)
    theta = share_first(theta, param)
    grid = F.affine_grid(theta, x.shape, align_corners=True).to(x.device)
    return F.grid_sample(x, grid, align_corners=True)


def aug_rotate(x, param):
    reseed(param)
    angle = (torch.rand(x.shape[0]) - 0.5) * 2 * param.ratio_rotate / 180 * float(np.pi)
    theta = torch.tensor([[[torch.cos(angle[i]), torch.sin(-angle[i]), 0],
                           [torch.sin(angle[i]), torch.cos(angle[i]), 0]] for i in range(x.shape[0])],
                         dtype=torch.float)
    theta = share_first(theta, param)
    grid = F.affine_grid(theta, x.shape, align_corners=True).to(x.device)
    return F.grid_sample(x, grid, align_corners=True)


def aug_flip(x, param):
    reseed(param)
    u = share_first(torch.rand(x.size(0), 1, 1, 1, device=x.device), param)
    return torch.where(u < param.prob_flip, x.flip(3), x)


def aug_brightness(x, param):
    reseed(param)
    u = share_first(torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device), param)
    return x + (u - 0.5) * param.brightness


def aug_saturation(x, param):
    gray = x.mean(dim=1, keepdim=True)
    reseed(param)
    u = share_first(torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device), param)
    return (x - gray) * (u * param.saturation) + gray


def aug_contrast(x, param):
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    reseed(param)
    u = share_first(torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device), param)
    return (x - mean) * (u + param.contrast) + mean


def aug_crop(x, param):
    # Zero-pad by one pixel, then gather a translated window (clamped onto the border).
    n, h, w = x.size(0), x.size(2), x.size(3)
    sh, sw = int(h * param.ratio_crop_pad + 0.5), int(w * param.ratio_crop_pad + 0.5)
    reseed(param)
    dy = torch.randint(-sh, sh + 1, size=[n, 1, 1], device=x.device)
    reseed(param)
    dx = torch.randint(-sw, sw + 1, size=[n, 1, 1], device=x.device)
    dy, dx = share_first(dy, param), share_first(dx, param)
    gb, gy, gx = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(h, device=x.device),
                                torch.arange(w, device=x.device), indexing="ij")
    gy = torch.clamp(gy + dy + 1, 0, h + 1)
    gx = torch.clamp(gx + dx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return padded.permute(0, 2, 3, 1).contiguous()[gb, gy, gx].permute(0, 3, 1, 2)


def aug_cutout(x, param):
    n, h, w = x.size(0), x.size(2), x.size(3)
    ch, cw = int(h * param.ratio_cutout + 0.5), int(w * param.ratio_cutout + 0.5)
    reseed(param)
    oy = torch.randint(0, h + (1 - ch % 2), size=[n, 1, 1], device=x.device)
    reseed(param)
    ox = torch.randint(0, w + (1 - cw % 2), size=[n, 1, 1], device=x.device)
    oy, ox = share_first(oy, param), share_first(ox, param)
    gb, gy, gx = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(ch, device=x.device),
                                torch.arange(cw, device=x.device), indexing="ij")
    gy = torch.clamp(gy + oy - ch // 2, min=0, max=h - 1)
    gx = torch.clamp(gx + ox - cw // 2, min=0, max=w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gy, gx] = 0
    return x * mask.unsqueeze(1)


FAMILIES = {
    "color": [aug_brightness, aug_saturation, aug_contrast],
    "crop": [aug_crop],
    "cutout": [aug_cutout],
    "flip": [aug_flip],
    "scale": [aug_scale],
    "rotate": [aug_rotate],
}


def diff_augment(x, strategy, seed=-1, param=None):
    """Mode S: one family per call, chosen by a (re-seeded) draw; seed -1 means
    per-sample parameters, any other seed the Siamese transform."""
    if strategy in ("", "None", "none"):
        return x
    param.siamese = seed != -1
    param.latestseed = seed
    names = strategy.split("_")
    if param.aug_mode == "M":
        for name in names:
            for fn in FAMILIES[name]:
                x = fn(x, param)
    else:
        reseed(param)
        for fn in FAMILIES[names[torch.randint(0, len(names), size=(1,)).item()]]:
            x = fn(x, param)
    return x.contiguous()


# ---------------------------------------------------------------- matching pieces


def layer_distance(gr, gs):
    """'ours': per output row 1 - cos, summed; 1-D tensors (biases, norms) skipped."""
    if gr.dim() == 1:
        return torch.tensor(0, dtype=torch.float, device=gr.device)
    if gr.dim() > 2:
        gr = gr.reshape(gr.shape[0], -1)
        gs = gs.reshape(gs.shape[0], -1)
    return torch.sum(1 - torch.sum(gr * gs, dim=-1) / (torch.norm(gr, dim=-1) * torch.norm(gs, dim=-1) + 0.000001))


def match_loss(gw_syn, gw_real, device):
    dis = torch.tensor(0.0).to(device)
    for gr, gs in zip(gw_real, gw_syn):
        dis += layer_distance(gr, gs)
    return dis


def train_epoch(loader, net, optimizer, criterion, dsa, param, device):
    """The reference's epoch('train', ...): per batch (DSA without a seed when
    dsa), forward, loss.item(), numpy accuracy, SGD step."""
    net.train()
    loss_sum, correct, seen = 0.0, 0, 0
    for img, lab in loader:
        img, lab = img.float().to(device), lab.long().to(device)
        if dsa:
            img = diff_augment(img, STRATEGY, param=param)
        out = net(img)
        loss = criterion(out, lab)
        correct += np.sum(np.equal(np.argmax(out.cpu().data.numpy(), axis=-1), lab.cpu().data.numpy()))
        loss_sum += loss.item() * lab.shape[0]
        seen += lab.shape[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss_sum / seen, correct / seen


def clock_seed():
    return int(time.time() * 1000) % 100000


# ---------------------------------------------------------------- one iteration


class Distiller:
    def __init__(self, images_all, labels_all, ipc, num_classes, device):
        self.images_all, self.ipc, self.num_classes, self.device = images_all, ipc, num_classes, device
        self.indices_class = [[] for _ in range(num_classes)]
        for i, lab in enumerate(labels_all.tolist()):
            self.indices_class[lab].append(i)
        self.channel, self.im_size = images_all.shape[1], tuple(images_all.shape[2:])
        # Initial images: distinct random real images per class.
        self.image_syn = torch.randn(size=(num_classes * ipc, self.channel, *self.im_size), dtype=torch.float,
                                     requires_grad=True, device=device)
        for c in range(num_classes):
            self.image_syn.data[c * ipc:(c + 1) * ipc] = self.get_images(c, ipc).detach().data
        self.label_syn = torch.tensor(np.array([np.ones(ipc) * i for i in range(num_classes)]), dtype=torch.long,
                                      requires_grad=False, device=device).view(-1)
        self.param = DsaParam()
        self.criterion = nn.CrossEntropyLoss().to(device)

    def get_images(self, c, n):
        idx = np.random.permutation(self.indices_class[c])[:n]
        return self.images_all[idx]

    def class_syn(self, c):
        return self.image_syn[c * self.ipc:(c + 1) * self.ipc].reshape((self.ipc, self.channel, *self.im_size))

    def new_net(self):
        return ConvNet(self.channel, self.num_classes, im_size=self.im_size).to(self.device)


class GradientMatching(Distiller):
    """main.py, one `it` of the training loop (DC, or DSA with dsa=True)."""

    def __init__(self, *a, dsa, outer_loop, inner_loop, lr_img=0.1, lr_net=0.01, batch_real=256, batch_train=256,
                 **k):
        super().__init__(*a, **k)
        self.dsa, self.outer_loop, self.inner_loop = dsa, outer_loop, inner_loop
        self.lr_net, self.batch_real, self.batch_train = lr_net, batch_real, batch_train
        self.optimizer_img = torch.optim.SGD([self.image_syn], lr=lr_img, momentum=0.5)
        self.optimizer_img.zero_grad()

    def step(self):
        net = self.new_net()
        net.train()
        net_parameters = list(net.parameters())
        optimizer_net = torch.optim.SGD(net.parameters(), lr=self.lr_net)
        optimizer_net.zero_grad()
        loss_avg = 0.0
        for ol in range(self.outer_loop):
            loss = torch.tensor(0.0).to(self.device)
            for c in range(self.num_classes):
                img_real = self.get_images(c, self.batch_real)
                lab_real = torch.ones((img_real.shape[0],), device=self.device, dtype=torch.long) * c
                img_syn = self.class_syn(c)
                lab_syn = torch.ones((self.ipc,), device=self.device, dtype=torch.long) * c
                if self.dsa:
                    seed = clock_seed()
                    img_real = diff_augment(img_real, STRATEGY, seed=seed, param=self.param)
                    img_syn = diff_augment(img_syn, STRATEGY, seed=seed, param=self.param)
                gw_real = torch.autograd.grad(self.criterion(net(img_real), lab_real), net_parameters)
                gw_real = [g.detach().clone() for g in gw_real]
                gw_syn = torch.autograd.grad(self.criterion(net(img_syn), lab_syn), net_parameters, create_graph=True)
                loss += match_loss(gw_syn, gw_real, self.device)
            self.optimizer_img.zero_grad()
            loss.backward()
            self.optimizer_img.step()
            loss_avg += loss.item()
            if ol == self.outer_loop - 1:
                break
            # Train the network on a detached copy of the synthetic set.
            syn_train = torch.utils.data.TensorDataset(self.image_syn.detach().clone(), self.label_syn.detach().clone())
            loader = torch.utils.data.DataLoader(syn_train, batch_size=self.batch_train, shuffle=True, num_workers=0)
            for _ in range(self.inner_loop):
                train_epoch(loader, net, optimizer_net, self.criterion, self.dsa, self.param, self.device)
        return loss_avg / (self.num_classes * self.outer_loop)


class DistributionMatching(Distiller):
    """main_DM.py, one `it` for ConvNet: one forward pass per class."""

    def __init__(self, *a, lr_img=1.0, batch_real=256, **k):
        super().__init__(*a, **k)
        self.batch_real = batch_real
        self.optimizer_img = torch.optim.SGD([self.image_syn], lr=lr_img, momentum=0.5)
        self.optimizer_img.zero_grad()

    def step(self):
        net = self.new_net()
        net.train()
        for p in net.parameters():
            p.requires_grad = False
        loss = torch.tensor(0.0).to(self.device)
        for c in range(self.num_classes):
            img_real = self.get_images(c, self.batch_real)
            img_syn = self.class_syn(c)
            seed = clock_seed()
            img_real = diff_augment(img_real, STRATEGY, seed=seed, param=self.param)
            img_syn = diff_augment(img_syn, STRATEGY, seed=seed, param=self.param)
            out_real = net.embed(img_real).detach()
            out_syn = net.embed(img_syn)
            loss += torch.sum((torch.mean(out_real, dim=0) - torch.mean(out_syn, dim=0)) ** 2)
        self.optimizer_img.zero_grad()
        loss.backward()
        self.optimizer_img.step()
        return loss.item() / self.num_classes


# ---------------------------------------------------------------- main


def published_loops(ipc):
    loops = {1: (1, 1), 10: (10, 50), 20: (20, 25), 30: (30, 20), 40: (40, 15), 50: (50, 10)}
    if ipc not in loops:
        raise SystemExit(f"loops are published for IPC {sorted(loops)} only; give --outer-loop and --inner-loop")
    return loops[ipc]


def make(method, data, ipc, outer, inner):
    images_all, labels_all = data
    common = dict(ipc=ipc, num_classes=10, device="cpu")
    if method == "dm":
        return DistributionMatching(images_all, labels_all, **common)
    return GradientMatching(images_all, labels_all, dsa=method == "dsa", outer_loop=outer, inner_loop=inner, **common)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--methods", default="dc,dsa,dm")
    parser.add_argument("--iterations", type=int, default=0, help="0: 1 for dc/dsa, 5 for dm")
    parser.add_argument("--warmup", choices=["short", "full", "none", "dm-only"], default="short",
                        help="short: DC/DSA with outer loop 2, inner loop 2, DM one iteration; "
                             "dm-only: no DC/DSA warm-up (at 1 thread their iteration is minutes long)")
    parser.add_argument("--ipc", type=int, default=10)
    parser.add_argument("--outer-loop", type=int, default=0)
    parser.add_argument("--inner-loop", type=int, default=0)
    parser.add_argument("--data-dir", default="/usr/share/datasets")
    parser.add_argument("--random-data", action="store_true", help="random tensors instead of Fashion-MNIST")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        if m not in ("dc", "dsa", "dm"):
            raise SystemExit(f"unknown method '{m}' (dc, dsa, dm)")

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    data = None if args.random_data else load_fashion_mnist(args.data_dir)
    source = "fashion-mnist"
    if data is None:
        source = "random tensors"
        data = (torch.randn(60000, 1, 28, 28), torch.arange(60000) % 10)
    print(f"# python torch {torch.__version__}, threads {torch.get_num_threads()}, data {source}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} "
          f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')}", flush=True)

    for method in methods:
        outer, inner = args.outer_loop, args.inner_loop
        if method != "dm" and (outer <= 0 or inner <= 0):
            o, i = published_loops(args.ipc)
            outer, inner = outer if outer > 0 else o, inner if inner > 0 else i
        iterations = args.iterations if args.iterations > 0 else (5 if method == "dm" else 1)
        if args.warmup != "none" and not (args.warmup == "dm-only" and method != "dm"):
            short = args.warmup == "short" and method != "dm"
            warm = make(method, data, args.ipc, min(outer, 2) if short else outer, min(inner, 2) if short else inner)
            start = time.perf_counter()
            warm.step()
            print(f"# {method} warm-up ({'outer 2, inner 2' if short else 'full'}): "
                  f"{time.perf_counter() - start:.2f} s", flush=True)
            del warm
        distiller = make(method, data, args.ipc, outer, inner)
        total = 0.0
        for it in range(iterations):
            start = time.perf_counter()
            loss = distiller.step()
            seconds = time.perf_counter() - start
            total += seconds
            print(f"# {method} iteration {it + 1}: {seconds:.3f} s, loss {loss:.4f}", flush=True)
        print(f"method={method} seconds_per_iteration={total / iterations:.4f} iterations={iterations} "
              f"threads={torch.get_num_threads()} impl=python", flush=True)


if __name__ == "__main__":
    main()
