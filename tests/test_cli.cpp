// End-to-end through the `ddkit` binary: every error case of docs/design.md "Errors"
// gives one line "ddkit: error: <file>: <what>", exit code 2, and no output.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include "ddkit/data/image_io.h"
#include "cli_fixtures.h"
#include "fixtures.h"

namespace fs = std::filesystem;

namespace {

using ddkit_test::Outcome;
using ddkit_test::expect_user_error;
using ddkit_test::run_ddkit;
using ddkit_test::tiny_mnist;

void write_text(const fs::path& file, const std::string& text) {
  std::ofstream(file) << text;
}

std::string distill_into(const fs::path& data_dir, const fs::path& out) {
  return "distill --method random --ipc 2 --data mnist:" + data_dir.string() + " --out " + out.string();
}

}  // namespace

TEST(CliErrors, TruncatedGzip) {
  const auto dir = tiny_mnist("cli_truncated");
  const auto file = dir / "train-images-idx3-ubyte.gz";
  fs::resize_file(file, fs::file_size(file) / 2);
  const auto out = dir / "out";
  expect_user_error(run_ddkit(distill_into(dir, out)), file.string(), "truncated");
  EXPECT_FALSE(fs::exists(out));
}

TEST(CliErrors, WrongIdxMagic) {
  const auto dir = tiny_mnist("cli_magic");
  const auto images = dir / "train-images-idx3-ubyte.gz";
  fs::copy_file(dir / "train-labels-idx1-ubyte.gz", images, fs::copy_options::overwrite_existing);
  const auto out = dir / "out";
  expect_user_error(run_ddkit(distill_into(dir, out)), images.string(), "wrong IDX magic 0x00000801");
  EXPECT_FALSE(fs::exists(out));
}

TEST(CliErrors, LabelOutOfRange) {
  const auto dir = tiny_mnist("cli_label");
  std::vector<uint8_t> labels;
  ddkit_test::put_u32(labels, 0x801);
  ddkit_test::put_u32(labels, 200);
  for (int i = 0; i < 200; ++i) labels.push_back(static_cast<uint8_t>(i == 17 ? 10 : i % 10));
  const auto file = dir / "train-labels-idx1-ubyte.gz";
  ddkit_test::write_gz(file, labels);
  const auto out = dir / "out";
  expect_user_error(run_ddkit(distill_into(dir, out)), file.string(), "label 10 at index 17 is out of range");
  EXPECT_FALSE(fs::exists(out));
}

TEST(CliErrors, WrongImageSizeInAFolder) {
  const auto dir = ddkit_test::fresh_dir("cli_folder");
  for (const std::string split : {"train", "test"}) {
    for (const std::string cls : {"a", "b"}) {
      fs::create_directories(dir / split / cls);
      for (int i = 0; i < 3; ++i) {
        const int64_t side = (split == "train" && cls == "b" && i == 1) ? 9 : 8;
        std::ofstream(dir / split / cls / (std::to_string(i) + ".png"), std::ios::binary)
            << ddkit::data::encode_png(at::full({1, side, side}, 100, at::kByte));
      }
    }
  }
  const auto out = dir / "out";
  expect_user_error(run_ddkit("distill --ipc 1 --data folder:" + dir.string() + " --out " + out.string()),
                    (dir / "train" / "b" / "1.png").string(), "image is 9x9, expected 8x8");
  EXPECT_FALSE(fs::exists(out));
}

TEST(CliErrors, MissingDirectory) {
  const auto out = ddkit_test::fresh_dir("cli_missing") / "out";
  expect_user_error(run_ddkit("distill --data mnist:/nonexistent/ddkit --out " + out.string()),
                    "/nonexistent/ddkit", "no such directory");
  EXPECT_FALSE(fs::exists(out));
}

TEST(CliErrors, UnknownDatasetName) {
  const auto out = ddkit_test::fresh_dir("cli_unknown") / "out";
  expect_user_error(run_ddkit("distill --data imagenet --out " + out.string()), "imagenet", "unknown dataset");
  EXPECT_FALSE(fs::exists(out));
}

TEST(CliErrors, PoolTooSmallForTheIpc) {
  const auto dir = tiny_mnist("cli_pool");  // 20 training images per class
  const auto out = dir / "out";
  expect_user_error(run_ddkit("distill --ipc 7 --pool-factor 3 --data mnist:" + dir.string() + " --out " +
                              out.string()),
                    "mnist:" + dir.string(), "fewer than the 21 requested");
  EXPECT_FALSE(fs::exists(out));
}

TEST(CliErrors, UnknownFlagValue) {
  const auto out = ddkit_test::fresh_dir("cli_flag") / "out";
  const auto outcome = run_ddkit("distill --method magic --out " + out.string());
  EXPECT_EQ(outcome.exit_code, 2);
  EXPECT_EQ(outcome.err.rfind("ddkit: error: --method: ", 0), 0u) << outcome.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST(CliErrors, UnknownModelAndMissingSet) {
  const auto dir = tiny_mnist("cli_eval_errors");
  const auto set = dir / "set";
  ASSERT_EQ(run_ddkit(distill_into(dir, set)).exit_code, 0);
  const auto out = dir / "eval";
  expect_user_error(run_ddkit("eval --set " + set.string() + " --models resnet99 --data mnist:" + dir.string() +
                              " --out " + out.string()),
                    "--model", "unknown model 'resnet99'");
  expect_user_error(run_ddkit("eval --set " + (dir / "nope").string() + " --data mnist:" + dir.string() +
                              " --out " + out.string()),
                    (dir / "nope").string(), "no such directory");
  EXPECT_FALSE(fs::exists(out / "results.json"));
}

TEST(CliPipeline, TrainHerdingAndEvalEndToEnd) {
  const auto dir = tiny_mnist("cli_e2e");
  const std::string data = " --data mnist:" + dir.string();
  ASSERT_EQ(run_ddkit("train --model convnet-w32 --epochs 1 --out " + (dir / "observer.pt").string() + data).exit_code, 0);
  ASSERT_EQ(run_ddkit("distill --method herding --ipc 2 --observer " + (dir / "observer.pt").string() + " --out " +
                      (dir / "herding").string() + data)
                .exit_code,
            0);
  EXPECT_TRUE(fs::exists(dir / "herding" / "images" / "9"));
  const auto eval = run_ddkit("eval --set " + (dir / "herding").string() +
                              " --models convnet-w32,mlp --runs 2 --epochs 2 --out " + (dir / "eval").string() + data);
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  std::ifstream in(dir / "eval" / "results.json");
  const auto results = nlohmann::json::parse(in);
  EXPECT_EQ(results["models"]["convnet-w32"]["accuracies"].size(), 2u);
  EXPECT_EQ(results["models"]["mlp"]["accuracies"].size(), 2u);
  EXPECT_EQ(results["units"], "percent");
  EXPECT_EQ(results["protocol"]["epochs"], 2);
}

TEST(CliPipeline, EvalBaselinesAreComputedOnceAndCached) {
  const auto dir = tiny_mnist("cli_baselines");
  const std::string data = " --data mnist:" + dir.string();
  ASSERT_EQ(run_ddkit(distill_into(dir, dir / "set")).exit_code, 0);
  const std::string base = "eval --set " + (dir / "set").string() + " --models convnet-w32 --runs 2 --epochs 2 " +
                           "--baselines --baselines-cache " + (dir / "cache").string() + data;
  const std::string eval = base + " --whole-epochs 1";
  const auto first = run_ddkit(eval + " --out " + (dir / "first").string());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("random reference for convnet-w32: training 2 run(s)"), std::string::npos) << first.err;
  const auto second = run_ddkit(eval + " --out " + (dir / "second").string());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("random reference for convnet-w32: "), std::string::npos) << second.err;
  EXPECT_EQ(second.err.find("training"), std::string::npos) << second.err;
  std::ifstream in(dir / "second" / "results.json");
  const auto results = nlohmann::json::parse(in);
  const auto& model = results["models"]["convnet-w32"];
  const auto& reference = results["baselines"]["convnet-w32"];
  EXPECT_EQ(reference["ipc"], 2);
  EXPECT_DOUBLE_EQ(model["improvement_over_random"].get<double>(),
                   model["mean"].get<double>() - reference["random"].get<double>());
  EXPECT_DOUBLE_EQ(model["gap_to_whole"].get<double>(), reference["whole"].get<double>() - model["mean"].get<double>());
  expect_user_error(run_ddkit(base + " --whole-epochs 0 --out " + (dir / "third").string()), "--whole-epochs",
                    "must be at least 1, not 0");
  EXPECT_FALSE(fs::exists(dir / "third"));
}

TEST(CliErrors, SamplePoolTooSmallAndScoreWithoutInput) {
  const auto dir = tiny_mnist("cli_sample");
  const std::string data = " --data mnist:" + dir.string();
  ASSERT_EQ(run_ddkit("distill --method random --ipc 2 --pool-factor 2" + data + " --out " + (dir / "pool").string()).exit_code, 0);
  const auto out = dir / "sampled";
  expect_user_error(run_ddkit("sample --pool " + (dir / "pool").string() + " --ipc 5 --target ground" + data +
                              " --out " + out.string()),
                    (dir / "pool").string(), "class 0 has 4 pool images, fewer than ipc 5");
  EXPECT_FALSE(fs::exists(out));
  expect_user_error(run_ddkit("score" + data + " --out " + out.string()), "--set", "give --set DIR or --split train");
  expect_user_error(run_ddkit("sample --pool " + (dir / "pool").string() + " --target " + (dir / "nope.json").string() +
                              data + " --out " + out.string()),
                    (dir / "nope.json").string(), "");
  EXPECT_FALSE(fs::exists(out));
}

TEST(CliPipeline, ScoreThenSampleWithEveryTarget) {
  const auto dir = tiny_mnist("cli_dgs");
  const std::string data = " --data mnist:" + dir.string();
  const std::string observer = " --observer-model convnet-w32 --observer-epochs 1";
  ASSERT_EQ(run_ddkit("distill --method random --ipc 2 --pool-factor 5" + data + " --out " + (dir / "pool").string()).exit_code, 0);
  ASSERT_EQ(run_ddkit("score --set " + (dir / "pool").string() + data + observer + " --out " + (dir / "pool").string()).exit_code, 0);
  ASSERT_EQ(run_ddkit("score --split train" + data + observer + " --out " + (dir / "train").string()).exit_code, 0);
  EXPECT_TRUE(fs::exists(dir / "train" / "difficulty.svg"));
  for (const std::string target : {"original", "ground", "hill", "slope", "cliff"}) {
    const auto out = dir / ("dgs-" + target);
    const auto outcome = run_ddkit("sample --pool " + (dir / "pool").string() + " --ipc 2 --target " + target +
                                   " --original-scores " + (dir / "train" / "metadata.jsonl").string() + data +
                                   " --out " + out.string());
    ASSERT_EQ(outcome.exit_code, 0) << target << ": " << outcome.err;
    std::ifstream in(out / "sampling.json");
    const auto sampling = nlohmann::json::parse(in);
    EXPECT_EQ(sampling["classes"].size(), 10u) << target;
    int64_t total = 0;
    for (auto& [label, entry] : sampling["classes"].items()) {
      int64_t sum = 0;
      for (const auto& count : entry["target"]) sum += count.get<int64_t>();
      EXPECT_EQ(sum, 2) << target << " class " << label;
      total += entry["indices"].size();
    }
    EXPECT_EQ(total, 20) << target;
  }
}

TEST(CliPipeline, DistributionMatchingStopAndResume) {
  const auto dir = tiny_mnist("cli_dm");
  const std::string args = "distill --method dm --ipc 1 --iterations 3 --batch-real 8 --data mnist:" + dir.string() +
                           " --out " + (dir / "dm").string();
  ASSERT_EQ(run_ddkit(args + " --stop-after 2 --snapshots 1,2").exit_code, 0);
  EXPECT_FALSE(fs::exists(dir / "dm"));
  EXPECT_TRUE(fs::exists(dir / "dm.checkpoint" / "state.json"));
  ASSERT_EQ(run_ddkit(args + " --resume").exit_code, 0);
  std::ifstream in(dir / "dm" / "meta.json");
  const auto meta = nlohmann::json::parse(in);
  EXPECT_EQ(meta["method"], "dm");
  EXPECT_EQ(meta["resumed_from"], 2);
  EXPECT_EQ(meta["iterations"], 3);
  // --snapshots 1,2: the sets after iterations 1 and 2, kept across the resume.
  for (const int n : {1, 2}) {
    std::ifstream snapshot(dir / ("dm.snapshots/it" + std::to_string(n)) / "meta.json");
    ASSERT_TRUE(snapshot.good()) << n;
    const auto snapshot_meta = nlohmann::json::parse(snapshot);
    EXPECT_EQ(snapshot_meta["iterations"], n);
    EXPECT_EQ(snapshot_meta["snapshot_of"], 3);
  }
}

// Every subcommand's refusals, end to end: one line naming the flag or file,
// exit code 2, and nothing written at --out.
TEST(CliErrors, EverySubcommandRefusesBadInputWithOneLine) {
  const auto dir = tiny_mnist("cli_refusals");
  const std::string data = " --data mnist:" + dir.string();
  ASSERT_EQ(run_ddkit(distill_into(dir, dir / "set")).exit_code, 0);
  const auto out = dir / "out";
  const std::string to = " --out " + out.string();
  const std::string set = " --set " + (dir / "set").string();
  write_text(dir / "bad-key.toml", "[eval]\nrunz = 2\n");
  write_text(dir / "not-ini.toml", "this is [ not ini\n");
  struct Case {
    std::string args, subject, problem;
  };
  const std::vector<Case> cases = {
      {"distill --method dm --ipc 0" + data + to, "--ipc", "must be at least 1, not 0"},
      {"distill --method dm --ipc 1 --pool-factor 0" + data + to, "--pool-factor", "must be at least 1"},
      {"distill --method dc --ipc 1 --outer-loop 0" + data + to, "--outer-loop", "must be at least 1"},
      {"distill --method dm --ipc 1 --lr-img 0" + data + to, "--lr-img", "must be greater than 0"},
      {"distill --method dm --ipc 1 --sdc-lambda=-1" + data + to, "--sdc-lambda", "must be at least 0"},
      {"distill --method dm --ipc 1 --iterations 3 --snapshots 1,3" + data + to, "--snapshots",
       "3 is not an iteration between 0 and --iterations (3)"},
      {"distill --method nope --ipc 1" + data + to, "--method", "nope"},
      {"distill --method mtt --ipc 1" + data + to, "--buffer", "needs --buffer DIR"},
      {"distill --method mtt --ipc 1 --buffer " + (dir / "nobuf").string() + data + to, (dir / "nobuf").string(),
       "not an expert buffer"},
      {"distill --method dm --ipc 1 --device cuda" + data + to, "--device", "CUDA"},
      {"distill --method dm --ipc 1 --data nosuch:" + dir.string() + to, "nosuch:" + dir.string(), "unknown dataset"},
      {"buffer --experts 0" + data + to, "--experts", "must be at least 1"},
      {"eval --runs 0" + set + data + to, "--runs", "must be at least 1"},
      {"eval --lr abc" + set + data + to, "--lr", "'abc' is not a number"},
      {"eval --baselines --whole-runs 0" + set + data + to, "--whole-runs", "must be at least 1"},
      {"score --split train --scorer nope" + data + to, "--scorer", "unknown scorer 'nope'"},
      {"score --split train --observer " + (dir / "none.pt").string() + data + to, (dir / "none.pt").string(),
       "no such file"},
      {"sample --pool " + (dir / "set").string() + " --ipc 0 --target original" + data + to, "--ipc",
       "must be at least 1"},
      {"sample --pool " + (dir / "set").string() + " --ipc 1 --target nope" + data + to, "nope", "not a target"},
      {"pipeline --method dm --ipc 1 --target nope" + data + to, "nope", "not a target"},
      {"pipeline --method dm --ipc 1 --runs 0" + data + to, "--runs", "must be at least 1"},
      {"train --epochs=-1" + data + " --out " + (dir / "m.pt").string(), "--epochs", "must be at least 0"},
      {"train --model nope" + data + " --out " + (dir / "m.pt").string(), "--model", "unknown model 'nope'"},
      {"report --run " + dir.string(), dir.string(), "nothing to report"},
      {"launch -n 0 -- eval" + set + data + to, "-n", "at least 1 worker"},
      {"--config " + (dir / "none.toml").string() + " eval" + set + data + to, "--config", "not readable"},
      {"--config " + (dir / "bad-key.toml").string() + " eval" + set + data + to, (dir / "bad-key.toml").string(),
       "'eval.runz' is not a known flag"},
      {"--config " + (dir / "not-ini.toml").string() + " eval" + set + data + to, (dir / "not-ini.toml").string(),
       "is not a known flag"},
      {"eval --threads=-1" + set + data + to, "--threads", "must be at least 0"},
      {"gen-train --schedule quadratic" + data + to, "--schedule", "'quadratic' is not a schedule"},
      {"gen-train --prediction x0" + data + to, "--prediction", "'x0' is not a prediction"},
      {"gen-train --fid-every 3 --checkpoint-every 2" + data + to, "--fid-every", "a multiple of --checkpoint-every"},
      {"gen-train --res-blocks 1,2 --channel-mult 1,2,2" + data + to, "--res-blocks", "give one count, or one per level"},
      {"gen-eval" + data + to, "--generator", "give a generator or --set"},
      {"gen-eval --generator " + (dir / "none.pt").string() + data + to, (dir / "none.pt").string(),
       "no such generator file"},
      {"gen-eval --generator g.pt --solver euler" + data + to, "--solver", "'euler' is not a solver"},
      {"gen-eval --set " + (dir / "noset").string() + data + to, (dir / "noset").string(), ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args);
    expect_user_error(run_ddkit(c.args), c.subject, c.problem);
    EXPECT_FALSE(fs::exists(out));
    EXPECT_FALSE(fs::exists(dir / "m.pt"));
  }
}

// --config FILE: [subcommand] sections give flags; the command line wins.
TEST(CliOptions, ConfigFileVersionAndQuiet) {
  const auto dir = tiny_mnist("cli_config");
  ASSERT_EQ(run_ddkit(distill_into(dir, dir / "set")).exit_code, 0);
  write_text(dir / "run.toml",
             "[eval]\nseed = 3\nruns = 3\nepochs = 2\nmodels = [\"convnet-w32\"]\ndata = \"mnist:" + dir.string() +
                 "\"\n");
  const auto run = run_ddkit("--config " + (dir / "run.toml").string() + " eval --runs 2 --set " +
                             (dir / "set").string() + " --out " + (dir / "eval").string());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::ifstream in(dir / "eval" / "results.json");
  const auto results = nlohmann::json::parse(in);
  EXPECT_EQ(results["seed"], 3);
  EXPECT_EQ(results["protocol"]["epochs"], 2);
  EXPECT_EQ(results["models"]["convnet-w32"]["accuracies"].size(), 2u);  // --runs 2 over the file's 3
  // Progress and log lines go to stderr; --quiet silences them (warnings stay).
  EXPECT_NE(run.err.find("eval convnet-w32"), std::string::npos) << run.err;
  const auto quiet = run_ddkit("--config " + (dir / "run.toml").string() + " eval --quiet --set " +
                               (dir / "set").string() + " --out " + (dir / "eval-quiet").string());
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
  // --version: the project's version on stdout, exit 0.
  const auto version_file = dir / "version.txt";
  ASSERT_EQ(std::system((std::string(DDKIT_BINARY) + " --version > " + version_file.string()).c_str()), 0);
  std::ifstream version(version_file);
  std::string line;
  std::getline(version, line);
  EXPECT_EQ(line, "ddkit " DDKIT_VERSION);
}

// docs/cli.md documents every flag: for each subcommand that `ddkit --help`
// lists (so a new subcommand is covered too), every long flag that
// `ddkit <subcommand> --help` prints appears in the section "## <subcommand>"
// of docs/cli.md (the text up to the next "## " heading); the flags of `ddkit`
// itself appear in its "## Global flags" section.
namespace {

// stdout of `ddkit <args>`, which must exit with 0.
std::string ddkit_stdout(const std::string& args, const std::string& tag) {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const auto out_file =
      fs::temp_directory_path() / ("ddkit_test_cli_" + std::string(test->name()) + "_" + tag + ".stdout");
  const std::string command = std::string(DDKIT_BINARY) + " " + args + " > " + out_file.string() + " 2> /dev/null";
  const int status = std::system(command.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command;
  std::ifstream in(out_file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every long flag (--[a-z0-9-]+) in `text`.
std::set<std::string> long_flags(const std::string& text) {
  static const std::regex flag("(^|[^A-Za-z0-9_-])(--[a-z0-9][a-z0-9-]*)");
  std::set<std::string> flags;
  for (std::sregex_iterator it(text.begin(), text.end(), flag), end; it != end; ++it) flags.insert((*it)[2]);
  return flags;
}

// The subcommand names of `ddkit --help` (CLI11's "Subcommands:" block, one
// "  <name>  <description>" line each).
std::vector<std::string> subcommands(const std::string& help) {
  std::vector<std::string> names;
  std::istringstream lines(help);
  std::string line;
  bool in_block = false;
  while (std::getline(lines, line)) {
    if (line == "Subcommands:" || line == "SUBCOMMANDS:") {
      in_block = true;
    } else if (in_block) {
      if (line.rfind("  ", 0) != 0) break;
      std::istringstream words(line);
      std::string name;
      words >> name;
      if (!name.empty()) names.push_back(name);
    }
  }
  return names;
}

// The sections of a Markdown file by their "## " heading, with backticks and
// a leading "ddkit " dropped ("## `ddkit eval`" and "## eval" are both "eval").
std::map<std::string, std::string> sections(const fs::path& file) {
  std::ifstream in(file);
  std::map<std::string, std::string> result;
  std::string line, current;
  bool in_section = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      std::string name;
      for (char c : line.substr(3))
        if (c != '`') name += c;
      while (!name.empty() && name.back() == ' ') name.pop_back();
      if (name.rfind("ddkit ", 0) == 0) name = name.substr(6);
      current = name;
      result[current];
      in_section = true;
    } else if (in_section) {
      result[current] += line + "\n";
    }
  }
  return result;
}

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

}  // namespace

TEST(CliDocs, EveryFlagOfEverySubcommandIsInCliMd) {
  const auto doc = fs::path(DDKIT_TEST_DATA_DIR).parent_path().parent_path() / "docs" / "cli.md";
  ASSERT_TRUE(fs::exists(doc)) << doc;
  const auto doc_sections = sections(doc);
  const std::string help = ddkit_stdout("--help", "main");
  const auto names = subcommands(help);
  ASSERT_FALSE(names.empty()) << "no subcommands found in `ddkit --help`:\n" << help;
  ASSERT_NE(std::find(names.begin(), names.end(), "distill"), names.end()) << help;

  std::vector<std::pair<std::string, std::string>> checks = {{"Global flags", help}};
  for (const auto& name : names) checks.emplace_back(name, ddkit_stdout(name + " --help", name));
  for (const auto& [section, text] : checks) {
    SCOPED_TRACE(section);
    const auto flags = long_flags(text);
    EXPECT_TRUE(flags.count("--help")) << "no --help in the help text:\n" << text;
    const auto found = doc_sections.find(section);
    if (found == doc_sections.end()) {
      ADD_FAILURE() << doc.string() << " has no \"## " << section << "\" section";
      continue;
    }
    const auto documented = long_flags(found->second);
    std::vector<std::string> missing;
    for (const auto& flag : flags)
      if (!documented.count(flag)) missing.push_back(flag);
    EXPECT_TRUE(missing.empty()) << doc.string() << " section \"## " << section
                                 << "\" lacks flags: " << join(missing);
  }
}
