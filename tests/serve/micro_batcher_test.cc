// MicroBatcher (serve/micro_batcher.cc) on the fake recommender: queries that arrive together
// share a call, max_batch caps it, answers match the unbatched ones, a throwing recommend()
// fails only its batch, and stop() answers what is queued and refuses the rest.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "serve/micro_batcher.h"
#include "tests/serve/fake_recommender.h"

namespace grec::serve {
namespace {

using test::FakeRecommender;

Query query_of(int i) {
  Query q;
  q.history = {std::to_string(i % 100), std::to_string((i * 7) % 100)};
  q.k = 5;
  q.model = i % 2 ? "llm" : "student";
  return q;
}

void expect_same(const Answer& a, const Answer& b) {
  ASSERT_EQ(a.items.size(), b.items.size());
  for (size_t i = 0; i < a.items.size(); ++i) {
    EXPECT_EQ(a.items[i].id, b.items[i].id);
    EXPECT_EQ(a.items[i].score, b.items[i].score);
  }
  EXPECT_EQ(a.warnings, b.warnings);
  EXPECT_EQ(a.error, b.error);
}

TEST(MicroBatcher, QueriesArrivingTogetherShareOneCall) {
  FakeRecommender fake;
  MicroBatcher batcher(fake, {/*max_batch=*/8, /*max_wait_ms=*/300});
  std::vector<std::future<Answer>> futures;
  for (int i = 0; i < 5; ++i) futures.push_back(batcher.submit(query_of(i)));
  for (int i = 0; i < 5; ++i) expect_same(futures[i].get(), fake.answer(query_of(i)));
  EXPECT_EQ(fake.batch_sizes(), (std::vector<size_t>{5}));
  EXPECT_EQ(batcher.batches(), 1);
}

TEST(MicroBatcher, MaxBatchCapsEachCall) {
  FakeRecommender fake;
  MicroBatcher batcher(fake, {/*max_batch=*/2, /*max_wait_ms=*/300});
  std::vector<std::future<Answer>> futures;
  for (int i = 0; i < 5; ++i) futures.push_back(batcher.submit(query_of(i)));
  for (auto& f : futures) f.get();
  EXPECT_EQ(fake.batch_sizes(), (std::vector<size_t>{2, 2, 1}));
  EXPECT_EQ(batcher.largest_batch(), 2);
}

TEST(MicroBatcher, ALoneQueryWaitsAtMostMaxWait) {
  FakeRecommender fake;
  MicroBatcher batcher(fake, {/*max_batch=*/8, /*max_wait_ms=*/100});
  const auto t0 = std::chrono::steady_clock::now();
  batcher.submit(query_of(1)).get();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(ms, 90);   // it did wait for company
  EXPECT_LT(ms, 2000);  // and not much longer
}

TEST(MicroBatcher, ObserverAndQueueDepth) {
  FakeRecommender fake;
  fake.sleep_ms = 100;
  std::vector<size_t> observed;
  std::mutex m;
  MicroBatcher batcher(fake, {/*max_batch=*/1, /*max_wait_ms=*/0}, [&](size_t n) {
    std::lock_guard<std::mutex> lock(m);
    observed.push_back(n);
  });
  std::vector<std::future<Answer>> futures;
  for (int i = 0; i < 3; ++i) futures.push_back(batcher.submit(query_of(i)));
  // Once the first query is being answered (100 ms), the other two wait.
  const auto t0 = std::chrono::steady_clock::now();
  while (fake.calls_started() < 1 &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(batcher.queue_depth(), 2u);
  for (auto& f : futures) f.get();
  EXPECT_EQ(batcher.queue_depth(), 0u);
  std::lock_guard<std::mutex> lock(m);
  EXPECT_EQ(observed, (std::vector<size_t>{1, 1, 1}));
}

TEST(MicroBatcher, AThrowingRecommendFailsOnlyItsBatch) {
  FakeRecommender fake;
  MicroBatcher batcher(fake, {/*max_batch=*/4, /*max_wait_ms=*/200});
  Query boom = query_of(3);
  boom.history.push_back("boom");
  auto f1 = batcher.submit(query_of(1));
  auto f2 = batcher.submit(boom);
  try {
    f1.get();
    FAIL() << "expected BatchFailed";
  } catch (const BatchFailed& e) {
    EXPECT_NE(std::string(e.what()).find("fake model exploded"), std::string::npos) << e.what();
  }
  EXPECT_THROW(f2.get(), BatchFailed);
  // The worker goes on.
  expect_same(batcher.submit(query_of(5)).get(), fake.answer(query_of(5)));
}

class WrongCount : public FakeRecommender {
 public:
  std::vector<Answer> recommend(const std::vector<Query>& q) override {
    auto a = FakeRecommender::recommend(q);
    a.pop_back();
    return a;
  }
};

TEST(MicroBatcher, AMissingAnswerFailsTheBatch) {
  WrongCount fake;
  MicroBatcher batcher(fake, {/*max_batch=*/4, /*max_wait_ms=*/0});
  try {
    batcher.submit(query_of(1)).get();
    FAIL() << "expected BatchFailed";
  } catch (const BatchFailed& e) {
    EXPECT_NE(std::string(e.what()).find("returned 0 answers for 1 queries"), std::string::npos)
        << e.what();
  }
}

TEST(MicroBatcher, StopAnswersTheQueueThenRefuses) {
  FakeRecommender fake;
  fake.sleep_ms = 50;
  MicroBatcher batcher(fake, {/*max_batch=*/1, /*max_wait_ms=*/0});
  std::vector<std::future<Answer>> futures;
  for (int i = 0; i < 4; ++i) futures.push_back(batcher.submit(query_of(i)));
  batcher.stop();  // returns after all four were answered
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::ready);
    EXPECT_EQ(f.get().items.size(), 5u);
  }
  EXPECT_EQ(fake.batch_sizes().size(), 4u);
  EXPECT_THROW(batcher.submit(query_of(9)), ShuttingDown);
  batcher.stop();  // idempotent
}

}  // namespace
}  // namespace grec::serve
