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

}  // namespace

std::shared_ptr<ClassifierImpl> make_model(const std::string& name, const ImageShape& shape,
                                           int64_t num_classes) {
  for (const auto& [known, build] : registry()) {
    if (known == name) return build(shape, num_classes);
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
