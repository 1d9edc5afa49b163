// The default ConvNet (docs/algorithms.md §2) as a pure function of one flat parameter
// vector: what MTT's unrolled student needs (§7), where the parameters of step
// i+1 are a differentiable function of those of step i and cannot live in a
// module. The layout is exactly that of models::ConvNet's parameters() (per
// block: conv weight, conv bias, norm weight, norm bias; then classifier
// weight, bias), so a ConvNet's parameters flattened in order are a valid θ.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ddkit/models/classifier.h"

namespace ddkit::models {

struct FunctionalConvNet {
  ImageShape shape;
  int64_t num_classes = 10;
  int64_t width = 128;
  int64_t depth = 3;
  // 3x3 convolutions whose second derivatives run as ordinary convolutions
  // (conv_double_backward.h); false: at::conv2d, whose double backward uses
  // the slow transposed-convolution kernel on CPU. Same values.
  bool fast_double_backward = true;

  // Parameter shapes in ConvNet's order, and their total count P.
  std::vector<std::vector<int64_t>> parameter_shapes() const;
  int64_t parameter_count() const;
  // Logits for x (N x C x H x W) under the flat parameters θ (P floats).
  // Gradients flow to both θ and x. `fused` uses ddkit's fused norm→ReLU→pool
  // block (fast; its backward is exact but differentiating a gradient recomputes
  // the block with plain ops), otherwise plain conv2d → group_norm(C groups) →
  // relu → avg_pool2d, the ops of the reference.
  at::Tensor forward(const at::Tensor& theta, const at::Tensor& x, bool fused = true) const;
};

// All parameters of a module flattened in registration order into one vector
// (detached, contiguous), and the inverse: copy θ into the module's parameters.
at::Tensor flatten_parameters(torch::nn::Module& module);
void load_flat_parameters(torch::nn::Module& module, const at::Tensor& theta);

}  // namespace ddkit::models
