// MLP, LeNet, AlexNet, VGG-11, ResNet-18 (docs/algorithms.md §2), after the classes of
// the same names in VICO-UoE/DatasetCondensation networks.py. Layer names match
// the reference's attribute names, so the parameter names line up with its
// state_dict.
#include "ddkit/models/zoo.h"

#include <string>
#include <vector>

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/pooling.h>
#include <torch/types.h>

#include "ddkit/util/error.h"

namespace ddkit::models {

namespace {

namespace nn = torch::nn;

void check_shape(const ImageShape& shape, int64_t num_classes, const std::string& model) {
  if (shape.channels < 1 || shape.height < 1 || shape.width < 1) {
    throw Error("--model", model + " needs a positive image shape");
  }
  if (num_classes < 1) throw Error("--model", model + " needs at least one class");
}

// Spatial size (H, W) followed through the layers, so that the first linear
// layer's size comes from the image shape instead of a hard-coded 28 or 32.
class Spatial {
 public:
  Spatial(const ImageShape& shape, std::string model)
      : h_(shape.height), w_(shape.width), shape_(shape), model_(std::move(model)) {}
  void conv(int64_t kernel, int64_t stride, int64_t padding) {
    h_ = (h_ + 2 * padding - kernel) / stride + 1;
    w_ = (w_ + 2 * padding - kernel) / stride + 1;
    check();
  }
  void pool2() {  // MaxPool2d(2, 2) without ceil_mode: floor(x / 2)
    h_ /= 2;
    w_ /= 2;
    check();
  }
  int64_t area() const { return h_ * w_; }

 private:
  void check() const {
    if (h_ < 1 || w_ < 1) {
      throw Error("--model", "image " + std::to_string(shape_.height) + "x" + std::to_string(shape_.width) +
                                 " is too small for " + model_);
    }
  }
  int64_t h_, w_;
  ImageShape shape_;
  std::string model_;
};

nn::MaxPool2d max_pool2() { return nn::MaxPool2d(nn::MaxPool2dOptions(2).stride(2)); }

}  // namespace

// ---- MLP ------------------------------------------------------------------

MLPImpl::MLPImpl(const ImageShape& shape, int64_t num_classes) {
  check_shape(shape, num_classes, "mlp");
  // The reference hard-codes 28*28*1 or 32*32*3; C*H*W is the same for those.
  fc_1_ = register_module("fc_1", nn::Linear(shape.channels * shape.height * shape.width, 128));
  fc_2_ = register_module("fc_2", nn::Linear(128, 128));
  fc_3_ = register_module("fc_3", nn::Linear(128, num_classes));
}

torch::Tensor MLPImpl::embed(const torch::Tensor& x) {
  auto out = torch::relu(fc_1_->forward(x.flatten(1)));
  return torch::relu(fc_2_->forward(out));
}

torch::Tensor MLPImpl::classify(const torch::Tensor& features) { return fc_3_->forward(features); }

// ---- LeNet ----------------------------------------------------------------

LeNetImpl::LeNetImpl(const ImageShape& shape, int64_t num_classes) {
  check_shape(shape, num_classes, "lenet");
  // Padding 2 for 1-channel input (MNIST 28 -> 28), 0 otherwise (CIFAR 32 -> 28):
  // both reach 16x5x5 features, as in the reference.
  const int64_t padding = shape.channels == 1 ? 2 : 0;
  Spatial s(shape, "lenet");
  features_ = nn::Sequential(
      nn::Conv2d(nn::Conv2dOptions(shape.channels, 6, 5).padding(padding)), nn::ReLU(), max_pool2(),
      nn::Conv2d(nn::Conv2dOptions(6, 16, 5)), nn::ReLU(), max_pool2());
  s.conv(5, 1, padding);
  s.pool2();
  s.conv(5, 1, 0);
  s.pool2();
  register_module("features", features_);
  fc_1_ = register_module("fc_1", nn::Linear(16 * s.area(), 120));
  fc_2_ = register_module("fc_2", nn::Linear(120, 84));
  fc_3_ = register_module("fc_3", nn::Linear(84, num_classes));
}

torch::Tensor LeNetImpl::embed(const torch::Tensor& x) {
  auto out = features_->forward(x).flatten(1);
  out = torch::relu(fc_1_->forward(out));
  return torch::relu(fc_2_->forward(out));
}

torch::Tensor LeNetImpl::classify(const torch::Tensor& features) { return fc_3_->forward(features); }

// ---- AlexNet --------------------------------------------------------------

AlexNetImpl::AlexNetImpl(const ImageShape& shape, int64_t num_classes) {
  check_shape(shape, num_classes, "alexnet");
  // Padding 4 for 1-channel input (28 -> 32), 2 otherwise (32 -> 32).
  const int64_t padding = shape.channels == 1 ? 4 : 2;
  Spatial s(shape, "alexnet");
  features_ = nn::Sequential(
      nn::Conv2d(nn::Conv2dOptions(shape.channels, 128, 5).stride(1).padding(padding)), nn::ReLU(),
      max_pool2(),
      nn::Conv2d(nn::Conv2dOptions(128, 192, 5).padding(2)), nn::ReLU(), max_pool2(),
      nn::Conv2d(nn::Conv2dOptions(192, 256, 3).padding(1)), nn::ReLU(),
      nn::Conv2d(nn::Conv2dOptions(256, 192, 3).padding(1)), nn::ReLU(),
      nn::Conv2d(nn::Conv2dOptions(192, 192, 3).padding(1)), nn::ReLU(), max_pool2());
  s.conv(5, 1, padding);
  s.pool2();
  s.conv(5, 1, 2);
  s.pool2();
  s.conv(3, 1, 1);
  s.conv(3, 1, 1);
  s.conv(3, 1, 1);
  s.pool2();
  register_module("features", features_);
  feature_dim_ = 192 * s.area();  // 192*4*4 for 28x28 and 32x32
  fc_ = register_module("fc", nn::Linear(feature_dim_, num_classes));
}

torch::Tensor AlexNetImpl::embed(const torch::Tensor& x) { return features_->forward(x).flatten(1); }

torch::Tensor AlexNetImpl::classify(const torch::Tensor& features) { return fc_->forward(features); }

// ---- VGG-11 ---------------------------------------------------------------

VGG11Impl::VGG11Impl(const ImageShape& shape, int64_t num_classes) {
  check_shape(shape, num_classes, "vgg11");
  constexpr int64_t kPool = 0;  // 'M' in the reference's cfg_vgg['VGG11']
  const std::vector<int64_t> cfg = {64, kPool, 128, kPool, 256, 256, kPool, 512, 512, kPool, 512, 512, kPool};
  Spatial s(shape, "vgg11");
  features_ = nn::Sequential();
  int64_t in_channels = shape.channels;
  for (size_t i = 0; i < cfg.size(); ++i) {
    if (cfg[i] == kPool) {
      features_->push_back(max_pool2());
      s.pool2();
      continue;
    }
    // Padding 3 on the first conv of 1-channel input (28 -> 32, so five
    // poolings reach 1x1), 1 elsewhere.
    const int64_t padding = (shape.channels == 1 && i == 0) ? 3 : 1;
    features_->push_back(nn::Conv2d(nn::Conv2dOptions(in_channels, cfg[i], 3).padding(padding)));
    features_->push_back(nn::GroupNorm(nn::GroupNormOptions(cfg[i], cfg[i]).affine(true)));  // instance norm
    features_->push_back(nn::ReLU());
    s.conv(3, 1, padding);
    in_channels = cfg[i];
  }
  // The reference ends with AvgPool2d(1, 1), an identity, so it is left out.
  register_module("features", features_);
  feature_dim_ = 512 * s.area();  // 512 for 28x28 and 32x32
  classifier_ = register_module("classifier", nn::Linear(feature_dim_, num_classes));
}

torch::Tensor VGG11Impl::embed(const torch::Tensor& x) { return features_->forward(x).flatten(1); }

torch::Tensor VGG11Impl::classify(const torch::Tensor& features) { return classifier_->forward(features); }

// ---- ResNet-18 ------------------------------------------------------------

BasicBlockImpl::BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride) {
  conv1_ = register_module(
      "conv1", nn::Conv2d(nn::Conv2dOptions(in_planes, planes, 3).stride(stride).padding(1).bias(false)));
  bn1_ = register_module("bn1", nn::BatchNorm2d(planes));
  conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(planes, planes, 3).padding(1).bias(false)));
  bn2_ = register_module("bn2", nn::BatchNorm2d(planes));
  if (stride != 1 || in_planes != planes) {
    shortcut_ = register_module(
        "shortcut",
        nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in_planes, planes, 1).stride(stride).bias(false)),
                       nn::BatchNorm2d(planes)));
  }
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  auto out = torch::relu(bn1_->forward(conv1_->forward(x)));
  out = bn2_->forward(conv2_->forward(out));
  out = out + (shortcut_ ? shortcut_->forward(x) : x);
  return torch::relu(out);
}

ResNet18Impl::ResNet18Impl(const ImageShape& shape, int64_t num_classes) {
  check_shape(shape, num_classes, "resnet18");
  conv1_ = register_module(
      "conv1", nn::Conv2d(nn::Conv2dOptions(shape.channels, 64, 3).stride(1).padding(1).bias(false)));
  bn1_ = register_module("bn1", nn::BatchNorm2d(64));
  int64_t in_planes = 64;
  // Two BasicBlocks per stage; the first one of a stage carries the stride.
  auto make_layer = [&in_planes](int64_t planes, int64_t stride) {
    nn::Sequential layer(BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1));
    in_planes = planes;
    return layer;
  };
  layer1_ = register_module("layer1", make_layer(64, 1));
  layer2_ = register_module("layer2", make_layer(128, 2));
  layer3_ = register_module("layer3", make_layer(256, 2));
  layer4_ = register_module("layer4", make_layer(512, 2));
  classifier_ = register_module("classifier", nn::Linear(512, num_classes));
}

torch::Tensor ResNet18Impl::embed(const torch::Tensor& x) {
  auto out = torch::relu(bn1_->forward(conv1_->forward(x)));
  out = layer4_->forward(layer3_->forward(layer2_->forward(layer1_->forward(out))));
  // The reference's F.avg_pool2d(out, 4) gives 1x1 only for 28 and 32 pixel
  // inputs; an adaptive pool gives 1x1 (and 512 features) for any size.
  return torch::adaptive_avg_pool2d(out, {1, 1}).flatten(1);
}

torch::Tensor ResNet18Impl::classify(const torch::Tensor& features) {
  return classifier_->forward(features);
}

}  // namespace ddkit::models
