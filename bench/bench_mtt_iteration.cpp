// One MTT iteration (docs/algorithms.md §7) at IPC 10 on Fashion-MNIST-sized data
// (ConvNet-3, 100 synthetic images, batch_syn all, syn_steps 30, DSA), in
// seconds/iteration — the C++ side of bench/mtt_speed.sh.
//   ./bench_mtt_iteration [--threads N] [--syn-steps N] [--full-graph] [--native-conv] [--iterations N]
//       [benchmark flags]
// --native-conv also times the step-wise sweep with the student's convolutions
// by at::conv2d (whose double backward runs slow_conv_transpose2d on CPU).
// Times ddkit's default step-wise exact reverse sweep (memory of one step);
// --full-graph also times the reference's single graph over all steps
// (distill --mtt-full-graph), whose memory grows by about 0.7 GB per step at
// IPC 10 — 30 steps do not fit in this machine's 23 GB.
// The expert trajectory is synthetic (a ConvNet init and a perturbed copy):
// the work of an iteration does not depend on the values.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "ddkit/data/dataset.h"
#include "ddkit/data/tensor_io.h"
#include "ddkit/distill/buffer.h"
#include "ddkit/distill/mtt.h"
#include "ddkit/models/convnet.h"
#include "ddkit/models/functional_convnet.h"
#include "ddkit/util/atomic_file.h"
#include "bench_main.h"

namespace fs = std::filesystem;

namespace {

int64_t g_syn_steps = 30;
constexpr int64_t kIpc = 10;

struct Setup {
  ddkit::data::Dataset data;
  fs::path buffer;
};

// A Fashion-MNIST-shaped data set (random pixels, 100 per class) and a buffer
// of one expert with 4 epochs.
const Setup& setup() {
  static const Setup s = [] {
    Setup out;
    at::manual_seed(0);
    auto& d = out.data;
    d.name = "fashion-mnist";
    d.spec = "fashion-mnist";
    d.train.images = at::randn({1000, 1, 28, 28});
    d.train.labels = at::arange(10, at::kLong).repeat(100);
    out.buffer = fs::temp_directory_path() / ("ddkit_bench_mtt_" + std::to_string(::getpid()));
    fs::create_directories(out.buffer);
    ddkit::models::ConvNet net(ddkit::models::ConvNetOptions{});
    const auto theta = ddkit::models::flatten_parameters(*net);
    std::vector<at::Tensor> rows;
    for (int e = 0; e <= 4; ++e) rows.push_back(theta + 0.01 * e * at::randn_like(theta));
    ddkit::data::save_tensor(out.buffer / "expert_0.pt", at::stack(rows));
    nlohmann::json meta = {{"settings",
                            {{"dataset", "fashion-mnist"}, {"shape", {1, 28, 28}}, {"num_classes", 10},
                             {"epochs", 4}, {"width", 128}, {"depth", 3}}}};
    ddkit::write_file_atomic(out.buffer / "meta.json", meta.dump());
    return out;
  }();
  return s;
}

int64_t g_iterations = 1;

void BM_MttIteration(benchmark::State& state) {
  const auto& s = setup();
  ddkit::distill::MttOptions o;
  o.buffer = s.buffer;
  o.syn_steps = g_syn_steps;
  o.expert_epochs = 2;
  o.max_start_epoch = 2;
  o.lr_images = 1000;  // (values do not change the work)
  o.lr_lr = 1e-5;
  o.batch_syn = kIpc * 10;
  o.full_graph = state.range(0) == 1;
  // Class-major initial images (the data's labels cycle 0..9).
  const auto images = s.data.train.images.narrow(0, 0, kIpc * 10).view({kIpc, 10, 1, 28, 28}).transpose(0, 1)
                          .reshape({kIpc * 10, 1, 28, 28});
  auto buffer = ddkit::distill::open_buffer(s.buffer, s.data);
  buffer.net.fast_double_backward = state.range(0) != 2;
  ddkit::distill::MttDistiller distiller(s.data, images, kIpc, o, buffer);
  // No warm-up iteration: an iteration takes minutes here, its one-time costs are lost in it.
  uint64_t seed = 2;
  for (auto _ : state) benchmark::DoNotOptimize(distiller.step(seed++));
  state.counters["s/it"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                             benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetLabel(o.full_graph                ? "full graph (reference)"
                 : state.range(0) == 2       ? "step-wise reverse sweep, at::conv2d"
                                             : "step-wise reverse sweep (ddkit default)");
}

}  // namespace

int main(int argc, char** argv) {
  auto args = ddkit_bench::parse_arguments(argc, argv);
  if (const char* steps = args.take_option("--syn-steps")) g_syn_steps = std::stoll(steps);
  if (const char* iterations = args.take_option("--iterations")) g_iterations = std::stoll(iterations);
  // Mode flags: --full-graph (Arg 1), --native-conv (Arg 2: the student's
  // convolutions by at::conv2d instead of conv3x3_twice_differentiable).
  const bool full_graph = args.take_flag("--full-graph");
  const bool native_conv = args.take_flag("--native-conv");
  auto* bench = benchmark::RegisterBenchmark("BM_MttIteration", BM_MttIteration)->Arg(0);
  if (full_graph) bench->Arg(1);
  if (native_conv) bench->Arg(2);
  bench->Unit(benchmark::kSecond)->UseRealTime()->Iterations(g_iterations);
  const int code = ddkit_bench::run_benchmarks(args, {{"syn_steps", std::to_string(g_syn_steps)}});
  std::error_code ec;
  fs::remove_all(setup().buffer, ec);
  return code;
}
