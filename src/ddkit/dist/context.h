// Multi-process runs (docs/design.md "Distributed runs"): a process group from
// libtorch's c10d — ProcessGroupGloo over a TCPStore rendezvous, NCCL where
// libtorch has CUDA — behind a small interface. A run that is not distributed
// is a world of one: every collective is then a no-op, so stages call them
// unconditionally. No c10d header is included here (they are heavy and need
// the Gloo headers); the process group lives behind a pimpl.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <ATen/core/Tensor.h>

namespace ddkit::dist {

// Where the world comes from. Unset fields (-1 / empty) are read from the
// environment: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (torchrun's names),
// defaulting to a world of one at 127.0.0.1:29500.
struct WorldOptions {
  int rank = -1;
  int world_size = -1;
  std::string master_addr;
  int master_port = -1;
  std::string backend = "auto";   // gloo | nccl | auto (nccl for cuda devices when libtorch has it)
  std::string device = "cpu";     // the run's --device (chooses the backend for auto)
  double timeout_seconds = 1800;  // rendezvous and collective timeout
};

// The options with the environment filled in and checked (ddkit::Error on a bad value).
WorldOptions resolve_world(WorldOptions options);

class Context {
 public:
  // Joins the world described by `options` (after resolve_world): rank 0 hosts
  // the TCPStore at master_addr:master_port, every rank connects to it. A world
  // of one creates no process group.
  static std::shared_ptr<Context> connect(const WorldOptions& options);
  // A world of one.
  static std::shared_ptr<Context> single();
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  bool root() const { return rank_ == 0; }
  bool distributed() const { return world_size_ > 1; }
  std::string backend() const;

  // Collectives, in place, blocking; every rank must call them in the same order.
  void all_reduce_sum(at::Tensor& tensor) const;
  double all_reduce_sum(double value) const;
  void broadcast(at::Tensor& tensor, int root = 0) const;
  // `text` of rank `root` on every rank.
  std::string broadcast_string(const std::string& text, int root = 0) const;
  void barrier() const;

 private:
  Context();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int rank_ = 0;
  int world_size_ = 1;
};

// How work is divided. share(): the contiguous range [begin, end) of n items
// that `rank` owns, its boundaries at multiples of `align` (so batches of
// `align` items are the same as in one process). owns(): strided ownership of
// item i (i % world == rank).
std::pair<int64_t, int64_t> share(int64_t n, int rank, int world_size, int64_t align = 1);
inline bool owns(int64_t item, int rank, int world_size) { return item % world_size == rank; }

// Helpers that take the world as stages hold it: a null pointer is a world of one.
inline int rank_of(const std::shared_ptr<Context>& world) { return world ? world->rank() : 0; }
inline int size_of(const std::shared_ptr<Context>& world) { return world ? world->world_size() : 1; }
inline bool is_root(const std::shared_ptr<Context>& world) { return !world || world->root(); }

}  // namespace ddkit::dist
