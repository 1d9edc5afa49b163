#include <gtest/gtest.h>

#include <filesystem>

#include "ddkit/data/image_set.h"
#include <fmt/format.h>

#include "ddkit/pipeline/pipeline.h"
#include "ddkit/report/run_report.h"
#include "ddkit/train/eval_protocol.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"
#include "expect_error.h"
#include "fixtures.h"
#include "pipeline_fixtures.h"

using namespace ddkit;
namespace fs = std::filesystem;


TEST(Pipeline, DmPoolDgsAndPlainAreEvaluatedAndResumeReusesStages) {
  const auto data = ddkit_test::tiny_mnist_dataset("pipeline_mnist");
  const auto out = ddkit_test::fresh_dir("pipeline_dm");
  const auto options = ddkit_test::tiny_pipeline_options(out, "dm");
  const auto results = pipeline::run_pipeline(data, options);

  // The pool holds pool_factor x ipc per class, the DGS set and the plain set ipc.
  EXPECT_EQ(data::read_image_set(out / "pool", data).size(), 3 * 2 * 10);
  const auto dgs = data::read_image_set(out / "dgs", data);
  EXPECT_EQ(dgs.size(), 2 * 10);
  EXPECT_EQ(data::read_image_set(out / "plain", data).size(), 2 * 10);
  EXPECT_TRUE(fs::exists(out / "observer.pt"));
  EXPECT_TRUE(fs::exists(out / "original-scores" / "metadata.jsonl"));
  EXPECT_TRUE(fs::exists(out / "dgs" / "sampling.json"));
  // Every DGS image is one of the pool's (exact tensors).
  const auto pool = data::read_image_set(out / "pool", data);
  for (int64_t i = 0; i < dgs.size(); ++i) {
    EXPECT_TRUE((pool.images - dgs.images[i]).abs().flatten(1).amax(1).eq(0).any().item<bool>()) << i;
  }
  // DM's published protocol is the DSA setting.
  EXPECT_EQ(results["sets"]["dgs"]["protocol"]["dsa"], true);
  EXPECT_EQ(results["sets"]["plain"]["models"]["convnet-w32"]["accuracies"].size(), 2u);
  EXPECT_TRUE(results["dgs_minus_plain"].contains("convnet-w32"));
  EXPECT_TRUE(fs::exists(out / "results.json"));
  // The report: one accuracy row per set and model, the grids as inline PNGs.
  const auto bytes = read_file_bytes(out / "report.html");
  const std::string html(bytes.begin(), bytes.end());
  size_t rows = 0;
  for (size_t at = html.find("<tr class=\"result\">"); at != std::string::npos; at = html.find("<tr class=\"result\">", at + 1)) ++rows;
  EXPECT_EQ(rows, 2u);
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
  // Self-contained: nothing is fetched (SVG's xmlns URI is a name, not a fetch).
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);

  // --resume reuses every finished stage and reports the same accuracies.
  auto again = options;
  again.resume = true;
  const auto resumed = pipeline::run_pipeline(data, again);
  for (const auto& [name, stage] : resumed["stages"].items()) EXPECT_EQ(stage.value("reused", false), true) << name;
  EXPECT_EQ(resumed["sets"], results["sets"]);
}

TEST(Pipeline, RandomWithoutPlainAndABadProtocol) {
  const auto data = ddkit_test::tiny_mnist_dataset("pipeline_mnist");
  const auto out = ddkit_test::fresh_dir("pipeline_random");
  auto options = ddkit_test::tiny_pipeline_options(out, "random");
  options.compare_plain = false;
  options.baselines = true;
  options.references.whole_epochs = 1;
  options.references.cache_dir = out / "baselines-cache";
  const auto results = pipeline::run_pipeline(data, options);
  EXPECT_FALSE(results["sets"].contains("plain"));
  // --baselines: references at the run's IPC, the metrics per set and in the report.
  EXPECT_EQ(results["baselines"]["convnet-w32"]["ipc"], 2);
  const auto& dgs = results["sets"]["dgs"]["models"]["convnet-w32"];
  EXPECT_DOUBLE_EQ(dgs["improvement_over_random"].get<double>(),
                   dgs["mean"].get<double>() - results["baselines"]["convnet-w32"]["random"].get<double>());
  const auto bytes = read_file_bytes(out / "report.html");
  EXPECT_NE(std::string(bytes.begin(), bytes.end()).find("<th>improvement over random</th>"), std::string::npos);
  EXPECT_EQ(results["sets"]["dgs"]["protocol"]["dsa"], false);  // random: the plain protocol
  EXPECT_FALSE(fs::exists(out / "plain"));
  options.eval_protocol = "fancy";
  EXPECT_THROW(pipeline::run_pipeline(data, options), Error);
  options.eval_protocol = "auto";
  options.target = "tallest";
  options.out = out / "bad-target";
  EXPECT_THROW(pipeline::run_pipeline(data, options), Error);
  EXPECT_FALSE(fs::exists(options.out / "pool"));  // refused before any work
}

TEST(Pipeline, DiffusionTrainsAGeneratorThenPoolWithDagThenDgs) {
  const auto data = ddkit_test::tiny_mnist_dataset("pipeline_mnist");
  const auto out = ddkit_test::fresh_dir("pipeline_diffusion");
  auto options = ddkit_test::tiny_pipeline_options(out, "diffusion");
  options.generator_training.unet.channels = 8;
  options.generator_training.unet.channel_mult = {1, 2};
  options.generator_training.unet.res_blocks = {1};
  options.generator_training.fid_every = 0;
  options.generator_training.steps = 6;
  options.generator_training.batch = 8;
  options.generator_training.checkpoint_every = 3;
  options.distill.generation.sampler.steps = 2;
  options.distill.generation.dag_scale = 100.0;
  options.distill.generation.dag_stop = 500;
  const auto results = pipeline::run_pipeline(data, options);
  EXPECT_TRUE(fs::exists(out / "generator" / "model.pt"));
  EXPECT_TRUE(fs::exists(out / "generator" / "train.json"));
  const auto pool = data::read_image_set(out / "pool", data);
  EXPECT_EQ(pool.size(), 3 * 2 * 10);
  EXPECT_EQ(pool.meta["method"], "diffusion");
  EXPECT_EQ(pool.meta["dag"]["observer"], (out / "observer.pt").string());  // the pipeline's observer
  EXPECT_EQ(data::read_image_set(out / "dgs", data).size(), 2 * 10);
  EXPECT_EQ(results["sets"]["dgs"]["protocol"]["dsa"], false);
  EXPECT_TRUE(results["sets"].contains("plain"));
  auto again = options;
  again.resume = true;
  const auto resumed = pipeline::run_pipeline(data, again);
  for (const auto& [name, stage] : resumed["stages"].items()) EXPECT_EQ(stage.value("reused", false), true) << name;
  EXPECT_EQ(resumed["sets"], results["sets"]);
}

// `ddkit report --run` on what `distill` and `eval` write (not a pipeline run):
// the set's own page, the eval's accuracies beside the evaluated set's grid,
// and one error for a directory that is neither.
TEST(Report, RendersAnImageSetAndAnEvalOutputAndRefusesAnythingElse) {
  const auto data = ddkit_test::tiny_mnist_dataset("pipeline_mnist");
  const auto dir = ddkit_test::fresh_dir("report_kinds");
  auto set = ddkit_test::first_per_class(data, 2);
  set.meta = {{"method", "random"}, {"ipc", 2}, {"wall_seconds", 1.5}};
  data::write_image_set(dir / "set", set, data);
  const auto html_of = [&](const fs::path& run) { return report::run_report_html(run, data); };

  const auto set_page = html_of(dir / "set");
  EXPECT_NE(set_page.find("<h1>ddkit set: random on"), std::string::npos);
  EXPECT_NE(set_page.find(", IPC 2</h1>"), std::string::npos);
  EXPECT_NE(set_page.find("data:image/png;base64,"), std::string::npos);
  EXPECT_NE(set_page.find("not evaluated here"), std::string::npos);
  const auto h1 = set_page.substr(set_page.find("<h1>"), set_page.find("</h1>") - set_page.find("<h1>"));
  EXPECT_EQ(h1.find('?'), std::string::npos) << h1;  // every field of the title is known

  train::EvalOptions eval;
  eval.models = {"convnet-w32"};
  eval.runs = 2;
  eval.training.epochs = 1;
  eval.quiet = true;
  eval.out = dir / "eval";
  const auto result = train::evaluate_image_set(set, data, eval, (dir / "set").string());
  const auto eval_page = html_of(dir / "eval");
  EXPECT_NE(eval_page.find("<h1>ddkit eval: random on"), std::string::npos);
  EXPECT_NE(eval_page.find(fmt::format("<td>{:.2f} ± {:.2f}</td><td>2</td>", result.models[0].mean, result.models[0].std)),
            std::string::npos);
  EXPECT_NE(eval_page.find("data:image/png;base64,"), std::string::npos);  // the evaluated set's grid
  // The set moved away: the accuracies alone, with a note.
  fs::rename(dir / "set", dir / "moved");
  const auto alone = html_of(dir / "eval");
  EXPECT_EQ(alone.find("data:image/png;base64,"), std::string::npos);
  EXPECT_NE(alone.find("the set's images are not here"), std::string::npos);

  fs::create_directories(dir / "empty");
  ddkit_test::expect_error([&] { html_of(dir / "empty"); }, (dir / "empty").string(), "nothing to report");
  fs::create_directories(dir / "odd");
  write_file_atomic(dir / "odd" / "results.json", std::string("{\"x\": 1}"));
  ddkit_test::expect_error([&] { html_of(dir / "odd"); }, (dir / "odd" / "results.json").string(),
                           "has neither \"sets\"");
}

// Found by fuzz/fuzz_run_json.cpp: fields of another type than ddkit writes, and a
// sampling.json whose bin counts would fill the memory, are the files' fault: one
// ddkit::Error naming the run or the file, not an internal error.
TEST(Report, RefusesJsonFieldsOfTheWrongTypeAndUnboundedCounts) {
  const auto data = ddkit_test::tiny_mnist_dataset("pipeline_mnist");
  const auto dir = ddkit_test::fresh_dir("report_fields");
  auto set = ddkit_test::first_per_class(data, 1);
  set.meta = {{"method", "random"}, {"ipc", 1}};
  const std::string sampling = R"({"classes": {"0": {"pool_bins": [1], "target": [1], "drawn": [1000000000000000000]}}})";
  data::write_image_set(dir / "set", set, data, {{"sampling.json", sampling}});
  ddkit_test::expect_error([&] { report::run_report_html(dir / "set", data); }, (dir / "set" / "sampling.json").string(),
                           "a bin count is not an integer in [0, 1000000]");
  // A real where an index belongs: get<int64_t> would cast 1e300 (undefined behaviour).
  set.meta["pool_indices"] = {1e300};
  data::write_image_set(dir / "indexed", set, data);
  ddkit_test::expect_error([&] { report::run_report_html(dir / "indexed", data); },
                           (dir / "indexed" / "meta.json").string(), "\"pool_indices\" holds a non-integer");
  // A loss point of one value (found by fuzz_run_json): refused, not read past its end.
  set.meta = {{"method", "dm"}, {"ipc", 1}, {"loss_every_10", {{0, 1.5}, {10}}}};
  data::write_image_set(dir / "short-loss", set, data);
  ddkit_test::expect_error([&] { report::run_report_html(dir / "short-loss", data); }, (dir / "short-loss").string(),
                           "a JSON file of the run has a field ddkit cannot read");
  fs::create_directories(dir / "eval");
  write_file_atomic(dir / "eval" / "results.json", std::string(R"({"models": {"convnet": {"mean": "high"}}})"));
  ddkit_test::expect_error([&] { report::run_report_html(dir / "eval", data); }, (dir / "eval").string(),
                           "a JSON file of the run has a field ddkit cannot read");
  // Epochs past any integer type (found by fuzz_run_json) are shown as written, not cast.
  write_file_atomic(dir / "eval" / "results.json",
                    std::string(R"({"models": {"convnet": {"mean": 70.0, "std": 0.5}}, "protocol": {"epochs": 1e300}})"));
  EXPECT_NE(report::run_report_html(dir / "eval", data).find("<td>1e+300 epochs</td>"), std::string::npos);
  write_file_atomic(dir / "eval" / "results.json", std::string(R"({"models": {}, "set": 7})"));
  ddkit_test::expect_error([&] { report::run_report_html(dir / "eval", data); }, (dir / "eval").string(),
                           "a JSON file of the run has a field ddkit cannot read");
}
