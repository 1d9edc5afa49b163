// A 3x3, stride-1 2-D convolution whose second derivatives avoid transposed
// convolutions. MTT differentiates the student's gradient again (docs/algorithms.md
// §7); through at::conv2d that second pass runs libtorch's
// _convolution_double_backward, whose input term is a transposed convolution
// that the CPU build executes in the slow reference kernel
// (slow_conv_transpose2d, about 30 % of an MTT step). Here the backward is
// written with ordinary convolutions (the input gradient is a convolution of
// the output gradient with the flipped, transposed kernel), so every pass runs
// in oneDNN's forward/backward kernels. Same values as at::conv2d up to float
// rounding, to first and second order.
#pragma once
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace ddkit::models {

// y = conv2d(x, weight, bias, stride 1, padding `padding`) for a 3x3 kernel.
at::Tensor conv3x3_twice_differentiable(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                        int64_t padding);

}  // namespace ddkit::models
