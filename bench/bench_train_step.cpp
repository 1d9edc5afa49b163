// One ConvNet-3 training step (batch 256, Fashion-MNIST size) and inference,
// in images/second (issue 3, docs/design.md "Performance expectations").
//   ./bench_train_step [--threads N] [--no-keep-memory] [benchmark flags]
// --no-keep-memory leaves glibc's malloc at its defaults (the "before" figure).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/sgd.h>

#include "ddkit/models/convnet.h"
#include "bench_main.h"

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
  auto args = ddkit_bench::parse_arguments(argc, argv);
  return ddkit_bench::run_benchmarks(args);
}
