#include <gtest/gtest.h>

#include <thread>

#include "common/base/clock.h"
#include "common/base/time_format.h"
#include "common/base/yaml_json.h"

namespace kfaas {
namespace {

TEST(YamlJson, ResolvesScalarsLikeYaml12Core) {
  auto j = YamlToJson(R"(
a: 1
b: "1"
c: true
d: 'true'
e: ~
f: 1.5
g: hello
h: [x, 2]
i: {k: v}
j: 0x10
)");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["a"], 1);
  EXPECT_EQ((*j)["b"], "1");
  EXPECT_EQ((*j)["c"], true);
  EXPECT_EQ((*j)["d"], "true");
  EXPECT_TRUE((*j)["e"].is_null());
  EXPECT_DOUBLE_EQ((*j)["f"].get<double>(), 1.5);
  EXPECT_EQ((*j)["g"], "hello");
  EXPECT_EQ((*j)["h"], Json::parse(R"(["x",2])"));
  EXPECT_EQ((*j)["i"]["k"], "v");
  EXPECT_EQ((*j)["j"], 16);
}

TEST(YamlJson, ReportsLineOfSyntaxError) {
  auto j = YamlToJson("a: [1, 2\nb: c\n");
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("line"), std::string::npos) << j.status();
}

TEST(YamlJson, MultipleDocumentsSkipEmpty) {
  auto docs = YamlDocumentsToJson("a: 1\n---\n---\nb: 2\n");
  ASSERT_TRUE(docs.ok());
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[1]["b"], 2);
}

TEST(YamlJson, RoundTripKeepsStringsThatLookLikeNumbers) {
  Json v = {
      {"s", "1"}, {"n", 1}, {"t", "true"}, {"list", {"a", "b"}}, {"nested", {{"x", nullptr}}}};
  auto back = YamlToJson(JsonToYaml(v));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, v);
}

TEST(TimeFormat, Rfc3339RoundTrip) {
  auto t = ParseRfc3339("2026-11-29T11:28:54Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(FormatRfc3339(*t), "2026-11-29T11:28:54Z");
  auto m = ParseRfc3339("2026-11-29T11:28:54.123456Z");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(FormatRfc3339Micro(*m), "2026-11-29T11:28:54.123456Z");
  auto off = ParseRfc3339("2026-11-29T12:28:54+01:00");
  ASSERT_TRUE(off.has_value());
  EXPECT_EQ(FormatRfc3339(*off), "2026-11-29T11:28:54Z");
  EXPECT_FALSE(ParseRfc3339("yesterday").has_value());
}

TEST(TimeFormat, HumanDurationMatchesKubectl) {
  using std::chrono::seconds;
  EXPECT_EQ(HumanDuration(seconds(5)), "5s");
  EXPECT_EQ(HumanDuration(seconds(119)), "119s");
  EXPECT_EQ(HumanDuration(seconds(150)), "2m30s");
  EXPECT_EQ(HumanDuration(seconds(300)), "5m");
  EXPECT_EQ(HumanDuration(seconds(3600)), "60m");
  EXPECT_EQ(HumanDuration(seconds(4 * 3600 + 120)), "4h2m");
  EXPECT_EQ(HumanDuration(seconds(20 * 3600)), "20h");
  EXPECT_EQ(HumanDuration(seconds(3 * 86400)), "3d");
}

TEST(FakeClock, AdvanceWakesWaiter) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  SteadyTime deadline = clock.Now() + std::chrono::seconds(10);
  std::atomic<bool> done{false};
  std::thread t([&] {
    std::unique_lock<std::mutex> l(mu);
    while (clock.Now() < deadline) clock.WaitUntil(cv, l, deadline);
    done = true;
  });
  clock.Advance(std::chrono::seconds(5));
  EXPECT_FALSE(done.load());
  clock.Advance(std::chrono::seconds(5));
  t.join();
  EXPECT_TRUE(done.load());
}

}  // namespace
}  // namespace kfaas
