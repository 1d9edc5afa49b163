// The state and steps every matching method shares (DC/DSA, DM): the synthetic
// images (ipc per class, class-major), their SGD momentum buffer, random real
// batches per class, and the run loop's interface (matching_run.h).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "ddkit/augment/dsa.h"
#include "ddkit/data/dataset.h"

namespace ddkit::distill {

class MatchingDistiller {
 public:
  MatchingDistiller(const data::Dataset& data, const at::Tensor& initial_images, int64_t ipc);
  virtual ~MatchingDistiller() = default;

  // One iteration with a fresh network seeded by `seed`; returns its loss.
  virtual double step(uint64_t seed) = 0;

  const at::Tensor& images() const { return images_; }
  // The SGD momentum buffer of the images (checkpointed with them).
  const at::Tensor& velocity() const { return velocity_; }
  void set_velocity(const at::Tensor& velocity) { velocity_ = velocity.detach().clone(); }

 protected:
  // Up to `count` random real training images of class c, on the images' device.
  at::Tensor real_batch(int64_t c, int64_t count, at::Generator generator) const;
  // The pair matched for class c: a real batch of up to `count` images and the
  // class's synthetic images, under one Siamese DSA transform when `dsa` (one
  // seed per class and step, drawn from `generator`, as the reference does).
  std::pair<at::Tensor, at::Tensor> class_pair(int64_t c, int64_t count, bool dsa,
                                               const augment::DsaOptions& dsa_options,
                                               at::Generator generator) const;
  // The synthetic images of class c (a view: gradients reach images_).
  at::Tensor class_images(int64_t c) const { return images_.narrow(0, c * ipc_, ipc_); }
  // torch.optim.SGD with momentum on the images: v = m v + g; x -= lr v.
  void sgd_step(const at::Tensor& grad, double lr, double momentum);

  const data::Dataset& data_;
  at::Tensor images_;  // float, requires grad
  at::Tensor velocity_;
  int64_t ipc_;
  std::vector<std::vector<int64_t>> real_by_class_;
};

}  // namespace ddkit::distill
