// DGS (docs/algorithms.md §10). Every expected value below is worked out by hand in the
// comments, not taken from the code under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>

#include "ddkit/sampling/dgs.h"
#include "ddkit/util/error.h"
#include "expect_error.h"

using namespace ddkit;
using sampling::Counts;
using sampling::Histogram;

namespace {

using ddkit_test::expect_error;

constexpr double kInf = std::numeric_limits<double>::infinity();

at::Generator gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// The hand-built pool of the threshold tests (IPC 4 -> b, t in {0, 1}):
//   s0 = 0.8 * 2^-20, s1 = 0.8 * 2^-10, m_j = 0.8 * 2^(j + 0.5 - 10) for j = 1..8,
//   and the top value 0.8 twice. Positions: m4 0, top 1, s0 2, m1 3, m8 4, s1 5,
//   m2 6, m3 7, m5 8, m6 9, m7 10, top 11.
// Raw bins h(P): m7 = 0.1414 -> bin 1, m8 = 0.2828 -> bin 2, 0.8 -> bin 8, the
// rest (< 0.1) bin 0: counts (8, 1, 1, 0, 0, 0, 0, 0, 2, 0) / 12.
// T(P; 1, t) for t = 0 or 1: bottom s1, top 0.8 (sorted[11] = sorted[10] = 0.8),
// ratio 2^10, so T(m_j) = (j + 0.5) / 10 (mid-bin j), s0 and s1 -> 1e-4 (bin 0),
// the tops -> 1 (bin 9): counts (2, 1, 1, 1, 1, 1, 1, 1, 1, 2) / 12.
// T(P; 0, t): bottom s0, ratio 2^20, T(s1) = 0.5 and every other value >= 0.5:
// bins 1..4 are empty although h(P) has mass in bins 1 and 2 -> loss +inf.
double m(int j) { return 0.8 * std::pow(2.0, j + 0.5 - 10.0); }
std::vector<double> hand_pool() {
  const double s0 = 0.8 * std::pow(2.0, -20.0), s1 = 0.8 * std::pow(2.0, -10.0);
  return {m(4), 0.8, s0, m(1), m(8), s1, m(2), m(3), m(5), m(6), m(7), 0.8};
}
// loss(1, t) = 0.5 KL2(h(P) || q) + 0.5 KL2(u || q), q = (2,1,...,1,2)/12:
//   KL2(h(P) || q) = 8/12 log2((8/12)/(2/12)) + 1/12 log2 1 + 1/12 log2 1 + 2/12 log2((2/12)/(1/12))
//                  = 2/3 * 2 + 1/6 * 1 = 1.5
//   KL2(u || q) = 2 * 0.1 log2(0.1 / (2/12)) + 8 * 0.1 log2(0.1 / (1/12))
//               = 0.2 log2 0.6 + 0.8 log2 1.2 = -0.1473931 + 0.2104275 = 0.0630344
//   loss = 0.75 + 0.0315172 = 0.7815172
constexpr double kHandLoss = 0.7815172;

std::filesystem::path temp_file(const std::string& name, const std::string& text) {
  const auto dir = std::filesystem::temp_directory_path() / "ddkit_test_sampling";
  std::filesystem::create_directories(dir);
  const auto path = dir / name;
  std::ofstream(path) << text;
  return path;
}

Histogram weights(std::initializer_list<double> w) {
  Histogram h{};
  std::copy(w.begin(), w.end(), h.begin());
  return h;
}

}  // namespace

// ---- step 2: log transform -----------------------------------------------------

TEST(LogTransform, SmallListByHand) {
  // sorted [0.01, 0.02, 0.04, 0.08, 0.5], b = 1, t = 1: bottom = sorted[1] = 0.02,
  // top = sorted[5-1-1] = 0.08. ln(x / 0.02) / ln 4 after clipping to [0.02, 0.08]:
  // 0.01 -> 0.02 -> 0 -> 1e-4; 0.02 -> 0 -> 1e-4; 0.04 -> ln 2 / ln 4 = 0.5;
  // 0.08 -> 1; 0.5 -> 0.08 -> 1.
  const std::vector<double> scores = {0.5, 0.04, 0.01, 0.08, 0.02};  // unsorted on purpose
  const auto tr = sampling::fit_log_transform(scores, 1, 1);
  EXPECT_DOUBLE_EQ(tr.bottom, 0.02);
  EXPECT_DOUBLE_EQ(tr.top, 0.08);
  EXPECT_FALSE(tr.degenerate);
  const auto y = tr.apply(scores);
  ASSERT_EQ(y.size(), 5u);
  EXPECT_NEAR(y[0], 1.0, 1e-12);   // 0.5
  EXPECT_NEAR(y[1], 0.5, 1e-12);   // 0.04
  EXPECT_EQ(y[2], 1e-4);           // 0.01
  EXPECT_NEAR(y[3], 1.0, 1e-12);   // 0.08
  EXPECT_EQ(y[4], 1e-4);           // 0.02
}

TEST(LogTransform, BottomExactlyZeroBecomes1e4) {
  // [0, 0, 0.01, 1], b = 1, t = 0: sorted[1] = 0 -> bottom 1e-4, top 1.
  // 0 -> clipped to 1e-4 -> ln 1 = 0 -> 1e-4; 0.01 -> ln(100) / ln(10^4) = 0.5; 1 -> 1.
  const auto tr = sampling::fit_log_transform({0.0, 1.0, 0.0, 0.01}, 1, 0);
  EXPECT_EQ(tr.bottom, 1e-4);
  EXPECT_EQ(tr.top, 1.0);
  EXPECT_EQ(tr.apply(0.0), 1e-4);
  EXPECT_NEAR(tr.apply(0.01), 0.5, 1e-12);
  EXPECT_NEAR(tr.apply(1.0), 1.0, 1e-12);
}

TEST(LogTransform, TopNotAboveBottomIsDegenerate) {
  // All equal: bottom = top = 0.3 -> every value 1e-4.
  const auto equal = sampling::fit_log_transform({0.3, 0.3, 0.3, 0.3}, 1, 1);
  EXPECT_TRUE(equal.degenerate);
  for (double v : equal.apply(std::vector<double>{0.0, 0.3, 1.0})) EXPECT_EQ(v, 1e-4);
  // All 0: bottom 0 -> 1e-4 > top 0.
  EXPECT_TRUE(sampling::fit_log_transform({0.0, 0.0, 0.0}, 0, 0).degenerate);
  // Indices past the ends of a short list are clamped: [0.1, 0.5], b = 3, t = 3:
  // bottom = sorted[1] = 0.5, top = sorted[0] = 0.1 <= bottom.
  EXPECT_TRUE(sampling::fit_log_transform({0.1, 0.5}, 3, 3).degenerate);
}

// ---- histograms and KL ---------------------------------------------------------

TEST(Histogram, BinEdges) {
  EXPECT_EQ(sampling::bin_of(0.0), 0);
  EXPECT_EQ(sampling::bin_of(0.0999), 0);
  EXPECT_EQ(sampling::bin_of(0.1), 1);
  EXPECT_EQ(sampling::bin_of(0.3), 3);
  EXPECT_EQ(sampling::bin_of(0.1 * 3), 3);  // 0.30000000000000004
  EXPECT_EQ(sampling::bin_of(0.6), 6);
  EXPECT_EQ(sampling::bin_of(0.7), 7);
  EXPECT_EQ(sampling::bin_of(0.9), 9);
  EXPECT_EQ(sampling::bin_of(0.95), 9);
  EXPECT_EQ(sampling::bin_of(1.0), 9);  // the last bin is closed
  EXPECT_EQ(sampling::bin_of(-0.2), 0);  // clamped in
  EXPECT_EQ(sampling::bin_of(1.5), 9);
  // Every edge k/10 opens bin k; the double just below it is still in bin k-1.
  for (int k = 1; k < 10; ++k) {
    EXPECT_EQ(sampling::bin_of(k / 10.0), k) << k;
    EXPECT_EQ(sampling::bin_of(std::nextafter(k / 10.0, 0.0)), k - 1) << k;
  }
}

TEST(Histogram, NormalisedToOne) {
  // 0.05 -> bin 0, 0.15 twice -> bin 1, 1.0 -> bin 9: (1/4, 2/4, 0, ..., 0, 1/4).
  const auto h = sampling::histogram({0.05, 0.15, 0.15, 1.0});
  EXPECT_EQ(h, weights({0.25, 0.5, 0, 0, 0, 0, 0, 0, 0, 0.25}));
  EXPECT_EQ(sampling::histogram({}), Histogram{});
}

TEST(KL2, HandValues) {
  const auto p = weights({0.5, 0.5});
  EXPECT_EQ(sampling::kl2(p, p), 0.0);
  // 0.5 log2(0.5/0.25) + 0.5 log2(0.5/0.75) = 0.5 - 0.5 * 0.5849625 = 0.2075187
  EXPECT_NEAR(sampling::kl2(p, weights({0.25, 0.75})), 0.2075187, 1e-6);
  // p > 0 where q = 0 -> +inf.
  EXPECT_EQ(sampling::kl2(p, weights({1.0})), kInf);
  // p = 0 terms contribute 0 even where q = 0: (1, 0) vs (0.5, 0.5): 1 * log2 2 = 1.
  EXPECT_NEAR(sampling::kl2(weights({1.0}), p), 1.0, 1e-12);
}

// ---- step 3: threshold search --------------------------------------------------

TEST(Thresholds, HandLossesAndFirstMinimumOnTie) {
  const auto pool = hand_pool();
  // b = 0 rows are +inf (empty transformed bins 1..4 that h(P) partly fills).
  EXPECT_EQ(sampling::threshold_loss(pool, 0, 0), kInf);
  EXPECT_EQ(sampling::threshold_loss(pool, 0, 1), kInf);
  // (1, 0) and (1, 1) give the same transform, hence exactly the same loss.
  const double l10 = sampling::threshold_loss(pool, 1, 0);
  EXPECT_NEAR(l10, kHandLoss, 1e-6);
  EXPECT_EQ(sampling::threshold_loss(pool, 1, 1), l10);
  // The first minimum in (b outer, t inner) order is (1, 0), not (1, 1).
  const auto th = sampling::search_thresholds(pool, 4);
  EXPECT_EQ(th.b, 1);
  EXPECT_EQ(th.t, 0);
  EXPECT_NEAR(th.loss, kHandLoss, 1e-6);
}

TEST(Thresholds, AllInfinitePicksZero) {
  // 4 pool images can fill at most 4 of the 10 transformed bins, so KL2(u || h(T(P)))
  // is +inf for every (b, t): b = t = 0.
  const auto th = sampling::search_thresholds({0.1, 0.2, 0.3, 0.4}, 4);
  EXPECT_EQ(th.b, 0);
  EXPECT_EQ(th.t, 0);
  EXPECT_EQ(th.loss, kInf);
}

TEST(Thresholds, IpcBelowTwoSkipsSearch) {
  // On the hand pool the search at IPC 4 picks (1, 0); at IPC 1 there is no search.
  const auto th = sampling::search_thresholds(hand_pool(), 1);
  EXPECT_EQ(th.b, 0);
  EXPECT_EQ(th.t, 0);
}

// ---- step 4: targets -----------------------------------------------------------

TEST(Targets, LargestRemainder) {
  // (1,1,1) to 10: 3.33 each -> 3,3,3, one unit left, equal fractions -> lowest bin.
  EXPECT_EQ(sampling::largest_remainder(weights({1, 1, 1}), 10), (Counts{4, 3, 3, 0, 0, 0, 0, 0, 0, 0}));
  // (1,2,7) to 5: 0.5, 1, 3.5 -> 0,1,3, one left, tie 0.5 at bins 0 and 2 -> bin 0.
  EXPECT_EQ(sampling::largest_remainder(weights({1, 2, 7}), 5), (Counts{1, 1, 3, 0, 0, 0, 0, 0, 0, 0}));
  // (1,2,3,4) to 7: 0.7, 1.4, 2.1, 2.8 -> 0,1,2,2 (5), two left: fractions .8 (bin 3), .7 (bin 0).
  EXPECT_EQ(sampling::largest_remainder(weights({1, 2, 3, 4}), 7), (Counts{1, 1, 2, 3, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(sampling::largest_remainder(weights({1, 2}), 0), Counts{});
  expect_error([] { sampling::largest_remainder(Histogram{}, 10); }, "--target", "all 0");
  expect_error([] { sampling::largest_remainder(weights({1, -1}), 10); }, "--target", ">= 0");
}

TEST(Targets, FixedShapesMatchTheTable) {
  using sampling::shape_counts;
  EXPECT_EQ(shape_counts("hill", 10), (Counts{1, 0, 1, 0, 3, 3, 1, 0, 0, 1}));
  EXPECT_EQ(shape_counts("hill", 20), (Counts{1, 1, 1, 2, 5, 5, 2, 1, 1, 1}));
  EXPECT_EQ(shape_counts("hill", 50), (Counts{1, 3, 5, 6, 10, 10, 6, 5, 3, 1}));
  EXPECT_EQ(shape_counts("ground", 10), (Counts{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(shape_counts("ground", 20), (Counts{2, 2, 2, 2, 2, 2, 2, 2, 2, 2}));
  EXPECT_EQ(shape_counts("ground", 50), (Counts{5, 5, 5, 5, 5, 5, 5, 5, 5, 5}));
  EXPECT_EQ(shape_counts("slope", 10), (Counts{3, 3, 1, 1, 0, 0, 1, 1, 0, 0}));
  EXPECT_EQ(shape_counts("slope", 20), (Counts{5, 5, 2, 2, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(shape_counts("slope", 50), (Counts{10, 10, 6, 6, 5, 5, 3, 3, 1, 1}));
  EXPECT_EQ(shape_counts("cliff", 10), (Counts{6, 3, 0, 1, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(shape_counts("cliff", 20), (Counts{9, 6, 1, 1, 1, 1, 1, 0, 0, 0}));
  EXPECT_EQ(shape_counts("cliff", 50), (Counts{20, 15, 3, 3, 2, 2, 2, 1, 1, 1}));
}

TEST(Targets, ScaledShapes) {
  using sampling::shape_counts;
  // hill IPC 5 = IPC-50 row / 10: .1 .3 .5 .6 1 1 .6 .5 .3 .1 -> floors 0,0,0,0,1,1,0,0,0,0 (2);
  // 3 left: fractions .6 (bins 3, 6), then .5 (bins 2, 7 -> lower: 2).
  EXPECT_EQ(shape_counts("hill", 5), (Counts{0, 0, 1, 1, 1, 1, 1, 0, 0, 0}));
  // hill IPC 7: row * 7/50 = .14 .42 .7 .84 1.4 1.4 .84 .7 .42 .14 -> floors give 2; 5 left:
  // .84 (3, 6), .7 (2, 7), .42 (1 before 8).
  EXPECT_EQ(shape_counts("hill", 7), (Counts{0, 1, 1, 1, 1, 1, 1, 1, 0, 0}));
  // hill IPC 100: exactly twice the IPC-50 row.
  EXPECT_EQ(shape_counts("hill", 100), (Counts{2, 6, 10, 12, 20, 20, 12, 10, 6, 2}));
  // cliff IPC 5: 2 1.5 .3 .3 .2 .2 .2 .1 .1 .1 -> floors 2,1 (3); 2 left: .5 (bin 1), .3 (bin 2 before 3).
  EXPECT_EQ(shape_counts("cliff", 5), (Counts{2, 2, 1, 0, 0, 0, 0, 0, 0, 0}));
  // slope IPC 5: 1 1 .6 .6 .5 .5 .3 .3 .1 .1 -> floors 1,1 (2); 3 left: .6 (2, 3), .5 (4 before 5).
  EXPECT_EQ(shape_counts("slope", 5), (Counts{1, 1, 1, 1, 1, 0, 0, 0, 0, 0}));
  // ground IPC 7: 0.7 each, all floors 0, 7 units to bins 0..6 (ties -> lower bins).
  const Counts ground7{1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
  EXPECT_EQ(shape_counts("ground", 7), ground7);
  sampling::Target ground;
  ground.kind = "ground";
  EXPECT_EQ(sampling::target_counts(ground, 7, {}), ground7);
  expect_error([] { sampling::shape_counts("mountain", 10); }, "--target", "mountain");
}

TEST(Targets, CustomWeights) {
  // (1,1,2) to 10: 2.5, 2.5, 5 -> 2,2,5, one left, tie .5 at bins 0 and 1 -> bin 0.
  sampling::Target custom;
  custom.kind = "custom";
  custom.weights = weights({1, 1, 2});
  EXPECT_EQ(sampling::target_counts(custom, 10, {}), (Counts{3, 2, 5, 0, 0, 0, 0, 0, 0, 0}));
  custom.weights = weights({1, -2});
  expect_error([&] { sampling::target_counts(custom, 10, {}); }, "--target", ">= 0");
  custom.weights = Histogram{};
  expect_error([&] { sampling::target_counts(custom, 10, {}); }, "--target", "all 0");
}

TEST(Targets, ParseTarget) {
  for (const std::string name : {"original", "ground", "hill", "slope", "cliff", "random"}) {
    EXPECT_EQ(sampling::parse_target(name).kind, name);
  }
  const auto good = temp_file("good.json", "[1, 1, 2, 0, 0, 0, 0, 0, 0, 0.5]");
  const auto t = sampling::parse_target(good.string());
  EXPECT_EQ(t.kind, "custom");
  EXPECT_EQ(t.weights, weights({1, 1, 2, 0, 0, 0, 0, 0, 0, 0.5}));

  const auto nine = temp_file("nine.json", "[1, 1, 1, 1, 1, 1, 1, 1, 1]").string();
  expect_error([&] { sampling::parse_target(nine); }, nine, "10");
  const auto negative = temp_file("negative.json", "[1, 1, 1, 1, 1, 1, 1, 1, 1, -1]").string();
  expect_error([&] { sampling::parse_target(negative); }, negative, "weight 9");
  const auto zeros = temp_file("zeros.json", "[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]").string();
  expect_error([&] { sampling::parse_target(zeros); }, zeros, "all 0");
  const auto text = temp_file("text.json", "[1, 2,").string();
  expect_error([&] { sampling::parse_target(text); }, text, "JSON");
  expect_error([] { sampling::parse_target("/nonexistent/target.json"); }, "/nonexistent/target.json", "JSON");
}

// ---- steps 2-5 on one class ------------------------------------------------------

TEST(SelectClass, OriginalTargetIsFittedOnTheOriginalScores) {
  // Thresholds from the hand pool: (b, t) = (1, 0). O sorted:
  //   0.05, 0.1, 0.1 * 2^0.15, 0.1 * 2^0.45, 0.1 * 2^0.85, 0.2.
  // T(O; 1, 0) on O's own order: bottom 0.1, top 0.2 -> 1e-4, 1e-4, 0.15, 0.45, 0.85, 1:
  // counts (2, 1, 0, 0, 1, 0, 0, 0, 1, 1), n = 6. Scaled to 4: 1.33, .67, .67, .67, .67
  // -> floors 1,0,0,0,0; 3 left to the .67s in bins 1, 4, 8 (9 loses the tie):
  // target (1, 1, 0, 0, 1, 0, 0, 0, 1, 0).
  // (Fitted with the pool's bottom/top instead, 0.05 -> 0.6 and all of O would land
  // in bins 6..9, so this also checks which list T is fitted on.)
  const std::vector<double> original = {0.2, 0.1 * std::pow(2.0, 0.45), 0.05, 0.1 * std::pow(2.0, 0.85), 0.1,
                                        0.1 * std::pow(2.0, 0.15)};
  const auto s = sampling::select_class(hand_pool(), original, 4, sampling::Target{}, gen(0), 7);
  EXPECT_EQ(s.label, 7);
  EXPECT_EQ(s.b, 1);
  EXPECT_EQ(s.t, 0);
  EXPECT_NEAR(s.loss, kHandLoss, 1e-6);
  EXPECT_DOUBLE_EQ(s.bottom, 0.8 * std::pow(2.0, -10.0));
  EXPECT_DOUBLE_EQ(s.top, 0.8);
  EXPECT_DOUBLE_EQ(s.original_bottom, 0.1);
  EXPECT_DOUBLE_EQ(s.original_top, 0.2);
  const Counts target{1, 1, 0, 0, 1, 0, 0, 0, 1, 0};
  EXPECT_EQ(s.target, target);
  EXPECT_EQ(s.drawn, target);
  EXPECT_EQ(s.shortfall, 0);
  EXPECT_EQ(s.pool_bins, (Counts{2, 1, 1, 1, 1, 1, 1, 1, 1, 2}));
  EXPECT_FALSE(s.degenerate);
  // Pool bins after T(P; 1, 0): bin 0 = {s0 at 2, s1 at 5}, bin 1 = m1 (3),
  // bin 4 = m4 (0), bin 8 = m8 (4). Draw order: bins 0, 1, 4, 8.
  ASSERT_EQ(s.indices.size(), 4u);
  EXPECT_TRUE(s.indices[0] == 2 || s.indices[0] == 5);
  EXPECT_EQ(s.indices[1], 3);
  EXPECT_EQ(s.indices[2], 0);
  EXPECT_EQ(s.indices[3], 4);
}

TEST(SelectClass, ShortfallIsFilledFromTheRest) {
  // Custom target: everything in bin 9 -> n_9 = 4, but the transformed hand pool
  // has only the two tops (positions 1 and 11) there: drawn 2, shortfall 2, and
  // the fill adds 2 more distinct images.
  sampling::Target custom;
  custom.kind = "custom";
  custom.weights = weights({0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  for (uint64_t seed = 0; seed < 5; ++seed) {
    const auto s = sampling::select_class(hand_pool(), {}, 4, custom, gen(seed), 0);
    EXPECT_EQ(s.target, (Counts{0, 0, 0, 0, 0, 0, 0, 0, 0, 4}));
    EXPECT_EQ(s.drawn, (Counts{0, 0, 0, 0, 0, 0, 0, 0, 0, 2}));
    EXPECT_EQ(s.shortfall, 2);
    ASSERT_EQ(s.indices.size(), 4u);
    EXPECT_EQ(s.indices[0], 1);
    EXPECT_EQ(s.indices[1], 11);
    EXPECT_EQ(std::set<int64_t>(s.indices.begin(), s.indices.end()).size(), 4u);
    for (int64_t i : s.indices) EXPECT_TRUE(i >= 0 && i < 12);
  }
}

TEST(SelectClass, RandomTargetIsAUniformPickFromThePool) {
  // The control: no bin asks for anything, so all ipc images come from the fill,
  // uniformly over the pool regardless of difficulty: with 12 images and ipc 4,
  // each position is picked with probability 1/3.
  sampling::Target random;
  random.kind = "random";
  std::vector<int64_t> picked(12, 0);
  const int trials = 3000;
  for (int seed = 0; seed < trials; ++seed) {
    const auto s = sampling::select_class(hand_pool(), {}, 4, random, gen(static_cast<uint64_t>(seed)), 0);
    EXPECT_EQ(s.target, Counts{});
    EXPECT_EQ(s.drawn, Counts{});
    EXPECT_EQ(s.shortfall, 4);
    ASSERT_EQ(std::set<int64_t>(s.indices.begin(), s.indices.end()).size(), 4u);
    for (int64_t i : s.indices) ++picked[static_cast<size_t>(i)];
  }
  for (int64_t count : picked) EXPECT_NEAR(static_cast<double>(count) / trials, 1.0 / 3.0, 0.04);
}

TEST(SelectClass, AllEqualScoresAreDegenerate) {
  // 20 pool scores of 0.3: every T(P; b, t) maps all to 1e-4 (bin 0) while h(P) is
  // bin 3 -> every loss +inf -> (0, 0); all 20 transformed scores land in bin 0.
  // Target ground at IPC 4: (1, 1, 1, 1, 0, ...) -> 1 drawn from bin 0, 3 filled.
  sampling::Target ground;
  ground.kind = "ground";
  const std::vector<double> pool(20, 0.3);
  const auto s = sampling::select_class(pool, {}, 4, ground, gen(1), 2);
  EXPECT_EQ(s.b, 0);
  EXPECT_EQ(s.t, 0);
  EXPECT_TRUE(s.degenerate);
  EXPECT_NE(s.warning.find("pool scores"), std::string::npos) << s.warning;
  EXPECT_EQ(s.pool_bins, (Counts{20, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(s.target, (Counts{1, 1, 1, 1, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(s.drawn, (Counts{1, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(s.shortfall, 3);
  EXPECT_EQ(std::set<int64_t>(s.indices.begin(), s.indices.end()).size(), 4u);
  // Degenerate original scores (all equal) are flagged as well.
  const auto o = sampling::select_class(hand_pool(), {0.4, 0.4, 0.4}, 4, sampling::Target{}, gen(1), 5);
  EXPECT_TRUE(o.degenerate);
  EXPECT_EQ(o.target, (Counts{4, 0, 0, 0, 0, 0, 0, 0, 0, 0}));  // all of O at 1e-4 -> bin 0
  EXPECT_NE(o.warning.find("original"), std::string::npos) << o.warning;
}

TEST(SelectClass, IpcOne) {
  // IPC 1 -> b = t = 0. T(P; 0, 0) on [0.2, 0.5, 0.9]: bottom 0.2 -> 1e-4 (bin 0).
  // O = [0.1, 0.9]: T(O; 0, 0) -> bins 0 and 9, (0.5, 0.5) scaled to 1 -> tie -> bin 0.
  // The only pool image in bin 0 is position 0.
  const auto s = sampling::select_class({0.2, 0.5, 0.9}, {0.9, 0.1}, 1, sampling::Target{}, gen(3), 0);
  EXPECT_EQ(s.b, 0);
  EXPECT_EQ(s.t, 0);
  EXPECT_EQ(s.target, (Counts{1, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(s.indices, (std::vector<int64_t>{0}));
  EXPECT_EQ(s.shortfall, 0);
  EXPECT_FALSE(s.degenerate);
}

TEST(SelectClass, Errors) {
  const std::vector<double> seven(7, 0.5);
  expect_error([&] { sampling::select_class(seven, {0.5}, 10, sampling::Target{}, gen(0), 3); }, "--pool",
               "class 3 has 7 pool images, fewer than ipc 10");
  expect_error([&] { sampling::select_class(seven, {}, 5, sampling::Target{}, gen(0), 4); }, "--data", "class 4");
  expect_error([&] { sampling::select_class({0.5, 1.5}, {0.5}, 2, sampling::Target{}, gen(0), 1); }, "--pool",
               "not in [0, 1]");
  expect_error([&] { sampling::select_class(seven, {0.5}, 0, sampling::Target{}, gen(0), 1); }, "--ipc", ">= 1");
}

TEST(SelectClass, ReproducibleFromTheGenerator) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> pool(500), original(2000);
  for (auto& v : pool) v = uniform(rng) * uniform(rng);
  for (auto& v : original) v = uniform(rng) * uniform(rng);
  const auto a = sampling::select_class(pool, original, 50, sampling::Target{}, gen(1), 0);
  const auto b = sampling::select_class(pool, original, 50, sampling::Target{}, gen(1), 0);
  const auto c = sampling::select_class(pool, original, 50, sampling::Target{}, gen(2), 0);
  EXPECT_EQ(a.indices, b.indices);
  EXPECT_NE(a.indices, c.indices);
  EXPECT_EQ(a.indices.size(), 50u);
  EXPECT_EQ(std::set<int64_t>(a.indices.begin(), a.indices.end()).size(), 50u);
  int64_t target_sum = 0, drawn_sum = 0;
  for (int k = 0; k < sampling::kBins; ++k) {
    EXPECT_EQ(a.drawn[k], std::min(a.target[k], a.pool_bins[k]));
    target_sum += a.target[k];
    drawn_sum += a.drawn[k];
  }
  EXPECT_EQ(target_sum, 50);
  EXPECT_EQ(a.shortfall, 50 - drawn_sum);

  // select_classes: one generator per seed, classes in order.
  const std::vector<sampling::ClassScores> classes = {{0, pool, original}, {1, original, pool}};
  const auto r1 = sampling::select_classes(classes, 50, sampling::Target{}, 11);
  const auto r2 = sampling::select_classes(classes, 50, sampling::Target{}, 11);
  const auto r3 = sampling::select_classes(classes, 50, sampling::Target{}, 12);
  ASSERT_EQ(r1.size(), 2u);
  EXPECT_EQ(r1[1].label, 1);
  EXPECT_EQ(r1[0].indices, r2[0].indices);
  EXPECT_EQ(r1[1].indices, r2[1].indices);
  EXPECT_NE(r1[1].indices, r3[1].indices);
}

TEST(SamplingJson, RequiredKeys) {
  const auto s = sampling::select_class(hand_pool(), {0.1, 0.2, 0.3}, 4, sampling::Target{}, gen(0), 3);
  const auto j = sampling::to_json(s, sampling::Target{});
  for (const char* key : {"th_b", "th_t", "bottom", "top", "target", "drawn", "shortfall", "degenerate", "loss", "indices",
                          "pool_bins", "original_bottom", "original_top"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["target"].size(), 10u);
  EXPECT_EQ(j["drawn"].size(), 10u);
  EXPECT_EQ(j["th_b"].get<int>(), 1);
  const auto doc = sampling::to_json(std::vector<sampling::ClassSelection>{s}, sampling::Target{}, 4, 9);
  EXPECT_TRUE(doc["classes"].contains("3"));
  EXPECT_EQ(doc["classes"]["3"], j);
  EXPECT_EQ(doc["seed"].get<uint64_t>(), 9u);
  // A +inf loss is written as null.
  auto inf = s;
  inf.loss = kInf;
  EXPECT_TRUE(sampling::to_json(inf, sampling::Target{})["loss"].is_null());
}
