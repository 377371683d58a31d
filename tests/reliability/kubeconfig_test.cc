// Malformed kubeconfigs (common/kube/config.h): each error names the file and the field, and
// says what is wrong. Complements tests/common/kube_config_test.cc (which covers a bad YAML
// syntax, missing clusters/users, bad certificate-authority-data and --context not found) with
// the cases below.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/kube/config.h"
#include "tests/common/kube_test_util.h"

namespace kfaas::kube {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

const std::string kCluster = "clusters: [{name: c, cluster: {server: \"https://h:1\"}}]\n";
const std::string kContext = "contexts: [{name: x, context: {cluster: c, user: u}}]\n";

struct Case {
  std::string name;
  std::string yaml;
  std::string want;  // besides "kubeconfig <path>: "
};

void ExpectErrors(const TempDir& dir, const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    std::string path = dir.Write("config-" + std::to_string(&c - cases.data()), c.yaml);
    auto rc = LoadKubeconfig({path}, "");
    ASSERT_FALSE(rc.ok()) << c.name << ": loaded " << rc->host;
    EXPECT_THAT(Msg(rc.status()), HasSubstr("kubeconfig " + path + ": ")) << c.name;
    EXPECT_THAT(Msg(rc.status()), HasSubstr(c.want)) << c.name;
  }
}

TEST(MalformedKubeconfig, MissingFiles) {
  TempDir dir;
  std::string missing = dir.path() + "/no/such/config";
  auto rc = LoadKubeconfig({missing}, "");
  ASSERT_FALSE(rc.ok());
  EXPECT_THAT(Msg(rc.status()), HasSubstr("kubeconfig " + missing + ": open"));
  // A directory where the file should be.
  rc = LoadKubeconfig({dir.path()}, "");
  ASSERT_FALSE(rc.ok());
  EXPECT_THAT(Msg(rc.status()), HasSubstr("kubeconfig " + dir.path()));
  // In a $KUBECONFIG list missing files are skipped, but the bad one is named.
  std::string bad = dir.Write("bad", "clusters: [\n");
  rc = LoadKubeconfig({missing, bad}, "", /*require_all=*/false);
  ASSERT_FALSE(rc.ok());
  EXPECT_THAT(Msg(rc.status()), HasSubstr("kubeconfig " + bad + ": yaml: line"));
  // Every file missing.
  rc = LoadKubeconfig({missing, missing + "2"}, "", /*require_all=*/false);
  ASSERT_FALSE(rc.ok());
}

TEST(MalformedKubeconfig, BadYaml) {
  TempDir dir;
  ExpectErrors(
      dir, {
               {"unclosed flow map", "clusters: [{name: c\n", "yaml: line"},
               {"tab indentation", "clusters:\n\t- name: c\n", "yaml: line"},
               {"binary", std::string("\x89PNG\r\n\x1a\n\0\0", 10), ""},
               {"a scalar", "just a string\n", "map"},
               {"clusters a scalar", "clusters: 3\n", "clusters: expected a list"},
               {"users a map", "users: {u: 1}\n", "users: expected a list"},
               {"contexts a map", "contexts: {x: 1}\n", "contexts: expected a list"},
               {"cluster entry a scalar", "current-context: x\nclusters: [c]\n" + kContext,
                "clusters[0]"},
               {"server a list",
                "current-context: x\nclusters: [{name: c, cluster: {server: [a]}}]\n" + kContext +
                    "users: [{name: u, user: {}}]\n",
                "clusters[0].cluster.server"},
               {"duplicate key", "current-context: x\ncurrent-context: y\n" + kCluster, ""},
           });
}

TEST(MalformedKubeconfig, MissingOrDanglingCurrentContext) {
  TempDir dir;
  std::string users = "users: [{name: u, user: {token: t}}]\n";
  ExpectErrors(
      dir,
      {
          {"no current-context", kCluster + kContext + users, "current-context"},
          {"empty current-context", "current-context: \"\"\n" + kCluster + kContext + users,
           "current-context"},
          {"current-context names nothing", "current-context: gone\n" + kCluster + kContext + users,
           "context \"gone\" not found (current-context)"},
          {"current-context a list", "current-context: [x]\n" + kCluster + kContext + users,
           "current-context"},
      });
}

TEST(MalformedKubeconfig, BadBase64InDataFields) {
  TempDir dir;
  std::string head = "current-context: x\n" + kCluster + kContext;
  std::string cert = testing::Base64(testing::MakePki().client_cert);
  ExpectErrors(dir, {
                        {"client-certificate-data",
                         head + "users: [{name: u, user: {client-certificate-data: \"%%%\", "
                                "client-key-data: \"a2V5\"}}]\n",
                         "users[0].user.client-certificate-data: illegal base64 data"},
                        {"client-key-data",
                         head + "users: [{name: u, user: {client-certificate-data: \"" + cert +
                             "\", client-key-data: \"not base64!\"}}]\n",
                         "users[0].user.client-key-data: illegal base64 data"},
                        {"certificate-authority-data truncated",
                         "current-context: x\nclusters: [{name: c, cluster: {server: "
                         "\"https://h:1\", certificate-authority-data: \"TFM=x\"}}]\n" +
                             kContext + "users: [{name: u, user: {}}]\n",
                         "clusters[0].cluster.certificate-authority-data"},
                        {"client-key-data valid base64 but not PEM",
                         head + "users: [{name: u, user: {client-certificate-data: \"Y2VydA==\", "
                                "client-key-data: \"a2V5\"}}]\n",
                         "users[0].user.client-"},
                    });
}

// A referenced file that is not a certificate or token at all: /dev/zero would be read without
// end, a huge file would be read whole. Both stop at the size bound with the field named.
TEST(MalformedKubeconfig, ReferencedFilesAreBounded) {
  TempDir dir;
  std::string big = dir.Write("big.pem", std::string(5 << 20, 'A'));
  std::string users = "users: [{name: u, user: {token: t}}]\n";
  ExpectErrors(dir, {
                        {"certificate-authority /dev/zero",
                         "current-context: x\nclusters: [{name: c, cluster: {server: "
                         "\"https://h:1\", certificate-authority: /dev/zero}}]\n" +
                             kContext + users,
                         "larger than 4096 KiB"},
                        {"certificate-authority 5 MiB",
                         "current-context: x\nclusters: [{name: c, cluster: {server: "
                         "\"https://h:1\", certificate-authority: " +
                             big + "}}]\n" + kContext + users,
                         "certificate-authority"},
                        {"tokenFile /dev/zero",
                         "current-context: x\n" + kCluster + kContext +
                             "users: [{name: u, user: {tokenFile: /dev/zero}}]\n",
                         "larger than 4096 KiB"},
                    });
}

}  // namespace
}  // namespace kfaas::kube
