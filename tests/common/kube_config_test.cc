#include "common/kube/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "common/kube/auth.h"
#include "common/kube/client.h"
#include "tests/common/kube_test_util.h"

namespace kfaas::kube {
namespace {

using testing::Base64;
using ::testing::HasSubstr;
using testing::TempDir;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

GetEnvFunc Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

class KubeconfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new testing::Pki(testing::MakePki()); }
  static const testing::Pki& pki() { return *pki_; }
  TempDir dir_;
  static testing::Pki* pki_;
};
testing::Pki* KubeconfigTest::pki_ = nullptr;

TEST_F(KubeconfigTest, TokenUserWithCaData) {
  std::string kc = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: )" +
                   Base64(pki().ca_cert) + R"(
    tls-server-name: kfaas.local
contexts:
- name: dev
  context: {cluster: local, user: alice, namespace: team-a}
users:
- name: alice
  user:
    token: "0123abc"
)";
  auto rc = ParseKubeconfig(kc, dir_.path() + "/config");
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->host, "https://127.0.0.1:6443");
  EXPECT_EQ(rc->ca_pem, pki().ca_cert);
  EXPECT_EQ(rc->tls_server_name, "kfaas.local");
  EXPECT_EQ(rc->bearer_token, "0123abc");  // quoted digits stay a string
  EXPECT_EQ(rc->default_namespace, "team-a");
  EXPECT_THAT(rc->source, HasSubstr("context dev"));
}

TEST_F(KubeconfigTest, ContextOverrideAndMissingContext) {
  std::string kc = R"(current-context: foo
clusters: [{name: c, cluster: {server: "https://h:1", insecure-skip-tls-verify: true}}]
contexts:
- {name: other, context: {cluster: c}}
)";
  std::string path = dir_.Write("config", kc);
  auto rc = LoadKubeconfig({path}, "");
  ASSERT_FALSE(rc.ok());
  EXPECT_EQ(Msg(rc.status()),
            "kubeconfig " + path + ": context \"foo\" not found (current-context)");
  rc = LoadKubeconfig({path}, "other");
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_TRUE(rc->insecure_skip_tls_verify);
  EXPECT_EQ(rc->default_namespace, "default");
  rc = LoadKubeconfig({path}, "nope");
  EXPECT_THAT(Msg(rc.status()), HasSubstr("context \"nope\" not found (--context)"));
}

TEST_F(KubeconfigTest, CertificateFilesAreRelativeToTheKubeconfig) {
  dir_.Write("pki/ca.crt", pki().ca_cert);
  dir_.Write("pki/client.crt", pki().client_cert);
  dir_.Write("pki/client.key", pki().client_key, 0600);
  std::string kc = R"(current-context: x
clusters: [{name: c, cluster: {server: "https://localhost:6443", certificate-authority: pki/ca.crt}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
users: [{name: u, user: {client-certificate: pki/client.crt, client-key: pki/client.key}}]
)";
  std::string path = dir_.Write("config", kc);
  auto rc = LoadKubeconfig({path}, "");
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->ca_pem, pki().ca_cert);
  EXPECT_EQ(rc->client_cert_pem, pki().client_cert);
  EXPECT_EQ(rc->client_key_pem, pki().client_key);
}

TEST_F(KubeconfigTest, MissingCertificateFileNamesFileAndField) {
  std::string kc = R"(current-context: x
clusters: [{name: c, cluster: {server: "https://localhost:6443"}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
users: [{name: u, user: {client-certificate: cert.pem, client-key: key.pem}}]
)";
  std::string path = dir_.Write("config", kc);
  auto rc = LoadKubeconfig({path}, "");
  ASSERT_FALSE(rc.ok());
  EXPECT_EQ(Msg(rc.status()), "kubeconfig " + path + ": users[0].user.client-certificate: open " +
                                  dir_.path() + "/cert.pem: No such file or directory");
}

TEST_F(KubeconfigTest, MalformedInputsNameTheProblem) {
  struct Case {
    std::string yaml;
    std::string want;
  };
  std::string ok_cluster = "clusters: [{name: c, cluster: {server: \"https://h:1\"}}]\n";
  std::vector<Case> cases = {
      {"clusters: [\n  - {name: c", "yaml: line"},
      {"- just\n- a list\n", "expected a YAML map"},
      {"current-context: x\n" + ok_cluster + "contexts: [{name: x, context: {cluster: nope}}]\n",
       "contexts[0].context.cluster: cluster \"nope\" not found"},
      {"current-context: x\n" + ok_cluster +
           "contexts: [{name: x, context: {cluster: c, user: bob}}]\n",
       "contexts[0].context.user: user \"bob\" not found"},
      {"current-context: x\nclusters: [{name: c, cluster: {}}]\n"
       "contexts: [{name: x, context: {cluster: c}}]\n",
       "clusters[0].cluster.server: required"},
      {"current-context: x\nclusters: [{name: c, cluster: {server: \"https://h:1\", "
       "certificate-authority-data: \"!!notbase64\"}}]\ncontexts: [{name: x, context: {cluster: "
       "c}}]\n",
       "clusters[0].cluster.certificate-authority-data: illegal base64 data"},
      {"current-context: x\nclusters: [{name: c, cluster: {server: \"https://h:1\", "
       "certificate-authority-data: " +
           Base64("hello") + "}}]\ncontexts: [{name: x, context: {cluster: c}}]\n",
       "certificate-authority-data: no PEM certificate found"},
      {"current-context: x\n" + ok_cluster +
           "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
           "users: [{name: u, user: {client-certificate-data: " +
           Base64(pki().client_cert) + "}}]\n",
       "users[0].user: client-certificate is set without client-key"},
      {"current-context: x\n" + ok_cluster +
           "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
           "users: [{name: u, user: {token: t, username: a, password: b}}]\n",
       "more than one authentication method"},
      {"current-context: x\n" + ok_cluster +
           "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
           "users: [{name: u, user: {exec: {command: foo, apiVersion: "
           "client.authentication.k8s.io/v1}}}]\n",
       "users[0].user.exec.interactiveMode: required"},
      {"current-context: x\n" + ok_cluster +
           "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
           "users: [{name: u, user: {exec: {command: foo, apiVersion: "
           "client.authentication.k8s.io/v1alpha1}}}]\n",
       "users[0].user.exec.apiVersion: \"client.authentication.k8s.io/v1alpha1\" is not supported"},
      {"current-context: x\n" + ok_cluster +
           "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
           "users: [{name: u, user: {auth-provider: {name: gcp}}}]\n",
       "users[0].user.auth-provider: not supported"},
      {"clusters: {c: 1}\n", "clusters: expected a list"},
      {"contexts: [{context: {cluster: c}}]\n", "contexts[0].name: required"},
      {"", "no configuration found"},
  };
  for (const auto& c : cases) {
    std::string path = dir_.Write("bad", c.yaml);
    auto rc = LoadKubeconfig({path}, "");
    ASSERT_FALSE(rc.ok()) << c.yaml;
    EXPECT_THAT(Msg(rc.status()), HasSubstr("kubeconfig " + path + ": ")) << c.yaml;
    EXPECT_THAT(Msg(rc.status()), HasSubstr(c.want)) << c.yaml;
  }
}

TEST_F(KubeconfigTest, MismatchedClientCertAndKey) {
  auto other = testing::MakePki();
  std::string kc =
      "current-context: x\nclusters: [{name: c, cluster: {server: \"https://h:1\"}}]\n"
      "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
      "users: [{name: u, user: {client-certificate-data: " +
      Base64(pki().client_cert) + ", client-key-data: " + Base64(other.client_key) + "}}]\n";
  auto rc = ParseKubeconfig(kc, "/k");
  ASSERT_FALSE(rc.ok());
  EXPECT_THAT(Msg(rc.status()), HasSubstr("does not match"));
}

TEST_F(KubeconfigTest, MergesKubeconfigListFirstWins) {
  std::string a = dir_.Write("a", R"(current-context: ctx-a
clusters: [{name: shared, cluster: {server: "https://from-a:1"}}]
contexts:
- {name: ctx-a, context: {cluster: shared, user: ua}}
users: [{name: ua, user: {token: token-a}}]
)");
  std::string b = dir_.Write("b", R"(current-context: ctx-b
clusters:
- {name: shared, cluster: {server: "https://from-b:1"}}
- {name: only-b, cluster: {server: "https://only-b:1"}}
contexts:
- {name: ctx-b, context: {cluster: only-b, user: ub, namespace: nb}}
- {name: ctx-a, context: {cluster: only-b}}
users: [{name: ub, user: {tokenFile: tok}}]
)");
  dir_.Write("tok", "token-b\n");
  std::string missing = dir_.path() + "/does-not-exist";
  auto Opts = [](const std::string& kubeconfig_env, const std::string& context = "") {
    ConfigLoadOptions o;
    o.context = context;
    o.getenv = Env({{"KUBECONFIG", kubeconfig_env}});
    return o;
  };
  auto rc = LoadConfig(Opts(missing + ":" + a + ":" + b));
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->host, "https://from-a:1");  // cluster "shared" and context "ctx-a" from a
  EXPECT_EQ(rc->bearer_token, "token-a");
  rc = LoadConfig(Opts(a + ":" + b, "ctx-b"));
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->host, "https://only-b:1");
  EXPECT_EQ(rc->bearer_token_file, dir_.path() + "/tok");  // relative to b
  EXPECT_EQ(rc->default_namespace, "nb");
  // Order matters: b first.
  rc = LoadConfig(Opts(b + ":" + a));
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->host, "https://only-b:1");
}

TEST_F(KubeconfigTest, PlainHttpServerGetsNoCredentials) {
  auto rc = ParseKubeconfig(R"(current-context: x
clusters: [{name: c, cluster: {server: "http://127.0.0.1:8080"}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: secret}}]
)",
                            "/k");
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->host, "http://127.0.0.1:8080");
  EXPECT_EQ(rc->bearer_token, "");
}

TEST_F(KubeconfigTest, InClusterConfig) {
  dir_.Write("sa/token", "sa-token\n");
  dir_.Write("sa/ca.crt", pki().ca_cert);
  dir_.Write("sa/namespace", "kfaas-system");
  auto rc = InClusterConfig(
      Env({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}}),
      dir_.path() + "/sa");
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->host, "https://10.0.0.1:443");
  EXPECT_EQ(rc->bearer_token_file, dir_.path() + "/sa/token");
  EXPECT_EQ(rc->default_namespace, "kfaas-system");
  EXPECT_EQ(rc->ca_pem, pki().ca_cert);

  rc = InClusterConfig(Env({{"KUBERNETES_SERVICE_HOST", "fd00::1"},
                            {"KUBERNETES_SERVICE_PORT", "6443"},
                            {"POD_NAMESPACE", "mine"}}),
                       dir_.path() + "/sa");
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->host, "https://[fd00::1]:6443");
  EXPECT_EQ(rc->default_namespace, "mine");

  rc = InClusterConfig(Env({}), dir_.path() + "/sa");
  EXPECT_TRUE(absl::IsNotFound(rc.status()));
}

TEST_F(KubeconfigTest, Precedence) {
  dir_.Write("sa/token", "t");
  dir_.Write("sa/ca.crt", pki().ca_cert);
  auto kc = [&](const std::string& server) {
    return "current-context: x\nclusters: [{name: c, cluster: {server: \"" + server +
           "\"}}]\ncontexts: [{name: x, context: {cluster: c}}]\n";
  };
  std::string flag = dir_.Write("flag", kc("https://flag:1"));
  std::string env = dir_.Write("env", kc("https://env:1"));
  dir_.Write("home/.kube/config", kc("https://home:1"));
  std::map<std::string, std::string> vars = {{"KUBECONFIG", env},
                                             {"KUBERNETES_SERVICE_HOST", "incluster"},
                                             {"KUBERNETES_SERVICE_PORT", "443"},
                                             {"HOME", dir_.path() + "/home"}};
  ConfigLoadOptions opts;
  opts.kubeconfig = flag;
  opts.getenv = Env(vars);
  opts.service_account_dir = dir_.path() + "/sa";
  EXPECT_EQ(LoadConfig(opts)->host, "https://flag:1");
  opts.kubeconfig = "";
  EXPECT_EQ(LoadConfig(opts)->host, "https://env:1");
  vars.erase("KUBECONFIG");
  opts.getenv = Env(vars);
  EXPECT_EQ(LoadConfig(opts)->host, "https://incluster:443");
  vars.erase("KUBERNETES_SERVICE_HOST");
  opts.getenv = Env(vars);
  EXPECT_EQ(LoadConfig(opts)->host, "https://home:1");
  vars["HOME"] = dir_.path() + "/nowhere";
  opts.getenv = Env(vars);
  auto rc = LoadConfig(opts);
  ASSERT_FALSE(rc.ok());
  EXPECT_THAT(Msg(rc.status()), HasSubstr("no Kubernetes configuration"));
  // An explicit path that does not exist is an error, not a fallback.
  opts.kubeconfig = dir_.path() + "/missing";
  rc = LoadConfig(opts);
  ASSERT_FALSE(rc.ok());
  EXPECT_THAT(Msg(rc.status()), HasSubstr("kubeconfig " + opts.kubeconfig + ": open"));
}

// --- Token sources and the exec plugin -------------------------------------------------

TEST(TokenSources, FileTokenIsReReadAfterTheRefreshPeriod) {
  TempDir dir;
  std::string path = dir.Write("token", "one\n");
  FakeClock clock;
  auto src = FileTokenSource(path, clock, std::chrono::minutes(1));
  EXPECT_EQ(*src->Token(), "one");
  dir.Write("token", "two\n");
  EXPECT_EQ(*src->Token(), "one");  // cached
  clock.Advance(std::chrono::seconds(61));
  EXPECT_EQ(*src->Token(), "two");
  dir.Write("token", "three\n");
  EXPECT_TRUE(src->Invalidate("two"));  // a 401: the file changed, so a retry may help
  EXPECT_EQ(*src->Token(), "three");
  EXPECT_FALSE(src->Invalidate("three"));  // unchanged: retrying is pointless
}

class ExecPluginTest : public ::testing::Test {
 protected:
  // A plugin that counts its runs, records its environment and prints a credential.
  ExecConfig Plugin(const std::string& body,
                    const std::string& api = "client.authentication.k8s.io/v1") {
    std::string script =
        "#!/bin/sh\n"
        "echo run >> " +
        dir_.path() +
        "/runs\n"
        "printf '%s' \"$KUBERNETES_EXEC_INFO\" > " +
        dir_.path() + "/info\n" + body;
    ExecConfig ex;
    ex.command = dir_.Write("plugin.sh", script, 0755);
    ex.api_version = api;
    ex.interactive_mode = "Never";
    ex.origin = "test";
    return ex;
  }
  int Runs() {
    std::ifstream in(dir_.path() + "/runs");
    int n = 0;
    std::string line;
    while (std::getline(in, line)) ++n;
    return n;
  }
  std::string Info() {
    std::ifstream in(dir_.path() + "/info");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  TempDir dir_;
};

TEST_F(ExecPluginTest, ReturnsTokenArgsAndEnv) {
  auto ex = Plugin(
      R"(printf '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"%s-%s"}}' "$1" "$MY_VAR")");
  ex.args = {"arg1"};
  ex.env = {{"MY_VAR", "fromenv"}};
  ex.provide_cluster_info = true;
  ExecClusterInfo cluster;
  cluster.server = "https://x:1";
  cluster.ca_pem = "CA";
  auto cred = RunExecPlugin(ex, cluster);
  ASSERT_TRUE(cred.ok()) << cred.status();
  EXPECT_EQ(cred->token, "arg1-fromenv");
  EXPECT_FALSE(cred->expiration.has_value());
  Json info = Json::parse(Info());
  EXPECT_EQ(info["kind"], "ExecCredential");
  EXPECT_EQ(info["apiVersion"], "client.authentication.k8s.io/v1");
  EXPECT_EQ(info["spec"]["interactive"], false);
  EXPECT_EQ(info["spec"]["cluster"]["server"], "https://x:1");
  EXPECT_EQ(info["spec"]["cluster"]["certificate-authority-data"], Base64("CA"));
}

TEST_F(ExecPluginTest, CachesUntilExpirationAndReRunsAfter401) {
  auto ex = Plugin(
      R"(printf '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"tok","expirationTimestamp":"2026-01-01T00:10:00Z"}}')",
      "client.authentication.k8s.io/v1beta1");
  FakeClock clock;  // 2026-01-01T00:00:00Z
  auto src = ExecTokenSource(ex, {}, clock);
  EXPECT_EQ(*src->Token(), "tok");
  EXPECT_EQ(*src->Token(), "tok");
  EXPECT_EQ(Runs(), 1);
  clock.Advance(std::chrono::minutes(9));
  EXPECT_EQ(*src->Token(), "tok");
  EXPECT_EQ(Runs(), 1);
  clock.Advance(std::chrono::minutes(2));  // past expirationTimestamp
  EXPECT_EQ(*src->Token(), "tok");
  EXPECT_EQ(Runs(), 2);
  EXPECT_TRUE(src->Invalidate("tok"));
  EXPECT_EQ(*src->Token(), "tok");
  EXPECT_EQ(Runs(), 3);
  EXPECT_THAT(src->Describe(), HasSubstr("plugin.sh"));
}

TEST_F(ExecPluginTest, FailuresAreClear) {
  auto ex = Plugin("echo 'token expired, run login' >&2\nexit 3\n");
  auto cred = RunExecPlugin(ex, {});
  ASSERT_FALSE(cred.ok());
  EXPECT_THAT(Msg(cred.status()), HasSubstr("exit status 3"));
  EXPECT_THAT(Msg(cred.status()), HasSubstr("token expired, run login"));

  ex = Plugin("echo 'not json'\n");
  cred = RunExecPlugin(ex, {});
  EXPECT_THAT(Msg(cred.status()), HasSubstr("not a JSON ExecCredential"));

  ex = Plugin(
      R"(echo '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"x"}}')");
  cred = RunExecPlugin(ex, {});
  EXPECT_THAT(Msg(cred.status()),
              HasSubstr("plugin returned version client.authentication.k8s.io/v1beta1"));

  ex = Plugin(
      R"(echo '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{}}')");
  cred = RunExecPlugin(ex, {});
  EXPECT_THAT(Msg(cred.status()), HasSubstr("neither a token"));

  ex.command = dir_.path() + "/no-such-plugin";
  ex.install_hint = "Install it with: apt install foo";
  cred = RunExecPlugin(ex, {});
  EXPECT_THAT(Msg(cred.status()), HasSubstr("executable not found"));
  EXPECT_THAT(Msg(cred.status()), HasSubstr("apt install foo"));

  ex = Plugin("sleep 5\n");
  cred = RunExecPlugin(ex, {}, std::chrono::milliseconds(200));
  EXPECT_TRUE(absl::IsDeadlineExceeded(cred.status())) << cred.status();

  ex = Plugin("exit 0\n");
  ex.interactive_mode = "Always";
  cred = RunExecPlugin(ex, {});
  EXPECT_THAT(Msg(cred.status()), HasSubstr("requires interactive mode"));
}

TEST_F(ExecPluginTest, KubeconfigExecCommandRelativeToFile) {
  std::string kc = R"(current-context: x
clusters: [{name: c, cluster: {server: "https://h:1", insecure-skip-tls-verify: true}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./bin/plugin
      args: [get-token]
      env: [{name: A, value: b}]
      interactiveMode: IfAvailable
      provideClusterInfo: true
)";
  std::string path = dir_.Write("config", kc);
  auto rc = LoadKubeconfig({path}, "");
  ASSERT_TRUE(rc.ok()) << rc.status();
  ASSERT_TRUE(rc->exec.has_value());
  EXPECT_EQ(rc->exec->command, dir_.path() + "/./bin/plugin");
  EXPECT_EQ(rc->exec->args, std::vector<std::string>{"get-token"});
  EXPECT_EQ(rc->exec->env.size(), 1u);
  EXPECT_TRUE(rc->exec->provide_cluster_info);
  EXPECT_EQ(rc->exec->interactive_mode, "IfAvailable");
}

}  // namespace
}  // namespace kfaas::kube
