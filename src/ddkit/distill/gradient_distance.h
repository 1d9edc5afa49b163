// The gradient-matching distance of DC/DSA (docs/algorithms.md §5; reference
// `distance_wb` / `match_loss` with dis_metric "ours").
#pragma once
#include <vector>

#include <ATen/core/Tensor.h>

namespace ddkit::distill {

// One parameter's term: the weight gradient reshaped to out x rest (a conv's
// out x in*kh*kw, a LayerNorm's C x H*W, a linear's out x in), then
// sum over rows of 1 - cos(real_row, syn_row), with 1e-6 added to the
// product of the norms. 1-D parameters (biases, norm affines) contribute 0.
at::Tensor layer_gradient_distance(const at::Tensor& real, const at::Tensor& syn);

// Sum of layer_gradient_distance over the parameters' gradients, in order.
at::Tensor gradient_distance(const std::vector<at::Tensor>& real, const std::vector<at::Tensor>& syn);

}  // namespace ddkit::distill
