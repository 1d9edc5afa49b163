// One ConvNet-3 training step (batch 256, Fashion-MNIST size) and inference,
// in images/second (issue 3, DESIGN "Performance expectations").
//   ./bench_train_step [--threads N] [--no-keep-memory] [benchmark flags]
// --no-keep-memory leaves glibc's malloc at its defaults (the "before" figure).
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/sgd.h>

#include "ddkit/models/convnet.h"
#include "ddkit/util/runtime.h"

namespace {

constexpr int64_t kBatch = 256;

ddkit::models::ConvNet make_net() {
  ddkit::models::ConvNetOptions options;  // 1 x 28 x 28, 10 classes
  return ddkit::models::ConvNet(options);
}

void BM_ConvNetTrainStep(benchmark::State& state) {
  at::manual_seed(0);
  auto net = make_net();
  torch::optim::SGD optimizer(net->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(5e-4));
  const auto images = at::randn({kBatch, 1, 28, 28});
  const auto labels = at::randint(0, 10, {kBatch}, at::kLong);
  for (auto _ : state) {
    const auto loss = torch::nn::functional::cross_entropy(net->forward(images), labels);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    benchmark::DoNotOptimize(loss.item<float>());
  }
  state.counters["img/s"] = benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                                               benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ConvNetTrainStep)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);

void BM_ConvNetInference(benchmark::State& state) {
  at::manual_seed(0);
  auto net = make_net();
  net->eval();
  const int64_t batch = state.range(0);
  const auto images = at::randn({batch, 1, 28, 28});
  at::NoGradGuard no_grad;
  for (auto _ : state) {
    benchmark::DoNotOptimize(net->forward(images).sum().item<float>());
  }
  state.counters["img/s"] = benchmark::Counter(static_cast<double>(state.iterations() * batch),
                                               benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ConvNetInference)->Arg(256)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

}  // namespace

int main(int argc, char** argv) {
  ddkit::RuntimeOptions runtime;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no-keep-memory") == 0) {
      runtime.keep_freed_memory = false;
    } else if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      runtime.threads = std::stoi(argv[++i]);
    } else {
      rest.push_back(argv[i]);
    }
  }
  const int threads = ddkit::configure_runtime(runtime);
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  benchmark::AddCustomContext("threads", std::to_string(threads));
  benchmark::AddCustomContext("keep_freed_memory", runtime.keep_freed_memory ? "yes" : "no");
  benchmark::AddCustomContext("blas", ddkit::loaded_blas_library());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
