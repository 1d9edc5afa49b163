#include "ddkit/distill/matching.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "ddkit/data/image_set.h"
#include "ddkit/util/error.h"

namespace ddkit::distill {

MatchingDistiller::MatchingDistiller(const data::Dataset& data, const at::Tensor& initial_images, int64_t ipc)
    : data_(data), ipc_(ipc) {
  if (initial_images.size(0) != ipc * data.num_classes) {
    throw Error("--ipc", "matching needs ipc x classes initial images");
  }
  images_ = initial_images.detach().clone().requires_grad_(true);
  velocity_ = at::zeros_like(images_).detach();
  real_by_class_ = data::indices_by_class(data.train.labels, data.num_classes);
}

at::Tensor MatchingDistiller::real_batch(int64_t c, int64_t count, at::Generator generator) const {
  const auto& members = real_by_class_[static_cast<size_t>(c)];
  const int64_t n = static_cast<int64_t>(members.size());
  const auto pick = at::randperm(n, generator, at::kLong).narrow(0, 0, std::min(count, n));
  return data_.train.images.index_select(0, at::tensor(members, at::kLong).index_select(0, pick))
      .to(images_.device());
}

std::pair<at::Tensor, at::Tensor> MatchingDistiller::class_pair(int64_t c, int64_t count, bool dsa,
                                                                const augment::DsaOptions& dsa_options,
                                                                at::Generator generator) const {
  auto real = real_batch(c, count, generator);
  auto syn = class_images(c);
  if (dsa) {
    const int64_t class_seed = at::randint(0, 100000, {1}, generator, at::kLong).item<int64_t>();
    real = augment::dsa_augment(real, dsa_options, class_seed, generator);
    syn = augment::dsa_augment(syn, dsa_options, class_seed, generator);
  }
  return {real, syn};
}

void MatchingDistiller::sgd_step(const at::Tensor& grad, double lr, double momentum) {
  at::NoGradGuard no_grad;
  velocity_.mul_(momentum).add_(grad);
  images_.sub_(velocity_ * lr);
}

}  // namespace ddkit::distill
