#include "ddkit/distill/sdc.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "ddkit/models/classifier.h"

namespace ddkit::distill {

double default_sdc_lambda(const std::string& method, int64_t ipc) {
  if (method == "mtt") return 0.0;  // MTT: no sweep yet (README "MTT")
  (void)method;
  (void)ipc;
  return 0.0;
}

at::Tensor gradient_norm(const std::vector<at::Tensor>& gradients) {
  at::Tensor sum_sq;
  for (const auto& g : gradients) {
    const auto term = g.pow(2).sum();
    sum_sq = sum_sq.defined() ? sum_sq + term : term;
  }
  return sum_sq.sqrt();
}

at::Tensor class_gradient_norm(const at::Tensor& logits, int64_t label, const std::vector<at::Tensor>& parameters,
                               bool create_graph) {
  const auto target = at::full({logits.size(0)}, label, logits.options().dtype(at::kLong));
  const auto loss = at::cross_entropy_loss(logits, target);
  return gradient_norm(torch::autograd::grad({loss}, parameters, {}, /*retain_graph=*/create_graph, create_graph));
}

at::Tensor sdc_penalty(models::ClassifierImpl& net, const std::vector<at::Tensor>& class_images, bool create_graph) {
  const auto parameters = net.parameters();
  at::Tensor total;
  for (size_t c = 0; c < class_images.size(); ++c) {
    const auto term = class_gradient_norm(net.forward(class_images[c]), static_cast<int64_t>(c), parameters, create_graph);
    total = total.defined() ? total + term : term;
  }
  return total;
}

}  // namespace ddkit::distill
