#include "ddkit/train/eval_protocol.h"

#include <chrono>
#include <cmath>
#include <cstring>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ddkit/dist/context.h"
#include "ddkit/models/factory.h"
#include "ddkit/train/device.h"
#include "ddkit/train/rng.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"
#include "ddkit/util/progress.h"

using nlohmann::json;

namespace ddkit::train {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

json protocol_json(const EvalOptions& options) {
  const auto& t = options.training;
  return {{"epochs", t.epochs},       {"lr", t.lr},        {"momentum", t.momentum},
          {"weight_decay", t.weight_decay}, {"batch_size", t.batch_size}, {"dsa", t.dsa},
          {"dsa_strategy", t.dsa ? t.dsa_options.strategy : ""}, {"seed", options.seed},
          {"lr_decay", "x0.1 after epoch epochs/2+1, new optimizer"}};
}

namespace {

// Rank 0's copy of `value` on every rank (a world of one: unchanged).
void broadcast_json(const std::shared_ptr<dist::Context>& world, json& value) {
  if (!world || !world->distributed()) return;
  const std::string text = world->root() ? value.dump() : std::string();
  auto length = at::full({1}, static_cast<int64_t>(text.size()), at::kLong);
  world->broadcast(length);
  auto bytes = at::zeros({length.item<int64_t>()}, at::kByte);
  if (world->root()) std::memcpy(bytes.data_ptr<uint8_t>(), text.data(), text.size());
  world->broadcast(bytes);
  if (!world->root()) value = json::parse(std::string(bytes.data_ptr<uint8_t>(), bytes.data_ptr<uint8_t>() + bytes.numel()));
}

}  // namespace

EvalOptions EvalOptions::dsa_setting() {
  EvalOptions options;
  options.training.epochs = 1000;
  options.training.dsa = true;
  return options;
}

std::pair<double, double> mean_std(const std::vector<double>& values) {
  if (values.empty()) return {0.0, 0.0};
  double sum = 0;
  for (double v : values) sum += v;
  const double mean = sum / static_cast<double>(values.size());
  double sq = 0;
  for (double v : values) sq += (v - mean) * (v - mean);
  return {mean, std::sqrt(sq / static_cast<double>(values.size()))};
}

void add_metrics(json& model_result, const json& baselines, const std::string& model) {
  if (!baselines.is_object() || !baselines.contains(model)) return;
  const auto& reference = baselines[model];
  const double mean = model_result.at("mean").get<double>();
  if (reference.contains("random")) model_result["improvement_over_random"] = mean - reference["random"].get<double>();
  if (reference.contains("whole")) model_result["gap_to_whole"] = reference["whole"].get<double>() - mean;
}

json EvalResult::to_json(const EvalOptions& options, const std::string& set_description) const {
  json out = {{"set", set_description}, {"protocol", protocol_json(options)}, {"runs", options.runs},
              {"seed", options.seed},   {"device", options.device},           {"wall_seconds", wall_seconds},
              {"units", "percent"}};
  json by_model = json::object();
  for (const auto& m : models) {
    by_model[m.model] = {{"accuracies", m.accuracies}, {"mean", m.mean},   {"std", m.std},
                         {"epochs", options.training.epochs}, {"wall_seconds", m.wall_seconds}};
    add_metrics(by_model[m.model], options.baselines, m.model);
  }
  out["models"] = by_model;
  if (options.baselines.is_object()) out["baselines"] = options.baselines;
  return out;
}

double evaluation_lr(const data::ImageSet& set, double explicit_lr) {
  if (explicit_lr > 0) return explicit_lr;
  const auto learned = set.meta.find("learned_lr");
  return learned != set.meta.end() && learned->is_number() ? learned->get<double>() : 0.01;
}

EvalResult evaluate_image_set(const data::ImageSet& set, const data::Dataset& data, const EvalOptions& requested,
                              const std::string& set_description) {
  // Digits are not flip-invariant: the DSA paper drops flip for MNIST.
  EvalOptions options = requested;
  if (data.name == "mnist") options.training.dsa_options.strategy = augment::strategy_without_flip(options.training.dsa_options.strategy);
  if (set.size() == 0) throw Error(set_description, "the image set is empty");
  if (!data.test.images.defined()) throw Error(data.spec, "has no test split to evaluate on");
  const auto device = parse_device(options.device);
  const auto images = set.images.to(device);
  const auto labels = set.labels.to(device);
  const auto test_images = data.test.images.to(device);
  const auto test_labels = data.test.labels.to(device);
  const models::ImageShape shape{data.channels, data.height, data.width};

  const auto partial_file = options.out.empty() ? std::filesystem::path() : options.out / "results.partial.json";
  json partial = {{"protocol", protocol_json(options)}, {"models", json::object()}};
  std::error_code ec;
  const auto& world = options.world;
  const int rank = dist::rank_of(world), ranks = dist::size_of(world);
  const bool root = rank == 0;
  if (root && options.resume && !partial_file.empty() && std::filesystem::exists(partial_file, ec)) {
    const auto bytes = read_file_bytes(partial_file);
    auto saved = json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (!saved.is_object() || saved.value("protocol", json()) != partial["protocol"] || !saved.value("models", json()).is_object()) {
      throw Error(partial_file.string(), "was written with other evaluation settings; remove it or drop --resume");
    }
    partial = saved;
  }
  broadcast_json(world, partial);  // what rank 0 resumes from

  const auto start = std::chrono::steady_clock::now();
  EvalResult result;
  for (const auto& model_name : options.models) {
    (void)models::make_model(model_name, shape, data.num_classes);  // reject unknown names before any work
  }
  for (const auto& model_name : options.models) {
    ModelResult model_result;
    model_result.model = model_name;
    auto& done = partial["models"][model_name];
    if (done.is_null()) done = json::array();
    for (const auto& acc : done) model_result.accuracies.push_back(acc.get<double>());
    const int64_t first_run = static_cast<int64_t>(model_result.accuracies.size());
    if (first_run > 0) spdlog::info("{}: resuming after {} finished run(s)", model_name, first_run);
    const auto model_start = std::chrono::steady_clock::now();
    ProgressOptions progress_options;
    progress_options.quiet = options.quiet;
    progress_options.unit = "epoch";
    // Rounds of `ranks` runs: this rank trains run round + rank (a world of
    // one: every run in turn); the round's accuracies are summed into place.
    const int64_t my_runs = std::max<int64_t>(0, (options.runs - first_run - rank + ranks - 1) / ranks);
    Progress progress(fmt::format("eval {}", model_name), my_runs * passes(options.training), progress_options);
    for (int64_t round = first_run; round < options.runs; round += ranks) {
      const int64_t in_round = std::min<int64_t>(ranks, options.runs - round);
      auto round_accuracies = at::zeros({in_round}, at::kDouble);
      const int64_t run = round + rank;
      if (run < options.runs) {
        auto generator = seed_unit_of_work(options.seed + static_cast<uint64_t>(run));
        auto model = models::make_model(model_name, shape, data.num_classes);
        model->to(device);
        train_classifier(*model, images, labels, options.training, generator, [&](int64_t epoch, double loss) {
          progress.advance(1, fmt::format("run {}/{} loss {:.4f}", run + 1, options.runs, loss));
        });
        const double accuracy = test_accuracy(*model, test_images, test_labels);
        round_accuracies[rank] = accuracy;
        if (!options.quiet) spdlog::info("{} run {}/{}: {:.2f}%", model_name, run + 1, options.runs, accuracy);
      }
      if (world) world->all_reduce_sum(round_accuracies);
      for (int64_t i = 0; i < in_round; ++i) {
        model_result.accuracies.push_back(round_accuracies[i].item<double>());
        done.push_back(model_result.accuracies.back());
      }
      if (root && !partial_file.empty()) write_file_atomic(partial_file, partial.dump(2));
    }
    progress.finish();
    std::tie(model_result.mean, model_result.std) = mean_std(model_result.accuracies);
    model_result.wall_seconds = seconds_since(model_start);
    result.models.push_back(model_result);
  }
  result.wall_seconds = seconds_since(start);
  if (root && !options.out.empty()) {
    write_file_atomic(options.out / "results.json", result.to_json(options, set_description).dump(2) + "\n");
    std::filesystem::remove(partial_file, ec);
  }
  return result;
}

}  // namespace ddkit::train
