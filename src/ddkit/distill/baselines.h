// Baseline "distillation" by selecting real images (DC paper, Table 1 baselines).
#pragma once
#include <cstdint>

#include "ddkit/data/dataset.h"
#include "ddkit/data/image_set.h"
#include "ddkit/train/observer.h"

namespace ddkit::distill {

struct RandomOptions {
  int64_t ipc = 10;
  int64_t pool_factor = 1;  // write pool_factor x ipc images per class (a DGS pool)
  uint64_t seed = 0;
};

// ipc x pool_factor distinct random training images of every class.
data::ImageSet select_random(const data::Dataset& data, const RandomOptions& options);

struct HerdingOptions {
  int64_t ipc = 10;
  train::ObserverOptions observer;  // whose embedding herding runs on
};

// Herding (Welling 2009), as the DC paper's baseline: per class, greedily add the
// image that brings the mean embedding of the selection closest to the class mean.
data::ImageSet select_herding(const data::Dataset& data, const HerdingOptions& options);

// The greedy step on one class's features (N x D); returns `count` row indices.
std::vector<int64_t> herding_order(const at::Tensor& features, int64_t count);

}  // namespace ddkit::distill
