#include "common/kube/watch_decoder.h"

#include <gtest/gtest.h>

#include <random>

namespace kfaas::kube {
namespace {

std::string Event(const std::string& type, const std::string& name, const std::string& rv) {
  Json j = {{"type", type},
            {"object",
             {{"kind", "Pod"},
              {"metadata", {{"name", name}, {"resourceVersion", rv}}},
              {"data", {{"text", "brace } in \"string\" { and \\ backslash"}}}}}};
  return j.dump() + "\n";
}

TEST(WatchDecoder, OneEventPerChunk) {
  WatchDecoder d;
  std::vector<WatchEvent> out;
  ASSERT_TRUE(d.Feed(Event("ADDED", "a", "1"), &out).ok());
  ASSERT_TRUE(d.Feed(Event("MODIFIED", "a", "2"), &out).ok());
  ASSERT_TRUE(d.Feed(Event("DELETED", "a", "3"), &out).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].type, WatchEvent::Type::kAdded);
  EXPECT_EQ(out[1].type, WatchEvent::Type::kModified);
  EXPECT_EQ(out[2].type, WatchEvent::Type::kDeleted);
  EXPECT_EQ(out[2].object["metadata"]["resourceVersion"], "3");
  EXPECT_EQ(out[0].object["data"]["text"], "brace } in \"string\" { and \\ backslash");
  EXPECT_TRUE(d.Finish().ok());
}

TEST(WatchDecoder, SeveralEventsInOneChunkAndNoTrailingNewline) {
  WatchDecoder d;
  std::vector<WatchEvent> out;
  std::string all =
      Event("ADDED", "a", "1") + Event("ADDED", "b", "2") +
      R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"9"}}})";
  ASSERT_TRUE(d.Feed(all, &out).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].type, WatchEvent::Type::kBookmark);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(WatchDecoder, EventsSplitAtEveryByte) {
  std::string all;
  for (int i = 0; i < 20; ++i) all += Event(i % 2 ? "MODIFIED" : "ADDED", "n", std::to_string(i));
  WatchDecoder d;
  std::vector<WatchEvent> out;
  for (char c : all) ASSERT_TRUE(d.Feed(std::string_view(&c, 1), &out).ok());
  ASSERT_EQ(out.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(out[i].object["metadata"]["resourceVersion"], std::to_string(i));
  }
  EXPECT_TRUE(d.Finish().ok());
}

TEST(WatchDecoder, RandomChunking) {
  std::string all;
  for (int i = 0; i < 200; ++i) all += Event("ADDED", "obj" + std::to_string(i), std::to_string(i));
  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {
    WatchDecoder d;
    std::vector<WatchEvent> out;
    size_t pos = 0;
    while (pos < all.size()) {
      size_t n = std::uniform_int_distribution<size_t>(1, 700)(rng);
      ASSERT_TRUE(d.Feed(std::string_view(all).substr(pos, n), &out).ok());
      pos += n;
    }
    ASSERT_EQ(out.size(), 200u);
    EXPECT_EQ(out[199].object["metadata"]["name"], "obj199");
  }
}

TEST(WatchDecoder, ErrorEventCarriesStatus) {
  WatchDecoder d;
  std::vector<WatchEvent> out;
  ASSERT_TRUE(d.Feed(R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired",)"
                     R"x("message":"too old resource version: 5 (10)"}})x"
                     "\n",
                     &out)
                  .ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, WatchEvent::Type::kError);
  EXPECT_EQ(out[0].object["code"], 410);
}

TEST(WatchDecoder, MalformedLineEndsTheStreamAfterEarlierEvents) {
  WatchDecoder d;
  std::vector<WatchEvent> out;
  auto s = d.Feed(Event("ADDED", "a", "1") + "not json at all\n" + Event("ADDED", "b", "2"), &out);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("not json at all"), std::string::npos) << s;
  ASSERT_EQ(out.size(), 1u);  // the good event before the bad line is delivered
  EXPECT_FALSE(d.Feed(Event("ADDED", "c", "3"), &out).ok());  // stays failed
}

TEST(WatchDecoder, RejectsUnknownTypeBadJsonAndMissingObject) {
  for (std::string bad : {std::string(R"({"type":"SOMETHING","object":{}})"),
                          std::string(R"({"type":"ADDED","object":{"a":tru}})"),
                          std::string(R"({"type":"ADDED"})"), std::string(R"({"object":{}})")}) {
    WatchDecoder d;
    std::vector<WatchEvent> out;
    auto s = d.Feed(bad + "\n", &out);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_TRUE(out.empty());
  }
}

TEST(WatchDecoder, TruncatedEventIsAnErrorAtFinish) {
  WatchDecoder d;
  std::vector<WatchEvent> out;
  std::string e = Event("ADDED", "a", "1");
  ASSERT_TRUE(d.Feed(e.substr(0, e.size() / 2), &out).ok());
  EXPECT_GT(d.buffered(), 0u);
  auto s = d.Finish();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("ended inside an event"), std::string::npos);
}

TEST(WatchDecoder, RefusesHugeDocuments) {
  WatchDecoder d(1024);
  std::vector<WatchEvent> out;
  std::string big = R"({"type":"ADDED","object":{"x":")" + std::string(4096, 'a');
  EXPECT_FALSE(d.Feed(big, &out).ok());
}

}  // namespace
}  // namespace kfaas::kube
