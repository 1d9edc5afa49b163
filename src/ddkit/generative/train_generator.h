// `ddkit gen-train`: DDPM training of the class-conditional UNet on the real
// training split (ALGORITHMS §11; Ho et al. 2020 "simple" loss): x_t = q(x_t |
// x_0), loss = ||eps - eps_theta(x_t, t, y)||^2 with t uniform over the T
// steps and the label replaced by the null class with probability 0.1
// (classifier-free guidance). Adam with a short linear warm-up, gradient
// clipping, EMA weights; checkpoints every few hundred steps and --resume.
#pragma once
#include <filesystem>
#include <string>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "ddkit/data/dataset.h"
#include "ddkit/generative/schedule.h"
#include "ddkit/generative/unet.h"

namespace ddkit::generative {

struct GenTrainOptions {
  int64_t channels = 32;               // base width of the UNet
  std::vector<int64_t> channel_mult{1, 2, 2};
  int64_t steps = 5000;                // optimiser steps (the measured Fashion-MNIST budget, README)
  int64_t batch = 64;
  double lr = 5e-4;
  int64_t warmup = 200;                // linear lr warm-up steps
  double grad_clip = 1.0;
  double ema_decay = 0.999;            // with the usual (1+n)/(10+n) ramp at the start
  double label_dropout = 0.1;          // p(label -> null class)
  int64_t checkpoint_every = 250;
  uint64_t seed = 0;
  std::string device = "cpu";
  bool quiet = false;
  bool resume = false;                 // continue from out/checkpoint.pt
  std::filesystem::path out;           // writes out/model.pt (EMA), out/checkpoint.pt, out/train.json
};

// The per-sample DDPM loss averaged over the batch, for given t and noise
// (x0 in the model's [-1, 1] space).
at::Tensor diffusion_loss(UNetImpl& model, const NoiseSchedule& schedule, const at::Tensor& x0,
                          const at::Tensor& labels, const at::Tensor& t, const at::Tensor& noise);

// Trains and writes the files above; returns train.json's content.
nlohmann::json train_generator(const data::Dataset& data, const GenTrainOptions& options);

}  // namespace ddkit::generative
