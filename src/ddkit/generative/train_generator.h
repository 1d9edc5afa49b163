// `ddkit gen-train`: DDPM training of the class-conditional UNet on the real
// training split (docs/algorithms.md §11; Ho et al. 2020): x_t = q(x_t | x_0), loss =
// w(t) ||target - net(x_t, t, y)||^2 with t uniform over the T steps, the
// target eps or v (schedule.h), and the label replaced by the null class with
// probability 0.1 (classifier-free guidance). w(t) is the Min-SNR-gamma
// weight (Hang et al. 2023): min(SNR, gamma) / SNR for eps, min(SNR, gamma) /
// (SNR + 1) for v, so the nearly clean steps, whose loss is easy and
// large-gradient, do not crowd out the noisy ones; gamma = 0 is the plain
// "simple" loss (w = 1). Adam with a short linear warm-up, gradient clipping,
// EMA weights; checkpoints every few hundred steps and --resume; every
// fid_every steps the EMA weights' FID on a few images (generative/quality.h),
// a cheap signal that the generator improves.
#pragma once
#include <filesystem>
#include <string>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "ddkit/data/dataset.h"
#include "ddkit/generative/sampler.h"
#include "ddkit/generative/schedule.h"
#include "ddkit/generative/unet.h"
#include "ddkit/util/run_settings.h"

namespace ddkit::generative {

// RunSettings: resume continues from out/checkpoint.pt; writes out/model.pt (EMA),
// out/checkpoint.pt, out/train.json.
struct GenTrainOptions : RunSettings {
  UNetOptions unet;                    // image_channels and num_classes come from the data
  ScheduleOptions schedule;
  double min_snr_gamma = 5.0;          // Hang et al.'s gamma; 0 = w(t) = 1
  // 9,000 steps of batch 64 (576,000 images, 9.6 epochs of Fashion-MNIST):
  // a step took 0.34 to 0.50 s at 2 threads on quiet 2-core AVX-512 machines,
  // so 50 to 75 minutes, plus the FID checks and, once, the feature extractor:
  // inside the 90 minutes a user accepts (docs/methods/diffusion.md "Speed").
  int64_t steps = 9000;
  int64_t batch = 64;
  double lr = 5e-4;
  int64_t warmup = 200;                // linear lr warm-up steps
  double grad_clip = 1.0;
  // The EMA's decay at step n is min(ema_decay, (1 + n) / (10 + n)), the
  // warm-up ramp of tf.train.ExponentialMovingAverage's num_updates (so at
  // step 5,000 it is 0.9982, reaching 0.999 only after 9,000 steps).
  double ema_decay = 0.999;
  double label_dropout = 0.1;          // p(label -> null class)
  int64_t checkpoint_every = 250;
  // The quality signal: FID of fid_images EMA samples (balanced, fixed noise)
  // every fid_every steps and at the end; 0 = off.
  int64_t fid_every = 2000;
  int64_t fid_images = 500;
  SamplerOptions fid_sampler;
  int64_t fid_extractor_epochs = 3;
};

// The per-sample DDPM loss averaged over the batch, for given t and noise
// (x0 in the model's [-1, 1] space).
at::Tensor diffusion_loss(UNetImpl& model, const NoiseSchedule& schedule, const at::Tensor& x0,
                          const at::Tensor& labels, const at::Tensor& t, const at::Tensor& noise,
                          double min_snr_gamma = 0.0);

// w(t) per sample (N), as above.
at::Tensor min_snr_weight(const NoiseSchedule& schedule, const at::Tensor& t, double gamma);

// Trains and writes the files above; returns train.json's content. The
// quality signal needs data's test split.
nlohmann::json train_generator(const data::Dataset& data, const GenTrainOptions& options);

}  // namespace ddkit::generative
