// The node agent with real processes (hello-function, /bin/sh) against the FakeClient.
#include "local/node/node_agent.h"

#include <algorithm>
#include <set>

#include "local/node/process.h"

#include <gtest/gtest.h>
#include <mutex>
#include <optional>

#include <thread>

#include "tests/local/node_test_util.h"
#include "tests/testutil/fake_client.h"

namespace kfaas::node {
namespace {

using kfaas::testing::FakeClient;
using kfaas::testing::WaitFor;
using kube::resources::kPods;
using namespace kfaas::node::testing;
using namespace std::chrono_literals;

// Forwards a FakeClient pod watch to the agent (what a pod informer does in kfaas-local).
class PodFeed {
 public:
  PodFeed(std::shared_ptr<FakeClient> client, NodeAgent* agent) {
    auto w = client->Watch(kPods, "");
    EXPECT_TRUE(w.ok());
    watch_ = std::move(*w);
    thread_ = std::thread([this, agent] {
      kube::WatchEvent ev;
      while (watch_->Next(&ev)) {
        auto obj = std::make_shared<const Json>(ev.object);
        if (ev.type == kube::WatchEvent::Type::kDeleted) {
          agent->OnPodDelete(obj);
        } else if (ev.type != kube::WatchEvent::Type::kBookmark) {
          agent->OnPodUpsert(obj);
        }
      }
    });
  }
  ~PodFeed() {
    watch_->Stop();
    thread_.join();
  }

 private:
  std::unique_ptr<kube::WatchStream> watch_;
  std::thread thread_;
};

Json Pod(const std::string& name, Json container, Json spec_extra = Json::object()) {
  if (!container.contains("name")) container["name"] = "fn";
  if (!container.contains("image")) container["image"] = "example.com/fn:1";
  Json spec = {{"containers", Json::array({container})}};
  spec.update(spec_extra);
  return {{"metadata", {{"name", name}, {"namespace", "default"}}}, {"spec", spec}};
}

class NodeAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = std::make_shared<FakeClient>();
    opts_.logs_dir = tmp_.path() + "/logs";
    opts_.backoff_initial = 200ms;
    opts_.backoff_max = 400ms;
    opts_.shutdown_grace = 2s;
  }
  void StartAgent() {
    agent_ = std::make_unique<NodeAgent>(client_, opts_);
    ASSERT_TRUE(agent_->Start().ok());
    feed_ = std::make_unique<PodFeed>(client_, agent_.get());
  }
  void TearDown() override {
    feed_.reset();
    if (agent_) agent_->Stop();
    for (pid_t pid : pids_) EXPECT_FALSE(ProcessAlive(pid)) << "pid " << pid << " survived";
  }

  Json Get(const std::string& name) {
    auto p = client_->Object(kPods, "default", name);
    return p ? *p : Json();
  }
  bool Ready(const std::string& name) {
    Json p = Get(name);
    if (p.is_null() || !p.contains("status")) return false;
    for (const auto& c : p["status"].value("conditions", Json::array())) {
      if (c["type"] == "Ready") return c["status"] == "True";
    }
    return false;
  }
  uint16_t PortOf(const std::string& name) {
    Json p = Get(name);
    auto ann = p["metadata"].value("annotations", Json::object());
    return ann.contains(kPortAnnotation)
               ? static_cast<uint16_t>(std::stoi(ann[kPortAnnotation].get<std::string>()))
               : 0;
  }
  std::optional<NodeAgent::PodInfo> Info(const std::string& name) {
    for (const auto& p : agent_->Pods()) {
      if (p.name == name) return p;
    }
    return std::nullopt;
  }
  pid_t PidOf(const std::string& name) {
    auto i = Info(name);
    if (i && i->pid > 0) pids_.push_back(i->pid);
    return i ? i->pid : -1;
  }

  TempDir tmp_;
  std::shared_ptr<FakeClient> client_;
  NodeAgentOptions opts_;
  std::unique_ptr<NodeAgent> agent_;
  std::unique_ptr<PodFeed> feed_;
  std::vector<pid_t> pids_;
};

TEST_F(NodeAgentTest, RunsHelloFunctionAndPublishesReadyStatus) {
  StartAgent();
  client_->Seed(kPods, Pod("hello", {{"command", {HelloFunction()}},
                                     {"env", {{{"name", "GREETING"}, {"value", "hi there"}}}},
                                     {"readinessProbe", {{"httpGet", {{"path", "/healthz"}}}}}}));
  ASSERT_TRUE(WaitFor([&] { return Ready("hello"); }, 10s)) << Get("hello").dump(2);
  uint16_t port = PortOf("hello");
  ASSERT_GT(port, 0);
  HttpResult r = HttpGet(port, "/");
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.body, "hi there\n");
  EXPECT_NE(r.headers.find("X-Kfaas-Instance: hello"), std::string::npos) << r.headers;
  EXPECT_EQ(HttpGet(port, "/echo", "POST", "payload").body, "payload");

  Json st = Get("hello")["status"];
  EXPECT_EQ(st["phase"], "Running");
  EXPECT_EQ(st["podIP"], "127.0.0.1");
  EXPECT_EQ(st["hostIP"], "127.0.0.1");
  ASSERT_EQ(st["containerStatuses"].size(), 1u);
  const Json& cs = st["containerStatuses"][0];
  EXPECT_EQ(cs["ready"], true);
  EXPECT_EQ(cs["started"], true);
  EXPECT_EQ(cs["restartCount"], 0);
  EXPECT_TRUE(cs["state"].contains("running"));
  EXPECT_EQ(cs["image"], "example.com/fn:1");
  std::set<std::string> types;
  for (const auto& c : st["conditions"]) types.insert(c["type"].get<std::string>());
  for (const char* t : {"PodScheduled", "Initialized", "ContainersReady", "Ready"}) {
    EXPECT_TRUE(types.count(t)) << t;
  }
  pid_t pid = PidOf("hello");
  EXPECT_TRUE(ProcessAlive(pid));
  std::string log = agent_->LogPath("default", "hello", "fn");
  EXPECT_EQ(log, opts_.logs_dir + "/default_hello_fn.log");
  EXPECT_TRUE(WaitFor([&] {
    return ReadFile(log).find("listening on port " + std::to_string(port)) != std::string::npos;
  }));
}

TEST_F(NodeAgentTest, PodWithoutCommandGetsClearStatus) {
  StartAgent();
  client_->Seed(kPods, Pod("nocmd", Json::object()));
  ASSERT_TRUE(WaitFor([&] {
    Json p = Get("nocmd");
    return p.contains("status") && p["status"].contains("containerStatuses");
  }));
  Json st = Get("nocmd")["status"];
  EXPECT_EQ(st["phase"], "Pending");
  const Json& w = st["containerStatuses"][0]["state"]["waiting"];
  EXPECT_EQ(w["reason"], "CreateContainerConfigError");
  EXPECT_EQ(w["message"], "no command: kfaas-local runs processes, set spec.command");
}

TEST_F(NodeAgentTest, CrashingProcessIsRestartedWithBackoff) {
  StartAgent();
  client_->Seed(kPods, Pod("crash", {{"command", {"/bin/sh", "-c", "echo boom; exit 3"}}}));
  bool saw_backoff = false;
  ASSERT_TRUE(WaitFor(
      [&] {
        Json p = Get("crash");
        if (!p.contains("status") || !p["status"].contains("containerStatuses")) return false;
        const Json& cs = p["status"]["containerStatuses"][0];
        if (cs["state"].contains("waiting") &&
            cs["state"]["waiting"]["reason"] == "CrashLoopBackOff") {
          saw_backoff = true;
        }
        return saw_backoff && cs["restartCount"].get<int>() >= 3;
      },
      15s))
      << Get("crash").dump(2);
  Json cs = Get("crash")["status"]["containerStatuses"][0];
  EXPECT_EQ(cs["lastState"]["terminated"]["exitCode"], 3);
  EXPECT_EQ(cs["lastState"]["terminated"]["reason"], "Error");
  EXPECT_EQ(Get("crash")["status"]["phase"], "Running");
  std::string log = ReadFile(agent_->LogPath("default", "crash", "fn"));
  EXPECT_GE(std::count(log.begin(), log.end(), '\n'), 3) << log;
}

TEST_F(NodeAgentTest, KilledProcessIsRestartedOnNewPid) {
  StartAgent();
  client_->Seed(kPods, Pod("victim", {{"command", {HelloFunction()}}}));
  ASSERT_TRUE(WaitFor([&] { return Ready("victim"); }));
  pid_t first = PidOf("victim");
  ASSERT_GT(first, 0);
  kill(first, SIGKILL);
  ASSERT_TRUE(WaitFor([&] {
    auto i = Info("victim");
    Json p = Get("victim");
    return i && i->pid > 0 && i->pid != first && i->ready &&
           p["status"]["containerStatuses"][0]["restartCount"] == 1 && Ready("victim");
  }));
  PidOf("victim");
  Json cs = Get("victim")["status"]["containerStatuses"][0];
  EXPECT_EQ(cs["restartCount"], 1);
  EXPECT_EQ(cs["lastState"]["terminated"]["exitCode"], 137);
  EXPECT_EQ(HttpGet(PortOf("victim"), "/healthz").code, 200);
}

TEST_F(NodeAgentTest, RestartPolicyNeverEndsSucceeded) {
  StartAgent();
  client_->Seed(kPods, Pod("job", {{"command", {"/bin/true"}}}, {{"restartPolicy", "Never"}}));
  ASSERT_TRUE(WaitFor([&] {
    Json p = Get("job");
    return p.contains("status") && p["status"].value("phase", "") == "Succeeded";
  })) << Get("job").dump(2);
  Json cs = Get("job")["status"]["containerStatuses"][0];
  EXPECT_EQ(cs["state"]["terminated"]["exitCode"], 0);
  EXPECT_EQ(cs["state"]["terminated"]["reason"], "Completed");
}

TEST_F(NodeAgentTest, GracefulDeletionStopsProcessThenRemovesPod) {
  StartAgent();
  client_->Seed(kPods, Pod("del", {{"command", {HelloFunction()}}}));
  ASSERT_TRUE(WaitFor([&] { return Ready("del"); }));
  pid_t pid = PidOf("del");
  uint16_t port = PortOf("del");
  // What the API server does on DELETE of a pod: deletionTimestamp, the object stays.
  Json p = Get("del");
  p["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z";
  p["metadata"]["deletionGracePeriodSeconds"] = 30;
  client_->Seed(kPods, p);
  ASSERT_TRUE(WaitFor([&] { return Get("del").is_null(); })) << Get("del").dump(2);
  EXPECT_FALSE(ProcessAlive(pid));
  EXPECT_EQ(HttpGet(port, "/healthz").code, 0);
  // Removed with grace 0 by the node (the kubelet's final delete).
  bool deleted = false;
  for (const auto& a : client_->Writes()) deleted |= a.verb == "delete" && a.name == "del";
  EXPECT_TRUE(deleted);
  EXPECT_TRUE(WaitFor([&] { return Info("del") == std::nullopt; }));
}

TEST_F(NodeAgentTest, GracePeriodEndsWithSigkillOfTheWholeGroup) {
  StartAgent();
  // Ignores SIGTERM; its child `sleep` is in the same process group.
  client_->Seed(
      kPods,
      Pod("stubborn",
          {{"command", {"/bin/sh", "-c", "trap '' TERM; sleep 1000 & echo armed; wait; wait"}}},
          {{"terminationGracePeriodSeconds", 1}}));
  std::string log = agent_->LogPath("default", "stubborn", "fn");
  ASSERT_TRUE(WaitFor([&] { return ReadFile(log).find("armed") != std::string::npos; }));
  pid_t pid = PidOf("stubborn");
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(client_->Delete(kPods, "default", "stubborn").ok());  // the fake: DELETED at once
  ASSERT_TRUE(WaitFor([&] { return !ProcessAlive(pid); }, 10s));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 5s);
  // No `sleep 1000` left in the group (once init has reaped it).
  EXPECT_TRUE(WaitFor([&] { return kill(-pid, 0) != 0; }, 5s));
}

TEST_F(NodeAgentTest, EnvExpansionAndPortReachTheProcess) {
  StartAgent();
  Json c = {
      {"command", {"/bin/sh", "-c"}},
      {"args", {"echo \"port=$PORT who=$(WHO) host=$HOSTNAME ns=$NS\"; exec sleep 1000"}},
      {"env",
       {{{"name", "WHO"}, {"value", "world"}},
        {{"name", "NS"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.namespace"}}}}}}}}};
  client_->Seed(kPods, Pod("envy", c));
  ASSERT_TRUE(WaitFor([&] { return PortOf("envy") > 0; }));
  std::string log = agent_->LogPath("default", "envy", "fn");
  std::string want = "port=" + std::to_string(PortOf("envy")) + " who=world host=envy ns=default";
  EXPECT_TRUE(WaitFor([&] { return ReadFile(log).find(want) != std::string::npos; }))
      << ReadFile(log);
  PidOf("envy");
}

// A pod created with its port reserved (as kfaas-local's Deployment controller does) has a known
// endpoint: a process ready within known_port_publish_delay gets one status write, already ready.
TEST_F(NodeAgentTest, ReservedPortPodIsPublishedOnceWhenReadySoon) {
  opts_.known_port_publish_delay = 10s;  // the process is surely ready long before
  StartAgent();
  auto port = agent_->ReservePort();
  ASSERT_TRUE(port.ok());
  Json pod = Pod("quick", {{"command", {HelloFunction()}},
                           {"readinessProbe", {{"httpGet", {{"path", "/healthz"}}}}}});
  pod["metadata"]["annotations"] = {{kPortAnnotation, std::to_string(*port)}};
  client_->Seed(kPods, pod);
  ASSERT_TRUE(WaitFor([&] { return Ready("quick"); }, 5s)) << Get("quick").dump(2);
  EXPECT_EQ(PortOf("quick"), *port);
  PidOf("quick");
  int status_writes = 0;
  for (const auto& a : client_->Writes()) {
    if (a.resource == "pods" && a.name == "quick") ++status_writes;
  }
  EXPECT_EQ(status_writes, 1) << "expected a single status write (Running and ready)";
}

// ... and one that is not ready by then is published Running (not ready) after the delay.
TEST_F(NodeAgentTest, ReservedPortPodNotReadyIsPublishedRunningAfterTheDelay) {
  opts_.known_port_publish_delay = 50ms;
  StartAgent();
  auto port = agent_->ReservePort();
  ASSERT_TRUE(port.ok());
  Json pod = Pod("slow", {{"command", {"/bin/sh", "-c", "exec sleep 1000"}},
                          {"readinessProbe", {{"httpGet", {{"path", "/healthz"}}}}}});
  pod["metadata"]["annotations"] = {{kPortAnnotation, std::to_string(*port)}};
  client_->Seed(kPods, pod);
  ASSERT_TRUE(WaitFor([&] {
    Json p = Get("slow");
    return p.contains("status") && p["status"].value("phase", "") == "Running";
  })) << Get("slow").dump(2);
  EXPECT_FALSE(Ready("slow"));
  PidOf("slow");
}

// With known_port_ready_delay, a known-port pod's first readiness is published that long after
// its first successful probe (in one status write), not at once.
TEST_F(NodeAgentTest, ReservedPortPodReadinessIsPublishedAfterTheReadyDelay) {
  opts_.known_port_publish_delay = 10s;
  opts_.known_port_ready_delay = 400ms;
  std::mutex mu;
  std::optional<SteadyTime> probed_ok;
  opts_.on_ready = [&](const PodTiming& t) {
    std::lock_guard<std::mutex> l(mu);
    probed_ok = t.ready;
  };
  StartAgent();
  auto port = agent_->ReservePort();
  ASSERT_TRUE(port.ok());
  Json pod = Pod("held", {{"command", {HelloFunction()}},
                          {"readinessProbe", {{"httpGet", {{"path", "/healthz"}}}}}});
  pod["metadata"]["annotations"] = {{kPortAnnotation, std::to_string(*port)}};
  client_->Seed(kPods, pod);
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard<std::mutex> l(mu);
        return probed_ok.has_value();
      },
      5s));
  EXPECT_FALSE(Ready("held")) << "published before the ready delay";
  ASSERT_TRUE(WaitFor([&] { return Ready("held"); }, 5s)) << Get("held").dump(2);
  SteadyTime seen = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_GE(seen - *probed_ok, 400ms);
  }
  int status_writes = 0;
  for (const auto& a : client_->Writes()) {
    if (a.resource == "pods" && a.name == "held") ++status_writes;
  }
  EXPECT_EQ(status_writes, 1) << "expected a single status write (Running and ready)";
}

TEST_F(NodeAgentTest, MissingCommandIsAStartErrorWithBackoff) {
  StartAgent();
  client_->Seed(kPods, Pod("missing", {{"command", {"no-such-function-xyz"}}}));
  ASSERT_TRUE(WaitFor([&] {
    Json p = Get("missing");
    if (!p.contains("status") || !p["status"].contains("containerStatuses")) return false;
    const Json& cs = p["status"]["containerStatuses"][0];
    return cs["lastState"].contains("terminated") &&
           cs["lastState"]["terminated"]["reason"] == "StartError";
  })) << Get("missing").dump(2);
  std::string msg =
      Get("missing")["status"]["containerStatuses"][0]["lastState"]["terminated"]["message"];
  EXPECT_NE(msg.find("no-such-function-xyz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--bin-dir"), std::string::npos) << msg;
}

TEST_F(NodeAgentTest, BareCommandIsFoundInBinDir) {
  std::string bin = tmp_.path() + "/bin";
  ASSERT_TRUE(MakeDirs(bin).ok());
  ASSERT_EQ(symlink(HelloFunction().c_str(), (bin + "/hello-function").c_str()), 0);
  opts_.bin_dirs = {bin};
  StartAgent();
  client_->Seed(kPods, Pod("bare", {{"command", {"hello-function"}}}));
  ASSERT_TRUE(WaitFor([&] { return Ready("bare"); })) << Get("bare").dump(2);
  PidOf("bare");
}

TEST_F(NodeAgentTest, StopKillsEveryProcess) {
  StartAgent();
  for (int i = 0; i < 3; ++i) {
    client_->Seed(kPods, Pod("p" + std::to_string(i), {{"command", {HelloFunction()}}}));
  }
  ASSERT_TRUE(WaitFor([&] { return Ready("p0") && Ready("p1") && Ready("p2"); }));
  std::vector<pid_t> pids = {PidOf("p0"), PidOf("p1"), PidOf("p2")};
  feed_.reset();
  agent_->Stop();
  for (pid_t pid : pids) EXPECT_FALSE(ProcessAlive(pid));
}

}  // namespace
}  // namespace kfaas::node
