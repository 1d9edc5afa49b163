#include "ddkit/train/rng.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>

namespace ddkit::train {

at::Generator make_generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

at::Generator seed_unit_of_work(uint64_t seed) {
  at::manual_seed(seed);
  // A different stream than the one that initialises the parameters.
  return make_generator(seed ^ 0x9E3779B97F4A7C15ULL);
}

}  // namespace ddkit::train
