// The other architectures of docs/algorithms.md §2, used for cross-architecture
// evaluation; each follows the class of the same name in
// VICO-UoE/DatasetCondensation networks.py. All take the image shape and the
// class count, so they run on 1x28x28, 3x32x32 and other sizes (feature sizes
// are computed from the shape instead of the reference's hard-coded ones).
#pragma once
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "ddkit/models/classifier.h"

namespace ddkit::models {

// flatten -> Linear(C*H*W, 128) -> ReLU -> Linear(128, 128) -> ReLU -> Linear(128, classes).
class MLPImpl : public ClassifierImpl {
 public:
  MLPImpl(const ImageShape& shape, int64_t num_classes);
  torch::Tensor embed(const torch::Tensor& x) override;
  torch::Tensor classify(const torch::Tensor& features) override;
  int64_t feature_dim() const override { return 128; }

 private:
  torch::nn::Linear fc_1_{nullptr}, fc_2_{nullptr}, fc_3_{nullptr};
};
TORCH_MODULE(MLP);

// LeNet-5: two conv(5x5)+ReLU+maxpool blocks, then fc 120 -> 84 -> classes.
class LeNetImpl : public ClassifierImpl {
 public:
  LeNetImpl(const ImageShape& shape, int64_t num_classes);
  torch::Tensor embed(const torch::Tensor& x) override;
  torch::Tensor classify(const torch::Tensor& features) override;
  int64_t feature_dim() const override { return 84; }

 private:
  torch::nn::Sequential features_{nullptr};
  torch::nn::Linear fc_1_{nullptr}, fc_2_{nullptr}, fc_3_{nullptr};
};
TORCH_MODULE(LeNet);

// The reference's small AlexNet (five convs, no dropout, one linear layer).
class AlexNetImpl : public ClassifierImpl {
 public:
  AlexNetImpl(const ImageShape& shape, int64_t num_classes);
  torch::Tensor embed(const torch::Tensor& x) override;
  torch::Tensor classify(const torch::Tensor& features) override;
  int64_t feature_dim() const override { return feature_dim_; }

 private:
  int64_t feature_dim_ = 0;
  torch::nn::Sequential features_{nullptr};
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(AlexNet);

// VGG-11 with instance norm (GroupNorm(ch, ch)) after every conv.
class VGG11Impl : public ClassifierImpl {
 public:
  VGG11Impl(const ImageShape& shape, int64_t num_classes);
  torch::Tensor embed(const torch::Tensor& x) override;
  torch::Tensor classify(const torch::Tensor& features) override;
  int64_t feature_dim() const override { return feature_dim_; }

 private:
  int64_t feature_dim_ = 0;
  torch::nn::Sequential features_{nullptr};
  torch::nn::Linear classifier_{nullptr};
};
TORCH_MODULE(VGG11);

// ResNet basic block: two 3x3 convs with BatchNorm, identity or 1x1-conv shortcut.
class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::Sequential shortcut_{nullptr};  // null: identity shortcut
};
TORCH_MODULE(BasicBlock);

// ResNet-18 with BatchNorm (the reference's ResNet18BN), ending in an adaptive
// average pool to 1x1 so any input size gives 512 features.
class ResNet18Impl : public ClassifierImpl {
 public:
  ResNet18Impl(const ImageShape& shape, int64_t num_classes);
  torch::Tensor embed(const torch::Tensor& x) override;
  torch::Tensor classify(const torch::Tensor& features) override;
  int64_t feature_dim() const override { return 512; }

 private:
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  torch::nn::Sequential layer1_{nullptr}, layer2_{nullptr}, layer3_{nullptr}, layer4_{nullptr};
  torch::nn::Linear classifier_{nullptr};
};
TORCH_MODULE(ResNet18);

}  // namespace ddkit::models
