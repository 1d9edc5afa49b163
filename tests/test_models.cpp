// Tests of the models layer (docs/algorithms.md §2): ConvNet sizes against counts
// computed by hand, and every factory model's forward/embed/classify contract.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>
#include <torch/types.h>

#include "ddkit/models/conv_double_backward.h"
#include "ddkit/models/convnet.h"
#include "ddkit/models/factory.h"
#include "ddkit/models/zoo.h"
#include "ddkit/util/error.h"
#include "ddkit/util/torch_compat.h"

namespace {

using ddkit::models::ClassifierImpl;
using ddkit::models::ConvNet;
using ddkit::models::ConvNetOptions;
using ddkit::models::count_parameters;
using ddkit::models::ImageShape;
using ddkit::models::known_models;
using ddkit::models::make_model;

const ImageShape kMnist{1, 28, 28};
const ImageShape kCifar{3, 32, 32};

ConvNet make_convnet(const ImageShape& shape, int64_t num_classes = 10) {
  ConvNetOptions options;
  options.shape = shape;
  options.num_classes = num_classes;
  return ConvNet(options);
}

// Parameter counts below are worked out by hand from the layer sizes, not from
// the code: conv = in*out*k*k + out (bias), GroupNorm/BatchNorm = 2*C,
// LayerNorm over (C,H,W) = 2*C*H*W, linear = in*out + out.

TEST(ConvNet, FashionMnistHas317706ParametersAnd2048Features) {
  // conv1 1*128*9+128 = 1,280; conv2 = conv3 = 128*128*9+128 = 147,584;
  // 3 GroupNorms 3*256 = 768; linear 2048*10+10 = 20,490.
  // 1,280 + 2*147,584 + 768 + 20,490 = 317,706.
  auto net = make_convnet(kMnist);
  EXPECT_EQ(count_parameters(*net), 317706);
  EXPECT_EQ(net->feature_dim(), 2048);
  EXPECT_EQ(count_parameters(*make_model("convnet", kMnist, 10)), 317706);
}

TEST(ConvNet, Cifar10ParameterCount) {
  // conv1 3*128*9+128 = 3,584; conv2 = conv3 = 147,584; norms 768; linear 20,490.
  // 3,584 + 295,168 + 768 + 20,490 = 320,010.
  auto net = make_convnet(kCifar);
  EXPECT_EQ(count_parameters(*net), 320010);
  EXPECT_EQ(net->feature_dim(), 2048);
}

TEST(ConvNet, NormVariantParameterCounts) {
  // BatchNorm has the same 2*128 affine parameters per layer as GroupNorm (its
  // running statistics are buffers): 317,706.
  EXPECT_EQ(count_parameters(*make_model("convnet-bn", kMnist, 10)), 317706);
  // No norm: 317,706 - 768 = 316,938.
  EXPECT_EQ(count_parameters(*make_model("convnet-nn", kMnist, 10)), 316938);
  // LayerNorm over the conv outputs 128x32x32, 128x16x16, 128x8x8:
  // 2*(131,072 + 32,768 + 8,192) = 344,064; 317,706 - 768 + 344,064 = 661,002.
  EXPECT_EQ(count_parameters(*make_model("convnet-ln", kMnist, 10)), 661002);
}

TEST(ConvNet, FirstConvPadsMnistByThree) {
  auto first_conv = [](const std::shared_ptr<ClassifierImpl>& net) -> torch::nn::Conv2dImpl* {
    for (const auto& m : net->modules(/*include_self=*/false)) {
      if (auto* conv = m->as<torch::nn::Conv2dImpl>()) return conv;
    }
    return nullptr;
  };
  auto mnist = make_model("convnet", kMnist, 10);
  auto* conv = first_conv(mnist);
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(ddkit::compat::conv2d_padding(conv->options)[0], 3);
  // 28 + 2*3 - 2 = 32 after the first conv.
  EXPECT_EQ(conv->forward(torch::zeros({2, 1, 28, 28})).sizes(), torch::IntArrayRef({2, 128, 32, 32}));
  // 32 -> 16 -> 8 -> 4 after three poolings: 128*4*4 = 2048 features.
  EXPECT_EQ(mnist->embed(torch::zeros({2, 1, 28, 28})).sizes(), torch::IntArrayRef({2, 2048}));

  auto cifar = make_model("convnet", kCifar, 10);
  auto* cifar_conv = first_conv(cifar);
  ASSERT_NE(cifar_conv, nullptr);
  EXPECT_EQ(ddkit::compat::conv2d_padding(cifar_conv->options)[0], 1);
}

TEST(ConvNet, LayerNormCoversChannelsAndSpace) {
  auto net = make_model("convnet-ln", kMnist, 10);
  std::vector<std::vector<int64_t>> shapes;
  for (const auto& m : net->modules(false)) {
    if (auto* ln = m->as<torch::nn::LayerNormImpl>()) shapes.push_back(ln->options.normalized_shape());
  }
  const std::vector<std::vector<int64_t>> expected = {{128, 32, 32}, {128, 16, 16}, {128, 8, 8}};
  EXPECT_EQ(shapes, expected);
}

TEST(ConvNet, DepthAndWidthVariantsFeatureDims) {
  struct Case {
    std::string name;
    int64_t mnist_dim;  // 1x28x28 (first conv 28 -> 32)
    int64_t cifar_dim;  // 3x32x32
  };
  const std::vector<Case> cases = {
      {"convnet-d1", 128 * 16 * 16, 128 * 16 * 16}, {"convnet-d2", 128 * 8 * 8, 128 * 8 * 8},
      {"convnet-d3", 128 * 4 * 4, 128 * 4 * 4},     {"convnet-d4", 128 * 2 * 2, 128 * 2 * 2},
      {"convnet-w32", 32 * 4 * 4, 32 * 4 * 4},      {"convnet-w64", 64 * 4 * 4, 64 * 4 * 4},
      {"convnet-w256", 256 * 4 * 4, 256 * 4 * 4},   {"convnet-maxpool", 2048, 2048},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto mnist = make_model(c.name, kMnist, 10);
    EXPECT_EQ(mnist->feature_dim(), c.mnist_dim);
    EXPECT_EQ(mnist->embed(torch::randn({2, 1, 28, 28})).size(1), c.mnist_dim);
    auto cifar = make_model(c.name, kCifar, 10);
    EXPECT_EQ(cifar->feature_dim(), c.cifar_dim);
    EXPECT_EQ(cifar->embed(torch::randn({2, 3, 32, 32})).size(1), c.cifar_dim);
  }
}

TEST(ConvNet, NoPoolingKeepsSpatialSize) {
  ConvNetOptions options;
  options.shape = kCifar;
  options.pooling = "none";
  options.width = 8;
  ConvNet net(options);
  EXPECT_EQ(net->feature_dim(), 8 * 32 * 32);
  EXPECT_EQ(net->forward(torch::randn({2, 3, 32, 32})).sizes(), torch::IntArrayRef({2, 10}));
}

TEST(Zoo, ParameterCountsByHand) {
  // MLP on 1x28x28: 784*128+128 = 100,480; 128*128+128 = 16,512; 128*10+10 = 1,290.
  EXPECT_EQ(count_parameters(*make_model("mlp", kMnist, 10)), 118282);
  // LeNet on 1x28x28: 1*6*25+6 = 156; 6*16*25+16 = 2,416; 400*120+120 = 48,120;
  // 120*84+84 = 10,164; 84*10+10 = 850; total 61,706.
  EXPECT_EQ(count_parameters(*make_model("lenet", kMnist, 10)), 61706);
  // AlexNet on 3x32x32: 3*128*25+128 = 9,728; 128*192*25+192 = 614,592;
  // 192*256*9+256 = 442,624; 256*192*9+192 = 442,560; 192*192*9+192 = 331,968;
  // 3072*10+10 = 30,730; total 1,872,202.
  EXPECT_EQ(count_parameters(*make_model("alexnet", kCifar, 10)), 1872202);
  // VGG-11 on 3x32x32: convs 1,792 + 73,856 + 295,168 + 590,080 + 1,180,160
  // + 3*2,359,808 = 9,220,480; GroupNorms 2*(64+128+256+256+4*512) = 5,504;
  // linear 512*10+10 = 5,130; total 9,231,114.
  EXPECT_EQ(count_parameters(*make_model("vgg11", kCifar, 10)), 9231114);
  // ResNet-18 on 3x32x32: the well-known 11,173,962 (kuangliu/pytorch-cifar);
  // on 1 channel conv1 has 1*64*9 instead of 3*64*9: 11,173,962 - 1,152 = 11,172,810.
  EXPECT_EQ(count_parameters(*make_model("resnet18", kCifar, 10)), 11173962);
  EXPECT_EQ(count_parameters(*make_model("resnet18", kMnist, 10)), 11172810);
}

// Every factory model on both standard shapes, with a class count other than 10.
struct Setting {
  ImageShape shape;
  int64_t classes;
};
const std::vector<Setting> kSettings = {{kMnist, 10}, {kCifar, 7}};

torch::Tensor batch_of_two(const ImageShape& s) { return torch::randn({2, s.channels, s.height, s.width}); }

TEST(Factory, KnownModelsListsAllNames) {
  const std::vector<std::string> expected = {
      "convnet",     "convnet-d1",  "convnet-d2",   "convnet-d3", "convnet-d4",      "convnet-w32",
      "convnet-w64", "convnet-w256", "convnet-bn",  "convnet-ln", "convnet-nn",      "convnet-maxpool",
      "mlp",         "lenet",       "alexnet",      "vgg11",      "resnet18"};
  EXPECT_EQ(known_models(), expected);
}

TEST(Factory, EveryModelForwardsAndEmbeds) {
  torch::manual_seed(0);
  for (const auto& name : known_models()) {
    for (const auto& s : kSettings) {
      SCOPED_TRACE(name + " on " + std::to_string(s.shape.channels) + "x" + std::to_string(s.shape.height));
      auto net = make_model(name, s.shape, s.classes);
      const auto x = batch_of_two(s.shape);
      const auto logits = net->forward(x);
      EXPECT_EQ(logits.sizes(), torch::IntArrayRef({2, s.classes}));
      const auto features = net->embed(x);
      EXPECT_EQ(features.sizes(), torch::IntArrayRef({2, net->feature_dim()}));
      // forward is classify(embed(x)); BatchNorm in training mode uses batch
      // statistics, so calling twice gives the same result.
      EXPECT_TRUE(torch::allclose(logits, net->classify(features), 1e-5, 1e-5));
    }
  }
}

TEST(Factory, GradientsReachEveryParameter) {
  torch::manual_seed(1);
  for (const auto& name : known_models()) {
    for (const auto& s : kSettings) {
      SCOPED_TRACE(name + " on " + std::to_string(s.shape.channels) + "x" + std::to_string(s.shape.height));
      auto net = make_model(name, s.shape, s.classes);
      const auto logits = net->forward(batch_of_two(s.shape));
      const auto loss = torch::nn::functional::cross_entropy(logits, torch::tensor({0, 1}, torch::kLong));
      loss.backward();
      for (const auto& p : net->named_parameters()) {
        SCOPED_TRACE(p.key());
        ASSERT_TRUE(p.value().grad().defined());
        EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>());
        // A conv bias before a norm gets a zero gradient by construction (the
        // norm removes it); weights must get a non-zero one.
        if (p.value().dim() > 1) {
          EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0);
        }
      }
    }
  }
}

TEST(Factory, LargerImagesWork) {
  // ImageFolder data, e.g. 3x64x64: feature sizes come from the shape.
  torch::NoGradGuard no_grad;
  const ImageShape shape{3, 64, 64};
  for (const auto& name : known_models()) {
    SCOPED_TRACE(name);
    auto net = make_model(name, shape, 5);
    const auto x = batch_of_two(shape);
    EXPECT_EQ(net->forward(x).sizes(), torch::IntArrayRef({2, 5}));
    EXPECT_EQ(net->embed(x).size(1), net->feature_dim());
  }
  EXPECT_EQ(make_model("convnet", shape, 5)->feature_dim(), 128 * 8 * 8);
}

TEST(Factory, UnknownNameThrows) {
  try {
    make_model("convnet-d9", kCifar, 10);
    FAIL() << "no exception";
  } catch (const ddkit::Error& e) {
    EXPECT_EQ(e.subject(), "--model");
    EXPECT_NE(e.problem().find("unknown model 'convnet-d9'"), std::string::npos);
    EXPECT_NE(e.problem().find("known: convnet, "), std::string::npos);
    EXPECT_NE(e.problem().find("resnet18"), std::string::npos);
  }
}

TEST(Factory, TooSmallImageThrows) {
  EXPECT_THROW(make_model("convnet-d4", ImageShape{3, 8, 8}, 10), ddkit::Error);
  EXPECT_THROW(make_model("lenet", ImageShape{3, 8, 8}, 10), ddkit::Error);
}

TEST(Factory, SameSeedSameParameters) {
  for (const auto& name : known_models()) {
    SCOPED_TRACE(name);
    torch::manual_seed(42);
    auto a = make_model(name, kCifar, 10);
    torch::manual_seed(42);
    auto b = make_model(name, kCifar, 10);
    const auto pa = a->parameters();
    const auto pb = b->parameters();
    ASSERT_EQ(pa.size(), pb.size());
    for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));
    // And a different seed gives different weights.
    torch::manual_seed(43);
    auto c = make_model(name, kCifar, 10);
    EXPECT_FALSE(torch::equal(pa[0], c->parameters()[0]));
  }
}

}  // namespace

// ------------------------------------------------------------ fused block

#include <torch/csrc/autograd/autograd.h>

#include "ddkit/models/fused_block.h"

namespace {
struct FusedCase {
  at::Tensor x, weight, bias, grad_out;
};
FusedCase fused_case(int64_t n, int64_t c, int64_t h, int64_t w) {
  at::manual_seed(42);
  return {at::randn({n, c, h, w}) * 2 + 0.3, at::randn({c}), at::randn({c}), at::randn({n, c, h / 2, w / 2})};
}
}  // namespace

TEST(FusedBlock, ForwardAndBackwardMatchTheThreeAtenOps) {
  auto t = fused_case(3, 5, 8, 6);
  std::vector<at::Tensor> fused_grads, reference_grads;
  at::Tensor fused_out, reference_out;
  for (bool fused : {true, false}) {
    auto x = t.x.clone().requires_grad_(), w = t.weight.clone().requires_grad_(), b = t.bias.clone().requires_grad_();
    auto y = fused ? ddkit::models::instance_norm_relu_avgpool(x, w, b, 1e-5)
                   : ddkit::models::instance_norm_relu_avgpool_reference(x, w, b, 1e-5);
    y.backward(t.grad_out);
    (fused ? fused_out : reference_out) = y.detach();
    (fused ? fused_grads : reference_grads) = std::vector<at::Tensor>{x.grad(), w.grad(), b.grad()};
  }
  EXPECT_TRUE(at::allclose(fused_out, reference_out, 1e-5, 1e-5));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(at::allclose(fused_grads[i], reference_grads[i], 1e-4, 1e-5)) << i;
}

TEST(FusedBlock, SecondOrderGradientsMatchTheAtenOps) {
  // Gradient matching differentiates a gradient: grad of (sum of d loss / d w)^2 w.r.t. x.
  auto t = fused_case(2, 3, 4, 4);
  std::vector<at::Tensor> results;
  for (bool fused : {true, false}) {
    auto x = t.x.clone().requires_grad_(), w = t.weight.clone().requires_grad_(), b = t.bias.clone().requires_grad_();
    auto y = fused ? ddkit::models::instance_norm_relu_avgpool(x, w, b, 1e-5)
                   : ddkit::models::instance_norm_relu_avgpool_reference(x, w, b, 1e-5);
    auto loss = (y * t.grad_out).sum();
    auto gw = torch::autograd::grad({loss}, {w}, {}, true, true)[0];
    auto outer = torch::autograd::grad({gw.pow(2).sum()}, {x})[0];
    results.push_back(outer);
  }
  EXPECT_GT(results[1].abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(at::allclose(results[0], results[1], 1e-4, 1e-5));
}

TEST(FusedBlock, OddSizesUseTheReferencePath) {
  auto t = fused_case(2, 3, 5, 7);
  auto y = ddkit::models::instance_norm_relu_avgpool(t.x, t.weight, t.bias, 1e-5);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, 2, 3}));
  EXPECT_TRUE(at::equal(y, ddkit::models::instance_norm_relu_avgpool_reference(t.x, t.weight, t.bias, 1e-5)));
}

TEST(FusedBlock, ConvNetEmbeddingEqualsItsSequentialModules) {
  at::manual_seed(3);
  ddkit::models::ConvNetOptions options;
  ddkit::models::ConvNet net(options);
  const auto x = at::randn({4, 1, 28, 28});
  const auto fused = net->embed(x);
  auto& features = *net->named_children()["features"]->as<torch::nn::Sequential>();
  const auto plain = features.forward(x).flatten(1);
  EXPECT_TRUE(at::allclose(fused, plain, 1e-5, 1e-5));
}

// conv3x3_twice_differentiable equals at::conv2d in value, first and second
// derivatives (the MTT pattern: differentiate g·λ where g = ∂L/∂W with create_graph).
TEST(ConvDoubleBackward, MatchesConv2dToSecondOrder) {
  torch::manual_seed(3);
  const auto options = torch::TensorOptions().dtype(torch::kDouble);
  for (int64_t padding : {1, 3}) {
    SCOPED_TRACE(padding);
    const auto x0 = torch::randn({2, 3, 7, 6}, options);
    const auto w0 = torch::randn({4, 3, 3, 3}, options);
    const auto b0 = torch::randn({4}, options);
    struct Out {
      torch::Tensor y, gw, gx_of_h, gw_of_h, gb_of_h;
    };
    auto run = [&](bool custom) {
      auto x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
      const auto y = custom ? ddkit::models::conv3x3_twice_differentiable(x, w, b, padding)
                            : torch::conv2d(x, w, b, 1, padding);
      const auto loss = (y * y.sin()).sum();  // nonlinear, so second derivatives are not trivial
      const auto g = torch::autograd::grad({loss}, {w, b}, {}, true, true);
      const auto lambda_w = torch::ones_like(w0) * 0.3, lambda_b = torch::ones_like(b0) * -0.2;
      const auto h = (g[0] * lambda_w).sum() + (g[1] * lambda_b).sum();
      const auto second = torch::autograd::grad({h}, {x, w, b});
      return Out{y.detach(), g[0].detach(), second[0], second[1], second[2]};
    };
    const auto a = run(false), c = run(true);
    EXPECT_TRUE(torch::allclose(a.y, c.y, 1e-10, 1e-10));
    EXPECT_TRUE(torch::allclose(a.gw, c.gw, 1e-10, 1e-10));
    EXPECT_TRUE(torch::allclose(a.gx_of_h, c.gx_of_h, 1e-10, 1e-10)) << (a.gx_of_h - c.gx_of_h).abs().max();
    EXPECT_TRUE(torch::allclose(a.gw_of_h, c.gw_of_h, 1e-10, 1e-10)) << (a.gw_of_h - c.gw_of_h).abs().max();
    EXPECT_TRUE(torch::allclose(a.gb_of_h, c.gb_of_h, 1e-10, 1e-10));
    EXPECT_GT(a.gx_of_h.abs().max().item<double>(), 0.0);
  }
}
