#include "ddkit/distill/gradient_distance.h"

#include <ATen/ATen.h>

namespace ddkit::distill {

at::Tensor layer_gradient_distance(const at::Tensor& real, const at::Tensor& syn) {
  TORCH_CHECK(real.sizes() == syn.sizes(), "gradient shapes differ");
  if (real.dim() <= 1) return at::zeros({}, real.options());
  const auto r = real.reshape({real.size(0), -1});
  const auto s = syn.reshape({syn.size(0), -1});
  const auto cosine = (r * s).sum(-1) / (r.norm(2, {-1}) * s.norm(2, {-1}) + 1e-6);
  return (1.0 - cosine).sum();
}

at::Tensor gradient_distance(const std::vector<at::Tensor>& real, const std::vector<at::Tensor>& syn) {
  TORCH_CHECK(real.size() == syn.size() && !real.empty(), "gradient lists differ");
  auto total = layer_gradient_distance(real[0], syn[0]);
  for (size_t i = 1; i < real.size(); ++i) total = total + layer_gradient_distance(real[i], syn[i]);
  return total;
}

}  // namespace ddkit::distill
