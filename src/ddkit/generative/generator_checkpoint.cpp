#include "ddkit/generative/generator_checkpoint.h"

#include <sstream>

#include <torch/optim/adam.h>
#include <torch/serialize/output-archive.h>

#include "ddkit/data/pt_archive.h"
#include "ddkit/data/tensor_io.h"
#include "ddkit/train/archive_state.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"

namespace fs = std::filesystem;

namespace ddkit::generative {
namespace {

const data::PtValue& member(const data::PtValue& root, const char* key, const fs::path& file) {
  const auto* value = root.find(key);
  if (value == nullptr) throw Error(file.string(), std::string("is not a generator checkpoint: it has no '") + key + "'");
  return *value;
}

}  // namespace

void save_generator_checkpoint(const fs::path& file, UNetImpl& model, UNetImpl& ema, torch::optim::Adam& optimizer,
                               int64_t step, const nlohmann::json& progress) {
  torch::serialize::OutputArchive archive, model_archive, ema_archive, optimizer_archive;
  model.save(model_archive);
  ema.save(ema_archive);
  optimizer.save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("ema", ema_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("step", torch::tensor(step, torch::kLong));
  archive.write("progress", c10::IValue(progress.dump()));
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(file, bytes.str());
}

int64_t load_generator_checkpoint(const fs::path& file, UNetImpl& model, UNetImpl& ema, torch::optim::Adam& optimizer,
                                  const c10::Device& device, nlohmann::json& progress) {
  const auto archive = data::PtArchive::read(file);
  const auto& root = archive.root();
  data::PtTensorReader tensors(archive);
  try {
    train::load_module_state(member(root, "model", file), model, tensors, file.string());
    train::load_module_state(member(root, "ema", file), ema, tensors, file.string());
  } catch (const Error& e) {
    throw Error(file.string(), "not a checkpoint of this generator (different --channels?): " + e.problem());
  }
  train::load_adam_state(member(root, "optimizer", file), optimizer, tensors, device, file.string());
  const auto* step = root.find("step");
  if (step == nullptr || step->kind != data::PtValue::Kind::tensor) throw Error(file.string(), "has no step");
  const auto step_tensor = tensors.tensor(step->tensor);
  const bool one_count = step_tensor.numel() == 1 && step_tensor.scalar_type() == torch::kLong;
  const int64_t step_done = one_count ? step_tensor.item<int64_t>() : -1;
  if (step_done < 0) throw Error(file.string(), "has a malformed step");
  const auto* saved = root.find("progress");
  progress = saved != nullptr && saved->kind == data::PtValue::Kind::string
                 ? nlohmann::json::parse(saved->text, nullptr, false)
                 : nlohmann::json();  // a checkpoint of an earlier ddkit: curves from progress.json
  return step_done;
}

}  // namespace ddkit::generative
