// DD-Ranking's metrics beside accuracy: the cached reference accuracies
// (random real at the set's IPC, whole-data training) and results.json's
// improvement_over_random / gap_to_whole.
#include <gtest/gtest.h>

#include <filesystem>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "ddkit/pipeline/reference_accuracy.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"
#include "fixtures.h"

using namespace ddkit;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

pipeline::ReferenceOptions tiny_references(const fs::path& cache) {
  pipeline::ReferenceOptions options;
  options.ipc = 2;
  options.eval.models = {"convnet-w32"};
  options.eval.runs = 2;
  options.eval.training.epochs = 2;
  options.eval.quiet = true;
  options.whole_epochs = 1;
  options.cache_dir = cache;
  return options;
}

json read_json(const fs::path& file) {
  const auto bytes = read_file_bytes(file);
  return json::parse(bytes.begin(), bytes.end());
}

}  // namespace

TEST(Metrics, ReferencesAreTrainedOnceThenReadFromTheCache) {
  const auto data = ddkit_test::tiny_mnist_dataset("metrics_mnist");
  const auto cache = ddkit_test::fresh_dir("metrics_cache");
  const auto options = tiny_references(cache);
  const auto first = pipeline::reference_accuracies(data, options).at("convnet-w32");
  EXPECT_EQ(first.random_runs, 2);
  EXPECT_EQ(first.whole_runs, 1);
  EXPECT_GT(first.random_mean, 0.0);
  EXPECT_LE(first.whole_mean, 100.0);
  // Two cache files, one per reference; each records its key.
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(cache)) files.push_back(entry.path());
  ASSERT_EQ(files.size(), 2u);
  for (const auto& file : files) EXPECT_EQ(read_json(file)["key"]["model"], "convnet-w32") << file;

  // The second call reads the cache: a sentinel put there comes back.
  for (const auto& file : files) {
    auto saved = read_json(file);
    saved["mean"] = 12.5;
    write_file_atomic(file, saved.dump());
  }
  const auto second = pipeline::reference_accuracies(data, options).at("convnet-w32");
  EXPECT_EQ(second.random_mean, 12.5);
  EXPECT_EQ(second.whole_mean, 12.5);

  // Another IPC is another random reference (the whole-data one is shared).
  auto ipc3 = options;
  ipc3.ipc = 3;
  const auto third = pipeline::reference_accuracies(data, ipc3).at("convnet-w32");
  EXPECT_NE(third.random_mean, 12.5);
  EXPECT_EQ(third.whole_mean, 12.5);
  EXPECT_EQ(std::distance(fs::directory_iterator(cache), fs::directory_iterator()), 3);
}

TEST(Metrics, ResultsCarryImprovementOverRandomAndGapToWhole) {
  const auto data = ddkit_test::tiny_mnist_dataset("metrics_mnist");
  const auto set = ddkit_test::first_per_class(data, 2);
  train::EvalOptions eval;
  eval.models = {"convnet-w32"};
  eval.runs = 1;
  eval.training.epochs = 1;
  eval.quiet = true;
  eval.baselines = {{"convnet-w32", {{"random", 40.0}, {"whole", 90.0}}}};
  const auto result = train::evaluate_image_set(set, data, eval, "first");
  const auto out = result.to_json(eval, "first");
  const double mean = out["models"]["convnet-w32"]["mean"].get<double>();
  EXPECT_DOUBLE_EQ(out["models"]["convnet-w32"]["improvement_over_random"].get<double>(), mean - 40.0);
  EXPECT_DOUBLE_EQ(out["models"]["convnet-w32"]["gap_to_whole"].get<double>(), 90.0 - mean);
  EXPECT_EQ(out["baselines"], eval.baselines);
  // Without references, no metric keys.
  eval.baselines = json();
  EXPECT_FALSE(result.to_json(eval, "first")["models"]["convnet-w32"].contains("improvement_over_random"));
}

TEST(Metrics, TheSetIpcMustBeTheSameInEveryClass) {
  const auto data = ddkit_test::tiny_mnist_dataset("metrics_mnist");
  auto set = ddkit_test::first_per_class(data, 3);
  EXPECT_EQ(pipeline::set_ipc(set, data, "s"), 3);
  set.labels = set.labels.narrow(0, 0, set.size() - 1);
  set.images = set.images.narrow(0, 0, set.size());
  EXPECT_THROW(pipeline::set_ipc(set, data, "s"), Error);
}
