#include "ddkit/generative/generator_io.h"

#include <sstream>

#include <torch/serialize/output-archive.h>
#include <torch/torch.h>

#include "ddkit/data/pt_archive.h"
#include "ddkit/data/tensor_io.h"
#include "ddkit/generative/schedule.h"
#include "ddkit/train/archive_state.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"

namespace ddkit::generative {
namespace {
constexpr const char* kInfoKey = "ddkit_generator_info";
}  // namespace

nlohmann::json to_json(const GeneratorInfo& info) {
  return {{"unet", to_json(info.unet)},
          {"schedule",
           {{"steps", info.schedule.steps},
            {"kind", to_string(info.schedule.kind)},
            {"beta_start", info.schedule.beta_start},
            {"beta_end", info.schedule.beta_end},
            {"prediction", to_string(info.schedule.prediction)}}},
          {"dataset", info.dataset},
          {"height", info.height},
          {"width", info.width},
          {"extra", info.extra}};
}

void save_generator(const std::filesystem::path& file, UNetImpl& model, const GeneratorInfo& info) {
  torch::serialize::OutputArchive archive;
  model.save(archive);
  archive.write(kInfoKey, c10::IValue(to_json(info).dump()));
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(file, bytes.str());
}

LoadedGenerator load_generator(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) throw Error(file.string(), "no such generator file");
  const auto archive = data::PtArchive::read(file);
  const auto* value = archive.root().find(kInfoKey);
  if (value == nullptr || value->kind != data::PtValue::Kind::string) {
    throw Error(file.string(), "has no ddkit generator information (not written by `ddkit gen-train`)");
  }
  LoadedGenerator loaded;
  try {
    const auto j = nlohmann::json::parse(value->text);
    loaded.info.unet = unet_options_from_json(j.at("unet"));
    const auto& s = j.at("schedule");
    // Files without these fields were trained with the linear schedule and eps-prediction.
    const auto legacy = ScheduleOptions::legacy();
    loaded.info.schedule.kind = parse_schedule_kind(s.value("kind", to_string(legacy.kind)));
    loaded.info.schedule.prediction = parse_prediction(s.value("prediction", to_string(legacy.prediction)));
    loaded.info.schedule.steps = s.at("steps").get<int64_t>();
    loaded.info.schedule.beta_start = s.at("beta_start").get<double>();
    loaded.info.schedule.beta_end = s.at("beta_end").get<double>();
    loaded.info.dataset = j.value("dataset", "");
    loaded.info.height = j.at("height").get<int64_t>();
    loaded.info.width = j.at("width").get<int64_t>();
    loaded.info.extra = j.value("extra", nlohmann::json::object());
  } catch (const nlohmann::json::exception&) {
    throw Error(file.string(), "has malformed ddkit generator information");
  } catch (const Error& e) {  // an unknown schedule or prediction name
    throw Error(file.string(), "has malformed ddkit generator information (" + e.problem() + ")");
  }
  // The information decides the network built before any weight is read: the UNet's bounds
  // (unet.h; its constructor checks the options) keep a crafted file from asking for gigabytes.
  try {
    loaded.model = UNet(loaded.info.unet);
    check_unet_image(loaded.info.unet, loaded.info.height, loaded.info.width);
    NoiseSchedule schedule(loaded.info.schedule);  // its own bounds
  } catch (const Error& e) {
    throw Error(file.string(), "describes a generator ddkit cannot build: " + e.problem());
  }
  data::PtTensorReader tensors(archive);
  train::load_module_state(archive.root(), *loaded.model, tensors, file.string());
  loaded.model->eval();
  return loaded;
}

at::Tensor to_model_space(const at::Tensor& normalized, const data::Normalization& norm) {
  return data::denormalize(normalized, norm) * 2.0 - 1.0;
}

at::Tensor from_model_space(const at::Tensor& x, const data::Normalization& norm) {
  return data::normalize((x + 1.0) * 0.5, norm);
}

}  // namespace ddkit::generative
