// Unit tests of the node's small pieces: probe schedule, container env, pod status, command
// resolution, ports, spawning.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "common/base/time_format.h"
#include "local/node/container_env.h"
#include "local/node/pod_status.h"
#include "local/node/pod_writer.h"
#include "local/node/ports.h"
#include "local/node/probe.h"
#include "local/node/process.h"
#include "tests/local/node_test_util.h"
#include "tests/testutil/fake_client.h"

namespace kfaas::node {
namespace {

using namespace std::chrono_literals;
using namespace kfaas::node::testing;

TEST(ProbeSpec, FromContainer) {
  ProbeSpec none = ProbeSpecFromContainer(Json::object());
  EXPECT_EQ(none.kind, ProbeSpec::Kind::kTcp);
  Json c = {{"readinessProbe",
             {{"httpGet", {{"path", "healthz"}, {"port", "http"}}},
              {"periodSeconds", 2},
              {"failureThreshold", 5},
              {"timeoutSeconds", 3}}}};
  ProbeSpec http = ProbeSpecFromContainer(c);
  EXPECT_EQ(http.kind, ProbeSpec::Kind::kHttp);
  EXPECT_EQ(http.path, "/healthz");
  EXPECT_EQ(http.period, Duration(2s));
  EXPECT_EQ(http.failure_threshold, 5);
  EXPECT_EQ(http.timeout, Duration(3s));
  c["readinessProbe"] = {{"tcpSocket", {{"port", 8080}}}};
  EXPECT_EQ(ProbeSpecFromContainer(c).kind, ProbeSpec::Kind::kTcp);
}

TEST(ProbeSchedule, FastDuringStartupThenBacksOffToPeriod) {
  ProbeSpec spec;
  spec.period = 1s;
  ProbeTuning tuning{.fast_interval = 1ms, .fast_window = 100ms};
  SteadyTime t0{};
  ProbeSchedule s(spec, tuning, t0);
  EXPECT_EQ(s.Next(t0), t0 + 1ms);
  EXPECT_EQ(s.Next(t0 + 50ms), t0 + 51ms);
  // After the fast window: doubling from 2 ms up to the period.
  EXPECT_EQ(s.Next(t0 + 200ms), t0 + 202ms);
  EXPECT_EQ(s.Next(t0 + 202ms), t0 + 206ms);
  SteadyTime t = t0 + 206ms;
  for (int i = 0; i < 20; ++i) t = s.Next(t);
  EXPECT_EQ(s.Next(t), t + 1s);
}

TEST(ProbeSchedule, InitialDelayAndThresholds) {
  ProbeSpec spec;
  spec.initial_delay = 5s;
  spec.failure_threshold = 2;
  spec.success_threshold = 2;
  SteadyTime t0{};
  ProbeSchedule s(spec, {}, t0);
  EXPECT_EQ(s.Next(t0), t0 + 5s);
  EXPECT_FALSE(s.Record(false));
  EXPECT_TRUE(s.Record(true)) << "the first success makes it ready at once";
  EXPECT_TRUE(s.ready());
  EXPECT_EQ(s.Next(t0 + 6s), t0 + 6s + spec.period);
  EXPECT_FALSE(s.Record(false));
  EXPECT_TRUE(s.Record(false));
  EXPECT_FALSE(s.ready());
  EXPECT_FALSE(s.Record(true)) << "recovery needs successThreshold";
  EXPECT_TRUE(s.Record(true));
  EXPECT_TRUE(s.ready());
}

Json PodFor(Json container) {
  return {{"metadata",
           {{"name", "p"},
            {"namespace", "ns"},
            {"uid", "u1"},
            {"labels", {{"app", "x"}}},
            {"annotations", {{"a", "b"}}}}},
          {"spec", {{"containers", Json::array({container})}}}};
}

absl::StatusOr<Json> Lookup(const std::string& resource, const std::string& name) {
  if (resource == "configmaps" && name == "cfg") {
    return Json{{"metadata", {{"name", "cfg"}, {"namespace", "ns"}}},
                {"data", {{"COLOR", "blue"}, {"SIZE", "L"}}}};
  }
  if (resource == "secrets" && name == "sec") {
    return Json{{"metadata", {{"name", "sec"}}}, {"data", {{"TOKEN", "czNjcjN0"}}}};  // s3cr3t
  }
  return absl::NotFoundError("nope");
}

TEST(ContainerEnv, OrderRefsAndExpansion) {
  Json c = {
      {"command", {"/bin/echo", "$(GREETING)", "$$(GREETING)", "$(UNKNOWN)"}},
      {"args", {"--port=$(PORT)"}},
      {"envFrom", {{{"configMapRef", {{"name", "cfg"}}}, {"prefix", "CM_"}}}},
      {"env",
       {{{"name", "GREETING"}, {"value", "hi $(CM_COLOR)"}},
        {{"name", "PORT"}, {"value", "8080"}},
        {{"name", "POD"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
        {{"name", "APP"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.labels['app']"}}}}}},
        {{"name", "IP"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}},
        {{"name", "TOKEN"}, {"valueFrom", {{"secretKeyRef", {{"name", "sec"}, {"key", "TOKEN"}}}}}},
        {{"name", "OPT"},
         {"valueFrom",
          {{"configMapKeyRef", {{"name", "none"}, {"key", "k"}, {"optional", true}}}}}}}}};
  auto env = BuildContainerEnv(PodFor(c), c, 20001, {{"PATH", "/bin"}}, Lookup);
  ASSERT_TRUE(env.ok()) << env.status();
  std::map<std::string, std::string> m(env->begin(), env->end());
  EXPECT_EQ(env->front().first, "PATH");
  EXPECT_EQ(env->back(), std::make_pair(std::string("PORT"), std::string("20001")));
  EXPECT_EQ(m["HOSTNAME"], "p");
  EXPECT_EQ(m["CM_COLOR"], "blue");
  EXPECT_EQ(m["GREETING"], "hi blue");
  EXPECT_EQ(m["POD"], "p");
  EXPECT_EQ(m["APP"], "x");
  EXPECT_EQ(m["IP"], "127.0.0.1");
  EXPECT_EQ(m["TOKEN"], "s3cr3t");
  EXPECT_FALSE(m.count("OPT"));
  auto argv = BuildArgv(c, *env);
  EXPECT_EQ(argv, (std::vector<std::string>{"/bin/echo", "hi blue", "$(GREETING)", "$(UNKNOWN)",
                                            "--port=20001"}));
}

TEST(ContainerEnv, MissingReferenceIsAClearError) {
  Json c = {{"env",
             {{{"name", "X"},
               {"valueFrom", {{"configMapKeyRef", {{"name", "missing"}, {"key", "k"}}}}}}}}};
  auto env = BuildContainerEnv(PodFor(c), c, 1, {}, Lookup);
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(std::string(env.status().message()), "configmap \"missing\" not found");
  Json c2 = {{"env",
              {{{"name", "X"},
                {"valueFrom", {{"configMapKeyRef", {{"name", "cfg"}, {"key", "nokey"}}}}}}}}};
  env = BuildContainerEnv(PodFor(c2), c2, 1, {}, Lookup);
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(std::string(env.status().message()), "couldn't find key nokey in configmap ns/cfg");
  EXPECT_TRUE(BuildArgv(Json{{"args", {"x"}}}, {}).empty());
}

TEST(PodStatus, RunningReadyAndCrashLoop) {
  PodView v;
  WallTime t = WallTime(std::chrono::seconds(1700000000));
  v.start_time = v.scheduled_at = v.initialized_at = v.ready_changed_at = t;
  v.phase = "Running";
  v.has_ip = true;
  v.ready = true;
  ContainerView c;
  c.name = "fn";
  c.image = "img";
  c.state = ContainerView::State::kRunning;
  c.running_since = t;
  c.ready = c.started = true;
  c.container_id = "process://42";
  v.containers.push_back(c);
  Json s = MakePodStatus(v);
  EXPECT_EQ(s["phase"], "Running");
  EXPECT_EQ(s["podIP"], "127.0.0.1");
  EXPECT_EQ(s["startTime"], FormatRfc3339(t));
  EXPECT_EQ(s["containerStatuses"][0]["state"]["running"]["startedAt"], FormatRfc3339(t));
  EXPECT_EQ(s["containerStatuses"][0]["containerID"], "process://42");
  for (const auto& cond : s["conditions"]) EXPECT_EQ(cond["status"], "True") << cond;

  v.ready = false;
  v.containers[0].ready = false;
  v.containers[0].state = ContainerView::State::kWaiting;
  v.containers[0].waiting_reason = "CrashLoopBackOff";
  v.containers[0].waiting_message = "back-off 10s restarting failed container=fn";
  v.containers[0].restart_count = 2;
  v.containers[0].last_terminated =
      TerminatedState{.exit_code = 3, .reason = "Error", .started_at = t, .finished_at = t + 1s};
  s = MakePodStatus(v);
  const Json& cs = s["containerStatuses"][0];
  EXPECT_EQ(cs["state"]["waiting"]["reason"], "CrashLoopBackOff");
  EXPECT_EQ(cs["restartCount"], 2);
  EXPECT_EQ(cs["lastState"]["terminated"]["exitCode"], 3);
  for (const auto& cond : s["conditions"]) {
    if (cond["type"] == "Ready") {
      EXPECT_EQ(cond["status"], "False");
      EXPECT_EQ(cond["reason"], "ContainersNotReady");
      EXPECT_EQ(cond["message"], "containers with unready status: [fn]");
    }
  }
}

TEST(PodStatus, QosClassAndDurations) {
  EXPECT_EQ(QosClass(Json{{"containers", {Json::object()}}}), "BestEffort");
  Json burst = {{"containers", {{{"resources", {{"requests", {{"cpu", "100m"}}}}}}}}};
  EXPECT_EQ(QosClass(burst), "Burstable");
  Json g = {{"containers",
             {{{"resources",
                {{"requests", {{"cpu", "1"}, {"memory", "1Gi"}}},
                 {"limits", {{"cpu", "1"}, {"memory", "1Gi"}}}}}}}}};
  EXPECT_EQ(QosClass(g), "Guaranteed");
  EXPECT_EQ(ShortDuration(10s), "10s");
  EXPECT_EQ(ShortDuration(80s), "1m20s");
  EXPECT_EQ(ShortDuration(5min), "5m");
  EXPECT_EQ(ShortDuration(200ms), "200ms");
}

TEST(ResolveCommand, BinDirsThenPathAndClearErrors) {
  TempDir tmp;
  std::string bin = tmp.path() + "/bin";
  ASSERT_TRUE(MakeDirs(bin).ok());
  ASSERT_EQ(symlink("/bin/true", (bin + "/fn").c_str()), 0);
  EXPECT_EQ(*ResolveCommand("fn", {bin}, "/usr/bin:/bin", ""), bin + "/fn");
  EXPECT_EQ(*ResolveCommand("sh", {bin}, "/bin", ""), "/bin/sh");
  EXPECT_EQ(*ResolveCommand("/bin/sh", {}, "", ""), "/bin/sh");
  EXPECT_EQ(*ResolveCommand("bin/fn", {}, "", tmp.path()), tmp.path() + "/bin/fn");
  auto missing = ResolveCommand("nope", {bin}, "/bin", "");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  std::string msg(missing.status().message());
  EXPECT_NE(msg.find(bin), std::string::npos) << msg;
  EXPECT_NE(msg.find("spec.command"), std::string::npos) << msg;
  EXPECT_FALSE(ResolveCommand("/etc/passwd", {}, "", "").ok());
}

TEST(PortAllocator, DistinctBindableAndReleased) {
  PortAllocator ports(31000, 31009);
  std::set<uint16_t> got;
  for (int i = 0; i < 10; ++i) {
    auto p = ports.Allocate();
    if (!p.ok()) break;  // another process may hold one of these ports
    EXPECT_GE(*p, 31000);
    EXPECT_LE(*p, 31009);
    EXPECT_TRUE(got.insert(*p).second);
  }
  EXPECT_FALSE(ports.Allocate().ok());
  ASSERT_FALSE(got.empty());
  ports.Release(*got.begin());
  auto again = ports.Allocate();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *got.begin());
}

TEST(Spawn, RunsWithEnvLogAndOwnGroupAndReportsExecErrors) {
  TempDir tmp;
  std::string log = tmp.path() + "/out.log";
  SpawnSpec spec{.path = "/bin/sh",
                 .argv = {"sh", "-c", "echo \"$FOO $(pwd)\"; echo err >&2; ps -o pgid= -p $$"},
                 .env = {"FOO=bar", "PATH=/usr/bin:/bin"},
                 .work_dir = tmp.path(),
                 .log_path = log};
  auto p = Spawn(spec);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_GE(p->pidfd, 0);
  ExitInfo info;
  ASSERT_TRUE(kfaas::testing::WaitFor([&] {
    info = TryReap(*p);
    return info.exited;
  }));
  close(p->pidfd);
  EXPECT_EQ(info.exit_code, 0);
  std::string out = ReadFile(log);
  EXPECT_NE(out.find("bar " + tmp.path()), std::string::npos) << out;
  EXPECT_NE(out.find("err"), std::string::npos) << out;
  EXPECT_NE(out.find(std::to_string(p->pid)), std::string::npos) << "own process group: " << out;

  spec.path = tmp.path() + "/missing";
  auto bad = Spawn(spec);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::IsNotFound(bad.status())) << bad.status();
  EXPECT_NE(std::string(bad.status().message()).find("cannot execute"), std::string::npos);
}

TEST(Spawn, ChildDoesNotInheritDescriptorsOrIgnoredSignals) {
  TempDir tmp;
  std::string log = tmp.path() + "/out.log";
  int leaked = open("/dev/null", O_RDONLY);  // no CLOEXEC on purpose
  ASSERT_GE(leaked, 0);
  signal(SIGUSR1, SIG_IGN);
  SpawnSpec spec{.path = "/bin/sh",
                 .argv = {"sh", "-c", "ls /proc/self/fd | wc -l; grep SigIgn /proc/self/status"},
                 .env = {"PATH=/usr/bin:/bin"},
                 .log_path = log};
  auto p = Spawn(spec);
  signal(SIGUSR1, SIG_DFL);
  close(leaked);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(kfaas::testing::WaitFor([&] { return TryReap(*p).exited; }));
  close(p->pidfd);
  std::string out = ReadFile(log);
  // 0,1,2 plus the directory fd `ls` opens (and `wc`'s pipe is not in the shell's /proc/self).
  EXPECT_LE(std::atoi(out.c_str()), 4) << out;
  // SIGUSR1 (bit 10) is not ignored in the child.
  size_t at = out.find("SigIgn:");
  ASSERT_NE(at, std::string::npos);
  unsigned long long mask = std::stoull(out.substr(at + 7), nullptr, 16);
  EXPECT_EQ(mask & (1ull << (SIGUSR1 - 1)), 0ull) << out;
}

}  // namespace
}  // namespace kfaas::node

namespace kfaas::node {
namespace {

TEST(PodWriter, RetriesNeverWritesAnotherPodAndFinalizes) {
  auto client = std::make_shared<kfaas::testing::FakeClient>();
  using kube::resources::kPods;
  client->Seed(kPods, {{"metadata", {{"name", "p"}, {"namespace", "ns"}, {"uid", "u1"}}}});
  PodWriter writer(client);
  writer.Start();
  client->FailNext("patch", "pods", absl::UnavailableError("busy"), 1);
  writer.Write("u1", "ns", "p", {{"local.kfaas.dev/port", "20001"}}, false, {{"phase", "Running"}});
  ASSERT_TRUE(kfaas::testing::WaitFor([&] {
    auto p = client->Object(kPods, "ns", "p");
    return p && p->contains("status") && (*p)["status"].value("phase", "") == "Running";
  }));
  EXPECT_GE(writer.failures(), 1);
  EXPECT_EQ((*client->Object(kPods, "ns", "p"))["metadata"]["annotations"]["local.kfaas.dev/port"],
            "20001");
  // A write for another uid under the same name (a recreated pod) must not land.
  writer.Write("u0", "ns", "p", nullptr, true, {{"phase", "Failed"}});
  writer.Finalize("u1", "ns", "p");
  ASSERT_TRUE(kfaas::testing::WaitFor([&] { return !client->Object(kPods, "ns", "p"); }));
  writer.Stop();
  for (const auto& a : client->Writes()) {
    if (a.verb == "patch" && a.object.is_array()) {
      EXPECT_EQ(a.object[0]["op"], "test");  // every patch is preconditioned on the uid
    }
  }
}

}  // namespace
}  // namespace kfaas::node
