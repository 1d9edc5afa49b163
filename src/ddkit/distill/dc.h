// DC / DSA — gradient matching (docs/algorithms.md §5; Zhao et al. 2021, Zhao & Bilen
// 2021, reference VICO-UoE/DatasetCondensation main.py). Library core: one
// outer iteration.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <ATen/core/Tensor.h>

#include "ddkit/augment/dsa.h"
#include "ddkit/data/dataset.h"
#include "ddkit/distill/matching.h"

namespace ddkit::dist {
class Context;
}

namespace ddkit::distill {

struct DcOptions {
  int64_t outer_loop = 0;    // 0: published for the IPC (dc_loops)
  int64_t inner_loop = 0;
  double lr_images = 0.1;    // SGD momentum 0.5 on the synthetic images
  double momentum = 0.5;
  double lr_net = 0.01;      // plain SGD of the network between outer steps
  int64_t batch_real = 256;  // real images per class and outer step
  int64_t batch_train = 256; // mini-batches of the inner training on the synthetic set
  bool dsa = false;          // DSA: Siamese augmentation in matching, per-sample in the inner loop
  augment::DsaOptions dsa_options;
  std::string model = "convnet";
  double sdc_lambda = 0.0;   // SDC (§9): + λ Σ_c ‖∇θ CE(f(S_c), c)‖₂ on the matching network; 0 = off
  // Distributed runs: rank r matches classes c with c % W == r, the image
  // gradients are all-reduced, and the inner loop runs identically on every
  // rank (same seed, same draws). Null: a world of one.
  std::shared_ptr<dist::Context> world;
};

// The published (outer_loop, inner_loop) for an IPC: 1 -> (1, 1), 10 -> (10, 50),
// 20 -> (20, 25), 30 -> (30, 20), 40 -> (40, 15), 50 -> (50, 10); other IPCs
// are a ddkit::Error (as in the reference), unless the loops are given.
std::pair<int64_t, int64_t> dc_loops(int64_t ipc);

class DcDistiller : public MatchingDistiller {
 public:
  DcDistiller(const data::Dataset& data, const at::Tensor& initial_images, int64_t ipc, DcOptions options);

  // One outer iteration with a fresh network seeded by `seed`: outer_loop times
  // (match the gradients of every class, update the images, then — except
  // after the last — train the network inner_loop epochs on the synthetic set).
  // Returns the mean matching loss per class and outer step.
  double step(uint64_t seed) override;
  // The matching loss of the first outer step for `seed`, without updating.
  double loss(uint64_t seed);

 private:
  double run(uint64_t seed, bool update);

  DcOptions options_;
  at::Tensor labels_;  // of the synthetic images
};

}  // namespace ddkit::distill
