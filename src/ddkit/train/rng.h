// Random sources. Every random draw of ddkit flows from --seed: explicit
// generators for data order and augmentation, and the global torch generator
// (seeded here) for parameter initialisation, which libtorch's modules use.
#pragma once
#include <cstdint>

#include <ATen/core/Generator.h>

namespace ddkit::train {

at::Generator make_generator(uint64_t seed);
// Seed torch's global generator (model initialisation) and return a generator
// for everything else of the same unit of work.
at::Generator seed_unit_of_work(uint64_t seed);

}  // namespace ddkit::train
