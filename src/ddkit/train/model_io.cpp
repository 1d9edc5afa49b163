#include "ddkit/train/model_io.h"

#include <sstream>

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "ddkit/models/factory.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"

namespace ddkit::train {
namespace {
constexpr const char* kInfoKey = "ddkit_model_info";
}

void save_model(const std::filesystem::path& file, models::ClassifierImpl& model, const ModelInfo& info) {
  torch::serialize::OutputArchive archive;
  model.save(archive);
  const nlohmann::json json_info = {{"model", info.model_name},
                                    {"shape", {info.shape.channels, info.shape.height, info.shape.width}},
                                    {"num_classes", info.num_classes},
                                    {"dataset", info.dataset},
                                    {"extra", info.extra}};
  archive.write(kInfoKey, c10::IValue(json_info.dump()));
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(file, bytes.str());
}

LoadedModel load_model(const std::filesystem::path& file) {
  const auto bytes = read_file_bytes(file);
  torch::serialize::InputArchive archive;
  c10::IValue value;
  try {
    // To the CPU: a file written on a GPU loads on any host; callers move the model.
    archive.load_from(bytes.data(), bytes.size(), c10::Device(c10::kCPU));
  } catch (const std::exception&) {
    throw Error(file.string(), "not a model file written by `ddkit train` (corrupt or truncated?)");
  }
  if (!archive.try_read(kInfoKey, value) || !value.isString()) {
    throw Error(file.string(), "has no ddkit model information (not written by `ddkit train`)");
  }
  LoadedModel loaded;
  try {
    const auto json_info = nlohmann::json::parse(value.toStringRef());
    loaded.info.model_name = json_info.at("model").get<std::string>();
    const auto shape = json_info.at("shape");
    loaded.info.shape = {shape.at(0).get<int64_t>(), shape.at(1).get<int64_t>(), shape.at(2).get<int64_t>()};
    loaded.info.num_classes = json_info.at("num_classes").get<int64_t>();
    loaded.info.dataset = json_info.value("dataset", "");
    loaded.info.extra = json_info.value("extra", nlohmann::json::object());
  } catch (const nlohmann::json::exception&) {
    throw Error(file.string(), "has malformed ddkit model information");
  }
  loaded.model = models::make_model(loaded.info.model_name, loaded.info.shape, loaded.info.num_classes);
  try {
    loaded.model->load(archive);
  } catch (const std::exception&) {
    throw Error(file.string(), "parameters do not match model '" + loaded.info.model_name + "'");
  }
  return loaded;
}

}  // namespace ddkit::train
