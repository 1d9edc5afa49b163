// The tail of every default ConvNet block, GroupNorm(C, C) -> ReLU ->
// AvgPool2d(2, 2), as one fused CPU operation with a hand-written backward.
//
// Why: on 2 cores those three ops cost about as much as the convolutions
// (each is a full memory pass forward and two backward, avg_pool2d's backward
// zero-fills and scatters). Fused, each (sample, channel) plane is read once
// forward and twice backward while it sits in L1 (bench/bench_train_step).
//
// Exactness: the result equals the three ATen ops up to float rounding (tests
// compare both). The fast path runs on contiguous float CPU tensors with even
// H and W; anything else, and any backward that builds a graph (create_graph,
// as gradient matching and MTT need for second-order gradients), goes through
// the plain differentiable ATen ops instead, so higher-order gradients are exact.
#pragma once
#include <ATen/core/Tensor.h>

namespace ddkit::models {

at::Tensor instance_norm_relu_avgpool(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                      double eps);

// The same computation with the standard ATen ops (the reference semantics).
at::Tensor instance_norm_relu_avgpool_reference(const at::Tensor& x, const at::Tensor& weight,
                                                const at::Tensor& bias, double eps);

}  // namespace ddkit::models
