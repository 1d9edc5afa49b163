// What every matching method's distiller offers the run loop (matching_run.h):
// one iteration per call, the images, and the optimiser state to checkpoint.
#pragma once
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace ddkit::distill {

class MatchingDistiller {
 public:
  virtual ~MatchingDistiller() = default;
  // One iteration with a fresh network seeded by `seed`; returns its loss.
  virtual double step(uint64_t seed) = 0;
  virtual const at::Tensor& images() const = 0;
  virtual const at::Tensor& velocity() const = 0;  // SGD momentum buffer of the images
  virtual void set_velocity(const at::Tensor& velocity) = 0;
};

}  // namespace ddkit::distill
