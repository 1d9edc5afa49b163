// Writes fuzz_model's seed corpus, fuzz/corpus/model/: a model file, a generator file and a
// `gen-train` checkpoint as ddkit writes them (libtorch's module archive, ddkit's
// information inside), for networks small enough to be seeds (fuzz/model_seeds.h). Each
// entry's CRC-32 in the central directory is set to 0, which the reader takes as "not
// recorded": otherwise nearly every mutation of the pickle would stop at the CRC check.
// Deterministic.
//   build-fuzz/fuzz/make_model_corpus fuzz/corpus/model
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "ddkit/generative/generator_checkpoint.h"
#include "ddkit/models/factory.h"
#include "model_seeds.h"

namespace {

// Zeroes the CRC-32 of every central directory record (signature PK\1\2, CRC at +16).
void drop_crcs(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  const std::string central("PK\x01\x02", 4);
  for (size_t p = bytes.find(central); p != std::string::npos; p = bytes.find(central, p + 4)) {
    if (p + 20 <= bytes.size()) std::memset(&bytes[p + 16], 0, 4);
  }
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_model_corpus OUT_DIR\n";
    return 2;
  }
  const std::filesystem::path out = argv[1];
  std::filesystem::create_directories(out);
  torch::manual_seed(0);

  const auto model_info = ddkit_fuzz::seed_model_info();
  auto model = ddkit::models::make_model(model_info.model_name, model_info.shape, model_info.num_classes);
  ddkit::train::save_model(out / "convnet.pt", *model, model_info);
  drop_crcs(out / "convnet.pt");

  const auto generator_info = ddkit_fuzz::seed_generator_info();
  ddkit::generative::UNet unet(generator_info.unet), ema(generator_info.unet);
  ddkit::generative::save_generator(out / "generator.pt", *unet, generator_info);
  drop_crcs(out / "generator.pt");

  // One Adam step, so the checkpoint carries per-parameter state as a trained one does.
  torch::optim::Adam optimizer(unet->parameters(), torch::optim::AdamOptions(1e-3));
  const auto x = torch::randn({2, 1, 4, 4});
  unet->forward(x, torch::tensor({1, 500}), torch::tensor({0, 1})).square().mean().backward();
  optimizer.step();
  ddkit::generative::save_generator_checkpoint(out / "checkpoint.pt", *unet, *ema, optimizer, 1,
                                               {{"loss", {{1, 0.5}}}});
  drop_crcs(out / "checkpoint.pt");

  // Seeds the loaders refuse would leave the fuzzer to rediscover the format.
  const auto loaded_model = ddkit::train::load_model(out / "convnet.pt");
  const auto loaded_generator = ddkit::generative::load_generator(out / "generator.pt");
  nlohmann::json progress;
  const auto step = ddkit::generative::load_generator_checkpoint(out / "checkpoint.pt", *unet, *ema, optimizer,
                                                                 torch::kCPU, progress);
  std::cout << "convnet.pt: " << ddkit::models::count_parameters(*loaded_model.model) << " parameters; generator.pt: "
            << ddkit::models::count_parameters(*loaded_generator.model) << " parameters; checkpoint.pt: step " << step
            << "\n";
  return 0;
}
