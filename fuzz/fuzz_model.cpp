// Model and generator files (`ddkit train`, `ddkit gen-train`) through load_model and
// load_generator: the archive, the ddkit information inside it, the network it describes
// and the weights matched to that network. A file either is refused with one ddkit::Error
// or gives a network that runs: one forward pass on zeros must give the shape it promises.
// The information is bounded (models/factory.cpp, generative/unet.h), so a crafted file
// cannot make the target allocate past libFuzzer's memory limits.
#include <torch/torch.h>

#include "ddkit/generative/generator_io.h"
#include "ddkit/train/model_io.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  torch::NoGradGuard no_grad;
  const auto file = ddkit_fuzz::write_input("input.pt", data, size);
  ddkit::train::LoadedModel model;
  if (ddkit_fuzz::read_or_refuse([&] { model = ddkit::train::load_model(file); })) {
    const auto& [c, h, w] = model.info.shape;
    model.model->eval();
    const auto logits = model.model->forward(torch::zeros({1, c, h, w}));
    ddkit_fuzz::check(logits.dim() == 2 && logits.size(0) == 1 && logits.size(1) == model.info.num_classes);
  }
  ddkit::generative::LoadedGenerator generator;
  if (ddkit_fuzz::read_or_refuse([&] { generator = ddkit::generative::load_generator(file); })) {
    const auto& info = generator.info;
    const auto x = torch::zeros({1, info.unet.image_channels, info.height, info.width});
    const auto out = generator.model->forward(x, torch::full({1}, 1, torch::kLong), torch::zeros({1}, torch::kLong));
    ddkit_fuzz::check(out.sizes() == x.sizes());
  }
  return 0;
}
