// Informer logic against the in-memory FakeClient.
#include "common/kube/informer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>

#include "tests/common/kube_test_util.h"
#include "tests/testutil/fake_client.h"

namespace kfaas::kube {
namespace {

using ::testing::UnorderedElementsAre;
using testing::WaitFor;

const Resource& kCM = resources::kConfigMaps;

Json ConfigMap(const std::string& ns, const std::string& name, Json labels = Json::object(),
               const std::string& owner_uid = "") {
  Json j = {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
            {"data", {{"k", "v"}}}};
  if (!owner_uid.empty()) {
    j["metadata"]["ownerReferences"] = Json::array({{{"apiVersion", "kfaas.dev/v1alpha1"},
                                                     {"kind", "Function"},
                                                     {"name", "f"},
                                                     {"uid", owner_uid}}});
  }
  return j;
}

std::vector<std::string> Names(const std::vector<ObjectPtr>& objs) {
  std::vector<std::string> out;
  for (const auto& o : objs) out.push_back((*o)["metadata"]["name"]);
  return out;
}

// Records handler calls as "add a", "update a", "delete a".
struct Recorder {
  std::mutex mu;
  std::vector<std::string> calls;
  EventHandlers Handlers() {
    EventHandlers h;
    h.on_add = [this](const ObjectPtr& o) { Add("add " + ObjectKey(*o)); };
    h.on_update = [this](const ObjectPtr& old_obj, const ObjectPtr& o) {
      Add(std::string(old_obj == o ? "resync " : "update ") + ObjectKey(*o));
    };
    h.on_delete = [this](const ObjectPtr& o) { Add("delete " + ObjectKey(*o)); };
    return h;
  }
  void Add(std::string s) {
    std::lock_guard<std::mutex> l(mu);
    calls.push_back(std::move(s));
  }
  std::vector<std::string> Calls() {
    std::lock_guard<std::mutex> l(mu);
    return calls;
  }
  size_t Count() {
    std::lock_guard<std::mutex> l(mu);
    return calls.size();
  }
};

TEST(Informer, SyncsAndServesCacheAndIndexes) {
  auto client = std::make_shared<kfaas::testing::FakeClient>();
  client->Seed(kCM, ConfigMap("a", "one", {{"app", "x"}}, "uid-1"));
  client->Seed(kCM, ConfigMap("a", "two", {{"app", "y"}}, "uid-1"));
  client->Seed(kCM, ConfigMap("b", "three", {{"app", "x"}}));
  Informer inf(client, kCM);
  Recorder rec;
  inf.AddEventHandlers(rec.Handlers());
  inf.AddIndex("app", [](const Json& o) -> std::vector<std::string> {
    if (!o["metadata"].contains("labels") || !o["metadata"]["labels"].contains("app")) return {};
    return {o["metadata"]["labels"]["app"].get<std::string>()};
  });
  EXPECT_FALSE(inf.HasSynced());
  inf.Start();
  ASSERT_TRUE(inf.WaitForSync(std::chrono::seconds(10)));
  // Add events for the initial list are delivered before HasSynced() turns true.
  EXPECT_EQ(rec.Count(), 3u);
  EXPECT_THAT(Names(inf.List()), UnorderedElementsAre("one", "two", "three"));
  EXPECT_THAT(Names(inf.List("a")), UnorderedElementsAre("one", "two"));
  ASSERT_NE(inf.Get("b", "three"), nullptr);
  EXPECT_EQ((*inf.Get("b", "three"))["kind"], "ConfigMap");
  EXPECT_EQ(inf.Get("b", "nope"), nullptr);
  EXPECT_EQ(inf.GetByKey("a/one"), inf.Get("a", "one"));
  EXPECT_THAT(Names(inf.ByIndex(kIndexOwnerUid, "uid-1")), UnorderedElementsAre("one", "two"));
  EXPECT_THAT(Names(inf.ByIndex(kIndexNamespace, "b")), UnorderedElementsAre("three"));
  EXPECT_THAT(Names(inf.ByIndex("app", "x")), UnorderedElementsAre("one", "three"));
  EXPECT_THAT(Names(inf.ListBySelector("", "app=x")), UnorderedElementsAre("one", "three"));
  EXPECT_THAT(Names(inf.ListBySelector("a", "app in (x,y)")), UnorderedElementsAre("one", "two"));
  EXPECT_THAT(Names(inf.ListBySelector("", "app!=x")), UnorderedElementsAre("two"));
  EXPECT_TRUE(inf.ListBySelector("", "bad selector ===").empty());
  EXPECT_FALSE(inf.LastResourceVersion().empty());
  EXPECT_EQ(inf.stats().lists, 1);
}

TEST(Informer, DeliversWatchEventsInOrderAndUpdatesIndexes) {
  auto client = std::make_shared<kfaas::testing::FakeClient>();
  Informer inf(client, kCM);
  Recorder rec;
  inf.AddEventHandlers(rec.Handlers());
  inf.Start();
  ASSERT_TRUE(inf.WaitForSync(std::chrono::seconds(10)));
  ASSERT_TRUE(client->Create(kCM, "a", ConfigMap("a", "x", {{"app", "1"}}, "uid-9")).ok());
  ASSERT_TRUE(
      client
          ->Patch(kCM, "a", "x", PatchType::kMerge, {{"metadata", {{"ownerReferences", nullptr}}}})
          .ok());
  ASSERT_TRUE(client->Delete(kCM, "a", "x").ok());
  ASSERT_TRUE(WaitFor([&] { return rec.Count() == 3; }));
  EXPECT_EQ(rec.Calls(), (std::vector<std::string>{"add a/x", "update a/x", "delete a/x"}));
  EXPECT_EQ(inf.Get("a", "x"), nullptr);
  EXPECT_TRUE(inf.ByIndex(kIndexOwnerUid, "uid-9").empty());
  EXPECT_TRUE(inf.List("a").empty());
}

TEST(Informer, IndexFollowsUpdates) {
  auto client = std::make_shared<kfaas::testing::FakeClient>();
  Informer inf(client, kCM);
  inf.Start();
  ASSERT_TRUE(inf.WaitForSync(std::chrono::seconds(10)));
  ASSERT_TRUE(client->Create(kCM, "a", ConfigMap("a", "x", {}, "uid-1")).ok());
  ASSERT_TRUE(WaitFor([&] { return inf.ByIndex(kIndexOwnerUid, "uid-1").size() == 1; }));
  auto obj = *client->Get(kCM, "a", "x");
  obj["metadata"]["ownerReferences"][0]["uid"] = "uid-2";
  ASSERT_TRUE(client->Update(kCM, "a", obj).ok());
  ASSERT_TRUE(WaitFor([&] { return inf.ByIndex(kIndexOwnerUid, "uid-2").size() == 1; }));
  EXPECT_TRUE(inf.ByIndex(kIndexOwnerUid, "uid-1").empty());
}

TEST(Informer, RelistAfterExpiryDeliversTheDifference) {
  auto client = std::make_shared<kfaas::testing::FakeClient>();
  client->Seed(kCM, ConfigMap("a", "stays"));
  client->Seed(kCM, ConfigMap("a", "changes"));
  client->Seed(kCM, ConfigMap("a", "goes"));
  Informer inf(client, kCM);
  Recorder rec;
  inf.AddEventHandlers(rec.Handlers());
  inf.Start();
  ASSERT_TRUE(inf.WaitForSync(std::chrono::seconds(10)));
  ASSERT_TRUE(WaitFor([&] { return rec.Count() == 3; }));

  // While the watch is down: changes the informer cannot see as events, then history is lost.
  client->FailNext("watch", "", absl::UnavailableError("down"), 1);
  client->DropWatches();
  ASSERT_TRUE(
      client->Patch(kCM, "a", "changes", PatchType::kMerge, {{"data", {{"k", "new"}}}}).ok());
  ASSERT_TRUE(client->Delete(kCM, "a", "goes").ok());
  ASSERT_TRUE(client->Create(kCM, "a", ConfigMap("a", "new")).ok());
  client->Compact();

  ASSERT_TRUE(WaitFor([&] { return rec.Count() == 6; }, std::chrono::seconds(20)));
  auto calls = rec.Calls();
  std::vector<std::string> tail(calls.begin() + 3, calls.end());
  EXPECT_THAT(tail, UnorderedElementsAre("update a/changes", "delete a/goes", "add a/new"));
  EXPECT_EQ((*inf.Get("a", "changes"))["data"]["k"], "new");
  EXPECT_EQ(inf.Get("a", "goes"), nullptr);
  EXPECT_GE(inf.stats().lists, 2);
  EXPECT_GE(inf.stats().expired, 1);
}

TEST(Informer, ResyncCallsUpdateWithTheSameObject) {
  FakeClock clock;
  auto client = std::make_shared<kfaas::testing::FakeClient>(clock);
  client->Seed(kCM, ConfigMap("a", "x"));
  InformerOptions opts;
  opts.resync_period = std::chrono::minutes(1);
  opts.clock = &clock;
  Informer inf(client, kCM, opts);
  Recorder rec;
  inf.AddEventHandlers(rec.Handlers());
  inf.Start();
  ASSERT_TRUE(WaitFor([&] { return inf.HasSynced(); }));
  ASSERT_TRUE(WaitFor([&] { return rec.Count() == 1; }));
  clock.Advance(std::chrono::seconds(30));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(rec.Count(), 1u);
  clock.Advance(std::chrono::seconds(31));
  ASSERT_TRUE(WaitFor([&] { return rec.Count() == 2; }));
  EXPECT_EQ(rec.Calls()[1], "resync a/x");
}

TEST(Informer, ListFailuresBackOffOnTheClock) {
  FakeClock clock;
  auto client = std::make_shared<kfaas::testing::FakeClient>(clock);
  client->Seed(kCM, ConfigMap("a", "x"));
  client->FailNext("list", "", InternalApiError("etcd down"), 3);
  InformerOptions opts;
  opts.clock = &clock;
  Informer inf(client, kCM, opts);
  inf.Start();
  auto lists = [&] {
    int n = 0;
    for (const auto& a : client->Actions()) n += a.verb == "list";
    return n;
  };
  // Advance only once the reflector is parked in its backoff (and the dispatcher in its wait).
  auto parked = [&] { return clock.Waiters() >= 2; };
  ASSERT_TRUE(WaitFor([&] { return lists() == 1 && parked(); }));
  // 800 ms (+ up to 100% jitter) before the second attempt.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(lists(), 1);
  clock.Advance(std::chrono::milliseconds(1700));
  ASSERT_TRUE(WaitFor([&] { return lists() == 2 && parked(); }));
  // Then 1.6 s (+ jitter): 1.7 s is not always enough, 3.3 s is.
  clock.Advance(std::chrono::milliseconds(3300));
  ASSERT_TRUE(WaitFor([&] { return lists() == 3 && parked(); }));
  clock.Advance(std::chrono::milliseconds(6500));
  ASSERT_TRUE(WaitFor([&] { return inf.HasSynced(); }));
  EXPECT_EQ(lists(), 4);
}

TEST(Informer, StopIsPromptWhileWatching) {
  auto client = std::make_shared<kfaas::testing::FakeClient>();
  auto inf = std::make_unique<Informer>(client, kCM);
  inf->Start();
  ASSERT_TRUE(inf->WaitForSync(std::chrono::seconds(10)));
  auto start = std::chrono::steady_clock::now();
  inf.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

}  // namespace
}  // namespace kfaas::kube
