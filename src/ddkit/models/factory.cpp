// Models by name (docs/algorithms.md §2). "convnet" is the field's ConvNet-3 (width 128,
// instance norm, ReLU, average pooling); the convnet-* names change one option
// each, for the ablations of the DC/DSA/DM papers; the rest are the
// cross-architecture models of zoo.h.
#include "ddkit/models/factory.h"

#include <functional>
#include <utility>

#include "ddkit/models/convnet.h"
#include "ddkit/models/zoo.h"
#include "ddkit/util/error.h"

namespace ddkit::models {

namespace {

using Builder = std::function<std::shared_ptr<ClassifierImpl>(const ImageShape&, int64_t)>;

// A ConvNet with the defaults of ConvNetOptions changed by `change`.
Builder convnet(std::function<void(ConvNetOptions&)> change) {
  return [change = std::move(change)](const ImageShape& shape, int64_t num_classes) {
    ConvNetOptions options;
    options.shape = shape;
    options.num_classes = num_classes;
    change(options);
    return std::static_pointer_cast<ClassifierImpl>(ConvNet(options).ptr());
  };
}

template <typename Holder>
Builder zoo() {
  return [](const ImageShape& shape, int64_t num_classes) {
    return std::static_pointer_cast<ClassifierImpl>(Holder(shape, num_classes).ptr());
  };
}

// In the order known_models() lists them.
const std::vector<std::pair<std::string, Builder>>& registry() {
  static const std::vector<std::pair<std::string, Builder>> models = {
      {"convnet", convnet([](ConvNetOptions&) {})},
      {"convnet-d1", convnet([](ConvNetOptions& o) { o.depth = 1; })},
      {"convnet-d2", convnet([](ConvNetOptions& o) { o.depth = 2; })},
      {"convnet-d3", convnet([](ConvNetOptions& o) { o.depth = 3; })},
      {"convnet-d4", convnet([](ConvNetOptions& o) { o.depth = 4; })},
      {"convnet-w32", convnet([](ConvNetOptions& o) { o.width = 32; })},
      {"convnet-w64", convnet([](ConvNetOptions& o) { o.width = 64; })},
      {"convnet-w256", convnet([](ConvNetOptions& o) { o.width = 256; })},
      {"convnet-bn", convnet([](ConvNetOptions& o) { o.norm = "batch"; })},
      {"convnet-ln", convnet([](ConvNetOptions& o) { o.norm = "layer"; })},
      {"convnet-nn", convnet([](ConvNetOptions& o) { o.norm = "none"; })},
      {"convnet-maxpool", convnet([](ConvNetOptions& o) { o.pooling = "max"; })},
      {"mlp", zoo<MLP>()},
      {"lenet", zoo<LeNet>()},
      {"alexnet", zoo<AlexNet>()},
      {"vgg11", zoo<VGG11>()},
      {"resnet18", zoo<ResNet18>()},
  };
  return models;
}

// The largest inputs ddkit builds a classifier for. A model file's information (image shape,
// classes) decides the model built before its weights are read (train/model_io.cpp), so these
// bounds are what keeps a crafted file from asking for gigabytes. They are far above the
// field's data sets: ImageNet subsets at 128 x 128 with 10 classes, Tiny-ImageNet's 200
// classes at 64 x 64, ImageNet-1k at 64 x 64. docs/reliability.md gives the largest model
// they allow.
constexpr int64_t kMaxChannels = 4;
constexpr int64_t kMaxValues = int64_t{1} << 18;       // C x H x W: 512 x 512 grey, 256 x 256 RGBA
constexpr int64_t kMaxPixelClasses = int64_t{1} << 22;  // H x W x classes: 64 x 64 x 1024

void check_limits(const ImageShape& shape, int64_t num_classes) {
  const auto& [c, h, w] = shape;
  if (c < 1 || h < 1 || w < 1 || num_classes < 1) {
    throw Error("--model", "needs a positive image shape and at least one class");
  }
  if (c > kMaxChannels || h > kMaxValues || w > kMaxValues || c * h * w > kMaxValues) {
    throw Error("--model", "images of " + std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w) +
                               " are larger than ddkit's models take (at most " + std::to_string(kMaxChannels) +
                               " channels and " + std::to_string(kMaxValues) + " values)");
  }
  if (num_classes > kMaxPixelClasses || h * w * num_classes > kMaxPixelClasses) {
    throw Error("--model", std::to_string(num_classes) + " classes of " + std::to_string(h) + "x" +
                               std::to_string(w) + " images are more than ddkit's models take (height x width x " +
                               "classes at most " + std::to_string(kMaxPixelClasses) + ")");
  }
}

}  // namespace

std::shared_ptr<ClassifierImpl> make_model(const std::string& name, const ImageShape& shape,
                                           int64_t num_classes) {
  for (const auto& [known, build] : registry()) {
    if (known != name) continue;
    check_limits(shape, num_classes);
    return build(shape, num_classes);
  }
  std::string list;
  for (const auto& known : known_models()) list += (list.empty() ? "" : ", ") + known;
  throw Error("--model", "unknown model '" + name + "' (known: " + list + ")");
}

std::vector<std::string> known_models() {
  std::vector<std::string> names;
  for (const auto& entry : registry()) names.push_back(entry.first);
  return names;
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t count = 0;
  for (const auto& parameter : module.parameters(/*recurse=*/true)) count += parameter.numel();
  return count;
}

}  // namespace ddkit::models
