// The real kubectl (v1.32, over HTTPS with the generated kubeconfig) against the local API
// server. Each test gets a fresh HOME and kubectl cache directory.
#include <gtest/gtest.h>
#include <signal.h>

#include "common/kube/errors.h"
#include "local/apiserver/schema.h"
#include "tests/local/apiserver_testutil.h"

namespace kfaas {
namespace {

using testing::Json;
using testing::Run;
using testing::TestServer;
using testing::WaitFor;
namespace res = kube::resources;

constexpr char kCrd[] = R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Phase, type: string, jsonPath: .status.phase}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}
              colour: {type: string}
          status:
            type: object
            properties:
              phase: {type: string}
)";

std::string Widget(const std::string& name, const std::string& size,
                   const std::string& extra = "") {
  return "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: " + name +
         "\nspec:\n  size: " + size + "\n" + extra;
}

bool SchemaImplemented() {
  Json schema = {{"type", "object"}, {"properties", {{"a", {{"type", "integer"}}}}}};
  Json obj = {{"a", "x"}};
  return !local::ProcessObject(schema, obj).errors.empty();
}

class KubectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ts.status.ok()) << ts.status;
    home = ts.dir.path() + "/kubectl-home";
    std::filesystem::create_directories(home);
    kubeconfig = ts.server->kubeconfig_path();
  }
  testing::CommandResult Kubectl(const std::string& args) {
    return testing::Run("HOME=" + home + " KUBECONFIG= kubectl --kubeconfig=" + kubeconfig +
                        " --cache-dir=" + home + "/cache --request-timeout=30s " + args);
  }
  std::string File(const std::string& name, const std::string& text) {
    std::string p = ts.dir.path() + "/" + name;
    testing::WriteText(p, text);
    return p;
  }
  TestServer ts;
  std::string home;
  std::string kubeconfig;
};

TEST_F(KubectlTest, ApplyCrdAndObjectsAndPrinterColumns) {
  auto r = Kubectl("apply -f " + File("crd.yaml", kCrd));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("customresourcedefinition.apiextensions.k8s.io/widgets.example.com "
                          "created"),
            std::string::npos)
      << r.output;
  r = Kubectl("apply -f " + File("w1.yaml", Widget("w1", "3")));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("widget.example.com/w1 created"), std::string::npos) << r.output;
  r = Kubectl("get widgets");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("NAME"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("w1"), std::string::npos) << r.output;
  r = Kubectl("get wd w1 -o yaml");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("size: 3"), std::string::npos) << r.output;
  // Re-applying a changed manifest patches it.
  r = Kubectl("apply -f " + File("w1b.yaml", Widget("w1", "5")));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("widget.example.com/w1 configured"), std::string::npos) << r.output;
  r = Kubectl("get widget w1 -o jsonpath={.spec.size}");
  EXPECT_EQ(r.output, "5");
  r = Kubectl("apply --server-side -f " + File("w2.yaml", Widget("w2", "2")));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("widget.example.com/w2 serverside-applied"), std::string::npos)
      << r.output;
  r = Kubectl("api-resources");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("widgets"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("deployments"), std::string::npos) << r.output;
  if (SchemaImplemented()) {
    r = Kubectl("get widgets");
    EXPECT_NE(r.output.find("SIZE"), std::string::npos) << r.output;
    r = Kubectl("apply -f " + File("bad.yaml", Widget("w3", "\"big\"")));
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.output.find("spec.size"), std::string::npos) << r.output;
    r = Kubectl("apply -f " + File("bad2.yaml",
                                   "apiVersion: example.com/v1\nkind: Widget\n"
                                   "metadata:\n  name: w4\nspec:\n  colour: red\n"));
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.output.find("spec.size: Required value"), std::string::npos) << r.output;
    r = Kubectl("apply -f " + File("bad3.yaml", Widget("w5", "1", "  colr: red\n")));
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.output.find("unknown field \"spec.colr\""), std::string::npos) << r.output;
  }
}

TEST_F(KubectlTest, DeploymentCreateScaleAndForegroundDelete) {
  auto r = Kubectl("create deployment web --image=nginx:1.27");
  ASSERT_EQ(r.code, 0) << r.output;
  r = Kubectl("scale deployment web --replicas=3");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("deployment.apps/web scaled"), std::string::npos) << r.output;
  r = Kubectl("get deployment web -o jsonpath={.spec.replicas}");
  EXPECT_EQ(r.output, "3");
  r = Kubectl("get deployments");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("web"), std::string::npos) << r.output;
  // An owned ConfigMap goes with its owner.
  auto c = ts.server->LocalClient("test");
  auto dep = c->Get(res::kDeployments, "default", "web");
  ASSERT_TRUE(dep.ok());
  Json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata",
              {{"name", "web-config"},
               {"namespace", "default"},
               {"ownerReferences",
                {{{"apiVersion", "apps/v1"},
                  {"kind", "Deployment"},
                  {"name", "web"},
                  {"uid", (*dep)["metadata"]["uid"]},
                  {"blockOwnerDeletion", true}}}}}}};
  ASSERT_TRUE(c->Create(res::kConfigMaps, "default", cm).ok());
  r = Kubectl("delete deployment web --cascade=foreground");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(absl::IsNotFound(c->Get(res::kDeployments, "default", "web").status()));
  EXPECT_TRUE(absl::IsNotFound(c->Get(res::kConfigMaps, "default", "web-config").status()));
}

TEST_F(KubectlTest, GetWatchPrintsAnUpdateFromAnotherClient) {
  auto c = ts.server->LocalClient("test");
  Json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", "first"}, {"namespace", "default"}}}};
  ASSERT_TRUE(c->Create(res::kConfigMaps, "default", cm).ok());
  std::string out = ts.dir.path() + "/watch.out";
  std::string cmd = "HOME=" + home + " KUBECONFIG= exec kubectl --kubeconfig=" + kubeconfig +
                    " --cache-dir=" + home + "/cache get configmaps -w > " + out + " 2>&1";
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  bool listed = WaitFor([&] { return testing::ReadText(out).find("first") != std::string::npos; },
                        std::chrono::seconds(30));
  cm["metadata"]["name"] = "second";
  ASSERT_TRUE(c->Create(res::kConfigMaps, "default", cm).ok());
  bool saw = WaitFor([&] { return testing::ReadText(out).find("second") != std::string::npos; },
                     std::chrono::seconds(30));
  kill(-pid, SIGTERM);
  int st;
  waitpid(pid, &st, 0);
  EXPECT_TRUE(listed) << testing::ReadText(out);
  EXPECT_TRUE(saw) << testing::ReadText(out);
}

TEST_F(KubectlTest, LogsConflictsAndExpiredWatch) {
  auto r = Kubectl("run p --image=busybox:1 --restart=Never");
  ASSERT_EQ(r.code, 0) << r.output;
  testing::WriteText(ts.server->log_dir() + "/default_p_p.log", "hello from p\n");
  r = Kubectl("logs p");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output, "hello from p\n");
  // A stale update gets 409.
  r = Kubectl("create configmap c --from-literal=a=b");
  ASSERT_EQ(r.code, 0) << r.output;
  r = Kubectl("get configmap c -o json");
  Json cm = Json::parse(r.output);
  Kubectl("label configmap c x=y");
  cm["data"]["a"] = "c";
  r = Kubectl("replace -f " + File("stale.json", cm.dump()));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("the object has been modified"), std::string::npos) << r.output;
  // A watch from a compacted version: 200, then one ERROR event with 410.
  std::string rv = cm["metadata"]["resourceVersion"];
  ts.server->CompactHistory();
  r = Kubectl("get --raw '/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + rv +
              "'");
  EXPECT_NE(r.output.find("\"type\":\"ERROR\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"code\":410"), std::string::npos) << r.output;
}

TEST_F(KubectlTest, ClientCertificateKubeconfig) {
  auto cert = ts.server->IssueClientCertificate("alice", {"devs"});
  ASSERT_TRUE(cert.ok());
  kubeconfig = ts.dir.path() + "/alice.kubeconfig";
  ASSERT_TRUE(ts.server->WriteKubeconfig(kubeconfig, &*cert).ok());
  auto r = Kubectl("get namespaces");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("kube-system"), std::string::npos) << r.output;
}

TEST(KfaasLocalProcess, StartsServesAndStopsOnSigterm) {
  testing::TempDir dir;
  const char* bin_dir = getenv("KFAAS_BINARY_DIR");
  ASSERT_NE(bin_dir, nullptr);
  std::string bin = std::string(bin_dir) + "/local/kfaas-local";
  std::string crd = dir.path() + "/crd.yaml";
  testing::WriteText(crd, kCrd);
  pid_t pid = fork();
  if (pid == 0) {
    std::string log = dir.path() + "/kfaas-local.log";
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(bin.c_str(), bin.c_str(), ("--home=" + dir.path() + "/home").c_str(), "--secure-port=0",
          "--insecure-port=auto", ("--preload=" + crd).c_str(), "--max-header-bytes=8192",
          "--watch-batch-ms=2", nullptr);
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  std::string state = dir.path() + "/home/apiserver.json";
  bool up = WaitFor([&] { return std::filesystem::exists(state); }, std::chrono::seconds(30));
  testing::CommandResult r;
  int small_header = 0, big_header = 0;
  if (up) {
    r = testing::Run("HOME=" + dir.path() + " KUBECONFIG= kubectl --kubeconfig=" + dir.path() +
                     "/home/kubeconfig --cache-dir=" + dir.path() + "/cache get crd");
    // --max-header-bytes=8192: a 10 KB header gets 431.
    auto port =
        static_cast<uint16_t>(Json::parse(testing::ReadText(state))["insecurePort"].get<int>());
    small_header =
        testing::Request(port, "GET", "/version", "", {{"X-Pad", std::string(4000, 'a')}}).code;
    big_header =
        testing::Request(port, "GET", "/version", "", {{"X-Pad", std::string(10000, 'a')}}).code;
  }
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(up) << testing::ReadText(dir.path() + "/kfaas-local.log");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("widgets.example.com"), std::string::npos) << r.output;
  EXPECT_EQ(small_header, 200);
  EXPECT_EQ(big_header, 431);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
      << testing::ReadText(dir.path() + "/kfaas-local.log");
}

}  // namespace
}  // namespace kfaas
