#pragma once
#include <string>

#include <c10/core/Device.h>

namespace ddkit::train {
// "cpu", "cuda", "cuda:1"; throws ddkit::Error("--device", ...) if unusable here. A bare
// "cuda" is cuda:0, or under `ddkit launch` cuda:(LOCAL_RANK mod the number of GPUs).
c10::Device parse_device(const std::string& name);
}  // namespace ddkit::train
