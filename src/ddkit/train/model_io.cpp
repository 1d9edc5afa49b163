#include "ddkit/train/model_io.h"

#include <sstream>

#include <torch/serialize/output-archive.h>

#include "ddkit/data/pt_archive.h"
#include "ddkit/data/tensor_io.h"
#include "ddkit/models/factory.h"
#include "ddkit/train/archive_state.h"
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
  const auto archive = data::PtArchive::read(file);
  const auto* info = archive.root().find(kInfoKey);
  if (info == nullptr || info->kind != data::PtValue::Kind::string) {
    throw Error(file.string(), "has no ddkit model information (not written by `ddkit train`)");
  }
  LoadedModel loaded;
  try {
    const auto json_info = nlohmann::json::parse(info->text);
    loaded.info.model_name = json_info.at("model").get<std::string>();
    const auto shape = json_info.at("shape");
    loaded.info.shape = {shape.at(0).get<int64_t>(), shape.at(1).get<int64_t>(), shape.at(2).get<int64_t>()};
    loaded.info.num_classes = json_info.at("num_classes").get<int64_t>();
    loaded.info.dataset = json_info.value("dataset", "");
    loaded.info.extra = json_info.value("extra", nlohmann::json::object());
  } catch (const nlohmann::json::exception&) {
    throw Error(file.string(), "has malformed ddkit model information");
  }
  // The information decides the model built before any weight is read: make_model refuses
  // unknown names and shapes past its bounds, so a crafted file cannot ask for gigabytes.
  try {
    loaded.model = models::make_model(loaded.info.model_name, loaded.info.shape, loaded.info.num_classes);
  } catch (const Error& e) {
    throw Error(file.string(), "describes a model ddkit cannot build: " + e.problem());
  }
  data::PtTensorReader tensors(archive);
  load_module_state(archive.root(), *loaded.model, tensors, file.string());
  return loaded;
}

}  // namespace ddkit::train
