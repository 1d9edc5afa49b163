#include "ddkit/models/functional_convnet.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "ddkit/models/conv_double_backward.h"
#include "ddkit/models/fused_block.h"
#include "ddkit/util/error.h"

namespace ddkit::models {
namespace {

bool mnist_like(const ImageShape& s) { return s.channels == 1 && s.height == 28 && s.width == 28; }

}  // namespace

std::vector<std::vector<int64_t>> FunctionalConvNet::parameter_shapes() const {
  std::vector<std::vector<int64_t>> shapes;
  int64_t in = shape.channels, h = shape.height, w = shape.width;
  for (int64_t d = 0; d < depth; ++d) {
    const int64_t padding = (d == 0 && mnist_like(shape)) ? 3 : 1;
    shapes.push_back({width, in, 3, 3});
    shapes.push_back({width});
    shapes.push_back({width});
    shapes.push_back({width});
    h = (h + 2 * padding - 2) / 2;
    w = (w + 2 * padding - 2) / 2;
    in = width;
  }
  shapes.push_back({num_classes, width * h * w});
  shapes.push_back({num_classes});
  return shapes;
}

int64_t FunctionalConvNet::parameter_count() const {
  int64_t total = 0;
  for (const auto& s : parameter_shapes()) {
    int64_t n = 1;
    for (auto v : s) n *= v;
    total += n;
  }
  return total;
}

at::Tensor FunctionalConvNet::forward(const at::Tensor& theta, const at::Tensor& x, bool fused) const {
  const auto shapes = parameter_shapes();
  if (theta.dim() != 1 || theta.size(0) != parameter_count()) {
    throw Error("parameters", "a flat vector of " + std::to_string(parameter_count()) + " values is needed, got " +
                                  std::to_string(theta.numel()));
  }
  // One split (its backward is one concatenation) rather than a narrow per
  // parameter (each of whose backwards would zero-fill a P-sized gradient).
  std::vector<int64_t> sizes;
  for (const auto& s : shapes) {
    int64_t n = 1;
    for (auto v : s) n *= v;
    sizes.push_back(n);
  }
  const auto parts = theta.split_with_sizes(sizes);
  size_t k = 0;
  auto next = [&]() {
    auto view = parts[k].view(shapes[k]);
    ++k;
    return view;
  };
  at::Tensor out = x;
  for (int64_t d = 0; d < depth; ++d) {
    const int64_t padding = (d == 0 && mnist_like(shape)) ? 3 : 1;
    const auto conv_w = next(), conv_b = next(), norm_w = next(), norm_b = next();
    out = fast_double_backward ? conv3x3_twice_differentiable(out, conv_w, conv_b, padding)
                               : at::conv2d(out, conv_w, conv_b, {1, 1}, {padding, padding});
    if (fused) {
      out = instance_norm_relu_avgpool(out, norm_w, norm_b, 1e-5);
    } else {
      out = at::avg_pool2d(at::relu(at::group_norm(out, width, norm_w, norm_b, 1e-5)), {2, 2}, {2, 2});
    }
  }
  const auto fc_w = next(), fc_b = next();
  return at::linear(out.flatten(1), fc_w, fc_b);
}

at::Tensor flatten_parameters(torch::nn::Module& module) {
  std::vector<at::Tensor> parts;
  for (const auto& p : module.parameters()) parts.push_back(p.detach().reshape(-1));
  return at::cat(parts).contiguous();
}

void load_flat_parameters(torch::nn::Module& module, const at::Tensor& theta) {
  at::NoGradGuard no_grad;
  int64_t offset = 0;
  for (auto& p : module.parameters()) {
    const int64_t n = p.numel();
    if (offset + n > theta.numel()) throw Error("parameters", "the flat vector is too short for the model");
    p.copy_(theta.narrow(0, offset, n).view(p.sizes()));
    offset += n;
  }
  if (offset != theta.numel()) throw Error("parameters", "the flat vector is too long for the model");
}

}  // namespace ddkit::models
