#include "ddkit/pipeline/reference_accuracy.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ddkit/dist/context.h"
#include "ddkit/distill/baselines.h"
#include "ddkit/train/cache.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"

using nlohmann::json;

namespace ddkit::pipeline {
namespace {

// The protocol and the number of runs (the mean of N runs is what is cached).
json protocol_key(const train::EvalOptions& eval) {
  auto key = train::protocol_json(eval);
  key["runs"] = eval.runs;
  return key;
}

struct CachedRuns {
  double mean = 0, std = 0;
  int64_t runs = 0;
};

// The accuracy of `model` trained on `set` with `eval`, from the cache file of
// `key` if it holds that key, else evaluated (every rank takes part) and
// written by rank 0.
CachedRuns cached_evaluation(const std::filesystem::path& cache_dir, const std::string& kind, const json& key,
                             const data::ImageSet& set, const data::Dataset& data, train::EvalOptions eval) {
  const auto& model = eval.models.front();
  const auto file = cache_dir / fmt::format("{}-{}-{:016x}.json", kind, model, train::stable_hash(key.dump()));
  std::string cached;
  std::error_code ec;
  if (dist::is_root(eval.world) && std::filesystem::exists(file, ec)) {
    const auto bytes = read_file_bytes(file);
    const auto saved = json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (saved.is_object() && saved.value("key", json()) == key && saved.value("mean", json()).is_number() &&
        saved.value("std", json()).is_number() && saved.value("accuracies", json()).is_array())
      cached = saved.dump();
  }
  if (eval.world && eval.world->distributed()) cached = eval.world->broadcast_string(cached);
  if (!cached.empty()) {
    const auto saved = json::parse(cached);
    spdlog::info("{} reference for {}: {:.2f} ± {:.2f} % (cached in {})", kind, model, saved.at("mean").get<double>(),
                 saved.at("std").get<double>(), file.string());
    return {saved.at("mean").get<double>(), saved.at("std").get<double>(),
            static_cast<int64_t>(saved.at("accuracies").size())};
  }
  spdlog::info("{} reference for {}: training {} run(s) of {} epochs (cached afterwards in {})", kind, model, eval.runs,
               eval.training.epochs, cache_dir.string());
  eval.out.clear();
  eval.resume = false;
  eval.baselines = json();
  const auto result = train::evaluate_image_set(set, data, eval, kind + " reference").models.front();
  if (dist::is_root(eval.world)) {
    std::filesystem::create_directories(cache_dir, ec);
    if (ec) throw Error(cache_dir.string(), "cannot create the baselines cache directory: " + ec.message());
    const json saved = {{"key", key}, {"accuracies", result.accuracies}, {"mean", result.mean}, {"std", result.std},
                        {"wall_seconds", result.wall_seconds}, {"units", "percent"}};
    write_file_atomic(file, saved.dump(2) + "\n");
  }
  return {result.mean, result.std, static_cast<int64_t>(result.accuracies.size())};
}

}  // namespace

std::filesystem::path default_reference_cache() { return train::default_cache_dir(); }

std::map<std::string, ReferenceAccuracy> reference_accuracies(const data::Dataset& data,
                                                              const ReferenceOptions& options) {
  if (options.ipc < 1) throw Error("--baselines", "the random-real reference needs an IPC of at least 1");
  if (options.whole_epochs < 1 || options.whole_runs < 1) {
    throw Error("--whole-epochs", "whole-data training needs at least 1 epoch and 1 run");
  }
  const auto cache_dir = options.cache_dir.empty() ? default_reference_cache() : options.cache_dir;
  const auto fingerprint = train::data_fingerprint(data);

  // Random real images at the same IPC, the same protocol (DC paper Table 1's "random").
  auto random_eval = options.eval;
  random_eval.training.lr = 0.01;
  distill::RandomOptions random_options;
  random_options.ipc = options.ipc;
  random_options.seed = options.eval.seed;
  const auto random_set = distill::select_random(data, random_options);

  // The whole training split [ddkit budget, see ReferenceOptions].
  auto whole_eval = options.eval;
  whole_eval.training.lr = 0.01;
  whole_eval.training.dsa = false;
  whole_eval.training.epochs = options.whole_epochs;
  whole_eval.runs = options.whole_runs;
  data::ImageSet whole_set;
  whole_set.images = data.train.images;
  whole_set.labels = data.train.labels;

  std::map<std::string, ReferenceAccuracy> out;
  for (const auto& model : options.eval.models) {
    ReferenceAccuracy r;
    random_eval.models = whole_eval.models = {model};
    const json random_key = {{"data", fingerprint}, {"model", model}, {"ipc", options.ipc},
                             {"protocol", protocol_key(random_eval)}};
    const auto random = cached_evaluation(cache_dir, "random", random_key, random_set, data, random_eval);
    r.random_mean = random.mean;
    r.random_std = random.std;
    r.random_runs = random.runs;
    const json whole_key = {{"data", fingerprint}, {"model", model}, {"protocol", protocol_key(whole_eval)}};
    const auto whole = cached_evaluation(cache_dir, "whole", whole_key, whole_set, data, whole_eval);
    r.whole_mean = whole.mean;
    r.whole_std = whole.std;
    r.whole_runs = whole.runs;
    r.whole_epochs = options.whole_epochs;
    out[model] = r;
  }
  return out;
}

json references_json(const std::map<std::string, ReferenceAccuracy>& references, int64_t ipc) {
  json out = json::object();
  for (const auto& [model, r] : references) {
    out[model] = {{"random", r.random_mean}, {"random_std", r.random_std}, {"random_runs", r.random_runs},
                  {"ipc", ipc},              {"whole", r.whole_mean},       {"whole_std", r.whole_std},
                  {"whole_runs", r.whole_runs}, {"whole_epochs", r.whole_epochs}};
  }
  return out;
}

int64_t set_ipc(const data::ImageSet& set, const data::Dataset& data, const std::string& set_description) {
  const auto counts = at::bincount(set.labels.to(at::kCPU), {}, data.num_classes);
  const int64_t ipc = counts[0].item<int64_t>();
  if (ipc < 1 || !counts.eq(ipc).all().item<bool>()) {
    throw Error(set_description, "--baselines needs the same number of images in every class (random real at that IPC)");
  }
  return ipc;
}

}  // namespace ddkit::pipeline
