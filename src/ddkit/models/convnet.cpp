// ConvNet (docs/algorithms.md §2), after ConvNet in VICO-UoE/DatasetCondensation
// networks.py: depth x [conv 3x3 -> norm -> ReLU -> pool], flatten, linear.
#include "ddkit/models/convnet.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/pooling.h>

#include "ddkit/models/fused_block.h"
#include "ddkit/util/error.h"

namespace ddkit::models {

namespace {

void check_options(const ConvNetOptions& o) {
  if (o.shape.channels < 1 || o.shape.height < 1 || o.shape.width < 1) {
    throw Error("--model", "convnet needs a positive image shape");
  }
  if (o.num_classes < 1) throw Error("--model", "convnet needs at least one class");
  if (o.width < 1) throw Error("--model", "convnet width must be positive");
  if (o.depth < 1) throw Error("--model", "convnet depth must be positive");
  if (o.norm != "instance" && o.norm != "batch" && o.norm != "layer" && o.norm != "none") {
    throw Error("--model", "unknown convnet norm '" + o.norm + "' (known: instance, batch, layer, none)");
  }
  if (o.pooling != "avg" && o.pooling != "max" && o.pooling != "none") {
    throw Error("--model", "unknown convnet pooling '" + o.pooling + "' (known: avg, max, none)");
  }
}

}  // namespace

ConvNetImpl::ConvNetImpl(const ConvNetOptions& options) : options_(options) {
  check_options(options_);
  const ImageShape& shape = options_.shape;
  // MNIST-like input: the reference pads the first conv by 3 so that 28x28
  // becomes 32x32 and every later size (and the 2048 features) equals CIFAR's.
  const bool mnist_like = shape.channels == 1 && shape.height == 28 && shape.width == 28;

  features_ = torch::nn::Sequential();
  int64_t in_channels = shape.channels;
  int64_t h = shape.height;
  int64_t w = shape.width;
  for (int64_t d = 0; d < options_.depth; ++d) {
    const int64_t padding = (d == 0 && mnist_like) ? 3 : 1;
    // Conv with bias, as in the reference (the norm makes the bias redundant,
    // but the bias is kept so the parameter count matches the field's 317,706).
    convs_.push_back(torch::nn::Conv2d(
        torch::nn::Conv2dOptions(in_channels, options_.width, 3).padding(padding).bias(true)));
    features_->push_back(convs_.back());
    h = h + 2 * padding - 2;
    w = w + 2 * padding - 2;
    in_channels = options_.width;

    if (options_.norm == "instance") {
      // The reference's "instancenorm": one group per channel with a learned affine.
      instance_norms_.push_back(torch::nn::GroupNorm(
          torch::nn::GroupNormOptions(options_.width, options_.width).affine(true)));
      features_->push_back(instance_norms_.back());
    } else if (options_.norm == "batch") {
      features_->push_back(torch::nn::BatchNorm2d(
          torch::nn::BatchNorm2dOptions(options_.width).affine(true)));
    } else if (options_.norm == "layer") {
      // The reference's nn.LayerNorm(shape_feat): statistics over C,H,W and an
      // affine of shape C,H,W (not GroupNorm(1, C), whose affine is per channel).
      features_->push_back(torch::nn::LayerNorm(
          torch::nn::LayerNormOptions({options_.width, h, w}).elementwise_affine(true)));
    }
    features_->push_back(torch::nn::ReLU());

    if (options_.pooling != "none") {
      if (h < 2 || w < 2) {
        throw Error("--model", "image " + std::to_string(shape.height) + "x" +
                                   std::to_string(shape.width) + " is too small for convnet of depth " +
                                   std::to_string(options_.depth));
      }
      if (options_.pooling == "avg") {
        features_->push_back(torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(2).stride(2)));
      } else {
        features_->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).stride(2)));
      }
      h /= 2;  // floor, as PyTorch pools without ceil_mode
      w /= 2;
    }
  }
  register_module("features", features_);
  feature_dim_ = options_.width * h * w;
  classifier_ = register_module("classifier", torch::nn::Linear(feature_dim_, options_.num_classes));
}

torch::Tensor ConvNetImpl::embed(const torch::Tensor& x) {
  if (options_.norm != "instance" || options_.pooling != "avg") return features_->forward(x).flatten(1);
  // The default ConvNet: each block's norm -> ReLU -> pool tail runs fused
  // (fused_block.h), the same function as the Sequential's three modules.
  torch::Tensor out = x;
  for (size_t d = 0; d < convs_.size(); ++d) {
    out = convs_[d]->forward(out);
    const auto& norm = instance_norms_[d];
    out = instance_norm_relu_avgpool(out, norm->weight, norm->bias, norm->options.eps());
  }
  return out.flatten(1);
}

torch::Tensor ConvNetImpl::classify(const torch::Tensor& features) {
  return classifier_->forward(features);
}

}  // namespace ddkit::models
