#include "ddkit/data/dataset.h"

#include <ATen/ATen.h>

namespace ddkit::data {
namespace {

at::Tensor channel_view(const std::vector<double>& values, const at::Tensor& like) {
  return at::tensor(values, like.options().dtype(at::kDouble))
      .to(like.scalar_type())
      .view({1, static_cast<int64_t>(values.size()), 1, 1});
}

}  // namespace

at::Tensor normalize(const at::Tensor& unit_images, const Normalization& norm) {
  return (unit_images - channel_view(norm.mean, unit_images)) / channel_view(norm.std, unit_images);
}

at::Tensor denormalize(const at::Tensor& images, const Normalization& norm) {
  return images * channel_view(norm.std, images) + channel_view(norm.mean, images);
}

}  // namespace ddkit::data
