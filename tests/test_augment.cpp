#include <gtest/gtest.h>
TEST(Placeholder, augment) { SUCCEED(); }
