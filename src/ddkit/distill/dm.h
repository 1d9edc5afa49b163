// DM — distribution matching (docs/algorithms.md §6; Zhao & Bilen 2023, reference
// VICO-UoE/DatasetCondensation main_DM.py). Library core: one iteration.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "ddkit/augment/dsa.h"
#include "ddkit/data/dataset.h"
#include "ddkit/distill/matching.h"

namespace ddkit::dist {
class Context;
}

namespace ddkit::distill {

struct DmOptions {
  int64_t batch_real = 256;  // real images per class and iteration
  double lr_images = 1.0;    // SGD on the synthetic images
  double momentum = 0.5;
  bool dsa = true;           // the same Siamese DSA transform on real and synthetic
  augment::DsaOptions dsa_options;
  std::string model = "convnet";
  // SDC (§9) [ddkit for DM]: + λ Σ_c ‖∇θ CE(classify(embed(S_c)), c)‖₂ on the
  // iteration's frozen random network with its classifier; 0 = off.
  double sdc_lambda = 0.0;
  // Distributed runs: rank r computes the loss of classes c with c % W == r
  // (every rank draws every class's random numbers, so the draws do not depend
  // on W) and the image gradients are all-reduced. Null: a world of one.
  std::shared_ptr<dist::Context> world;
};

class DmDistiller : public MatchingDistiller {
 public:
  DmDistiller(const data::Dataset& data, const at::Tensor& initial_images, int64_t ipc, DmOptions options);

  // One iteration with a fresh randomly initialised network (seeded by `seed`):
  // loss = sum_c ||mean embed(aug(real_c)) - mean embed(aug(syn_c))||^2, then one
  // SGD step on the images. All classes go through one forward pass each for
  // real and synthetic batches. Returns the loss before the step.
  double step(uint64_t seed) override;
  // The loss for a given network seed without updating anything (tests, logging).
  double loss(uint64_t seed);

 private:
  at::Tensor matching_loss(uint64_t seed);

  DmOptions options_;
};

}  // namespace ddkit::distill
