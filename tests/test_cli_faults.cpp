// Faults through the `ddkit` binary (docs/reliability.md "Faults"): a run killed with
// SIGKILL in the middle of its work, then `--resume`d, writes the same files as an
// uninterrupted run with the same seed and threads; a second run given the same --out
// is refused while the first runs; a full disk and a read-only output folder end the run
// with one line and leave nothing behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli_fixtures.h"
#include "fixtures.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Starts `ddkit ARGS --threads 1 --quiet` in its own process (exec'd, so its pid is ddkit's).
pid_t spawn_ddkit(const std::string& args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string command = "exec " + std::string(DDKIT_BINARY) + " " + args + " --threads 1 --quiet > /dev/null 2>&1";
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// Waits until `marker` exists (the run has written its first checkpoint), then kills the
// run with SIGKILL (`delay_ms` later). True when the kill landed while the run was still working.
bool kill_when_exists(pid_t pid, const fs::path& marker, int delay_ms = 0) {
  for (int i = 0; i < 12000; ++i) {  // 120 s
    if (fs::exists(marker)) break;
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  const bool running = ::waitpid(pid, nullptr, WNOHANG) == 0;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return running;
}

// Times and the resume record (a pipeline's `stages`: seconds, or `reused`) differ between
// an interrupted and an uninterrupted run by design; every other field must be equal.
json without_times(json j) {
  if (j.is_object()) {
    json out = json::object();
    for (auto& [key, value] : j.items()) {
      if (key.find("second") != std::string::npos || key == "resumed_from" || key == "stages") continue;
      out[key] = without_times(value);
    }
    return out;
  }
  if (j.is_array()) {
    for (auto& value : j) value = without_times(value);
  }
  return j;
}

// Every file under `dir` by its relative path: raw bytes, JSON without times. gen-train's
// checkpoint.pt is left out: libtorch keys Adam's saved state by the parameters' memory
// addresses, so its bytes differ between any two processes, interrupted or not; what it
// restores is checked through the files the resumed run writes from it.
std::map<std::string, std::string> files_of(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename() == "checkpoint.pt") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    std::string text = bytes.str();
    const auto ext = entry.path().extension();
    if (ext == ".html") {
      text = "a report";  // it shows the run's folder name and wall times; its numbers come from the JSON
    } else if (ext == ".json") {
      // Paths inside the run folder are compared relative to it.
      for (auto at = text.find(dir.string()); at != std::string::npos; at = text.find(dir.string(), at)) {
        text.replace(at, dir.string().size(), "OUT");
      }
      text = without_times(json::parse(text)).dump(1);
    } else if (ext == ".jsonl") {
      std::istringstream lines(text);
      std::string line, out;
      while (std::getline(lines, line)) out += without_times(json::parse(line)).dump() + "\n";
      text = out;
    }
    files[fs::relative(entry.path(), dir).string()] = text;
  }
  return files;
}

// Runs `args --out A` through, and `args --out B` killed once `marker(B)` exists, then
// `args --out B --resume`; A and B must hold the same files.
void expect_kill_and_resume_equal(const fs::path& dir, const std::string& args,
                                  const std::function<fs::path(const fs::path&)>& marker) {
  const auto a = dir / "uninterrupted", b = dir / "interrupted";
  ASSERT_EQ(ddkit_test::run_ddkit(args + " --out " + a.string()).exit_code, 0);
  const pid_t run = spawn_ddkit(args + " --out " + b.string());
  ASSERT_GT(run, 0);
  ASSERT_TRUE(kill_when_exists(run, marker(b))) << "the run ended before it could be killed: make it longer";
  const auto resumed = ddkit_test::run_ddkit(args + " --out " + b.string() + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const auto expected = files_of(a), got = files_of(b);
  ASSERT_EQ(expected.size(), got.size());
  for (const auto& [name, bytes] : expected) {
    ASSERT_TRUE(got.count(name)) << name;
    EXPECT_TRUE(got.at(name) == bytes) << name << " differs after kill -9 and --resume";
  }
}

// Runs `ddkit ARGS` in a private mount namespace where `dir` is a fresh tmpfs mounted with
// `options` (e.g. "size=32k", "ro"), and lists what `dir` holds after the run (the tmpfs
// goes with the namespace). Empty optional where this process may not mount (not root).
struct TmpfsRun {
  ddkit_test::Outcome outcome;
  std::string left_behind;  // `ls -A` of dir after the run
};
std::optional<TmpfsRun> run_on_tmpfs(const fs::path& dir, const std::string& options, const std::string& args) {
  if (std::system("unshare --mount true > /dev/null 2>&1") != 0) return std::nullopt;
  fs::create_directories(dir);
  const auto listing = fs::path(dir.string() + ".listing");
  const std::string inner = "mount -t tmpfs -o " + options + " tmpfs " + dir.string() + " || exit 99; " +
                            std::string(DDKIT_BINARY) + " " + args + " --threads 1 > /dev/null; rc=$?; ls -A " +
                            dir.string() + " > " + listing.string() + "; exit $rc";
  auto outcome = ddkit_test::run_ddkit_command("unshare --mount sh -c '" + inner + "'");
  if (outcome.exit_code == 99) return std::nullopt;
  std::ifstream in(listing);
  std::stringstream text;
  text << in.rdbuf();
  return TmpfsRun{outcome, text.str()};
}

std::string data_flag(const fs::path& dir) { return " --data mnist:" + dir.string(); }

fs::path checkpoint_state(const fs::path& out) { return fs::path(out.string() + ".checkpoint") / "state.json"; }

}  // namespace

TEST(CliFaults, KilledDmRunResumesToTheSameFiles) {
  const auto dir = ddkit_test::tiny_mnist("faults_dm");
  expect_kill_and_resume_equal(dir, "distill --method dm --ipc 2 --batch-real 8 --iterations 40 --checkpoint-every 2" +
                                        data_flag(dir), checkpoint_state);
}

TEST(CliFaults, KilledDcAndDsaRunsResumeToTheSameFiles) {
  for (const std::string method : {"dc", "dsa"}) {
    const auto dir = ddkit_test::tiny_mnist("faults_" + method);
    expect_kill_and_resume_equal(dir, "distill --method " + method + " --ipc 1 --batch-real 8 --outer-loop 2 --inner-loop 2 "
                                      "--iterations 8 --checkpoint-every 1" + data_flag(dir), checkpoint_state);
  }
}

TEST(CliFaults, KilledBufferAndMttRunsResumeToTheSameFiles) {
  const auto dir = ddkit_test::tiny_mnist("faults_buffer");
  expect_kill_and_resume_equal(dir, "buffer --experts 4 --epochs 2 --batch 32 --no-test" + data_flag(dir),
                               [](const fs::path& out) { return out / "expert_0.pt"; });
  const auto buffer = dir / "uninterrupted";
  const auto mtt_dir = dir / "mtt";
  fs::create_directories(mtt_dir);
  expect_kill_and_resume_equal(mtt_dir, "distill --method mtt --ipc 1 --buffer " + buffer.string() +
                                            " --syn-steps 2 --expert-epochs 1 --max-start-epoch 1 --iterations 30 "
                                            "--checkpoint-every 2" + data_flag(dir), checkpoint_state);
}

TEST(CliFaults, KilledGenTrainResumesToTheSameFiles) {
  const auto dir = ddkit_test::tiny_mnist("faults_gen_train");
  expect_kill_and_resume_equal(dir, "gen-train --steps 130 --checkpoint-every 5 --batch 16 --channels 8 --channel-mult 1,2 "
                                    "--res-blocks 1,2 --attention-levels 1 --fid-every 0" + data_flag(dir),
                               [](const fs::path& out) { return out / "checkpoint.pt"; });
}

TEST(CliFaults, KilledEvalResumesToTheSameFiles) {
  const auto dir = ddkit_test::tiny_mnist("faults_eval");
  const auto set = dir / "set";
  ASSERT_EQ(ddkit_test::run_ddkit("distill --method random --ipc 2" + data_flag(dir) + " --out " + set.string()).exit_code, 0);
  expect_kill_and_resume_equal(dir, "eval --set " + set.string() + " --runs 4 --epochs 30" + data_flag(dir),
                               [](const fs::path& out) { return out / "results.partial.json"; });
}

// `score` keeps no checkpoint: it writes all its outputs together at the end, so a run
// killed at any point leaves none of them, and running it again gives the same files.
TEST(CliFaults, KilledScoreLeavesNoOutputAndRunsAgainToTheSameFiles) {
  const auto dir = ddkit_test::tiny_mnist("faults_score");
  const std::string args = "score --split train --scorer forgetting --observer-epochs 6 --observers 2" + data_flag(dir);
  const auto a = dir / "uninterrupted", b = dir / "interrupted";
  ASSERT_EQ(ddkit_test::run_ddkit(args + " --out " + a.string()).exit_code, 0);
  for (const int delay_ms : {50, 400, 1200}) {
    const pid_t run = spawn_ddkit(args + " --out " + b.string());
    ASSERT_GT(run, 0);
    // The output lock appears once the run has started; the kill lands some time later.
    ASSERT_TRUE(kill_when_exists(run, dir / ".interrupted.lock", delay_ms)) << "the run ended before the kill";
    for (const auto* name : {"metadata.jsonl", "difficulty.json", "difficulty.svg"}) {
      EXPECT_FALSE(fs::exists(b / name)) << name << " written by a killed run (" << delay_ms << " ms)";
    }
  }
  ASSERT_EQ(ddkit_test::run_ddkit(args + " --out " + b.string()).exit_code, 0);
  EXPECT_EQ(files_of(a), files_of(b));
}

// A pipeline killed inside a stage (the second of its pool's independent runs) resumes
// from the finished stages and the stage's own checkpoint to the files of an
// uninterrupted run.
TEST(CliFaults, KilledPipelineResumesToTheSameFiles) {
  const auto dir = ddkit_test::tiny_mnist("faults_pipeline");
  expect_kill_and_resume_equal(dir, "pipeline --method dm --ipc 1 --pool-factor 2 --iterations 20 --checkpoint-every 2 "
                                    "--batch-real 8 --runs 2 --eval-epochs 10 --score-observer-epochs 1" + data_flag(dir),
                               [](const fs::path& out) { return out / "pool.runs" / "run-1.checkpoint" / "state.json"; });
}

// Two runs given the same --out: the second is refused before it writes (one line, exit
// 2) while the first goes on; once the first is killed, its lock is gone with it.
TEST(CliFaults, ASecondRunOnTheSameOutIsRefused) {
  const auto dir = ddkit_test::tiny_mnist("faults_same_out");
  const auto out = dir / "dm";
  const std::string args = "distill --method dm --ipc 1 --batch-real 8" + data_flag(dir) + " --out " + out.string();
  const pid_t first = spawn_ddkit(args + " --iterations 100000 --checkpoint-every 1");
  ASSERT_GT(first, 0);
  const auto lock = dir / ".dm.lock";
  for (int i = 0; i < 6000 && !fs::exists(checkpoint_state(out)); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the first run is distilling
  ASSERT_TRUE(fs::exists(lock));
  ddkit_test::expect_user_error(ddkit_test::run_ddkit(args + " --iterations 2"), out.string(),
                                "another ddkit run is writing this output");
  EXPECT_EQ(::waitpid(first, nullptr, WNOHANG), 0);  // the first run goes on
  ::kill(first, SIGKILL);
  ::waitpid(first, nullptr, 0);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(ddkit_test::run_ddkit(args + " --iterations 2").exit_code, 0);
  EXPECT_TRUE(fs::exists(out / "meta.json"));
  EXPECT_FALSE(fs::exists(lock));  // removed by the run that ended normally
}

TEST(CliFaults, AFullDiskAndAReadOnlyOutputGiveOneLineAndNoOutput) {
  const auto dir = ddkit_test::tiny_mnist("faults_disk");
  const auto mount = dir / "mnt";
  const std::string args = "distill --method random --ipc 2" + data_flag(dir) + " --out " + (mount / "set").string();
  // 16 KiB: the lock file fits, the set's images.pt (20 images of 28x28 floats) does not.
  const auto full = run_on_tmpfs(mount, "size=16k", args);
  if (!full) GTEST_SKIP() << "cannot mount a tmpfs here (not root?)";
  EXPECT_EQ(full->outcome.exit_code, 2) << full->outcome.err;
  EXPECT_EQ(full->outcome.err.rfind("ddkit: error: " + (mount / "set").string(), 0), 0u) << full->outcome.err;
  EXPECT_NE(full->outcome.err.find("disk full"), std::string::npos) << full->outcome.err;
  EXPECT_EQ(std::count(full->outcome.err.begin(), full->outcome.err.end(), '\n'), 1) << full->outcome.err;
  EXPECT_EQ(full->left_behind, "");  // no staged folder, no temporary file, no lock file

  const auto read_only = run_on_tmpfs(mount, "ro", args);
  ASSERT_TRUE(read_only);
  ddkit_test::expect_user_error(read_only->outcome, (mount / "set").string(), "Read-only file system");
  EXPECT_EQ(read_only->left_behind, "");
}
