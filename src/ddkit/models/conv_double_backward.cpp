#include "ddkit/models/conv_double_backward.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

namespace ddkit::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// ∂L/∂x for y = conv(x, W, padding p), 3x3 kernel, stride 1:
// ∂L/∂x[h] = Σ_k gy[h − k + p]·W[k], the correlation of gy with the kernel
// flipped in space and transposed in channels, padded by 2 − p (for p > 2:
// unpadded, then p − 2 border pixels cropped).
at::Tensor input_gradient(const at::Tensor& gy, const at::Tensor& weight, int64_t padding) {
  const auto kernel = weight.flip({2, 3}).transpose(0, 1);
  const int64_t pad = 2 - padding;
  if (pad >= 0) return at::conv2d(gy, kernel, {}, {1, 1}, {pad, pad});
  const auto full = at::conv2d(gy, kernel);
  const int64_t crop = -pad;
  return full.narrow(2, crop, full.size(2) - 2 * crop).narrow(3, crop, full.size(3) - 2 * crop);
}

// ∂L/∂W from x and gy by oneDNN's backward-weights kernel, itself
// differentiable with ordinary convolutions: for an upstream ggW,
// ∂(ggW·∂L/∂W)/∂gy = conv(x, ggW, padding p) and ∂(ggW·∂L/∂W)/∂x is
// input_gradient(gy, ggW, p).
struct WeightGradient : public torch::autograd::Function<WeightGradient> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& gy, const at::Tensor& weight,
                            int64_t padding) {
    ctx->save_for_backward({x, gy});
    ctx->saved_data["padding"] = padding;
    return std::get<1>(at::convolution_backward(gy, x, weight, at::nullopt, {1, 1}, {padding, padding}, {1, 1},
                                                /*transposed=*/false, {0, 0}, 1, {false, true, false}));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& gy = saved[1];
    const int64_t padding = ctx->saved_data["padding"].toInt();
    const auto& ggw = grads[0];
    at::Tensor dx, dgy;
    if (ctx->needs_input_grad(0)) dx = input_gradient(gy, ggw, padding);
    if (ctx->needs_input_grad(1)) dgy = at::conv2d(x, ggw, {}, {1, 1}, {padding, padding});
    return {dx, dgy, at::Tensor(), at::Tensor()};
  }
};

struct Conv3x3 : public torch::autograd::Function<Conv3x3> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            int64_t padding) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["padding"] = padding;
    return at::conv2d(x, weight, bias, {1, 1}, {padding, padding});
  }
  // Written with differentiable ops, so with create_graph the student's
  // gradient is a graph of ordinary convolutions (and WeightGradient).
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& weight = saved[1];
    const int64_t padding = ctx->saved_data["padding"].toInt();
    const auto& gy = grads[0];
    at::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0)) dx = input_gradient(gy, weight, padding);
    if (ctx->needs_input_grad(1)) dw = WeightGradient::apply(x, gy, weight.detach(), padding);
    if (ctx->needs_input_grad(2)) db = gy.sum({0, 2, 3});
    return {dx, dw, db, at::Tensor()};
  }
};

}  // namespace

at::Tensor conv3x3_twice_differentiable(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                        int64_t padding) {
  return Conv3x3::apply(x, weight, bias, padding);
}

}  // namespace ddkit::models
