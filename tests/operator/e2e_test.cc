// End to end: the real kubectl -> the local API server (HTTPS, its kubeconfig) -> kfaas-operator
// processes. Each test gets a fresh server, kubectl cache and operator(s).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <regex>

#include "local/apiserver/api_server.h"
#include "tests/operator/subprocess.h"
#include "tests/operator/test_files.h"

namespace kfaas::op {
namespace {

using testing::CommandResult;
using testing::Eventually;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunCommand;
using testing::SourceDir;
using testing::Subprocess;
using testing::TempDir;

// The build directory: $KFAAS_BINARY_DIR, else three levels above this test binary
// (<build>/tests/operator/operator_e2e_test).
std::string BinaryDir() {
  const char* d = std::getenv("KFAAS_BINARY_DIR");
  if (d && *d) return d;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : exe.parent_path().parent_path().parent_path().string();
}

// A plain HTTP GET on 127.0.0.1; "" on failure.
std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) < 0) {
    close(fd);
    return "";
  }
  std::string resp;
  char buf[8192];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) resp.append(buf, n);
  close(fd);
  return resp;
}

// The value of an unlabelled (or exactly labelled) sample in a /metrics page; -1 if absent.
double Metric(const std::string& page, const std::string& series) {
  std::regex re("(^|\n)" + std::regex_replace(series, std::regex(R"([{}"+.])"), R"(\$&)") +
                " ([-0-9.e+]+)");
  std::smatch m;
  if (!std::regex_search(page, m, re)) return -1;
  return std::stod(m[2]);
}

class Operator {
 public:
  Operator(const std::string& dir, const std::string& name, const std::string& kubeconfig,
           std::vector<std::string> extra = {})
      : log_(dir + "/" + name + ".log") {
    std::vector<std::string> argv = {BinaryDir() + "/operator/kfaas-operator",
                                     "--kubeconfig=" + kubeconfig,
                                     "--admin-port=0",
                                     "--admin-address=127.0.0.1",
                                     "--identity=" + name,
                                     "--workers=2"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc_ = std::make_unique<Subprocess>(argv, log_);
  }
  // The admin port, from the start-up log line.
  int AdminPort() {
    if (port_ > 0) return port_;
    std::smatch m;
    std::string log = proc_->Log();
    static const std::regex re("admin on :([0-9]+)");
    if (std::regex_search(log, m, re)) port_ = std::stoi(m[1]);
    return port_;
  }
  std::string Metrics() {
    int p = AdminPort();
    return p > 0 ? HttpGet(p, "/metrics") : "";
  }
  bool Ready() {
    int p = AdminPort();
    return p > 0 && HttpGet(p, "/readyz").rfind("HTTP/1.1 200", 0) == 0;
  }
  bool Leader() { return Metric(Metrics(), "kfaas_operator_leader") == 1; }
  double Reconciles() {
    std::string m = Metrics();
    double total = 0;
    for (const char* r : {"success", "error", "requeue"}) {
      total += std::max(
          0.0, Metric(m, std::string("kfaas_operator_reconcile_total{result=\"") + r + "\"}"));
    }
    return total;
  }
  Subprocess& proc() { return *proc_; }
  std::string Log() { return proc_->Log(); }

 private:
  std::string log_;
  std::unique_ptr<Subprocess> proc_;
  int port_ = 0;
};

class OperatorE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    local::ApiServer::Options o;
    o.home = dir_.path() + "/home";
    o.secure_port = 0;
    o.insecure_port = -1;
    server_ = std::make_unique<local::ApiServer>(o);
    auto s = server_->Start();
    ASSERT_TRUE(s.ok()) << s;
    kubeconfig_ = server_->kubeconfig_path();
    auto r = Kubectl({"apply", "-f", SourceDir() + "/crds/functions.kfaas.dev.yaml"});
    ASSERT_EQ(r.exit_code, 0) << r.out;
    ASSERT_TRUE(Eventually([&] { return Kubectl({"get", "fn"}).exit_code == 0; }));
  }
  void TearDown() override {
    for (auto& op : operators_) {
      if (HasFailure()) std::cerr << "---- operator log ----\n" << op->Log() << "\n";
    }
    operators_.clear();
    server_->Stop();
  }

  CommandResult Kubectl(std::vector<std::string> args, const std::string& stdin_text = "") {
    std::vector<std::string> argv = {"kubectl", "--kubeconfig=" + kubeconfig_,
                                     "--cache-dir=" + dir_.path() + "/kube-cache"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, dir_.path(), stdin_text);
  }
  std::string Jsonpath(const std::string& what, const std::string& path) {
    auto r = Kubectl({"get", what, "-o", "jsonpath=" + path});
    return r.exit_code == 0 ? r.out : "<error: " + r.out + ">";
  }
  Operator& StartOperator(const std::string& name, std::vector<std::string> extra = {}) {
    operators_.push_back(std::make_unique<Operator>(dir_.path(), name, kubeconfig_, extra));
    return *operators_.back();
  }
  std::string Testdata(const std::string& f) {
    return SourceDir() + "/tests/operator/testdata/e2e/" + f;
  }
  // kind/name -> resourceVersion of every Function, Deployment and Service in default.
  std::map<std::string, std::string> Versions() {
    auto r = Kubectl({"get", "functions,deployments,services", "-o",
                      "jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata."
                      "resourceVersion}{\"\\n\"}{end}"});
    std::map<std::string, std::string> out;
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line)) {
      size_t eq = line.find('=');
      if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return out;
  }
  // Waits until the operator has reconciled at least `min` times and then nothing for a while.
  void WaitIdle(Operator& op, double min) {
    double last = -1;
    auto since = std::chrono::steady_clock::now();
    ASSERT_TRUE(Eventually(
        [&] {
          double n = op.Reconciles();
          if (n < min || n != last) {
            last = n;
            since = std::chrono::steady_clock::now();
            return false;
          }
          return std::chrono::steady_clock::now() - since > std::chrono::milliseconds(700);
        },
        std::chrono::seconds(30)));
  }

  TempDir dir_;
  std::unique_ptr<local::ApiServer> server_;
  std::string kubeconfig_;
  std::vector<std::unique_ptr<Operator>> operators_;
};

TEST_F(OperatorE2E, ApplyGetEditDelete) {
  StartOperator("op-1", {"--leader-elect=false"});
  auto r = Kubectl({"apply", "-f", Testdata("hello.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("function.kfaas.dev/hello created"));

  // The Deployment and the Service, with the fields kfaas sets.
  ASSERT_TRUE(Eventually([&] {
    return Kubectl({"get", "deployment", "hello"}).exit_code == 0;
  })) << Kubectl({"get", "deployment", "hello"}).out;
  EXPECT_EQ(Jsonpath("deployment/hello", "{.metadata.labels.kfaas\\.dev/function}"), "hello");
  EXPECT_EQ(Jsonpath("deployment/hello",
                     "{.metadata.ownerReferences[0].kind}/"
                     "{.metadata.ownerReferences[0].name}/"
                     "{.metadata.ownerReferences[0].controller}"),
            "Function/hello/true");
  EXPECT_EQ(Jsonpath("deployment/hello", "{.spec.replicas}"), "0");
  EXPECT_EQ(Jsonpath("deployment/hello",
                     "{.spec.template.spec.containers[0].name}:"
                     "{.spec.template.spec.containers[0].image}:"
                     "{.spec.template.spec.containers[0].ports[0].name}:"
                     "{.spec.template.spec.containers[0].ports[0]."
                     "containerPort}"),
            "function:registry.example.com/hello:1.0:http:8080");
  EXPECT_EQ(Jsonpath("deployment/hello",
                     "{.spec.template.spec.containers[0].readinessProbe.httpGet.path}"),
            "/healthz");
  ASSERT_TRUE(Eventually([&] { return Kubectl({"get", "service", "hello"}).exit_code == 0; }));
  EXPECT_EQ(Jsonpath("service/hello",
                     "{.spec.type} {.spec.ports[0].port}->"
                     "{.spec.ports[0].targetPort} {.spec.selector}"),
            "ClusterIP 80->http {\"kfaas.dev/function\":\"hello\"}");

  // kubectl get fn shows the printer columns.
  ASSERT_TRUE(Eventually([&] {
    return Jsonpath("fn/hello", "{.status.conditions[?(@.type==\"Ready\")].status}") == "True";
  }));
  r = Kubectl({"get", "fn"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, ::testing::MatchesRegex(
                         "NAME +READY +REPLICAS +URL +LAST COLD START \\(MS\\) +AGE\n"
                         "hello +True +0 +http://hello\\.default\\.kfaas\\.local +[0-9]+s\n"));

  // Editing the spec updates the Deployment and observedGeneration.
  r = Kubectl({"apply", "-f", Testdata("hello-v2.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  ASSERT_TRUE(
      Eventually([&] { return Jsonpath("fn/hello", "{.status.observedGeneration}") == "2"; }));
  EXPECT_EQ(Jsonpath("deployment/hello", "{.spec.template.spec.containers[0].image}"),
            "registry.example.com/hello:2.0");
  EXPECT_EQ(Jsonpath("deployment/hello", "{.spec.template.spec.containers[0].env[0].value}"),
            "hello");

  // Deleting the Function removes its children.
  r = Kubectl({"delete", "fn", "hello"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  ASSERT_TRUE(Eventually([&] {
    return Kubectl({"get", "deployment", "hello"}).exit_code != 0 &&
           Kubectl({"get", "service", "hello"}).exit_code != 0;
  }));
  EXPECT_THAT(Kubectl({"get", "deployment", "hello"}).out, HasSubstr("NotFound"));
}

TEST_F(OperatorE2E, SchemaRefusesBadSpecsNamingTheField) {
  auto r = Kubectl({"apply", "-f", Testdata("timeout-too-long.yaml")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("spec.timeoutSeconds"));
  EXPECT_THAT(r.out, HasSubstr("900"));
  r = Kubectl({"apply", "-f", Testdata("port-not-a-number.yaml")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("spec.port"));
  EXPECT_THAT(r.out, HasSubstr("integer"));
  EXPECT_NE(Kubectl({"get", "fn", "slow"}).exit_code, 0);
  EXPECT_NE(Kubectl({"get", "fn", "porty"}).exit_code, 0);
}

TEST_F(OperatorE2E, ScaleMinAboveMaxIsNotReadyWithAReason) {
  StartOperator("op-1", {"--leader-elect=false"});
  auto r = Kubectl({"apply", "-f", Testdata("min-above-max.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string ready = "{.status.conditions[?(@.type==\"Ready\")]";
  ASSERT_TRUE(Eventually([&] { return Jsonpath("fn/inverted", ready + ".status}") == "False"; }));
  EXPECT_EQ(Jsonpath("fn/inverted", ready + ".reason}"), "InvalidScale");
  EXPECT_THAT(Jsonpath("fn/inverted", ready + ".message}"),
              HasSubstr("scale.min (5) must be <= scale.max (2)"));
  EXPECT_NE(Kubectl({"get", "deployment", "inverted"}).exit_code, 0);
  // A Warning Event on the Function.
  ASSERT_TRUE(Eventually([&] {
    return Kubectl({"get", "events", "--field-selector", "involvedObject.name=inverted"})
               .out.find("InvalidScale") != std::string::npos;
  }));
  r = Kubectl({"get", "fn", "inverted", "-o", "wide"});
  EXPECT_THAT(r.out, HasSubstr("InvalidScale"));
}

TEST_F(OperatorE2E, RestartChangesNothing) {
  Operator& first = StartOperator("op-1", {"--leader-elect=false"});
  auto r = Kubectl({"apply", "-f", Testdata("three.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  ASSERT_TRUE(Eventually([&] {
    return Jsonpath("fn", "{range .items[*]}{.status.observedGeneration}{end}") == "111";
  }));
  WaitIdle(first, 3);
  EXPECT_EQ(first.proc().Kill(SIGTERM), 0) << "graceful exit";
  auto before = Versions();
  ASSERT_EQ(before.size(), 9u);

  Operator& second = StartOperator("op-2", {"--leader-elect=false"});
  ASSERT_TRUE(Eventually([&] { return second.Ready(); }));
  WaitIdle(second, 3);
  EXPECT_EQ(Versions(), before) << "the restarted operator wrote something";
  EXPECT_THAT(second.Log(), Not(HasSubstr("created")));
  EXPECT_THAT(second.Log(), Not(HasSubstr("updated")));
}

TEST_F(OperatorE2E, TwoOperatorsOneLeaderAndTakeover) {
  std::vector<std::string> fast = {"--lease-duration-seconds=4", "--renew-deadline-seconds=3",
                                   "--retry-period-seconds=1"};
  Operator& a = StartOperator("op-a", fast);
  Operator& b = StartOperator("op-b", fast);
  ASSERT_TRUE(Eventually([&] { return a.Leader() || b.Leader(); }));
  ASSERT_TRUE(Eventually([&] { return a.Ready() && b.Ready(); }));
  Operator& leader = a.Leader() ? a : b;
  Operator& standby = a.Leader() ? b : a;
  EXPECT_FALSE(standby.Leader());
  EXPECT_EQ(Jsonpath("lease/kfaas-operator", "{.spec.holderIdentity}"),
            &leader == &a ? "op-a" : "op-b");

  auto r = Kubectl({"apply", "-f", Testdata("hello.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  ASSERT_TRUE(Eventually([&] { return Kubectl({"get", "deployment", "hello"}).exit_code == 0; }));
  WaitIdle(leader, 1);
  EXPECT_GE(leader.Reconciles(), 1);
  EXPECT_EQ(standby.Reconciles(), 0) << "the standby reconciled";

  // Kill the leader outright (no lease release): the standby takes over after the lease expires.
  leader.proc().Kill(SIGKILL);
  r = Kubectl({"apply", "-f", Testdata("three.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  ASSERT_TRUE(Eventually([&] { return standby.Leader(); }, std::chrono::seconds(30)));
  ASSERT_TRUE(Eventually(
      [&] {
        return Jsonpath("fn", "{range .items[*]}{.status.observedGeneration}{end}") == "1111";
      },
      std::chrono::seconds(30)));
  EXPECT_EQ(Jsonpath("lease/kfaas-operator", "{.spec.holderIdentity}"),
            &standby == &a ? "op-a" : "op-b");

  // A graceful stop releases the Lease at once.
  EXPECT_EQ(standby.proc().Kill(SIGTERM), 0);
  std::string holder = Jsonpath("lease/kfaas-operator", "{.spec.holderIdentity}");
  EXPECT_TRUE(holder == "" || holder == "null") << holder;
}

}  // namespace
}  // namespace kfaas::op
