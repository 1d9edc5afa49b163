// SDC — Sample Difficulty Correction (docs/algorithms.md §9): a gradient-norm penalty
// added to a matching loss, L = L_match + λ Σ_c ‖∇_θ ℓ(f_θ(S_c), c)‖₂, which
// steers the synthetic images toward easy samples (small GraNd).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ddkit/distill/method.h"

namespace ddkit::models {
class ClassifierImpl;
}

namespace ddkit::distill {

// The default λ for a matching method and final IPC: the best value of
// ddkit's sweep on Fashion-MNIST (examples/sdc_sweep.sh; README "SDC sweep").
// The paper does not publish its λ.
double default_sdc_lambda(Method method, int64_t ipc);

// ‖g‖₂ of the gradients of all parameters taken together (one flat vector).
at::Tensor gradient_norm(const std::vector<at::Tensor>& gradients);

// ‖∇_θ CE(logits, label)‖₂ (mean CE over the rows, all of class `label`), the
// gradient taken w.r.t. `parameters`. With create_graph the result is
// differentiable w.r.t. whatever produced the logits (the synthetic images).
at::Tensor class_gradient_norm(const at::Tensor& logits, int64_t label, const std::vector<at::Tensor>& parameters,
                               bool create_graph);

// The SDC term Σ_c ‖∇_θ CE(net(S_c), c)‖₂ with one forward pass per class, so
// that each class's double backward touches only its own images. `labels[k]`
// is the class of class_images[k]; empty: 0, 1, 2, ... in order.
at::Tensor sdc_penalty(models::ClassifierImpl& net, const std::vector<at::Tensor>& class_images, bool create_graph,
                       const std::vector<int64_t>& labels = {});

}  // namespace ddkit::distill
