// Cost of difficulty scoring per image on Fashion-MNIST-sized input with the
// default observer (ConvNet-3): prob (one forward), GraNd-last (closed form)
// and exact GraNd (batched per-sample gradients over all 317,706 parameters).
// Counters: images/second.
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>

#include "ddkit/difficulty/scores.h"
#include "ddkit/models/factory.h"
#include "ddkit/util/runtime.h"

namespace {

void score_bench(benchmark::State& state, ddkit::difficulty::Scorer scorer) {
  at::manual_seed(0);
  auto model = ddkit::models::make_model("convnet", {1, 28, 28}, 10);
  const int64_t n = state.range(0);
  const auto images = at::randn({n, 1, 28, 28});
  const auto labels = at::randint(0, 10, {n}, at::kLong);
  for (auto _ : state) {
    benchmark::DoNotOptimize(ddkit::difficulty::model_scores(*model, images, labels, scorer, 500).sum().item<double>());
  }
  state.counters["img/s"] = benchmark::Counter(static_cast<double>(state.iterations() * n), benchmark::Counter::kIsRate);
}

void BM_Prob(benchmark::State& state) { score_bench(state, ddkit::difficulty::Scorer::kProb); }
void BM_GrandLast(benchmark::State& state) { score_bench(state, ddkit::difficulty::Scorer::kGrandLast); }
void BM_GrandExact(benchmark::State& state) { score_bench(state, ddkit::difficulty::Scorer::kGrand); }
BENCHMARK(BM_Prob)->Arg(2000)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_GrandLast)->Arg(2000)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_GrandExact)->Arg(500)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);

}  // namespace

int main(int argc, char** argv) {
  ddkit::configure_runtime({});
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
