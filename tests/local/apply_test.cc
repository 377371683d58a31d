#include <gtest/gtest.h>

#include "common/base/time_format.h"
#include "common/base/yaml_json.h"
#include "common/kube/errors.h"
#include "local/apiserver/patch.h"

namespace kfaas::local {
namespace {

const WallTime kT0 = *ParseRfc3339("2026-01-10T12:00:00Z");
const WallTime kT1 = *ParseRfc3339("2026-01-10T12:05:00Z");

Json Y(const std::string& yaml) {
  auto j = YamlToJson(yaml);
  EXPECT_TRUE(j.ok()) << j.status() << "\n" << yaml;
  return j.ok() ? *j : Json();
}

// The manifest a user applies with `kubectl apply --server-side` (fieldManager=kubectl).
std::string Manifest(int replicas, const std::string& image, bool with_env_b, bool with_tier) {
  std::string m = R"(
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web)" +
                  std::string(with_tier ? ", tier: front" : "") + R"(}
spec:
  replicas: )" + std::to_string(replicas) +
                  R"(
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: ')" +
                  image + R"('
        ports: [{containerPort: 80}]
        env:
        - {name: A, value: '1'})";
  if (with_env_b) m += "\n        - {name: B, value: '2'}";
  return m;
}

// What the server adds around the user's fields.
void ServerFields(Json& obj, int rv) {
  obj["metadata"]["uid"] = "u-1";
  obj["metadata"]["resourceVersion"] = std::to_string(rv);
  obj["metadata"]["creationTimestamp"] = "2026-01-10T11:00:00Z";
}

const Json* Entry(const Json& obj, const std::string& manager, const std::string& op) {
  for (const auto& e : obj["metadata"]["managedFields"]) {
    if (e["manager"] == manager && e["operation"] == op) return &e;
  }
  return nullptr;
}

TEST(ServerSideApply, CreateRecordsOwnership) {
  auto got = ServerSideApply(nullptr, Y(Manifest(2, "nginx:1", true, true)), "kubectl", false,
                             "Deployment", kT0);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["spec"]["replicas"], 2);
  const Json* e = Entry(*got, "kubectl", "Apply");
  ASSERT_NE(e, nullptr) << got->dump(2);
  EXPECT_EQ((*e)["apiVersion"], "apps/v1");
  EXPECT_EQ((*e)["fieldsType"], "FieldsV1");
  EXPECT_EQ((*e)["time"], "2026-01-10T12:00:00Z");
  EXPECT_EQ((*e)["fieldsV1"], Json::parse(R"({
    "f:metadata": {"f:labels": {"f:app": {}, "f:tier": {}}},
    "f:spec": {
      "f:replicas": {},
      "f:selector": {"f:matchLabels": {"f:app": {}}},
      "f:template": {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
          ".": {},
          "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}},
                    "k:{\"name\":\"B\"}": {".": {}, "f:name": {}, "f:value": {}}},
          "f:image": {},
          "f:name": {},
          "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {},
                                                                      "f:containerPort": {}}}
        }}}}}})"))
      << (*e)["fieldsV1"].dump(2);
}

TEST(ServerSideApply, KubectlServerSideFlow) {
  // 1. First apply creates.
  auto live = ServerSideApply(nullptr, Y(Manifest(2, "nginx:1", true, true)), "kubectl", false,
                              "Deployment", kT0);
  ASSERT_TRUE(live.ok()) << live.status();
  ServerFields(*live, 1);

  // 2. A changed field is updated.
  auto second = ServerSideApply(*live, Y(Manifest(3, "nginx:2", true, true)), "kubectl", false,
                                "Deployment", kT1);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)["spec"]["replicas"], 3);
  EXPECT_EQ((*second)["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:2");
  EXPECT_EQ((*second)["metadata"]["uid"], "u-1") << "server fields survive";
  EXPECT_EQ((*Entry(*second, "kubectl", "Apply"))["time"], "2026-01-10T12:05:00Z");

  // 3. Fields removed from the manifest are removed from the object.
  auto third = ServerSideApply(*second, Y(Manifest(3, "nginx:2", false, false)), "kubectl", false,
                               "Deployment", kT1);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ((*third)["metadata"]["labels"], Y("{app: web}"));
  EXPECT_EQ((*third)["spec"]["template"]["spec"]["containers"][0]["env"],
            Y("[{name: A, value: '1'}]"));
  const Json& f = (*Entry(*third, "kubectl", "Apply"))["fieldsV1"];
  EXPECT_FALSE(f["f:metadata"]["f:labels"].contains("f:tier"));

  // 4. A field another manager set (kubectl scale -> Update by "kubectl-scale" via /scale)
  //    conflicts unless forced.
  Json scaled = *third;
  scaled["spec"]["replicas"] = 5;
  RecordUpdateManager(*third, scaled, "kubectl-scale", "apps/v1", kT1, "scale");
  auto conflict = ServerSideApply(scaled, Y(Manifest(3, "nginx:2", false, false)), "kubectl", false,
                                  "Deployment", kT1);
  ASSERT_FALSE(conflict.ok());
  EXPECT_TRUE(kube::IsConflict(conflict.status()));
  EXPECT_EQ(kube::HttpCode(conflict.status()), 409);
  EXPECT_EQ(std::string(conflict.status().message()),
            "Apply failed with 1 conflict: conflict with \"kubectl-scale\" with subresource "
            "\"scale\" using apps/v1: .spec.replicas");
  auto causes = kube::Causes(conflict.status());
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0].reason, "FieldManagerConflict");
  EXPECT_EQ(causes[0].field, ".spec.replicas");
  EXPECT_EQ(causes[0].message,
            "conflict with \"kubectl-scale\" with subresource \"scale\" using apps/v1");

  auto forced = ServerSideApply(scaled, Y(Manifest(3, "nginx:2", false, false)), "kubectl", true,
                                "Deployment", kT1);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_EQ((*forced)["spec"]["replicas"], 3);
  EXPECT_EQ(Entry(*forced, "kubectl-scale", "Update"), nullptr)
      << "the only field it owned moved to kubectl";

  // 5. Applying the value another manager already set is not a conflict: both own it.
  Json scaled_again = *forced;
  scaled_again["spec"]["replicas"] = 4;
  RecordUpdateManager(*forced, scaled_again, "kubectl-scale", "apps/v1", kT1, "scale");
  auto shared = ServerSideApply(scaled_again, Y(Manifest(4, "nginx:2", false, false)), "kubectl",
                                false, "Deployment", kT1);
  ASSERT_TRUE(shared.ok()) << shared.status();
  ASSERT_NE(Entry(*shared, "kubectl-scale", "Update"), nullptr);
  // ... and when kubectl stops applying replicas, the field stays (kubectl-scale owns it).
  Json without_replicas = Y(Manifest(4, "nginx:2", false, false));
  without_replicas["spec"].erase("replicas");
  auto dropped = ServerSideApply(*shared, without_replicas, "kubectl", false, "Deployment", kT1);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ((*dropped)["spec"]["replicas"], 4);
}

TEST(ServerSideApply, ConflictsWithClientSideApply) {
  // kubectl apply (client-side) created the object: an Update by kubectl-client-side-apply.
  Json created = Y(Manifest(2, "nginx:1", true, true));
  RecordUpdateManager(nullptr, created, "kubectl-client-side-apply", "apps/v1", kT0);
  ServerFields(created, 1);
  const Json* csa = Entry(created, "kubectl-client-side-apply", "Update");
  ASSERT_NE(csa, nullptr);
  EXPECT_TRUE((*csa)["fieldsV1"]["f:spec"].contains("f:replicas"));
  EXPECT_FALSE((*csa)["fieldsV1"]["f:metadata"].contains("f:name")) << "stripped meta";

  auto got = ServerSideApply(created, Y(Manifest(3, "nginx:2", true, true)), "kubectl", false,
                             "Deployment", kT1);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(std::string(got.status().message()),
            "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using "
            "apps/v1:\n- .spec.replicas\n- "
            ".spec.template.spec.containers[name=\"web\"].image");
  EXPECT_EQ(kube::Causes(got.status()).size(), 2u);
}

TEST(ServerSideApply, TwoAppliersConflict) {
  Json a = Y("{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {x: '1'}}");
  auto live = ServerSideApply(nullptr, a, "alice", false, "ConfigMap", kT0);
  ASSERT_TRUE(live.ok());
  auto bob = ServerSideApply(*live,
                             Y("{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, "
                               "data: {x: '2', y: '3'}}"),
                             "bob", false, "ConfigMap", kT1);
  ASSERT_FALSE(bob.ok());
  EXPECT_EQ(std::string(bob.status().message()),
            "Apply failed with 1 conflict: conflict with \"alice\": .data.x");
  // Bob adds only his own key: no conflict, and alice's stays.
  bob = ServerSideApply(*live,
                        Y("{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: "
                          "{y: '3'}}"),
                        "bob", false, "ConfigMap", kT1);
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_EQ((*bob)["data"], Y("{x: '1', y: '3'}"));
  EXPECT_EQ((*bob)["metadata"]["managedFields"].size(), 2u);
  // Dropping every label keeps metadata (names, uid...) intact.
  Json labelled = Y("{apiVersion: v1, kind: ConfigMap, metadata: {name: l, labels: {a: b}}}");
  auto l1 = ServerSideApply(nullptr, labelled, "solo", false, "ConfigMap", kT0);
  ASSERT_TRUE(l1.ok());
  (*l1)["metadata"]["uid"] = "u";
  auto l2 = ServerSideApply(*l1, Y("{apiVersion: v1, kind: ConfigMap, metadata: {name: l}}"),
                            "solo", false, "ConfigMap", kT1);
  ASSERT_TRUE(l2.ok()) << l2.status();
  EXPECT_EQ((*l2)["metadata"], Y("{name: l, uid: u}")) << l2->dump();
  // Alice drops x: it goes away (bob does not own it).
  auto alice = ServerSideApply(*bob, Y("{apiVersion: v1, kind: ConfigMap, metadata: {name: c}}"),
                               "alice", false, "ConfigMap", kT1);
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ((*alice)["data"], Y("{y: '3'}"));
}

TEST(ServerSideApply, ListSemantics) {
  Json live = Y(R"(
apiVersion: v1
kind: Pod
metadata: {name: p, finalizers: [keep]}
spec:
  containers:
  - {name: a, image: a, args: [x, y]}
  - {name: b, image: b})");
  RecordUpdateManager(nullptr, live, "creator", "v1", kT0);
  auto got = ServerSideApply(live, Y(R"(
apiVersion: v1
kind: Pod
metadata: {name: p, finalizers: [mine]}
spec:
  containers:
  - {name: c, image: c}
  - {name: a, args: [z]})"),
                             "ssa", true, "Pod", kT1);
  ASSERT_TRUE(got.ok()) << got.status();
  // Finalizers are a set: both stay. Containers merge by name; live-only b keeps its place.
  EXPECT_EQ((*got)["metadata"]["finalizers"], Y("[keep, mine]"));
  Json names = Json::array();
  for (const auto& c : (*got)["spec"]["containers"]) names.push_back(c["name"]);
  EXPECT_EQ(names, Y("[c, a, b]"));
  EXPECT_EQ((*got)["spec"]["containers"][1]["args"], Y("[z]")) << "atomic list replaced";
  EXPECT_EQ((*got)["spec"]["containers"][1]["image"], "a");
  const Json* e = Entry(*got, "ssa", "Apply");
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE((*e)["fieldsV1"]["f:metadata"]["f:finalizers"].contains("v:\"mine\""));

  // A list-map element without its key is refused.
  auto bad = ServerSideApply(live,
                             Y("{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: "
                               "{containers: [{image: x}]}}"),
                             "ssa", false, "Pod", kT1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(kube::HttpCode(bad.status()), 400);
  EXPECT_EQ(std::string(bad.status().message()),
            "failed to create typed patch object (/v1, Kind=Pod): .spec.containers: element 0: "
            "associative list with keys has an element that omits key field \"name\" (and "
            "doesn't have default value)");
  auto dup = ServerSideApply(live,
                             Y("{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: "
                               "{containers: [{name: x}, {name: x}]}}"),
                             "ssa", false, "Pod", kT1);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(std::string(dup.status().message()).find("duplicate entries for key [name=\"x\"]"),
            std::string::npos);
}

TEST(ServerSideApply, CustomResourceWithSchema) {
  Json schema = Y(R"(
type: object
properties:
  spec:
    type: object
    properties:
      env:
        type: array
        x-kubernetes-list-type: map
        x-kubernetes-list-map-keys: [name]
        items: {type: object, properties: {name: {type: string}, value: {type: string}}}
      hosts: {type: array, items: {type: string}}
      config: {type: object, x-kubernetes-preserve-unknown-fields: true})");
  Json fn = Y(R"(
apiVersion: kfaas.dev/v1alpha1
kind: Function
metadata: {name: hello}
spec:
  env: [{name: A, value: '1'}]
  hosts: [a]
  config: {x: {y: 1}})");
  auto live = ServerSideApply(nullptr, fn, "kubectl", false, "Function", kT0, schema);
  ASSERT_TRUE(live.ok()) << live.status();
  const Json& f = (*Entry(*live, "kubectl", "Apply"))["fieldsV1"]["f:spec"];
  EXPECT_TRUE(f["f:env"].contains("k:{\"name\":\"A\"}"));
  EXPECT_EQ(f["f:hosts"], Json::object()) << "atomic list";
  EXPECT_EQ(f["f:config"], Json::parse(R"({"f:x": {".": {}, "f:y": {}}})"))
      << "deduced maps: entries are members";
  // Another manager's env entry is merged, not replaced.
  Json other = Y(R"(
apiVersion: kfaas.dev/v1alpha1
kind: Function
metadata: {name: hello}
spec:
  env: [{name: B, value: '2'}])");
  auto got = ServerSideApply(*live, other, "other", false, "Function", kT1, schema);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["spec"]["env"], Y("[{name: A, value: '1'}, {name: B, value: '2'}]"));
}

TEST(ServerSideApply, RejectsManagedFieldsAndSyncsLastApplied) {
  Json with_mf =
      Y("{apiVersion: v1, kind: ConfigMap, metadata: {name: c, managedFields: "
        "[{manager: x}]}}");
  auto got = ServerSideApply(nullptr, with_mf, "kubectl", false, "ConfigMap", kT0);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(std::string(got.status().message()), "metadata.managedFields must be nil");

  Json live = Y(R"({apiVersion: v1, kind: ConfigMap, metadata: {name: c, annotations:
    {kubectl.kubernetes.io/last-applied-configuration: old}}, data: {a: '1'}})");
  Json applied = Y("{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {a: '2'}}");
  got = ServerSideApply(live, applied, "kubectl", false, "ConfigMap", kT0);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            "{\"apiVersion\":\"v1\",\"data\":{\"a\":\"2\"},\"kind\":\"ConfigMap\",\"metadata\":{"
            "\"name\":\"c\"}}\n");
  got = ServerSideApply(live, applied, "other", false, "ConfigMap", kT0);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            "old");
}

TEST(RecordUpdateManager, TracksWritersAndExplicitManagedFields) {
  Json obj = Y("{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {a: '1', b: '2'}}");
  RecordUpdateManager(nullptr, obj, "creator", "v1", kT0);
  ASSERT_EQ(obj["metadata"]["managedFields"].size(), 1u);
  EXPECT_EQ(obj["metadata"]["managedFields"][0]["fieldsV1"],
            Json::parse(R"({"f:data": {".": {}, "f:a": {}, "f:b": {}}})"));
  // Another writer changes a: it takes a over; b stays with creator.
  Json next = obj;
  next["data"]["a"] = "9";
  RecordUpdateManager(obj, next, "editor", "v1", kT1);
  ASSERT_EQ(next["metadata"]["managedFields"].size(), 2u);
  EXPECT_EQ(next["metadata"]["managedFields"][0]["manager"], "creator");
  EXPECT_EQ(next["metadata"]["managedFields"][0]["fieldsV1"],
            Json::parse(R"({"f:data": {".": {}, "f:b": {}}})"));
  EXPECT_EQ(next["metadata"]["managedFields"][1]["fieldsV1"],
            Json::parse(R"({"f:data": {"f:a": {}}})"));
  EXPECT_EQ(next["metadata"]["managedFields"][1]["time"], "2026-01-10T12:05:00Z");
  // A PUT without managedFields keeps the live ones.
  Json put = next;
  put["metadata"].erase("managedFields");
  RecordUpdateManager(next, put, "editor", "v1", kT1);
  EXPECT_EQ(put["metadata"]["managedFields"], next["metadata"]["managedFields"]);
  // A client rewriting managedFields (kubectl's client-side -> server-side migration) is
  // honoured.
  Json rewrite = next;
  rewrite["metadata"]["managedFields"] = Json::parse(R"([{"manager": "kubectl",
    "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
    "fieldsV1": {"f:data": {"f:a": {}, "f:b": {}}}}])");
  RecordUpdateManager(next, rewrite, "kubectl-client-side-apply", "v1", kT1);
  ASSERT_EQ(rewrite["metadata"]["managedFields"].size(), 1u);
  EXPECT_EQ(rewrite["metadata"]["managedFields"][0]["manager"], "kubectl");
}

TEST(ServerSideApply, HostileInputNeverCrashes) {
  Json live =
      Y("{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a}]}}");
  const Json garbage_mf[] = {
      Json(5),
      Json::array({5, "x", nullptr}),
      Json::parse(R"([{"manager":"m","operation":"Apply","fieldsV1":5}])"),
      Json::parse(R"([{"manager":"m","operation":"Update","fieldsV1":{"f:spec":{"k:{bad":{}}}}])"),
      Json::parse(
          R"([{"manager":"m","operation":"Apply","fieldsV1":{"f:spec":{"f:containers":{"k:{\"name\":\"a\"}":{"f:x":{"f:y":{}}}}}}}])"),
  };
  Json applied =
      Y("{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: "
        "b}]}}");
  for (const auto& mf : garbage_mf) {
    Json l = live;
    l["metadata"]["managedFields"] = mf;
    (void)ServerSideApply(l, applied, "x", false, "Pod", kT0);
    (void)ServerSideApply(l, applied, "m", true, "Pod", kT0);
    Json after = l;
    after["spec"]["x"] = 1;
    RecordUpdateManager(l, after, "u", "v1", kT0);
  }
  for (const Json& odd : {Json(5), Json::array(), Json{{"spec", {{"containers", 7}}}},
                          Json{{"spec", {{"containers", {1, 2}}}}}, Json{{"metadata", "x"}}}) {
    (void)ServerSideApply(odd, applied, "x", false, "Pod", kT0);
    (void)ServerSideApply(live, odd, "x", false, "Pod", kT0);
    Json a = odd;
    RecordUpdateManager(live, a, "u", "v1", kT0);
    RecordUpdateManager(odd, a, "u", "v1", kT0);
  }
  Json deep = Json::object();
  Json* cur = &deep;
  for (int i = 0; i < 3000; ++i) cur = &(*cur)["spec"];
  *cur = 1;
  EXPECT_FALSE(ServerSideApply(nullptr, deep, "x", false, "Widget", kT0).ok());
  Json deep_after = deep;
  RecordUpdateManager(nullptr, deep_after, "u", "v1", kT0);
}

}  // namespace
}  // namespace kfaas::local
