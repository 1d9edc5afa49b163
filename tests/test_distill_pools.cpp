// Method names, DGS-picked real images (--init dgs) and pools of independent
// runs (--pool-mode runs).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <ATen/ATen.h>

#include "ddkit/data/image_set.h"
#include "ddkit/distill/dgs_selection.h"
#include "ddkit/distill/distill_run.h"
#include "ddkit/distill/method.h"
#include "ddkit/util/error.h"
#include "expect_error.h"
#include "fixtures.h"

using namespace ddkit;
namespace fs = std::filesystem;

namespace {

data::Dataset tiny_dataset() { return ddkit_test::tiny_mnist_dataset("pools_mnist"); }

// A metadata.jsonl for the training split whose score of image i is the
// fraction i / N (so "easy" = early indices within each class).
fs::path write_index_scores(const data::Dataset& data, const fs::path& dir) {
  fs::create_directories(dir);
  const int64_t n = data.train.size();
  std::vector<std::string> names;
  for (int64_t i = 0; i < n; ++i) names.push_back("train/" + std::to_string(i));
  const auto scores = at::arange(n, at::kDouble) / static_cast<double>(n);
  const auto file = dir / "metadata.jsonl";
  std::ofstream(file) << data::metadata_jsonl(names, data.train.labels, scores);
  return file;
}

distill::MatchingRunOptions tiny_dm() {
  distill::MatchingRunOptions m;
  m.method = distill::Method::dm;
  m.iterations = 2;
  m.quiet = true;
  m.dm.model = "convnet-w32";
  m.dm.batch_real = 8;
  return m;
}

}  // namespace

TEST(Method, NamesRoundTripAndAnUnknownNameIsAUserError) {
  for (auto m : {distill::Method::random, distill::Method::herding, distill::Method::dc, distill::Method::dsa,
                 distill::Method::dm, distill::Method::mtt, distill::Method::diffusion}) {
    EXPECT_EQ(distill::parse_method(distill::method_name(m)), m);
  }
  EXPECT_TRUE(distill::is_matching(distill::Method::mtt));
  EXPECT_FALSE(distill::is_matching(distill::Method::herding));
  ddkit_test::expect_error([] { distill::parse_method("dmm"); }, "--method", "dmm");
  ddkit_test::expect_error([] { distill::parse_init("zeros"); }, "--init", "zeros");
  ddkit_test::expect_error([] { distill::parse_pool_mode("both"); }, "--pool-mode", "both");
}

TEST(DgsSelection, AnEasyTargetPicksEasierImagesThanTheOriginalOne) {
  const auto data = tiny_dataset();  // 20 training images per class
  distill::DgsSelectionOptions o;
  o.per_class = 4;
  o.scores_file = write_index_scores(data, ddkit_test::fresh_dir("dgs_selection")).string();
  o.target = "cliff";
  const auto easy = distill::select_dgs(data, o);
  o.target = "original";
  const auto original = distill::select_dgs(data, o);
  ASSERT_EQ(easy.size(), 4 * data.num_classes);
  // Class-major, 4 per class, distinct training images whose scores are the file's.
  std::set<int64_t> distinct;
  for (const auto& i : easy.meta["source_indices"]) distinct.insert(i.get<int64_t>());
  EXPECT_EQ(distinct.size(), static_cast<size_t>(easy.size()));
  for (int64_t k = 0; k < easy.size(); ++k) {
    EXPECT_EQ(easy.labels[k].item<int64_t>(), k / 4);
    const int64_t i = easy.meta["source_indices"][k].get<int64_t>();
    EXPECT_DOUBLE_EQ(easy.scores[k].item<double>(), static_cast<double>(i) / data.train.size());
    EXPECT_TRUE(at::equal(easy.images[k], data.train.images[i]));
  }
  EXPECT_LT(easy.scores.mean().item<double>(), original.scores.mean().item<double>());
  // The same seed gives the same pick.
  o.target = "cliff";
  EXPECT_EQ(distill::select_dgs(data, o).meta["source_indices"], easy.meta["source_indices"]);
}

TEST(DgsSelection, AScoresFileMustCoverTheTrainingSplitOnce) {
  const auto data = tiny_dataset();
  const auto dir = ddkit_test::fresh_dir("dgs_selection_bad");
  distill::DgsSelectionOptions o;
  o.per_class = 2;
  const auto good = write_index_scores(data, dir / "good");
  std::ifstream in(good);
  std::string first, line, rest;
  std::getline(in, first);
  while (std::getline(in, line)) rest += line + "\n";
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  o.scores_file = write("missing.jsonl", rest);
  ddkit_test::expect_error([&] { distill::select_dgs(data, o); }, o.scores_file, "of the training split");
  o.scores_file = write("twice.jsonl", first + "\n" + first + "\n" + rest);
  ddkit_test::expect_error([&] { distill::select_dgs(data, o); }, o.scores_file, "twice");
  o.scores_file = write("test.jsonl", "{\"file_name\": \"test/0\", \"label\": 0, \"score\": 0.5}\n" + rest);
  ddkit_test::expect_error([&] { distill::select_dgs(data, o); }, o.scores_file, "not an image of the training split");
}

TEST(DgsInit, AMatchingRunStartsFromTheDgsPick) {
  const auto data = tiny_dataset();
  const auto dir = ddkit_test::fresh_dir("dgs_init");
  auto m = tiny_dm();
  m.ipc = 2;
  m.init = distill::Init::dgs;
  m.init_target = "cliff";
  m.init_scores_file = write_index_scores(data, dir).string();
  m.out = dir / "set";
  const auto set = distill::run_matching(data, m);
  distill::DgsSelectionOptions o;
  o.per_class = 2;
  o.target = "cliff";
  o.scores_file = m.init_scores_file;
  EXPECT_EQ(set.meta["initial_source_indices"], distill::select_dgs(data, o).meta["source_indices"]);
  EXPECT_EQ(set.meta["init"], "dgs");
  EXPECT_EQ(set.meta["init_target"], "cliff");
  // A checkpoint of another target is refused on --resume.
  m.out = dir / "stopped";
  m.stop_after = 1;
  EXPECT_EQ(distill::run_matching(data, m).size(), 0);
  m.init_target = "original";
  m.resume = true;
  EXPECT_THROW(distill::run_matching(data, m), Error);
}

TEST(RunsPool, IndependentRunsJoinedClassByClassAndRunZeroIsThePlainSet) {
  const auto data = tiny_dataset();
  const auto dir = ddkit_test::fresh_dir("runs_pool");
  distill::DistillOptions d;
  d.method = distill::Method::dm;
  d.ipc = 1;
  d.pool_factor = 2;
  d.seed = 4;
  d.quiet = true;
  d.matching = tiny_dm();
  d.out = dir / "pool";
  const auto pool = distill::distill_set(data, d);
  ASSERT_EQ(pool.size(), 2 * data.num_classes);
  EXPECT_EQ(pool.meta["pool_mode"], "runs");
  const auto run0 = data::read_image_set(distill::pool_run_dir(d.out, 0), data);
  const auto run1 = data::read_image_set(distill::pool_run_dir(d.out, 1), data);
  for (int64_t c = 0; c < data.num_classes; ++c) {
    EXPECT_TRUE(at::equal(pool.images[2 * c], run0.images[c]));
    EXPECT_TRUE(at::equal(pool.images[2 * c + 1], run1.images[c]));
    EXPECT_EQ(pool.labels[2 * c + 1].item<int64_t>(), c);
  }
  EXPECT_FALSE(at::equal(run0.images, run1.images));  // other seeds: other starts and networks
  // Run 0 is the method at plain IPC with the pool's seed.
  d.pool_factor = 1;
  d.out = dir / "plain";
  EXPECT_TRUE(at::equal(distill::distill_set(data, d).images, run0.images));
  // --resume reuses the finished runs (same bytes); joint is one run of 2 per class.
  d.pool_factor = 2;
  d.out = dir / "pool";
  d.resume = true;
  EXPECT_TRUE(at::equal(distill::distill_set(data, d).images, pool.images));
  d.resume = false;
  d.pool_mode = distill::PoolMode::joint;
  d.out = dir / "joint";
  const auto joint = distill::distill_set(data, d);
  EXPECT_EQ(joint.size(), 2 * data.num_classes);
  EXPECT_FALSE(fs::exists(distill::pool_run_dir(d.out, 0)));
}

TEST(DgsInit, MethodRandomWithInitDgsIsTheDgsPickItself) {
  const auto data = tiny_dataset();
  const auto dir = ddkit_test::fresh_dir("random_dgs");
  distill::DistillOptions d;
  d.method = distill::Method::random;
  d.ipc = 3;
  d.seed = 2;
  d.quiet = true;
  d.matching.init = distill::Init::dgs;
  d.matching.init_target = "cliff";
  d.matching.init_scores_file = write_index_scores(data, dir).string();
  d.out = dir / "set";
  const auto set = distill::distill_set(data, d);
  distill::DgsSelectionOptions o;
  o.per_class = 3;
  o.target = "cliff";
  o.scores_file = d.matching.init_scores_file;
  o.seed = 2;
  const auto pick = distill::select_dgs(data, o);
  EXPECT_TRUE(at::equal(set.images, pick.images));
  EXPECT_EQ(data::read_image_set(d.out, data).meta["init_target"], "cliff");
  d.matching.init = distill::Init::noise;
  d.out = dir / "noise";
  ddkit_test::expect_error([&] { distill::distill_set(data, d); }, "--init", "real images");
}
