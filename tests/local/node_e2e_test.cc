// End to end: the real kfaas-local binary (API server + node) driven by the real kubectl, with
// real function processes, checked in the process table.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <dirent.h>

#include <array>
#include <cstdio>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/local/node_test_util.h"

extern char** environ;

namespace kfaas::node {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;
using namespace kfaas::node::testing;

bool WaitUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 30s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return cond();
}

// Live (non-zombie) processes whose parent is `ppid`.
std::set<pid_t> ChildrenOf(pid_t ppid) {
  std::set<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    pid_t pid = atoi(e->d_name);
    if (pid <= 0) continue;
    std::string stat = ReadFile("/proc/" + std::string(e->d_name) + "/stat");
    size_t close_paren = stat.rfind(')');
    if (close_paren == std::string::npos || close_paren + 4 > stat.size()) continue;
    char state = stat[close_paren + 2];
    pid_t parent = atoi(stat.c_str() + close_paren + 4);
    if (parent == ppid && state != 'Z') out.insert(pid);
  }
  closedir(d);
  return out;
}

// One kfaas-local process with its own home, and kubectl pointed at it.
class KfaasLocal {
 public:
  explicit KfaasLocal(const std::string& dir) : dir_(dir) {
    home_ = dir + "/home";
    std::string bin = BinaryDir() + "/local/kfaas-local";
    std::vector<std::string> args = {bin, "--home=" + home_, "--secure-port=auto",
                                     "--restart-backoff-ms=200", "--restart-backoff-max-ms=1000"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    std::string log = dir + "/kfaas-local.log";
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) pid_ = -1;
  }
  ~KfaasLocal() { Kill(SIGTERM); }

  bool WaitReady() {
    return pid_ > 0 && WaitUntil([&] {
             std::string state = ReadFile(home_ + "/apiserver.json");
             return !state.empty() && Json::parse(state, nullptr, false).contains("securePort");
           }) &&
           WaitUntil([&] { return Kubectl("get --raw /readyz").first == 0; });
  }

  // Runs kubectl with this server's kubeconfig and a private HOME (fresh discovery cache).
  std::pair<int, std::string> Kubectl(const std::string& args) const {
    std::string cmd =
        "HOME='" + dir_ + "' KUBECONFIG='" + home_ + "/kubeconfig' kubectl " + args + " 2>&1";
    FILE* f = popen(cmd.c_str(), "r");
    if (!f) return {-1, ""};
    std::string out;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
    int status = pclose(f);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
  }
  std::string Out(const std::string& args) const { return Kubectl(args).second; }

  bool Apply(const std::string& yaml) const {
    std::string path = dir_ + "/manifest-" + std::to_string(++manifests_) + ".yaml";
    FILE* f = fopen(path.c_str(), "w");
    fputs(yaml.c_str(), f);
    fclose(f);
    auto [rc, out] = Kubectl("apply -f " + path);
    EXPECT_EQ(rc, 0) << out;
    return rc == 0;
  }

  void Kill(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    int status;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  pid_t pid() const { return pid_; }
  std::string log() const { return ReadFile(dir_ + "/kfaas-local.log"); }

 private:
  std::string dir_, home_;
  pid_t pid_ = -1;
  mutable int manifests_ = 0;
};

std::string HelloDeployment(const std::string& name, int replicas) {
  return R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: )" +
         name + R"(}
spec:
  replicas: )" +
         std::to_string(replicas) + R"(
  selector: {matchLabels: {app: )" +
         name + R"(}}
  template:
    metadata: {labels: {app: )" +
         name + R"(}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: fn
        image: example.com/hello:1
        command: [")" +
         HelloFunction() + R"("]
        env: [{name: GREETING, value: "hi from )" +
         name + R"("}]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: http}}
---
apiVersion: v1
kind: Service
metadata: {name: )" +
         name + R"(}
spec:
  selector: {app: )" +
         name + R"(}
  ports: [{name: http, port: 80, targetPort: http}]
)";
}

class NodeE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<KfaasLocal>(tmp_.path());
    ASSERT_TRUE(server_->WaitReady()) << server_->log();
  }
  void TearDown() override {
    std::set<pid_t> children = server_->pid() > 0 ? Functions() : std::set<pid_t>();
    server_->Kill(SIGTERM);
    // A clean stop leaves no function process behind either.
    EXPECT_TRUE(WaitUntil([&] { return NoneAlive(children); }, 10s));
    if (HasFailure()) std::cerr << "kfaas-local log:\n" << server_->log();
  }
  static bool NoneAlive(const std::set<pid_t>& pids) {
    for (pid_t p : pids) {
      if (ProcessAlive(p)) return false;
    }
    return true;
  }
  std::string Jsonpath(const std::string& what, const std::string& path) {
    return server_->Out("get " + what + " -o jsonpath='" + path + "'");
  }
  std::set<pid_t> Functions() { return ChildrenOf(server_->pid()); }

  TempDir tmp_;
  std::unique_ptr<KfaasLocal> server_;
};

TEST_F(NodeE2eTest, ScaleLogsEndpointsAndDelete) {
  ASSERT_TRUE(server_->Apply(HelloDeployment("hello", 2)));
  ASSERT_TRUE(WaitUntil([&] { return Jsonpath("deploy hello", "{.status.readyReplicas}") == "2"; }))
      << server_->Out("get deploy,pods -o wide");
  EXPECT_EQ(Functions().size(), 2u);

  // Every pod answers on its own port, published in its EndpointSlice.
  std::string ports = Jsonpath("endpointslices -l kubernetes.io/service-name=hello",
                               "{range .items[*]}{.ports[0].port} {end}");
  std::istringstream in(ports);
  int port, n = 0;
  while (in >> port) {
    HttpResult r = HttpGet(static_cast<uint16_t>(port), "/");
    EXPECT_EQ(r.body, "hi from hello\n") << port;
    ++n;
  }
  EXPECT_EQ(n, 2) << ports;
  EXPECT_EQ(Jsonpath("endpointslices -l kubernetes.io/service-name=hello",
                     "{.items[*].endpoints[0].conditions.ready}"),
            "true true");

  ASSERT_EQ(server_->Kubectl("scale deployment hello --replicas=5").first, 0);
  ASSERT_TRUE(WaitUntil([&] { return Jsonpath("deploy hello", "{.status.readyReplicas}") == "5"; }))
      << server_->Out("get deploy,pods -o wide");
  EXPECT_EQ(Functions().size(), 5u);
  ASSERT_TRUE(WaitUntil([&] {
    return Jsonpath("endpoints hello", "{.subsets[*].addresses[0].ip}") ==
           "127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1";
  })) << server_->Out("get endpoints hello -o yaml");
  EXPECT_EQ(Jsonpath("endpointslices -l kubernetes.io/service-name=hello",
                     "{.items[*].metadata.labels.endpointslice\\.kubernetes\\.io/managed-by}"),
            "endpointslice-controller.k8s.io endpointslice-controller.k8s.io "
            "endpointslice-controller.k8s.io endpointslice-controller.k8s.io "
            "endpointslice-controller.k8s.io");

  // kubectl logs reads what the process wrote.
  std::string pod = Jsonpath("pods -l app=hello", "{.items[0].metadata.name}");
  std::string pod_port = Jsonpath("pod " + pod, "{.metadata.annotations.local\\.kfaas\\.dev/port}");
  auto [rc, logs] = server_->Kubectl("logs " + pod);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(logs.find("hello-function: listening on port " + pod_port), std::string::npos) << logs;

  ASSERT_EQ(server_->Kubectl("scale deployment hello --replicas=0").first, 0);
  ASSERT_TRUE(WaitUntil([&] { return Functions().empty(); })) << server_->Out("get pods");
  ASSERT_TRUE(WaitUntil([&] { return server_->Out("get pods -o name").empty(); }));
  EXPECT_TRUE(WaitUntil([&] {
    return server_->Out("get endpointslices -l kubernetes.io/service-name=hello -o name").empty();
  }));
  EXPECT_EQ(Jsonpath("deploy hello", "{.status.replicas}"), "0");

  ASSERT_TRUE(server_->Apply(HelloDeployment("hello", 1)));
  ASSERT_TRUE(WaitUntil([&] { return Functions().size() == 1; }));
  ASSERT_EQ(server_->Kubectl("delete deployment hello").first, 0);
  EXPECT_TRUE(WaitUntil([&] { return Functions().empty(); }));
  EXPECT_TRUE(WaitUntil([&] { return server_->Out("get pods -o name").empty(); }));
}

TEST_F(NodeE2eTest, CrashingProcessIsRestartedAndCounted) {
  ASSERT_TRUE(server_->Apply(R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: crash}
spec:
  replicas: 1
  selector: {matchLabels: {app: crash}}
  template:
    metadata: {labels: {app: crash}}
    spec:
      containers:
      - name: fn
        image: example.com/crash:1
        command: [/bin/sh, -c, "echo dying now; exit 7"]
)"));
  bool saw_backoff = false;
  ASSERT_TRUE(WaitUntil([&] {
    std::string table = server_->Out("get pods -l app=crash --no-headers");
    saw_backoff |= table.find("CrashLoopBackOff") != std::string::npos;
    std::string restarts =
        Jsonpath("pods -l app=crash", "{.items[0].status.containerStatuses[0].restartCount}");
    return saw_backoff && !restarts.empty() && std::stoi(restarts) >= 3;
  })) << server_->Out("get pods -o yaml");
  EXPECT_EQ(Jsonpath("pods -l app=crash",
                     "{.items[0].status.containerStatuses[0].lastState.terminated.exitCode}"),
            "7");
  std::string pod = Jsonpath("pods -l app=crash", "{.items[0].metadata.name}");
  EXPECT_NE(server_->Out("logs " + pod).find("dying now"), std::string::npos);
}

TEST_F(NodeE2eTest, KilledFunctionIsRestarted) {
  ASSERT_TRUE(server_->Apply(HelloDeployment("victim", 1)));
  ASSERT_TRUE(
      WaitUntil([&] { return Jsonpath("deploy victim", "{.status.readyReplicas}") == "1"; }));
  auto before = Functions();
  ASSERT_EQ(before.size(), 1u);
  kill(*before.begin(), SIGKILL);
  ASSERT_TRUE(WaitUntil([&] {
    return Jsonpath("pods -l app=victim", "{.items[0].status.containerStatuses[0].restartCount}") ==
               "1" &&
           Jsonpath("deploy victim", "{.status.readyReplicas}") == "1";
  })) << server_->Out("get pods -o yaml");
  auto after = Functions();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(*after.begin(), *before.begin());
  EXPECT_NE(server_->Out("get pods -l app=victim").find("1 ("), std::string::npos)
      << server_->Out("get pods -l app=victim");
}

TEST_F(NodeE2eTest, RollingUpdateReplacesEveryPod) {
  ASSERT_TRUE(server_->Apply(HelloDeployment("roll", 2)));
  ASSERT_TRUE(WaitUntil([&] { return Jsonpath("deploy roll", "{.status.readyReplicas}") == "2"; }));
  std::string old_pods = Jsonpath("pods -l app=roll", "{.items[*].metadata.name}");
  std::string v2 = HelloDeployment("roll", 2);
  v2.replace(v2.find("hi from roll"), 12, "v2 from roll");
  ASSERT_TRUE(server_->Apply(v2));
  auto [rc, out] = server_->Kubectl("rollout status deployment/roll --timeout=60s");
  ASSERT_EQ(rc, 0) << out << server_->Out("get pods -o wide");
  ASSERT_TRUE(WaitUntil([&] { return Functions().size() == 2; }));
  std::string new_pods = Jsonpath("pods -l app=roll", "{.items[*].metadata.name}");
  std::istringstream olds(old_pods);
  std::string name;
  while (olds >> name) EXPECT_EQ(new_pods.find(name), std::string::npos) << name;
  ASSERT_TRUE(WaitUntil([&] {
    return Jsonpath("endpointslices -l kubernetes.io/service-name=roll",
                    "{.items[*].endpoints[0].conditions.ready}") == "true true";
  }));
  std::istringstream ports(Jsonpath("endpointslices -l kubernetes.io/service-name=roll",
                                    "{range .items[*]}{.ports[0].port} {end}"));
  int port;
  while (ports >> port) EXPECT_EQ(HttpGet(static_cast<uint16_t>(port), "/").body, "v2 from roll\n");
  EXPECT_EQ(Jsonpath("deploy roll", "{.status.updatedReplicas}"), "2");
}

TEST_F(NodeE2eTest, DeletedPodIsTerminatingUntilItsProcessExits) {
  ASSERT_TRUE(server_->Apply(R"(apiVersion: v1
kind: Pod
metadata: {name: slow, labels: {app: slow}}
spec:
  nodeName: kfaas-local
  terminationGracePeriodSeconds: 8
  containers:
  - name: fn
    image: example.com/slow:1
    command: [/bin/sh, -c, "trap 'echo got TERM' TERM; echo started; while :; do sleep 0.1; done"]
    ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: slow}
spec:
  selector: {app: slow}
  ports: [{name: http, port: 80, targetPort: http}]
)"));
  ASSERT_TRUE(WaitUntil([&] { return Functions().size() == 1; }));
  ASSERT_TRUE(
      WaitUntil([&] { return server_->Out("logs slow").find("started") != std::string::npos; }));
  pid_t pid = *Functions().begin();
  ASSERT_EQ(server_->Kubectl("delete pod slow --wait=false").first, 0);
  EXPECT_TRUE(WaitUntil([&] {
    return server_->Out("get pod slow --no-headers").find("Terminating") != std::string::npos;
  }));
  EXPECT_TRUE(WaitUntil([&] {
    return Jsonpath("endpointslices -l kubernetes.io/service-name=slow",
                    "{.items[0].endpoints[0].conditions.terminating}") == "true";
  })) << server_->Out("get endpointslices -o yaml");
  EXPECT_TRUE(ProcessAlive(pid));
  EXPECT_TRUE(
      WaitUntil([&] { return server_->Out("logs slow").find("got TERM") != std::string::npos; }));
  // SIGKILL after the grace period, then the pod object goes.
  ASSERT_TRUE(WaitUntil([&] { return !ProcessAlive(pid); }, 20s));
  EXPECT_TRUE(WaitUntil([&] { return server_->Out("get pods -o name").empty(); }));
  EXPECT_TRUE(WaitUntil([&] {
    return server_->Out("get endpointslices -l kubernetes.io/service-name=slow -o name").empty();
  }));
}

TEST_F(NodeE2eTest, SigkillOfKfaasLocalLeavesNoChildProcess) {
  ASSERT_TRUE(server_->Apply(HelloDeployment("orphans", 3)));
  ASSERT_TRUE(WaitUntil([&] { return Functions().size() == 3; }));
  std::set<pid_t> children = Functions();
  server_->Kill(SIGKILL);
  // PR_SET_PDEATHSIG: the kernel kills them with their parent (they may linger as zombies
  // until init reaps them; ProcessAlive ignores zombies).
  EXPECT_TRUE(WaitUntil([&] { return NoneAlive(children); }, 10s));
}

}  // namespace
}  // namespace kfaas::node
