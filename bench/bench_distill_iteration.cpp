// One distillation iteration of DC, DSA and DM at IPC 10 on Fashion-MNIST
// (ConvNet-3), in seconds/iteration — the ddkit side of bench/distill_speed.sh,
// whose Python side is bench/distill_iteration_python.py (docs/design.md "Performance
// expectations").
//
//   ./bench_distill_iteration [--methods dc,dsa,dm] [--iterations N] [--threads N]
//       [--warmup short|full|none] [--ipc 10] [--outer-loop N] [--inner-loop N]
//       [--data-dir DIR] [--seed N] [--no-keep-memory]
//
// One iteration is what `ddkit distill --method dc|dsa|dm` does per iteration
// (distill::DcDistiller / DmDistiller::step with a fresh network), starting from
// distill::select_random images. --iterations defaults to 1 for dc/dsa (an IPC 10
// iteration is about a minute on 2 cores) and 5 for dm.
// Warm-up before timing: "short" (default) runs a DC/DSA iteration with outer
// loop 2 and inner loop 2 — every op, shape and buffer size of a full iteration
// (real batch 256, synthetic 10 per class, inner batch 100), so oneDNN's
// primitives are created and the heap has grown — at a fraction of the time;
// DM's warm-up is always one full iteration. "full" warms up with one full
// iteration, "none" skips it.
// Output: one line per method, e.g.
//   method=dc seconds_per_iteration=61.2 iterations=1 threads=2 impl=ddkit gflop_per_iteration=21500 gflops=351
//     conv_peak_gflops=420 floor_seconds=51.2
// The FLOP figure counts convolutions and the linear layer only (multiply-add =
// 2 FLOPs), from the op counts documented at flop_estimate() below; floor_seconds
// is that work at the rate of the dominant convolution alone (conv_peak_gflops()).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "ddkit/data/registry.h"
#include "ddkit/distill/baselines.h"
#include "ddkit/distill/dc.h"
#include "ddkit/distill/dm.h"
#include "ddkit/util/runtime.h"

namespace {

struct Args {
  std::vector<std::string> methods = {"dc", "dsa", "dm"};
  int64_t iterations = 0;  // 0: 1 for dc/dsa, 5 for dm
  int threads = 0;
  std::string warmup = "short";
  int64_t ipc = 10;
  int64_t outer_loop = 0;  // 0: published for the IPC
  int64_t inner_loop = 0;
  std::string data_dir;
  uint64_t seed = 0;
  bool keep_memory = true;
};

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "bench_distill_iteration: error: %s\n", what.c_str());
  std::exit(2);
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, ',')) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

Args parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--methods") {
      args.methods = split_commas(value());
      for (const auto& m : args.methods) {
        if (m != "dc" && m != "dsa" && m != "dm") usage_error("unknown method '" + m + "' (dc, dsa, dm)");
      }
    } else if (flag == "--iterations") {
      args.iterations = std::stoll(value());
    } else if (flag == "--threads") {
      args.threads = std::stoi(value());
    } else if (flag == "--warmup") {
      args.warmup = value();
      if (args.warmup != "short" && args.warmup != "full" && args.warmup != "none") {
        usage_error("--warmup must be short, full or none");
      }
    } else if (flag == "--ipc") {
      args.ipc = std::stoll(value());
    } else if (flag == "--outer-loop") {
      args.outer_loop = std::stoll(value());
    } else if (flag == "--inner-loop") {
      args.inner_loop = std::stoll(value());
    } else if (flag == "--data-dir") {
      args.data_dir = value();
    } else if (flag == "--seed") {
      args.seed = std::stoull(value());
    } else if (flag == "--no-keep-memory") {
      args.keep_memory = false;
    } else {
      usage_error("unknown flag '" + flag + "'");
    }
  }
  return args;
}

// Multiply-adds x 2 of one ConvNet-3 forward pass per image, for the data's shape.
double forward_flop(const ddkit::data::Dataset& data, int64_t width = 128, int64_t depth = 3) {
  const bool mnist_like = data.channels == 1 && data.height == 28 && data.width == 28;
  int64_t h = data.height, w = data.width, in = data.channels;
  double flop = 0;
  for (int64_t d = 0; d < depth; ++d) {
    const int64_t pad = (d == 0 && mnist_like) ? 3 : 1;
    h = h + 2 * pad - 2;
    w = w + 2 * pad - 2;
    flop += 2.0 * 9 * static_cast<double>(in * width * h * w);
    in = width;
    h /= 2;
    w /= 2;
  }
  return flop + 2.0 * static_cast<double>(width * h * w * data.num_classes);
}

// FLOPs of one ConvNet-3 forward of the first conv alone (its input gradient is
// skipped when the input needs no gradient).
double first_conv_flop(const ddkit::data::Dataset& data, int64_t width = 128) {
  const bool mnist_like = data.channels == 1 && data.height == 28 && data.width == 28;
  const int64_t pad = mnist_like ? 3 : 1;
  return 2.0 * 9 * static_cast<double>(data.channels * width * (data.height + 2 * pad - 2) *
                                       (data.width + 2 * pad - 2));
}

// Per image, with F one forward pass and F1 the first convolution:
//  - a parameter gradient (real batch in matching, inner-loop SGD step):
//    forward + input and weight gradients = 3F - F1 (no gradient for the data);
//  - a synthetic gradient with create_graph, then differentiated to the images:
//    forward F, backward 2F, and the backward of that graph to the images: the
//    forward convs' input gradients (F), the grad-input convs' gradient w.r.t.
//    their incoming gradient (F), and the grad-weight convs' gradients w.r.t.
//    both their inputs (2F): about 8F;
//  - DM: real forward F (no grad); synthetic forward F plus input gradients F.
double flop_estimate(const std::string& method, const ddkit::data::Dataset& data, int64_t ipc,
                     int64_t outer, int64_t inner, int64_t batch_real) {
  const double f = forward_flop(data), f1 = first_conv_flop(data);
  const double classes = static_cast<double>(data.num_classes);
  const double syn = classes * static_cast<double>(ipc);
  if (method == "dm") return classes * static_cast<double>(batch_real) * f + syn * 2 * f;
  const double matching = static_cast<double>(outer) *
                          (classes * static_cast<double>(batch_real) * (3 * f - f1) + syn * 8 * f);
  const double inner_training = static_cast<double>(outer - 1) * static_cast<double>(inner) * syn * (3 * f - f1);
  return matching + inner_training;
}

std::unique_ptr<ddkit::distill::MatchingDistiller> make_distiller(const std::string& method,
                                                                 const ddkit::data::Dataset& data,
                                                                 const at::Tensor& initial, int64_t ipc,
                                                                 int64_t outer, int64_t inner) {
  using namespace ddkit::distill;
  if (method == "dm") return std::make_unique<DmDistiller>(data, initial, ipc, DmOptions{});
  DcOptions options;  // published defaults; the loops as resolved by the caller
  options.dsa = method == "dsa";
  options.outer_loop = outer;
  options.inner_loop = inner;
  return std::make_unique<DcDistiller>(data, initial, ipc, options);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The attainable arithmetic rate: GFLOP/s of the ConvNet's dominant convolution
// (batch 256, 128 -> 128 channels, 3x3 at 16x16) forward, best of 5. A distillation
// iteration is almost all such convolutions, so gflop / this rate is the floor
// for its time with direct fp32 convolution, whichever program runs it.
double conv_peak_gflops() {
  at::NoGradGuard no_grad;
  const auto input = at::randn({256, 128, 16, 16});
  const auto weight = at::randn({128, 128, 3, 3});
  const auto bias = at::randn({128});
  const double flop = 2.0 * 9 * 128 * 128 * 16 * 16 * 256;
  (void)at::conv2d(input, weight, bias, 1, 1);  // oneDNN's primitive creation
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    (void)at::conv2d(input, weight, bias, 1, 1);
    best = std::min(best, seconds_since(start));
  }
  return flop / best / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  ddkit::RuntimeOptions runtime;
  runtime.threads = args.threads;
  runtime.keep_freed_memory = args.keep_memory;
  const int threads = ddkit::configure_runtime(runtime);

  ddkit::data::DataOptions data_options;
  if (!args.data_dir.empty()) data_options.data_dir = args.data_dir;
  data_options.load_test = false;
  const auto data = ddkit::data::load_dataset("fashion-mnist", data_options);

  ddkit::distill::RandomOptions init;
  init.ipc = args.ipc;
  init.seed = args.seed;
  const auto initial = ddkit::distill::select_random(data, init).images;
  std::printf("# ddkit bench_distill_iteration: fashion-mnist ipc %lld, threads %d, keep_freed_memory %s, blas %s\n",
              static_cast<long long>(args.ipc), threads, args.keep_memory ? "yes" : "no",
              ddkit::loaded_blas_library().c_str());
  const double peak = conv_peak_gflops();
  std::printf("# conv 3x3 128->128 16x16 batch 256 forward: %.1f GFLOP/s (the attainable rate)\n", peak);
  std::fflush(stdout);

  for (const auto& method : args.methods) {
    int64_t outer = args.outer_loop, inner = args.inner_loop;
    if (method != "dm" && (outer <= 0 || inner <= 0)) {
      const auto [o, i] = ddkit::distill::dc_loops(args.ipc);
      if (outer <= 0) outer = o;
      if (inner <= 0) inner = i;
    }
    const int64_t iterations = args.iterations > 0 ? args.iterations : (method == "dm" ? 5 : 1);
    uint64_t seed = args.seed * 1000003ULL;

    if (args.warmup != "none") {
      const bool short_warmup = args.warmup == "short" && method != "dm";
      auto warm = make_distiller(method, data, initial, args.ipc, short_warmup ? std::min<int64_t>(outer, 2) : outer,
                                 short_warmup ? std::min<int64_t>(inner, 2) : inner);
      const auto start = std::chrono::steady_clock::now();
      warm->step(seed++);
      std::printf("# %s warm-up (%s): %.2f s\n", method.c_str(), short_warmup ? "outer 2, inner 2" : "full",
                  seconds_since(start));
      std::fflush(stdout);
    }

    auto distiller = make_distiller(method, data, initial, args.ipc, outer, inner);
    double total = 0;
    for (int64_t it = 0; it < iterations; ++it) {
      const auto start = std::chrono::steady_clock::now();
      const double loss = distiller->step(seed++);
      const double seconds = seconds_since(start);
      total += seconds;
      std::printf("# %s iteration %lld: %.3f s, loss %.4f\n", method.c_str(), static_cast<long long>(it + 1),
                  seconds, loss);
      std::fflush(stdout);
    }
    const double per_iteration = total / static_cast<double>(iterations);
    const double gflop = flop_estimate(method, data, args.ipc, outer, inner, 256) / 1e9;
    std::printf("method=%s seconds_per_iteration=%.4f iterations=%lld threads=%d impl=ddkit "
                "gflop_per_iteration=%.1f gflops=%.1f conv_peak_gflops=%.1f floor_seconds=%.4f\n",
                method.c_str(), per_iteration, static_cast<long long>(iterations), threads, gflop,
                gflop / per_iteration, peak, gflop / peak);
    std::fflush(stdout);
  }
  return 0;
}
