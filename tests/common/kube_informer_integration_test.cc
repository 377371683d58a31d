// The informer through real HTTP (RestClient) against FakeApiServer, under faults.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "common/kube/informer.h"
#include "common/kube/rest_client.h"
#include "tests/common/kube_test_server.h"
#include "tests/common/kube_test_util.h"

namespace kfaas::kube {
namespace {

using testing::FakeApiServer;
using testing::WaitFor;

const Resource& kCM = resources::kConfigMaps;
const char kColl[] = "/api/v1/namespaces/ns1/configmaps";

std::shared_ptr<RestClient> NewClient(const std::string& url) {
  RestConfig c;
  c.host = url;
  c.qps = 0;
  auto client = RestClient::New(c);
  EXPECT_TRUE(client.ok()) << client.status();
  return *client;
}

// Tracks the last state each handler call reported, per key.
struct StateTracker {
  std::mutex mu;
  std::map<std::string, std::string> rv;  // key -> resourceVersion
  std::map<std::string, std::string> data;
  int64_t calls = 0;
  EventHandlers Handlers() {
    EventHandlers h;
    h.on_add = [this](const ObjectPtr& o) { Set(*o); };
    h.on_update = [this](const ObjectPtr&, const ObjectPtr& o) { Set(*o); };
    h.on_delete = [this](const ObjectPtr& o) {
      std::lock_guard<std::mutex> l(mu);
      rv.erase(ObjectKey(*o));
      data.erase(ObjectKey(*o));
      ++calls;
    };
    return h;
  }
  void Set(const Json& o) {
    std::lock_guard<std::mutex> l(mu);
    rv[ObjectKey(o)] = o["metadata"]["resourceVersion"];
    data[ObjectKey(o)] = o["data"].dump();
    ++calls;
  }
};

std::map<std::string, std::string> ServerState(FakeApiServer& server) {
  std::map<std::string, std::string> out;
  for (const auto& o : server.Objects("configmaps"))
    out[ObjectKey(o)] = o["metadata"]["resourceVersion"];
  return out;
}

std::map<std::string, std::string> CacheState(const Informer& inf) {
  std::map<std::string, std::string> out;
  for (const auto& o : inf.List()) out[ObjectKey(*o)] = (*o)["metadata"]["resourceVersion"];
  return out;
}

TEST(InformerIntegration, ConvergesUnderChurnWatchDropsAndCompaction) {
  FakeApiServer server;
  server.SetBookmarkInterval(std::chrono::milliseconds(200));
  for (int i = 0; i < 50; ++i) {
    server.Create(kColl,
                  {{"metadata", {{"name", "cm" + std::to_string(i)}}}, {"data", {{"v", "0"}}}});
  }
  InformerOptions opts;
  opts.page_size = 7;  // several pages
  Informer inf(NewClient(server.url()), kCM, opts);
  StateTracker tracker;
  inf.AddEventHandlers(tracker.Handlers());
  inf.Start();
  ASSERT_TRUE(inf.WaitForSync(std::chrono::seconds(20)));

  std::atomic<bool> stop{false};
  std::atomic<int64_t> writes{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 rng(1234 + w);
      while (!stop) {
        std::string name = "cm" + std::to_string(std::uniform_int_distribution<int>(0, 79)(rng));
        int op = std::uniform_int_distribution<int>(0, 9)(rng);
        if (op < 6) {
          Json obj = {{"metadata", {{"name", name}}}, {"data", {{"v", std::to_string(rng())}}}};
          if (server.Update(kColl, obj).is_null()) server.Create(kColl, obj);
        } else if (op < 8) {
          server.Delete(kColl, name);
        } else {
          server.Create(kColl, {{"metadata", {{"name", name}}}, {"data", {{"v", "new"}}}});
        }
        ++writes;
        std::this_thread::sleep_for(std::chrono::microseconds(300));
      }
    });
  }
  std::thread chaos([&] {
    std::mt19937 rng(99);
    while (!stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      switch (rng() % 3) {
        case 0:
          server.DropWatches();
          break;
        case 1:
          server.Compact();
          break;
        default:
          server.Compact();
          server.DropWatches();
          break;
      }
    }
  });
  // Churn for at least 4 s, and on until the informer has been through a 410 and a relist at
  // least once (on a loaded machine the first seconds may not produce one).
  std::this_thread::sleep_for(std::chrono::seconds(4));
  bool relisted = WaitFor(
      [&] {
        auto s = inf.stats();
        return writes.load() > 1000 && s.expired >= 1 && s.lists >= 2;
      },
      std::chrono::seconds(60));
  stop = true;
  for (auto& t : writers) t.join();
  chaos.join();
  EXPECT_TRUE(relisted) << "no 410 and relist within 64 s of churn";

  auto want = ServerState(server);
  ASSERT_TRUE(WaitFor([&] { return CacheState(inf) == want; }, std::chrono::seconds(30)))
      << "cache has " << CacheState(inf).size() << " objects, server " << want.size();
  // The handlers saw every object's final state, and nothing that is gone.
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> l(tracker.mu);
    return tracker.rv == want;
  }));
  for (const auto& o : server.Objects("configmaps")) {
    std::lock_guard<std::mutex> l(tracker.mu);
    EXPECT_EQ(tracker.data[ObjectKey(o)], o["data"].dump());
  }
  auto stats = inf.stats();
  EXPECT_GT(writes.load(), 1000);
  EXPECT_GE(stats.expired, 1);
  EXPECT_GE(stats.lists, 2);
  EXPECT_GE(stats.watches, 3);
  std::cerr << "writes " << writes << " lists " << stats.lists << " watches " << stats.watches
            << " expired " << stats.expired << " events " << stats.events << "\n";
}

TEST(InformerIntegration, ExpiredContinueTokenRestartsTheList) {
  FakeApiServer server;
  for (int i = 0; i < 20; ++i) {
    server.Create(kColl,
                  {{"metadata", {{"name", "cm" + std::to_string(i)}}}, {"data", Json::object()}});
  }
  // A client whose second list page comes back 410 (the snapshot was compacted meanwhile).
  struct CompactingClient : Client {
    std::shared_ptr<Client> inner;
    FakeApiServer* server;
    int pages = 0;
    absl::StatusOr<Json> Get(const Resource& r, std::string_view ns, std::string_view name,
                             std::string_view sub) override {
      return inner->Get(r, ns, name, sub);
    }
    absl::StatusOr<Json> List(const Resource& r, std::string_view ns,
                              const ListOptions& o) override {
      if (++pages == 2) {  // a write and a compaction between the first and second page
        server->Create(kColl, {{"metadata", {{"name", "late"}}}, {"data", Json::object()}});
        server->Compact();
      }
      return inner->List(r, ns, o);
    }
    absl::StatusOr<Json> Create(const Resource& r, std::string_view ns, const Json& obj,
                                const WriteOptions& o) override {
      return inner->Create(r, ns, obj, o);
    }
    absl::StatusOr<Json> Update(const Resource& r, std::string_view ns, const Json& obj,
                                std::string_view sub, const WriteOptions& o) override {
      return inner->Update(r, ns, obj, sub, o);
    }
    absl::StatusOr<Json> Patch(const Resource& r, std::string_view ns, std::string_view name,
                               PatchType t, const Json& p, std::string_view sub,
                               const PatchOptions& o) override {
      return inner->Patch(r, ns, name, t, p, sub, o);
    }
    absl::StatusOr<Json> Delete(const Resource& r, std::string_view ns, std::string_view name,
                                const DeleteOptions& o) override {
      return inner->Delete(r, ns, name, o);
    }
    absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const Resource& r, std::string_view ns,
                                                       const WatchOptions& o) override {
      return inner->Watch(r, ns, o);
    }
  };
  auto client = std::make_shared<CompactingClient>();
  client->inner = NewClient(server.url());
  client->server = &server;
  InformerOptions opts;
  opts.page_size = 5;
  Informer inf(client, kCM, opts);
  inf.Start();
  ASSERT_TRUE(inf.WaitForSync(std::chrono::seconds(20)));
  EXPECT_EQ(inf.List().size(), 21u);
  EXPECT_EQ(inf.stats().lists, 1);
  EXPECT_GT(client->pages, 5);  // pages of the abandoned list plus the complete one
}

TEST(InformerIntegration, SurvivesServerErrorsWithBackoff) {
  FakeApiServer server;
  server.Create(kColl, {{"metadata", {{"name", "a"}}}, {"data", Json::object()}});
  RestConfig c;
  c.host = server.url();
  c.max_retries = 0;  // let the informer's own backoff handle it
  auto client = *RestClient::New(c);
  server.FailNext(2, 500, "GET");
  Informer inf(client, kCM);
  auto start = std::chrono::steady_clock::now();
  inf.Start();
  ASSERT_TRUE(inf.WaitForSync(std::chrono::seconds(20)));
  // Two failed lists: at least 0.8 s + 1.6 s of backoff.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2400));
  EXPECT_EQ(inf.List().size(), 1u);
}

}  // namespace
}  // namespace kfaas::kube
