// The interface every model of ddkit implements: an embedding (features before
// the last linear layer; used by herding, DM and the observers) and a classifier.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>

namespace ddkit::models {

// Shape of one input image.
struct ImageShape {
  int64_t channels = 1;
  int64_t height = 28;
  int64_t width = 28;
};

class ClassifierImpl : public torch::nn::Module {
 public:
  // Logits, N x num_classes.
  virtual torch::Tensor forward(const torch::Tensor& x) { return classify(embed(x)); }
  // Features before the final linear layer, N x feature_dim().
  virtual torch::Tensor embed(const torch::Tensor& x) = 0;
  // The final linear layer applied to features from embed().
  virtual torch::Tensor classify(const torch::Tensor& features) = 0;
  virtual int64_t feature_dim() const = 0;
};

}  // namespace ddkit::models
