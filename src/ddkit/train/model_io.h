// A trained model file (`ddkit train --out model.pt`, used as an observer later):
// the module's parameters and buffers plus what is needed to rebuild it.
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "ddkit/models/classifier.h"

namespace ddkit::train {

struct ModelInfo {
  std::string model_name = "convnet";
  models::ImageShape shape;
  int64_t num_classes = 10;
  std::string dataset;           // the dataset spec it was trained on
  nlohmann::json extra = nlohmann::json::object();  // epochs, accuracy, seed, ...
};

struct LoadedModel {
  std::shared_ptr<models::ClassifierImpl> model;
  ModelInfo info;
};

void save_model(const std::filesystem::path& file, models::ClassifierImpl& model, const ModelInfo& info);  // atomic
LoadedModel load_model(const std::filesystem::path& file);

}  // namespace ddkit::train
