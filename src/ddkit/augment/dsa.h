// DSA: differentiable Siamese augmentation (docs/algorithms.md §4; Zhao & Bilen 2021).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace ddkit::augment {

struct DsaOptions {
  // Families, applied by name: color, crop, cutout, flip, scale, rotate.
  std::string strategy = "color_crop_cutout_flip_scale_rotate";
  bool single_mode = true;  // "S": one family per call; false = "M": all in order
  double flip_probability = 0.5;
  double scale_ratio = 1.2;
  double rotate_degrees = 15.0;
  double crop_ratio = 0.125;
  double cutout_ratio = 0.5;
  double brightness = 1.0;
  double saturation = 2.0;
  double contrast = 0.5;
};

// The strategy without flip, for digit data (the DSA paper's MNIST/SVHN setting).
std::string strategy_without_flip(const std::string& strategy);

// Augment a batch N x C x H x W, differentiably w.r.t. `x`.
// Siamese (`siamese_seed` set): the family and every random draw come from the
// seed (advancing by one per draw) and every sample uses the first sample's
// parameters, so two batches given the same seed get the same transform.
// Otherwise each sample draws its own parameters from `generator` (a CPU
// generator, required then; it advances). The global torch RNG is never used.
// Draw order (as the reference): S mode draws the family first, then the ops
// draw in order (scale sx, sy; crop rows, columns; cutout rows, columns; color
// brightness, saturation, contrast). An empty strategy returns `x` itself; an
// unknown family throws ddkit::Error about "--dsa-strategy".
at::Tensor dsa_augment(const at::Tensor& x, const DsaOptions& options,
                       std::optional<int64_t> siamese_seed, at::Generator generator);

}  // namespace ddkit::augment
