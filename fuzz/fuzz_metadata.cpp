// metadata.jsonl of an image set (one JSON object per line: file_name, label, score).
#include "ddkit/data/image_set.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = ddkit_fuzz::write_input("metadata.jsonl", data, size);
  ddkit_fuzz::read_or_refuse([&] { ddkit::data::read_metadata(file); });
  return 0;
}
