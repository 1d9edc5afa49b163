#include "ddkit/dist/context.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <limits>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <spdlog/spdlog.h>

#ifndef USE_C10D_GLOO
#error "ddkit's dist layer needs USE_C10D_GLOO (set by CMakeLists.txt when the Gloo headers are found)"
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "ddkit/util/error.h"
#include "ddkit/util/torch_compat.h"

namespace ddkit::dist {
namespace {

long env_integer(const char* name, long fallback, long lo, long hi) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < lo || value > hi) {
    throw Error(name, std::string("'") + text + "' is not an integer in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "]");
  }
  return value;
}

// This host's address on the route to `host` (a connected UDP socket sends
// nothing): the interface the other ranks reach us through. Empty if unknown.
std::string local_address_towards(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || found == nullptr) return "";
  std::string address;
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd >= 0 && ::connect(fd, found->ai_addr, found->ai_addrlen) == 0) {
    sockaddr_in local{};
    socklen_t len = sizeof(local);
    char text[INET_ADDRSTRLEN] = {0};
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0 &&
        ::inet_ntop(AF_INET, &local.sin_addr, text, sizeof(text)) != nullptr) {
      address = text;
    }
  }
  if (fd >= 0) ::close(fd);
  ::freeaddrinfo(found);
  return address;
}

[[maybe_unused]] bool cuda_device(const std::string& device) { return device.rfind("cuda", 0) == 0; }

}  // namespace

WorldOptions resolve_world(WorldOptions o) {
  constexpr long kMaxWorld = 1 << 16;
  if (o.world_size < 0) o.world_size = static_cast<int>(env_integer("WORLD_SIZE", 1, 1, kMaxWorld));
  if (o.rank < 0) o.rank = static_cast<int>(env_integer("RANK", 0, 0, kMaxWorld));
  if (o.master_addr.empty()) {
    const char* addr = std::getenv("MASTER_ADDR");
    o.master_addr = addr != nullptr && *addr != '\0' ? addr : "127.0.0.1";
  }
  if (o.master_port < 0) o.master_port = static_cast<int>(env_integer("MASTER_PORT", 29500, 1, 65535));
  if (o.world_size < 1) throw Error("--world-size", "must be at least 1");
  if (o.rank >= o.world_size) {
    throw Error("--rank", "rank " + std::to_string(o.rank) + " is outside a world of " + std::to_string(o.world_size));
  }
  if (o.master_port < 1 || o.master_port > 65535) throw Error("--master-port", "must be in [1, 65535]");
  if (o.backend == "auto") {
#ifdef USE_C10D_NCCL
    o.backend = cuda_device(o.device) ? "nccl" : "gloo";
#else
    o.backend = "gloo";
#endif
  }
  if (o.backend != "gloo" && o.backend != "nccl") throw Error("--dist-backend", "must be gloo, nccl or auto");
#ifndef USE_C10D_NCCL
  if (o.backend == "nccl") throw Error("--dist-backend", "this libtorch has no NCCL (it was built without CUDA)");
#endif
  return o;
}

struct Context::Impl {
  std::string backend = "none";
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<compat::ProcessGroupBase> group;
  // Where collectives take their tensors: Gloo here reduces CPU tensors, NCCL tensors
  // on this rank's GPU (the run's --device, its index resolved by start_run).
  c10::Device tensor_device{c10::kCPU};
};

Context::Context() : impl_(std::make_unique<Impl>()) {}
Context::~Context() = default;

std::shared_ptr<Context> Context::single() { return std::shared_ptr<Context>(new Context()); }

std::shared_ptr<Context> Context::connect(const WorldOptions& options) {
  auto context = std::shared_ptr<Context>(new Context());
  context->rank_ = options.rank;
  context->world_size_ = options.world_size;
  if (options.world_size == 1) return context;
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(options.timeout_seconds * 1000));
  auto& impl = *context->impl_;
  impl.backend = options.backend;
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(options.master_port);
    store_options.isServer = options.rank == 0;
    store_options.numWorkers = static_cast<size_t>(options.world_size);
    store_options.waitWorkers = true;
    store_options.timeout = timeout;
    compat::use_classic_tcp_store(store_options);
    auto tcp = c10::make_intrusive<c10d::TCPStore>(options.master_addr, store_options);
    impl.store = c10::make_intrusive<c10d::PrefixStore>("ddkit", tcp);
#ifdef USE_C10D_NCCL
    if (options.backend == "nccl") {
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = timeout;
      impl.group = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl.store, options.rank, options.world_size,
                                                               nccl_options);
      impl.tensor_device = c10::Device(options.device);
    }
#endif
    if (!impl.group) {
      auto gloo_options = c10d::ProcessGroupGloo::Options::create(timeout);
      // GLOO_SOCKET_IFNAME picks the interface (as in PyTorch); otherwise the
      // address on the route to MASTER_ADDR (127.0.0.1 for local runs), so the
      // same command works on every host; failing that, the host name's address.
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      const auto local = local_address_towards(options.master_addr, options.master_port);
      if (ifname != nullptr && *ifname != '\0') {
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else if (!local.empty()) {
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(local));
      } else {
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      gloo_options->threads = 1;
      impl.group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl.store, options.rank, options.world_size,
                                                               gloo_options);
    }
  } catch (const c10::Error& e) {
    throw Error(options.master_addr + ":" + std::to_string(options.master_port),
                "cannot join the world as rank " + std::to_string(options.rank) + " of " +
                    std::to_string(options.world_size) + ": " + e.what_without_backtrace());
  }
  spdlog::debug("joined a {} world of {} as rank {} via {}:{}", impl.backend, options.world_size, options.rank,
                options.master_addr, options.master_port);
  return context;
}

std::string Context::backend() const { return impl_->backend; }

namespace {

// Runs a collective on `tensor`, moved to where the backend wants it (and back): NCCL
// rejects CPU tensors, ddkit's Gloo groups take CPU ones, both need contiguous memory.
template <typename Call>
void on_backend_tensor(at::Tensor& tensor, const c10::Device& device, Call call) {
  const bool moved = tensor.device() != device || !tensor.is_contiguous();
  std::vector<at::Tensor> tensors = {moved ? tensor.to(device).contiguous() : tensor};
  call(tensors)->wait();
  if (moved) tensor.copy_(tensors[0]);
}

}  // namespace

void Context::all_reduce_sum(at::Tensor& tensor) const {
  if (!impl_->group) return;
  at::NoGradGuard no_grad;
  on_backend_tensor(tensor, impl_->tensor_device, [&](std::vector<at::Tensor>& t) {
    c10d::AllreduceOptions opts;
    opts.reduceOp = c10d::ReduceOp::SUM;
    return impl_->group->allreduce(t, opts);
  });
}

double Context::all_reduce_sum(double value) const {
  if (!impl_->group) return value;
  auto t = at::full({1}, value, at::kDouble);
  all_reduce_sum(t);
  return t.item<double>();
}

void Context::broadcast(at::Tensor& tensor, int root) const {
  if (!impl_->group) return;
  at::NoGradGuard no_grad;
  on_backend_tensor(tensor, impl_->tensor_device, [&](std::vector<at::Tensor>& t) {
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    return impl_->group->broadcast(t, opts);
  });
}

std::string Context::broadcast_string(const std::string& text, int root) const {
  if (!impl_->group) return text;
  auto length = at::full({1}, static_cast<int64_t>(text.size()), at::kLong);
  broadcast(length, root);
  auto bytes = at::zeros({length.item<int64_t>()}, at::kByte);
  if (rank_ == root) std::memcpy(bytes.data_ptr<uint8_t>(), text.data(), text.size());
  broadcast(bytes, root);
  return std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), static_cast<size_t>(bytes.numel()));
}

void Context::barrier() const {
  if (!impl_->group) return;
  c10d::BarrierOptions opts;
  // NCCL's barrier runs an all-reduce on a GPU: this rank's, not one guessed from its rank.
  if (impl_->tensor_device.is_cuda()) opts.device_ids = {impl_->tensor_device.index()};
  impl_->group->barrier(opts)->wait();
}

std::pair<int64_t, int64_t> share(int64_t n, int rank, int world_size, int64_t align) {
  if (align < 1) align = 1;
  const int64_t blocks = (n + align - 1) / align;
  const int64_t begin_block = blocks * rank / world_size;
  const int64_t end_block = blocks * (rank + 1) / world_size;
  return {std::min(n, begin_block * align), std::min(n, end_block * align)};
}

}  // namespace ddkit::dist
