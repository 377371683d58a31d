// The kube client (RestClient, Informer, LeaderElector, EventRecorder) against kfaas-local's
// real API server (local/apiserver) over HTTPS on loopback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "common/kube/event_recorder.h"
#include "common/kube/informer.h"
#include "common/kube/leader_election.h"
#include "common/kube/rest_client.h"
#include "common/kube/retry.h"
#include "local/apiserver/api_server.h"
#include "tests/common/kube_test_util.h"
#include "tests/testutil/time_scale.h"

namespace kfaas::kube {
namespace {

using kfaas::testing::Scaled;
using ::testing::HasSubstr;
using testing::TempDir;
using testing::WaitFor;
using namespace std::chrono_literals;

const Resource& kCM = resources::kConfigMaps;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    local::ApiServer::Options o;
    o.home = dir_.path() + "/home";
    o.secure_port = 0;
    o.insecure_port = -1;
    o.threads = 2;
    o.bookmark_interval = 200ms;
    o.token_file = dir_.Write("tokens.csv", "exec-token-1,bob\nexec-token-2,bob\n");
    server_ = std::make_unique<local::ApiServer>(o);
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override { server_->Stop(); }

  std::shared_ptr<RestClient> Client(const std::function<void(RestConfig&)>& adjust = nullptr) {
    ConfigLoadOptions o;
    o.kubeconfig = server_->kubeconfig_path();
    auto c = RestClient::FromOptions(o, [&](RestConfig& rc) {
      rc.qps = 0;
      if (adjust) adjust(rc);
    });
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : nullptr;
  }

  static Json ConfigMap(const std::string& name, const std::string& value = "v") {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}}},
            {"data", {{"key", value}}}};
  }

  static Json Deployment(const std::string& name) {
    return Json::parse(R"({
      "apiVersion": "apps/v1", "kind": "Deployment",
      "metadata": {"name": ")" +
                       name + R"("},
      "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "x"}},
               "template": {"metadata": {"labels": {"app": "x"}},
                            "spec": {"containers": [{"name": "main", "image": "img:1"}]}}}})");
  }

  TempDir dir_;
  std::unique_ptr<local::ApiServer> server_;
};

TEST_F(ApiServerTest, KubeconfigClientSpeaksTheApi) {
  auto client = Client();
  ASSERT_NE(client, nullptr);
  auto version = client->GetPath("/version");
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ((*version)["minor"], "32");
  EXPECT_EQ(client->default_namespace(), "default");

  auto cm = client->Create(kCM, "", ConfigMap("a"));
  ASSERT_TRUE(cm.ok()) << cm.status();
  EXPECT_TRUE(absl::IsAlreadyExists(client->Create(kCM, "", ConfigMap("a")).status()));
  auto missing = client->Get(kCM, "default", "nope");
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_EQ(Msg(missing.status()), "configmaps \"nope\" not found");

  // A stale update is a Conflict; RetryOnConflict re-reads and wins.
  Json stale = *cm;
  ASSERT_TRUE(client->Patch(kCM, "", "a", PatchType::kMerge, {{"data", {{"o", "1"}}}}).ok());
  stale["data"]["key"] = "x";
  EXPECT_TRUE(IsConflict(client->Update(kCM, "", stale).status()));
  absl::Status s = RetryOnConflict([&]() -> absl::Status {
    auto cur = client->Get(kCM, "", "a");
    if (!cur.ok()) return cur.status();
    (*cur)["data"]["key"] = "x";
    return client->Update(kCM, "", *cur).status();
  });
  ASSERT_TRUE(s.ok()) << s;

  // Deployments: strategic merge (containers by name), scale and status subresources, apply.
  const Resource& dep = resources::kDeployments;
  ASSERT_TRUE(client->Create(dep, "", Deployment("web")).ok());
  auto smp = client->Patch(
      dep, "", "web", PatchType::kStrategicMerge,
      Json::parse(
          R"({"spec":{"template":{"spec":{"containers":[{"name":"main","image":"img:2"}]}}}})"));
  ASSERT_TRUE(smp.ok()) << smp.status();
  EXPECT_EQ((*smp)["spec"]["template"]["spec"]["containers"].size(), 1u);
  EXPECT_EQ((*smp)["spec"]["template"]["spec"]["containers"][0]["image"], "img:2");
  auto scale =
      client->Patch(dep, "", "web", PatchType::kMerge, {{"spec", {{"replicas", 3}}}}, "scale");
  ASSERT_TRUE(scale.ok()) << scale.status();
  EXPECT_EQ((*scale)["kind"], "Scale");
  auto got_scale = client->Get(dep, "", "web", "scale");
  ASSERT_TRUE(got_scale.ok()) << got_scale.status();
  EXPECT_EQ((*got_scale)["spec"]["replicas"], 3);
  PatchOptions po;
  po.field_manager = "kube-test";
  po.force = true;
  Json applied_cm = ConfigMap("applied");
  auto applied = client->Patch(kCM, "", "applied", PatchType::kApply, applied_cm, "", po);
  ASSERT_TRUE(applied.ok()) << applied.status();

  // Delete, then list.
  DeleteOptions del;
  del.propagation_policy = "Background";
  ASSERT_TRUE(client->Delete(kCM, "", "a", del).ok());
  auto list = client->List(kCM, "default");
  ASSERT_TRUE(list.ok()) << list.status();
  std::vector<std::string> names;
  for (const auto& i : (*list)["items"]) names.push_back(i["metadata"]["name"]);
  EXPECT_THAT(names, ::testing::Contains("applied"));
  EXPECT_THAT(names, ::testing::Not(::testing::Contains("a")));
}

TEST_F(ApiServerTest, WatchExpiresAfterCompaction) {
  auto client = Client();
  auto cm = client->Create(kCM, "", ConfigMap("a"));
  ASSERT_TRUE(cm.ok());
  std::string old_rv = (*cm)["metadata"]["resourceVersion"];
  ASSERT_TRUE(client->Patch(kCM, "", "a", PatchType::kMerge, {{"data", {{"x", "1"}}}}).ok());
  server_->CompactHistory();
  WatchOptions wo;
  wo.resource_version = old_rv;
  auto w = client->Watch(kCM, "default", wo);
  WatchEvent ev;
  if (w.ok()) {
    ASSERT_TRUE((*w)->Next(&ev));
    EXPECT_EQ(ev.type, WatchEvent::Type::kError);
    EXPECT_TRUE(IsGone(FromStatusJson(ev.object, 200)));
  } else {
    EXPECT_TRUE(IsGone(w.status())) << w.status();
  }
}

TEST_F(ApiServerTest, CredentialVariants) {
  // Client certificate.
  auto cert = server_->IssueClientCertificate("alice", {"devs"});
  ASSERT_TRUE(cert.ok()) << cert.status();
  std::string cert_kc = dir_.path() + "/cert-kubeconfig";
  ASSERT_TRUE(server_->WriteKubeconfig(cert_kc, &*cert).ok());
  ConfigLoadOptions o;
  o.kubeconfig = cert_kc;
  auto c = RestClient::FromOptions(o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE((*c)->config().client_cert_pem.empty());
  auto r = (*c)->List(kCM, "default");
  EXPECT_TRUE(r.ok()) << r.status();

  // Exec plugin; the token it prints rotates, and a 401 makes the client re-run it.
  dir_.Write("token-now", "exec-token-1");
  dir_.Write("bin/plugin",
             "#!/bin/sh\nprintf '{\"kind\":\"ExecCredential\",\"apiVersion\":"
             "\"client.authentication.k8s.io/v1beta1\",\"status\":{\"token\":\"%s\"}}' \"$(cat " +
                 dir_.path() + "/token-now)\"\n",
             0755);
  std::string cluster = "clusters: [{name: local, cluster: {server: \"" + server_->secure_url() +
                        "\", certificate-authority: " + server_->ca_cert_path() + "}}]\n";
  std::string exec_kc = dir_.Write(
      "exec-kubeconfig", "current-context: e\n" + cluster +
                             "contexts: [{name: e, context: {cluster: local, user: u}}]\n"
                             "users: [{name: u, user: {exec: {command: ./bin/plugin, apiVersion: "
                             "client.authentication.k8s.io/v1beta1}}}]\n");
  o.kubeconfig = exec_kc;
  c = RestClient::FromOptions(o);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Create(kCM, "", ConfigMap("by-exec")).ok());
  // Rotate: the cached token stays valid (both are accepted) until the server rejects it.
  dir_.Write("token-now", "exec-token-2");
  EXPECT_TRUE((*c)->Get(kCM, "", "by-exec").ok());

  // Several files in KUBECONFIG: the cluster in one, the user and context in another.
  std::string part1 = dir_.Write("p1", cluster);
  std::string part2 =
      dir_.Write("p2",
                 "current-context: m\ncontexts: [{name: m, context: {cluster: local, "
                 "user: u, namespace: kube-system}}]\nusers: [{name: u, user: "
                 "{token: exec-token-2}}]\n");
  ConfigLoadOptions multi;
  multi.getenv = [&](const std::string& n) -> std::optional<std::string> {
    if (n == "KUBECONFIG") return part2 + ":" + part1;
    return std::nullopt;
  };
  c = RestClient::FromOptions(multi);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->default_namespace(), "kube-system");
  EXPECT_TRUE((*c)->GetPath("/version").ok());

  // A bad token: a clear Unauthorized.
  auto bad = Client([](RestConfig& rc) { rc.bearer_token = "not-a-token"; });
  auto denied = bad->List(kCM, "default");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(HttpCode(denied.status()), 401);
  EXPECT_THAT(Msg(denied.status()), HasSubstr("rejected the credentials (token from kubeconfig"));

  // A malformed kubeconfig names the problem.
  std::string broken = dir_.Write("broken", "current-context: x\n" + cluster +
                                                "contexts: [{name: x, context: {cluster: local, "
                                                "user: u}}]\nusers: [{name: u, user: "
                                                "{client-certificate: nope.crt, client-key: "
                                                "nope.key}}]\n");
  o.kubeconfig = broken;
  c = RestClient::FromOptions(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(Msg(c.status()), "kubeconfig " + broken + ": users[0].user.client-certificate: open " +
                                 dir_.path() + "/nope.crt: No such file or directory");
}

TEST_F(ApiServerTest, ServerErrorsAreRetriedWhenSafe) {
  auto client = Client();
  ASSERT_TRUE(client->Create(kCM, "", ConfigMap("a")).ok());
  local::WriteFault f;
  f.count = 2;
  f.code = 500;
  f.resource = "configmaps";
  f.verb = "update";
  server_->faults().FailWrites(f);
  auto cur = *client->Get(kCM, "", "a");
  cur["data"]["key"] = "after-500s";
  auto updated = client->Update(kCM, "", cur);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(client->stats().retries, 2);

  f.count = 1;
  f.verb = "create";
  server_->faults().FailWrites(f);
  auto created = client->Create(kCM, "", ConfigMap("b"));
  EXPECT_EQ(HttpCode(created.status()), 500);  // a POST is not retried
  EXPECT_EQ(client->stats().retries, 2);

  f.count = 1;
  f.code = 409;
  f.verb = "update";
  server_->faults().FailWrites(f);
  int attempts = 0;
  absl::Status s = RetryOnConflict([&]() -> absl::Status {
    ++attempts;
    auto c = client->Get(kCM, "", "a");
    if (!c.ok()) return c.status();
    (*c)["data"]["key"] = "after-409";
    return client->Update(kCM, "", *c).status();
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(attempts, 2);
}

struct Tracker {
  std::mutex mu;
  std::map<std::string, std::string> rv;
  EventHandlers Handlers() {
    EventHandlers h;
    h.on_add = [this](const ObjectPtr& o) { Set(*o); };
    h.on_update = [this](const ObjectPtr&, const ObjectPtr& o) { Set(*o); };
    h.on_delete = [this](const ObjectPtr& o) {
      std::lock_guard<std::mutex> l(mu);
      rv.erase(ObjectKey(*o));
    };
    return h;
  }
  void Set(const Json& o) {
    std::lock_guard<std::mutex> l(mu);
    rv[ObjectKey(o)] = o["metadata"]["resourceVersion"];
  }
};

std::map<std::string, std::string> StateOf(Client& c) {
  std::map<std::string, std::string> out;
  auto list = c.List(kCM, "churn");
  if (!list.ok()) return out;
  for (const auto& o : (*list)["items"]) {
    out[ObjectKey(o)] = o["metadata"]["resourceVersion"];
  }
  return out;
}

TEST_F(ApiServerTest, InformerConvergesUnderChurnDropsAndCompaction) {
  auto local = server_->LocalClient("kube-test-writer");
  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "churn"}}}};
  ASSERT_TRUE(local->Create(resources::kNamespaces, "", ns).ok());
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(local->Create(kCM, "churn", ConfigMap("cm" + std::to_string(i))).ok());
  }
  InformerOptions io;
  io.ns = "churn";
  io.page_size = 9;
  Informer inf(Client(), kCM, io);
  Tracker tracker;
  inf.AddEventHandlers(tracker.Handlers());
  inf.Start();
  ASSERT_TRUE(inf.WaitForSync(20s));

  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 rng(7 + w);
      while (!stop) {
        std::string name = "cm" + std::to_string(rng() % 60);
        int op = rng() % 10;
        if (op < 6) {
          auto p = local->Patch(kCM, "churn", name, PatchType::kMerge,
                                {{"data", {{"v", std::to_string(rng())}}}});
          if (absl::IsNotFound(p.status())) {
            local->Create(kCM, "churn", ConfigMap(name)).status().IgnoreError();
          }
        } else if (op < 8) {
          local->Delete(kCM, "churn", name).status().IgnoreError();
        } else {
          local->Create(kCM, "churn", ConfigMap(name)).status().IgnoreError();
        }
        std::this_thread::sleep_for(500us);
      }
    });
  }
  std::thread chaos([&] {
    int i = 0;
    while (!stop) {
      std::this_thread::sleep_for(300ms);
      if (++i % 2) {
        server_->DropWatches();
        continue;
      }
      // Drop, and compact while the informer's re-watch is delayed: it resumes from a
      // version older than the retained history and must relist (410).
      local::LatencyFault lf;
      lf.delay = 150ms;
      lf.resource = "configmaps";
      lf.verb = "watch";
      server_->faults().SetLatency(lf);
      server_->DropWatches();
      std::this_thread::sleep_for(50ms);
      server_->CompactHistory();
      std::this_thread::sleep_for(150ms);
      server_->faults().SetLatency(local::LatencyFault{});
    }
  });
  // Long enough for several drop/compact rounds however slow the build (kTimeScale).
  std::this_thread::sleep_for(Scaled(4s));
  stop = true;
  for (auto& t : writers) t.join();
  chaos.join();

  auto want = StateOf(*local);
  auto cache = [&] {
    std::map<std::string, std::string> out;
    for (const auto& o : inf.List()) out[ObjectKey(*o)] = (*o)["metadata"]["resourceVersion"];
    return out;
  };
  ASSERT_TRUE(WaitFor([&] { return cache() == want; }, 30s))
      << "cache " << cache().size() << " server " << want.size();
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> l(tracker.mu);
    return tracker.rv == want;
  }));
  EXPECT_GE(inf.stats().watches, 3);
  EXPECT_GE(inf.stats().lists, 2);
  EXPECT_GE(inf.stats().expired, 1);
}

TEST_F(ApiServerTest, InformerOnTheInProcessClient) {
  auto local = server_->LocalClient("kube-test");
  ASSERT_TRUE(local->Create(kCM, "default", ConfigMap("a")).ok());
  Informer inf(local, kCM);
  inf.Start();
  ASSERT_TRUE(inf.WaitForSync(10s));
  ASSERT_NE(inf.Get("default", "a"), nullptr);
  ASSERT_TRUE(local->Create(kCM, "default", ConfigMap("b")).ok());
  ASSERT_TRUE(WaitFor([&] { return inf.Get("default", "b") != nullptr; }));
}

TEST_F(ApiServerTest, LeaderElectionHandsOver) {
  auto config = [](const std::string& id) {
    LeaderElectionConfig c;
    c.lease_namespace = "default";
    c.lease_name = "kube-test";
    c.identity = id;
    c.lease_duration = Scaled(2s);
    c.renew_deadline = Scaled(1500ms);
    c.retry_period = Scaled(300ms);
    return c;
  };
  auto ca = config("a");
  ca.release_on_stop = false;
  LeaderElector a(Client(), ca);
  LeaderElector b(Client(), config("b"));
  a.Start();
  ASSERT_TRUE(WaitFor([&] { return a.IsLeader(); }));
  b.Start();
  ASSERT_TRUE(WaitFor([&] { return b.CurrentLeader() == "a"; }));
  std::this_thread::sleep_for(Scaled(2500ms));
  EXPECT_TRUE(a.IsLeader());
  EXPECT_FALSE(b.IsLeader());
  auto killed = std::chrono::steady_clock::now();
  a.Stop();  // no release: as if the process died
  ASSERT_TRUE(WaitFor([&] { return b.IsLeader(); }, Scaled(10s)));
  EXPECT_LT(std::chrono::steady_clock::now() - killed, Scaled(2s + 300ms * 2.2 + 500ms));
  auto lease = server_->LocalClient("t")->Get(resources::kLeases, "default", "kube-test");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);

  LeaderElector c(Client(), config("c"));
  c.Start();
  ASSERT_TRUE(WaitFor([&] { return c.CurrentLeader() == "b"; }));
  auto stopped = std::chrono::steady_clock::now();
  b.Stop();  // graceful: releases
  ASSERT_TRUE(WaitFor([&] { return c.IsLeader(); }, Scaled(10s)));
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, Scaled(300ms * 2.2 + 400ms));
}

TEST_F(ApiServerTest, EventsAreWrittenAndAggregated) {
  auto client = Client();
  {
    EventRecorder rec(client, "kube-test");
    Json obj = {{"apiVersion", "v1"},
                {"kind", "ConfigMap"},
                {"metadata", {{"name", "x"}, {"namespace", "default"}, {"uid", "u"}}}};
    rec.Record(obj, "Warning", "Broken", "it broke");
    rec.Record(obj, "Warning", "Broken", "it broke");
    rec.Flush();
  }
  auto list = client->List(resources::kEvents, "default");
  ASSERT_TRUE(list.ok()) << list.status();
  int found = 0;
  for (const auto& e : (*list)["items"]) {
    if (e["reason"] == "Broken") {
      ++found;
      EXPECT_EQ(e["count"], 2);
    }
  }
  EXPECT_EQ(found, 1);
}

}  // namespace
}  // namespace kfaas::kube
