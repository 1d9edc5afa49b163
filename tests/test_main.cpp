#include <gtest/gtest.h>

#include "ddkit/util/runtime.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ddkit::RuntimeOptions runtime;
  runtime.threads = 1;  // ctest runs two test programs at once on 2 cores
  runtime.warn_reference_blas = false;
  ddkit::configure_runtime(runtime);
  return RUN_ALL_TESTS();
}
