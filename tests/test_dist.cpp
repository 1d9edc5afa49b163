// Distributed runs (docs/design.md "Distributed runs"): the c10d wrapper in-process,
// and end to end through `ddkit launch -n 2`: every split stage gives the
// output of one process with the same seed (exactly where work is split by
// independent items, within float tolerance where gradients are all-reduced),
// a killed worker makes launch fail within seconds, and --resume completes.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "ddkit/data/tensor_io.h"
#include "ddkit/dist/context.h"
#include "ddkit/util/error.h"
#include "fixtures.h"

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// `ddkit <args> --threads 1`, stdout/stderr into files under `dir`; the exit code.
int run_ddkit(const fs::path& dir, const std::string& name, const std::string& args) {
  const std::string command = std::string(DDKIT_BINARY) + " " + args + " --threads 1 > " + (dir / (name + ".out")).string() +
                              " 2> " + (dir / (name + ".err")).string();
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The same, started in the background (a shell running ddkit); returns its pid.
pid_t start_ddkit(const fs::path& dir, const std::string& name, const std::string& args) {
  const std::string command = "exec " + std::string(DDKIT_BINARY) + " " + args + " --threads 1 > " +
                              (dir / (name + ".out")).string() + " 2> " + (dir / (name + ".err")).string();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// Waits up to `limit` for `pid`; its exit code (-1: killed or still running).
int wait_for(pid_t pid, std::chrono::seconds limit, bool* finished) {
  const auto deadline = Clock::now() + limit;
  int status = 0;
  while (Clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      *finished = true;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *finished = false;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

// The pid launch printed for `rank` ("[launch] rank R: pid P"), once it has.
pid_t worker_pid(const fs::path& err_file, int rank) {
  const std::regex line("\\[launch\\] rank " + std::to_string(rank) + ": pid ([0-9]+)");
  for (int i = 0; i < 500; ++i) {
    std::smatch m;
    const auto text = read_text(err_file);
    if (std::regex_search(text, m, line)) return static_cast<pid_t>(std::stol(m[1]));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

bool wait_for_file(const fs::path& file, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (fs::exists(file)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

struct Tiny {
  fs::path dir;
  std::string data;
};

// 100 training images per class (1000: two score batches of 500), 10 test.
Tiny tiny(const std::string& name) {
  auto dir = ddkit_test::fresh_dir("dist_" + name);
  ddkit_test::write_tiny_mnist(dir / "data", 100, 10);
  return {dir, "--data mnist:" + (dir / "data").string()};
}

std::vector<double> accuracies(const fs::path& results) {
  return json::parse(read_text(results)).at("models").at("convnet").at("accuracies").get<std::vector<double>>();
}

}  // namespace

TEST(DistShare, ContiguousSharesCoverAllAtBatchBoundaries) {
  for (int world : {1, 2, 3, 5}) {
    int64_t next = 0;
    for (int r = 0; r < world; ++r) {
      const auto [begin, end] = ddkit::dist::share(1234, r, world, 500);
      EXPECT_EQ(begin, next);
      EXPECT_TRUE(begin % 500 == 0 || begin == 1234);
      next = end;
    }
    EXPECT_EQ(next, 1234);
  }
  EXPECT_EQ(ddkit::dist::share(10, 1, 2), (std::pair<int64_t, int64_t>{5, 10}));
  EXPECT_TRUE(ddkit::dist::owns(3, 1, 2));
  EXPECT_FALSE(ddkit::dist::owns(4, 1, 2));
}

TEST(DistContext, WorldOfOneIsANoOp) {
  auto world = ddkit::dist::Context::single();
  EXPECT_EQ(world->rank(), 0);
  EXPECT_EQ(world->world_size(), 1);
  auto t = at::arange(4, at::kFloat);
  world->all_reduce_sum(t);
  EXPECT_TRUE(at::equal(t, at::arange(4, at::kFloat)));
  EXPECT_EQ(world->all_reduce_sum(2.5), 2.5);
}

TEST(DistContext, RejectsABadEnvironment) {
  ddkit::dist::WorldOptions options;
  options.world_size = 2;
  options.rank = 2;
  EXPECT_THROW(ddkit::dist::resolve_world(options), ddkit::Error);
}

TEST(DistContext, GlooAllReduceAndBroadcastOverTcpStore) {
  const int port = free_port();
  std::vector<at::Tensor> sums(2), casts(2);
  std::vector<double> scalars(2);
  auto body = [&](int rank) {
    ddkit::dist::WorldOptions options;
    options.rank = rank;
    options.world_size = 2;
    options.master_addr = "127.0.0.1";
    options.master_port = port;
    options.timeout_seconds = 30;
    auto world = ddkit::dist::Context::connect(ddkit::dist::resolve_world(options));
    sums[rank] = at::full({3}, static_cast<double>(rank + 1), at::kDouble);
    world->all_reduce_sum(sums[rank]);
    casts[rank] = at::full({2, 2}, static_cast<float>(rank == 0 ? 7 : -1), at::kFloat);
    world->broadcast(casts[rank]);
    scalars[rank] = world->all_reduce_sum(0.25 * (rank + 1));
    world->barrier();
  };
  std::thread other(body, 1);
  body(0);
  other.join();
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(at::equal(sums[r], at::full({3}, 3.0, at::kDouble)));
    EXPECT_TRUE(at::equal(casts[r], at::full({2, 2}, 7.0f, at::kFloat)));
    EXPECT_EQ(scalars[r], 0.75);
  }
}

TEST(DistLaunch, ScoreTwoWorkersEqualsOneProcess) {
  const auto t = tiny("score");
  // One observer for both runs (a 1-pass ConvNet); scoring 1000 images is two batches of 500, one per rank.
  ASSERT_EQ(run_ddkit(t.dir, "train", "train --epochs 0 --seed 3 " + t.data + " --out " + (t.dir / "obs.pt").string()), 0)
      << read_text(t.dir / "train.err");
  const std::string args = "score --split train --observer " + (t.dir / "obs.pt").string() + " --seed 3 " + t.data;
  ASSERT_EQ(run_ddkit(t.dir, "one", args + " --out " + (t.dir / "one").string()), 0) << read_text(t.dir / "one.err");
  ASSERT_EQ(run_ddkit(t.dir, "two", "launch -n 2 -- " + args + " --out " + (t.dir / "two").string()), 0)
      << read_text(t.dir / "two.err");
  EXPECT_EQ(read_text(t.dir / "one" / "metadata.jsonl"), read_text(t.dir / "two" / "metadata.jsonl"));
  EXPECT_EQ(read_text(t.dir / "one" / "difficulty.svg"), read_text(t.dir / "two" / "difficulty.svg"));
  // Output forwarded line by line with a rank prefix; rank 0 prints the summary.
  // (stdout holds only results: the per-class table; log lines go to stderr).
  const auto out = "\n" + read_text(t.dir / "two.out");
  EXPECT_NE(out.find("\n[rank 0] 0 "), std::string::npos) << out;
  EXPECT_EQ(out.find("[rank 1] 0 "), std::string::npos) << out;
  EXPECT_NE(read_text(t.dir / "two.err").find("[launch] rank 1: pid "), std::string::npos);
}

TEST(DistLaunch, EvalTwoWorkersEqualsOneProcess) {
  const auto t = tiny("eval");
  ASSERT_EQ(run_ddkit(t.dir, "set", "distill --method random --ipc 2 " + t.data + " --out " + (t.dir / "set").string()), 0);
  // A low lr keeps the tiny set's accuracies apart (they differ from run to run).
  const std::string args = "eval --set " + (t.dir / "set").string() + " --runs 3 --epochs 4 --lr 0.0003 --seed 5 " + t.data;
  ASSERT_EQ(run_ddkit(t.dir, "one", args + " --out " + (t.dir / "one").string()), 0) << read_text(t.dir / "one.err");
  ASSERT_EQ(run_ddkit(t.dir, "two", "launch -n 2 -- " + args + " --out " + (t.dir / "two").string()), 0)
      << read_text(t.dir / "two.err");
  const auto one = accuracies(t.dir / "one" / "results.json");
  ASSERT_EQ(one.size(), 3u);
  EXPECT_FALSE(one[0] == one[1] && one[1] == one[2]);
  EXPECT_EQ(one, accuracies(t.dir / "two" / "results.json"));
}

TEST(DistLaunch, DmDcAndDsaTwoWorkersMatchOneProcess) {
  const auto t = tiny("matching");
  for (const std::string method : {"dm", "dc", "dsa"}) {
    const std::string args = "distill --method " + method + " --ipc 2 --iterations 2 --batch-real 8 --seed 2 " +
                             (method == "dm" ? "" : "--outer-loop 2 --inner-loop 1 ") + t.data;
    const auto one = t.dir / (method + "-one"), two = t.dir / (method + "-two");
    ASSERT_EQ(run_ddkit(t.dir, method + "-one", args + " --out " + one.string()), 0)
        << read_text(t.dir / (method + "-one.err"));
    ASSERT_EQ(run_ddkit(t.dir, method + "-two", "launch -n 2 -- " + args + " --out " + two.string()), 0)
        << read_text(t.dir / (method + "-two.err"));
    const auto a = ddkit::data::load_tensor(one / "images.pt"), b = ddkit::data::load_tensor(two / "images.pt");
    EXPECT_TRUE(at::allclose(a, b, 1e-4, 1e-5)) << method << ": max diff " << (a - b).abs().max().item<double>();
  }
}

TEST(DistLaunch, MttTwoWorkersMatchOneProcess) {
  const auto t = tiny("mtt");
  const auto buffer = t.dir / "buffer";
  ASSERT_EQ(run_ddkit(t.dir, "buffer", "buffer --experts 1 --epochs 2 --width 16 --no-test --seed 4 " + t.data +
                                           " --out " + buffer.string()),
            0)
      << read_text(t.dir / "buffer.err");
  // 10 classes × IPC 1 in batches of 7 (ranks own 4 and 3 rows, then 2 and 1),
  // SDC on so its class split runs too.
  const std::string args = "distill --method mtt --ipc 1 --iterations 2 --syn-steps 3 --expert-epochs 1 "
                           "--max-start-epoch 2 --batch-syn 7 --lr-img-mtt 10 --lr-lr 1e-3 --sdc-lambda 0.1 --seed 5 "
                           "--buffer " + buffer.string() + " " + t.data;
  const auto one = t.dir / "one", two = t.dir / "two";
  ASSERT_EQ(run_ddkit(t.dir, "one", args + " --out " + one.string()), 0) << read_text(t.dir / "one.err");
  ASSERT_EQ(run_ddkit(t.dir, "two", "launch -n 2 -- " + args + " --out " + two.string()), 0)
      << read_text(t.dir / "two.err");
  const auto a = ddkit::data::load_tensor(one / "images.pt"), b = ddkit::data::load_tensor(two / "images.pt");
  // Equal up to float reduction order (each step's gradient is a sum of two parts).
  EXPECT_LT((a - b).norm().item<double>(), 1e-5 * a.norm().item<double>())
      << "max diff " << (a - b).abs().max().item<double>();
  // The learned lr moved, the same way in both runs.
  const auto lr_one = json::parse(read_text(one / "meta.json")).at("learned_lr").get<double>();
  const auto lr_two = json::parse(read_text(two / "meta.json")).at("learned_lr").get<double>();
  EXPECT_NE(lr_one, 0.01);
  EXPECT_NEAR(lr_one, lr_two, 1e-6 * std::abs(lr_one) + 1e-9);
}

TEST(DistLaunch, BufferTwoWorkersEqualsOneProcess) {
  const auto t = tiny("buffer");
  // 3 experts: a full round of two and a round of one.
  const std::string args = "buffer --experts 3 --epochs 1 --width 16 --no-test --seed 6 " + t.data;
  ASSERT_EQ(run_ddkit(t.dir, "one", args + " --out " + (t.dir / "one").string()), 0) << read_text(t.dir / "one.err");
  ASSERT_EQ(run_ddkit(t.dir, "two", "launch -n 2 -- " + args + " --out " + (t.dir / "two").string()), 0)
      << read_text(t.dir / "two.err");
  for (int e = 0; e < 3; ++e) {
    const auto name = "expert_" + std::to_string(e) + ".pt";
    const auto a = ddkit::data::load_tensor(t.dir / "one" / name), b = ddkit::data::load_tensor(t.dir / "two" / name);
    EXPECT_TRUE(at::equal(a, b)) << name;
    EXPECT_TRUE(fs::exists(t.dir / "two" / ("expert_" + std::to_string(e) + ".json")));
  }
  EXPECT_FALSE(at::equal(ddkit::data::load_tensor(t.dir / "one" / "expert_0.pt"),
                         ddkit::data::load_tensor(t.dir / "one" / "expert_1.pt")));
}

// Starts `launch -n 2 -- ARGS --out OUT` (its output in OUT's name + .out/.err, so that no
// earlier launch's pids are read), waits until `ready` exists (without one, 1.5 s), kills
// rank 1, and expects launch to exit non-zero within 5 s of the kill.
void launch_and_kill_rank1(const Tiny& t, const std::string& args, const fs::path& out, const fs::path& ready) {
  const auto name = out.filename().string();
  const auto err = t.dir / (name + ".err");
  const pid_t launch = start_ddkit(t.dir, name, "launch -n 2 -- " + args + " --out " + out.string());
  const pid_t rank1 = worker_pid(err, 1);
  ASSERT_GT(rank1, 0) << read_text(err);
  if (ready.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  } else {
    ASSERT_TRUE(wait_for_file(ready, std::chrono::seconds(60))) << read_text(err);
  }
  ::kill(rank1, SIGKILL);
  const auto killed_at = Clock::now();
  bool finished = false;
  const int code = wait_for(launch, std::chrono::seconds(20), &finished);
  ASSERT_TRUE(finished) << "launch did not exit after a worker died\n" << read_text(err);
  EXPECT_NE(code, 0);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - killed_at).count(), 5.0);
}

TEST(DistLaunch, KilledWorkerFailsFastAndEvalResumes) {
  const auto t = tiny("kill_eval");
  ASSERT_EQ(run_ddkit(t.dir, "set", "distill --method random --ipc 2 " + t.data + " --out " + (t.dir / "set").string()), 0);
  const std::string args =
      "eval --set " + (t.dir / "set").string() + " --runs 4 --epochs 20 --lr 0.0003 --seed 1 " + t.data;
  const auto out = t.dir / "two";
  ASSERT_NO_FATAL_FAILURE(launch_and_kill_rank1(t, args, out, out / "results.partial.json"));
  EXPECT_FALSE(fs::exists(out / "results.json"));
  EXPECT_NE(read_text(t.dir / "two.err").find("rank 1"), std::string::npos);
  const auto partial = json::parse(read_text(out / "results.partial.json"));
  const auto done = partial.at("models").at("convnet").size();
  EXPECT_GE(done, 2u);
  EXPECT_LT(done, 4u);

  ASSERT_EQ(run_ddkit(t.dir, "resume", "launch -n 2 -- " + args + " --out " + out.string() + " --resume"), 0)
      << read_text(t.dir / "resume.err");
  EXPECT_NE(read_text(t.dir / "resume.err").find("resuming after 2 finished run(s)"), std::string::npos);
  ASSERT_EQ(run_ddkit(t.dir, "one", args + " --out " + (t.dir / "one").string()), 0);
  EXPECT_EQ(accuracies(out / "results.json"), accuracies(t.dir / "one" / "results.json"));
}

// `launch -n 2 -- distill ARGS` killed at its first checkpoint, then --resume: the same
// set as one process (within float tolerance: the image gradient is a sum of two parts).
void expect_distill_kill_and_resume(const Tiny& t, const std::string& method, const std::string& args) {
  const auto out = t.dir / (method + "-two");
  ASSERT_NO_FATAL_FAILURE(launch_and_kill_rank1(t, args, out, fs::path(out.string() + ".checkpoint") / "state.json"));
  EXPECT_FALSE(fs::exists(out / "images.pt")) << method;

  const auto resume = method + "-resume", one = method + "-one";
  ASSERT_EQ(run_ddkit(t.dir, resume, "launch -n 2 -- " + args + " --out " + out.string() + " --resume"), 0)
      << read_text(t.dir / (resume + ".err"));
  EXPECT_NE(read_text(t.dir / (resume + ".err")).find("resuming " + method + " at iteration"), std::string::npos)
      << read_text(t.dir / (resume + ".err"));
  ASSERT_EQ(run_ddkit(t.dir, one, args + " --out " + (t.dir / one).string()), 0) << read_text(t.dir / (one + ".err"));
  const auto a = ddkit::data::load_tensor(out / "images.pt");
  const auto b = ddkit::data::load_tensor(t.dir / one / "images.pt");
  EXPECT_TRUE(at::allclose(a, b, 1e-3, 1e-4)) << method << ": " << (a - b).abs().max().item<double>();
}

TEST(DistLaunch, KilledWorkerFailsFastAndDistillResumes) {
  const auto t = tiny("kill_distill");
  for (const std::string method : {"dm", "dc", "dsa"}) {
    SCOPED_TRACE(method);
    ASSERT_NO_FATAL_FAILURE(expect_distill_kill_and_resume(
        t, method,
        "distill --method " + method + " --ipc 2 --iterations " + (method == "dm" ? "40" : "10") +
            " --batch-real 8 --checkpoint-every 2 --seed 4 " + (method == "dm" ? "" : "--outer-loop 2 --inner-loop 1 ") +
            t.data));
  }
  const auto buffer = t.dir / "buffer";
  ASSERT_EQ(run_ddkit(t.dir, "buffer", "buffer --experts 1 --epochs 2 --width 16 --no-test --seed 4 " + t.data +
                                           " --out " + buffer.string()),
            0)
      << read_text(t.dir / "buffer.err");
  ASSERT_NO_FATAL_FAILURE(expect_distill_kill_and_resume(
      t, "mtt",
      "distill --method mtt --ipc 1 --iterations 10 --checkpoint-every 2 --syn-steps 3 --expert-epochs 1 "
      "--max-start-epoch 2 --batch-syn 7 --lr-img-mtt 10 --lr-lr 1e-5 --seed 5 --buffer " +
          buffer.string() + " " + t.data));
}

TEST(DistLaunch, KilledWorkerFailsFastAndBufferResumes) {
  const auto t = tiny("kill_buffer");
  const std::string args = "buffer --experts 4 --epochs 1 --batch 32 --no-test --seed 2 " + t.data;
  const auto out = t.dir / "two";
  ASSERT_NO_FATAL_FAILURE(launch_and_kill_rank1(t, args, out, out / "expert_0.pt"));

  ASSERT_EQ(run_ddkit(t.dir, "resume", "launch -n 2 -- " + args + " --out " + out.string() + " --resume"), 0)
      << read_text(t.dir / "resume.err");
  ASSERT_EQ(run_ddkit(t.dir, "one", args + " --out " + (t.dir / "one").string()), 0) << read_text(t.dir / "one.err");
  for (int e = 0; e < 4; ++e) {
    const auto name = "expert_" + std::to_string(e) + ".pt";
    EXPECT_EQ(read_text(out / name), read_text(t.dir / "one" / name)) << name;
  }
}

// `score` keeps no checkpoint: after a worker is killed, nothing is written, and the same
// command run again writes what one process writes.
TEST(DistLaunch, KilledWorkerFailsFastAndScoreRunsAgain) {
  const auto t = tiny("kill_score");
  const std::string args = "score --split train --observer-epochs 2 --seed 3 " + t.data;
  const auto out = t.dir / "two";
  ASSERT_NO_FATAL_FAILURE(launch_and_kill_rank1(t, args, out, fs::path()));
  EXPECT_FALSE(fs::exists(out / "metadata.jsonl"));

  ASSERT_EQ(run_ddkit(t.dir, "again", "launch -n 2 -- " + args + " --out " + out.string()), 0)
      << read_text(t.dir / "again.err");
  ASSERT_EQ(run_ddkit(t.dir, "one", args + " --out " + (t.dir / "one").string()), 0) << read_text(t.dir / "one.err");
  EXPECT_EQ(read_text(out / "metadata.jsonl"), read_text(t.dir / "one" / "metadata.jsonl"));
}

TEST(DistLaunch, RefusesUnsplitSubcommandsAndReportsWorkerErrors) {
  const auto t = tiny("refuse");
  // `train` does not split its work: every worker refuses, launch exits 2.
  EXPECT_EQ(run_ddkit(t.dir, "train", "launch -n 2 -- train --epochs 1 " + t.data + " --out " + (t.dir / "m.pt").string()), 2);
  EXPECT_NE(read_text(t.dir / "train.err").find("ddkit: error: WORLD_SIZE"), std::string::npos);
  EXPECT_FALSE(fs::exists(t.dir / "m.pt"));
  // A user error on every rank (missing set): exit code 2 comes through.
  EXPECT_EQ(run_ddkit(t.dir, "missing", "launch -n 2 -- eval --set " + (t.dir / "nope").string() + " " + t.data +
                                            " --out " + (t.dir / "e").string()),
            2);
}
