// The one place where ddkit's code differs between the libtorch lines it builds
// against: Debian 12's libtorch 1.13 and libtorch 2.x (Debian 13's 2.6, official
// releases). docs/build.md "Build matrix" lists what is tested on each.
//
// Included by .cpp files only (it pulls in torch headers); the dist layer includes the
// c10d headers itself before it uses compat::ProcessGroupBase.
#pragma once

#include <array>
#include <cstdint>

#include <torch/nn/options/conv.h>
#include <torch/version.h>

#define DDKIT_TORCH_2 (TORCH_VERSION_MAJOR >= 2)

namespace c10d {
class Backend;
class ProcessGroup;
}  // namespace c10d

namespace ddkit::compat {

// In 2.x ProcessGroupGloo/NCCL derive from c10d::Backend, and c10d::ProcessGroup is a
// dispatcher over backends; in 1.13 they derive from c10d::ProcessGroup itself. Both
// bases offer allreduce, broadcast and barrier with the same signatures.
#if DDKIT_TORCH_2
using ProcessGroupBase = c10d::Backend;
#else
using ProcessGroupBase = c10d::ProcessGroup;
#endif

// A Conv2d's explicit padding. Its options hold a variant of padding modes and sizes:
// c10::variant in 1.13, std::variant from 2.x (c10::get is gone there).
inline std::array<int64_t, 2> conv2d_padding(const torch::nn::detail::ConvNdOptions<2>& options) {
#if DDKIT_TORCH_2
  const auto& padding = std::get<torch::ExpandingArray<2>>(options.padding());
#else
  const auto& padding = c10::get<torch::ExpandingArray<2>>(options.padding());
#endif
  return {(*padding)[0], (*padding)[1]};
}

// From 2.4 a c10d::TCPStore asks for its libuv back end by default, and a libtorch built
// without libuv (Debian 13's 2.6) refuses to start the store. The classic back end is in
// every build, so ddkit always asks for it; before the option existed (1.13) it was the
// only one. Chosen by whether TCPStoreOptions has the member, not by version number.
template <class StoreOptions>
auto use_classic_tcp_store(StoreOptions& options, int) -> decltype(options.useLibUV = false, void()) {
  options.useLibUV = false;
}
template <class StoreOptions>
void use_classic_tcp_store(StoreOptions&, long) {}
template <class StoreOptions>
void use_classic_tcp_store(StoreOptions& options) {
  use_classic_tcp_store(options, 0);
}

}  // namespace ddkit::compat
