// ConvNet, the field's default model (docs/algorithms.md §2; "ConvNet-3" in DC/DSA/DM/MTT).
#pragma once
#include <string>

#include <vector>

#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/linear.h>

#include "ddkit/models/classifier.h"

namespace ddkit::models {

struct ConvNetOptions {
  ImageShape shape;
  int64_t num_classes = 10;
  int64_t width = 128;            // channels of every conv layer
  int64_t depth = 3;              // number of conv blocks
  std::string norm = "instance";  // instance | batch | layer | none
  std::string pooling = "avg";    // avg | max | none
};

class ConvNetImpl : public ClassifierImpl {
 public:
  explicit ConvNetImpl(const ConvNetOptions& options);
  torch::Tensor embed(const torch::Tensor& x) override;
  torch::Tensor classify(const torch::Tensor& features) override;
  int64_t feature_dim() const override { return feature_dim_; }
  const ConvNetOptions& options() const { return options_; }
  // The per-block modules (instance norm nets only have norms), for code that
  // needs the layers' activations, e.g. per-sample gradients (difficulty/grand).
  const std::vector<torch::nn::Conv2d>& convs() const { return convs_; }
  const std::vector<torch::nn::GroupNorm>& instance_norms() const { return instance_norms_; }
  const torch::nn::Linear& classifier() const { return classifier_; }

 private:
  ConvNetOptions options_;
  int64_t feature_dim_ = 0;
  torch::nn::Sequential features_{nullptr};
  // The same modules as in features_, for the fused forward of the default net.
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<torch::nn::GroupNorm> instance_norms_;
  torch::nn::Linear classifier_{nullptr};
};
TORCH_MODULE(ConvNet);

}  // namespace ddkit::models
