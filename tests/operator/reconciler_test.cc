// Table-driven tests of Reconcile against FakeClient: each row seeds objects, runs one
// Reconcile and states the writes, the result and the Function's status that must follow.
#include "operator/controller/reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/base/time_format.h"
#include "operator/controller/compare.h"
#include "operator/controller/status.h"
#include "tests/testutil/fake_client.h"

namespace kfaas::op {
namespace {

using kfaas::testing::FakeClient;
using kube::resources::kDeployments;
using kube::resources::kFunctions;
using kube::resources::kServices;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// The reconciler's view of a FakeClient, filtered as the production informers are (children
// only with the kfaas.dev/function label).
class ClientCache : public Cache {
 public:
  explicit ClientCache(FakeClient& c) : c_(c) {}
  ObjectPtr GetFunction(const std::string& ns, const std::string& name) override {
    return Ptr(c_.Object(kFunctions, ns, name), false);
  }
  ObjectPtr GetDeployment(const std::string& ns, const std::string& name) override {
    return Ptr(c_.Object(kDeployments, ns, name), true);
  }
  ObjectPtr GetService(const std::string& ns, const std::string& name) override {
    return Ptr(c_.Object(kServices, ns, name), true);
  }
  std::vector<ObjectPtr> FunctionsListingHost(const std::string& host) override {
    std::vector<ObjectPtr> out;
    for (const auto& f : c_.Objects(kFunctions)) {
      for (const auto& h : f["spec"].value("hosts", Json::array())) {
        if (h == host) out.push_back(std::make_shared<const Json>(f));
      }
    }
    return out;
  }

 private:
  static ObjectPtr Ptr(const std::optional<Json>& o, bool labelled) {
    if (!o) return nullptr;
    if (labelled && !(*o)["metadata"].value("labels", Json::object()).contains(kLabelFunction)) {
      return nullptr;
    }
    return std::make_shared<const Json>(*o);
  }
  FakeClient& c_;
};

struct RecordedEvent {
  std::string object, type, reason, message;
};

class RecordingEvents : public EventSink {
 public:
  void Record(const Json& obj, std::string_view type, std::string_view reason,
              std::string_view message) override {
    events.push_back({obj["metadata"].value("name", ""), std::string(type), std::string(reason),
                      std::string(message)});
  }
  std::vector<RecordedEvent> events;
};

// ---- Object builders -------------------------------------------------------------------

constexpr char kOldTime[] = "2025-01-01T00:00:00Z";

Json FunctionObj(const std::string& name, Json spec = Json::object(), int64_t generation = 1) {
  if (!spec.contains("image")) spec["image"] = "registry.example.com/" + name + ":1";
  return {{"apiVersion", "kfaas.dev/v1alpha1"},
          {"kind", "Function"},
          {"metadata",
           {{"name", name},
            {"namespace", "default"},
            {"uid", "uid-" + name},
            {"generation", generation},
            {"creationTimestamp", kOldTime}}},
          {"spec", spec}};
}

Function Parsed(const Json& obj) {
  auto fn = ParseFunction(obj);
  EXPECT_TRUE(fn.ok()) << fn.status();
  return *fn;
}

// Fields the API server adds to what kfaas sends, which must not cause updates.
Json WithServerDefaults(Json obj) {
  obj["metadata"]["resourceVersion"] = "1";
  obj["metadata"]["creationTimestamp"] = kOldTime;
  obj["metadata"]["managedFields"] = Json::array({{{"manager", "kfaas-operator"}}});
  if (obj["kind"] == "Deployment") {
    Json& spec = obj["spec"];
    spec["revisionHistoryLimit"] = 10;
    spec["progressDeadlineSeconds"] = 600;
    Json& pod = spec["template"]["spec"];
    pod["restartPolicy"] = "Always";
    pod["dnsPolicy"] = "ClusterFirst";
    pod["schedulerName"] = "default-scheduler";
    pod["securityContext"] = Json::object();
    Json& c = pod["containers"][0];
    c["imagePullPolicy"] = "IfNotPresent";
    c["terminationMessagePath"] = "/dev/termination-log";
    c["terminationMessagePolicy"] = "File";
    obj["status"] = {{"observedGeneration", 1}};
  } else {
    obj["spec"]["clusterIP"] = "10.0.0.17";
    obj["spec"]["clusterIPs"] = {"10.0.0.17"};
    obj["spec"]["sessionAffinity"] = "None";
    obj["spec"]["ipFamilies"] = {"IPv4"};
  }
  return obj;
}

Json DeploymentFor(const Json& fn_obj, std::optional<int64_t> replicas = std::nullopt,
                   int64_t ready = 0) {
  Json d = WithServerDefaults(MakeDeployment(Parsed(fn_obj), {}));
  if (replicas) {
    d["spec"]["replicas"] = *replicas;
    d["status"]["replicas"] = *replicas;
  }
  d["status"]["readyReplicas"] = ready;
  return d;
}

Json ServiceFor(const Json& fn_obj) { return WithServerDefaults(MakeService(Parsed(fn_obj), {})); }

Json Cond(const std::string& type, const std::string& status, const std::string& reason,
          const std::string& message, int64_t gen = 1) {
  return {{"type", type},
          {"status", status},
          {"reason", reason},
          {"message", message},
          {"lastTransitionTime", kOldTime},
          {"observedGeneration", gen}};
}

// The status a previous reconcile of a scaled-to-zero function wrote.
Json SyncedStatus(const std::string& name, int64_t gen = 1) {
  return {{"observedGeneration", gen},
          {"conditions",
           {Cond("Ready", "True", "ScaledToZero",
                 "scaled to zero: the activator starts an instance on the next request", gen),
            Cond("SpecValid", "True", "Valid", "the spec can be served", gen),
            Cond("DeploymentReady", "True", "ScaledToZero",
                 "scaled to zero: the activator starts an instance on the next request", gen),
            Cond("ServiceReady", "True", "Routed",
                 "Service " + name + " routes port 80 to the instances' port http", gen)}},
          {"replicas", 0},
          {"readyReplicas", 0},
          {"url", "http://" + name + ".default.kfaas.local"}};
}

Json WithStatus(Json obj, Json status) {
  obj["status"] = std::move(status);
  return obj;
}

// ---- The table -------------------------------------------------------------------------

struct Seed {
  const kube::Resource* resource;
  Json object;
};

struct Row {
  std::string name;
  std::vector<Seed> objects;
  std::string key = "default/hello";
  ReconcilerOptions opts;
  std::function<void(FakeClient&)> before;  // inject failures
  std::vector<std::string> want_writes;     // "create deployments", "patch functions/status"
  Result::Kind want_result = Result::Kind::kSuccess;
  std::string want_ready;  // "" = do not check; else "True/Reason" or "False/Reason"
  std::string want_message_has;
  std::vector<std::string> want_events;  // "Warning/Reason"
  std::function<void(FakeClient&)> check;
};

std::vector<std::string> WriteNames(const FakeClient& c) {
  std::vector<std::string> out;
  for (const auto& a : c.Writes()) {
    out.push_back(a.verb + " " + a.resource + (a.subresource.empty() ? "" : "/" + a.subresource));
  }
  return out;
}

Json Fn(FakeClient& c, const std::string& name = "hello") {
  return *c.Object(kFunctions, "default", name);
}
Json Deploy(FakeClient& c, const std::string& name = "hello") {
  return *c.Object(kDeployments, "default", name);
}

void RunRow(const Row& row) {
  SCOPED_TRACE(row.name);
  FakeClock clock;
  FakeClient client(clock);
  for (const auto& s : row.objects) client.Seed(*s.resource, s.object);
  client.ClearActions();
  if (row.before) row.before(client);
  ClientCache cache(client);
  RecordingEvents events;
  Reconciler r(client, cache, events, clock, row.opts);
  Result res = r.Reconcile(row.key);
  EXPECT_EQ(ResultName(res.kind), ResultName(row.want_result)) << res.error;
  EXPECT_THAT(WriteNames(client), ElementsAreArray(row.want_writes));
  std::string ns, name;
  if (!row.want_ready.empty()) {
    ASSERT_TRUE(SplitKey(row.key, &ns, &name));
    auto fn = client.Object(kFunctions, ns, name);
    ASSERT_TRUE(fn);
    Json conditions = (*fn)["status"].value("conditions", Json::array());
    const Json* ready = FindCondition(conditions, "Ready");
    ASSERT_NE(ready, nullptr) << fn->dump(2);
    EXPECT_EQ((*ready)["status"].get<std::string>() + "/" + (*ready)["reason"].get<std::string>(),
              row.want_ready)
        << (*ready)["message"];
    EXPECT_THAT((*ready)["message"].get<std::string>(), HasSubstr(row.want_message_has));
  }
  std::vector<std::string> got_events;
  for (const auto& e : events.events) got_events.push_back(e.type + "/" + e.reason);
  EXPECT_THAT(got_events, ElementsAreArray(row.want_events));
  if (row.check) row.check(client);
}

// A function and its in-sync children (as left by a previous reconcile).
std::vector<Seed> Synced(Json fn_obj, std::optional<int64_t> replicas = std::nullopt,
                         int64_t ready = 0) {
  std::string name = fn_obj["metadata"]["name"];
  Json d = DeploymentFor(fn_obj, replicas, ready);
  Json s = ServiceFor(fn_obj);
  return {
      {&kFunctions, WithStatus(fn_obj, SyncedStatus(name))}, {&kDeployments, d}, {&kServices, s}};
}

TEST(Reconcile, Table) {
  const Json hello = FunctionObj("hello");
  std::vector<Row> rows = {
      {.name = "new function: creates Deployment and Service, writes status",
       .objects = {{&kFunctions, hello}},
       .want_writes = {"create deployments", "create services", "patch functions/status"},
       .want_ready = "True/ScaledToZero",
       .check =
           [](FakeClient& c) {
             Json d = Deploy(c);
             EXPECT_EQ(d["spec"]["replicas"], 0);
             EXPECT_EQ(d["metadata"]["ownerReferences"][0]["uid"], "uid-hello");
             Json st = Fn(c)["status"];
             EXPECT_EQ(st["observedGeneration"], 1);
             EXPECT_EQ(st["url"], "http://hello.default.kfaas.local");
             EXPECT_EQ(st["replicas"], 0);
             EXPECT_EQ(st["readyReplicas"], 0);
             for (const auto& cond : st["conditions"]) {
               EXPECT_EQ(cond["status"], "True") << cond;
               EXPECT_EQ(cond["observedGeneration"], 1);
             }
           }},
      {.name = "in sync (server defaults present): no writes",
       .objects = Synced(hello),
       .want_ready = "True/ScaledToZero"},
      {.name = "in sync with replicas moved by the activator: no writes",
       .objects =
           [&] {
             auto objs = Synced(hello, 3, 3);
             objs[0].object["status"] = SyncedStatus("hello");
             objs[0].object["status"]["replicas"] = 3;
             objs[0].object["status"]["readyReplicas"] = 3;
             objs[0].object["status"]["conditions"][0]["reason"] = "Available";
             objs[0].object["status"]["conditions"][0]["message"] = "3 of 3 instances ready";
             objs[0].object["status"]["conditions"][2]["reason"] = "Available";
             objs[0].object["status"]["conditions"][2]["message"] = "3 of 3 instances ready";
             return objs;
           }(),
       .want_ready = "True/Available"},
      {.name = "custom domain in the url",
       .objects = {{&kFunctions, hello}},
       .opts = {.domain = "fn.example.com"},
       .want_writes = {"create deployments", "create services", "patch functions/status"},
       .check =
           [](FakeClient& c) {
             EXPECT_EQ(Fn(c)["status"]["url"], "http://hello.default.fn.example.com");
           }},
      {.name = "image changed: updates the Deployment, observedGeneration follows",
       .objects =
           [&] {
             auto objs = Synced(hello);
             objs[0].object["spec"]["image"] = "registry.example.com/hello:2";
             objs[0].object["metadata"]["generation"] = 2;
             return objs;
           }(),
       .want_writes = {"update deployments", "patch functions/status"},
       .want_ready = "True/ScaledToZero",
       .check =
           [](FakeClient& c) {
             Json d = Deploy(c);
             EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["image"],
                       "registry.example.com/hello:2");
             // Server-defaulted fields outside our template survive the update.
             EXPECT_EQ(d["spec"]["revisionHistoryLimit"], 10);
             Json fn = Fn(c);  // a named copy: a range-for over a temporary's member dangles
             EXPECT_EQ(fn["status"]["observedGeneration"], 2);
             for (const auto& cond : fn["status"]["conditions"]) {
               EXPECT_EQ(cond["observedGeneration"], 2);
               EXPECT_EQ(cond["lastTransitionTime"], kOldTime) << "status did not change";
             }
           }},
      {.name = "port changed: updates Deployment and Service ports",
       .objects =
           [&] {
             auto objs = Synced(hello);
             objs[0].object["spec"]["port"] = 9000;
             return objs;
           }(),
       .want_writes = {"update deployments"},  // same generation: status unchanged
       .check =
           [](FakeClient& c) {
             Json ct = Deploy(c)["spec"]["template"]["spec"]["containers"][0];
             EXPECT_EQ(ct["ports"][0]["containerPort"], 9000);
             EXPECT_THAT(ct["env"].dump(), HasSubstr("{\"name\":\"PORT\",\"value\":\"9000\"}"));
           }},
      {.name = "readinessPath removed: the HTTP probe is replaced, not merged",
       .objects =
           [&] {
             Json with = FunctionObj("hello", {{"readinessPath", "/healthz"}});
             auto objs = Synced(with);
             objs[0].object["spec"].erase("readinessPath");
             return objs;
           }(),
       .want_writes = {"update deployments"},  // same generation: status unchanged
       .check =
           [](FakeClient& c) {
             Json probe = Deploy(c)["spec"]["template"]["spec"]["containers"][0]["readinessProbe"];
             EXPECT_FALSE(probe.contains("httpGet")) << probe;
             EXPECT_TRUE(probe.contains("tcpSocket"));
           }},
      {.name = "replicas below scale.min: raised",
       .objects =
           [&] {
             auto objs = Synced(hello, 0);
             objs[0].object["spec"]["scale"] = {{"min", 2}, {"max", 5}};
             return objs;
           }(),
       .want_writes = {"update deployments", "patch functions/status"},
       .want_ready = "False/InstancesNotReady",
       .check = [](FakeClient& c) { EXPECT_EQ(Deploy(c)["spec"]["replicas"], 2); }},
      {.name = "replicas above scale.max: lowered",
       .objects =
           [&] {
             auto objs = Synced(hello, 9, 9);
             objs[0].object["spec"]["scale"] = {{"min", 0}, {"max", 4}};
             return objs;
           }(),
       .want_writes = {"update deployments", "patch functions/status"},
       .want_ready = "True/Available",
       .check = [](FakeClient& c) { EXPECT_EQ(Deploy(c)["spec"]["replicas"], 4); }},
      {.name = "scale.min on create",
       .objects = {{&kFunctions, FunctionObj("hello", {{"scale", {{"min", 2}}}})}},
       .want_writes = {"create deployments", "create services", "patch functions/status"},
       .want_ready = "False/InstancesNotReady",
       .want_message_has = "0 of 2 instances ready",
       .check = [](FakeClient& c) { EXPECT_EQ(Deploy(c)["spec"]["replicas"], 2); }},
      {.name = "instances ready: Ready=True Available with counts in status",
       .objects =
           [&] {
             auto objs = Synced(hello, 2, 1);
             return objs;
           }(),
       .want_writes = {"patch functions/status"},
       .want_ready = "True/Available",
       .want_message_has = "1 of 2 instances ready",
       .check =
           [](FakeClient& c) {
             Json st = Fn(c)["status"];
             EXPECT_EQ(st["replicas"], 2);
             EXPECT_EQ(st["readyReplicas"], 1);
             // Ready stayed True (ScaledToZero -> Available): lastTransitionTime unchanged.
             EXPECT_EQ(st["conditions"][0]["lastTransitionTime"], kOldTime);
           }},
      {.name = "no instance becomes ready before the progress deadline",
       .objects =
           [&] {
             auto objs = Synced(hello, 1, 0);
             objs[1].object["status"]["conditions"] = {
                 {{"type", "Progressing"},
                  {"status", "False"},
                  {"reason", "ProgressDeadlineExceeded"},
                  {"message", "ReplicaSet \"hello-5d4\" has timed out progressing."}}};
             return objs;
           }(),
       .want_writes = {"patch functions/status"},
       .want_ready = "False/ProgressDeadlineExceeded",
       .want_events = {"Warning/ProgressDeadlineExceeded"}},
      {.name = "scale.min > scale.max: Ready=False InvalidScale, a Warning, no children",
       .objects = {{&kFunctions, FunctionObj("hello", {{"scale", {{"min", 5}, {"max", 2}}}})}},
       .want_writes = {"patch functions/status"},
       .want_ready = "False/InvalidScale",
       .want_message_has = "scale.min (5) must be <= scale.max (2)",
       .want_events = {"Warning/InvalidScale"},
       .check =
           [](FakeClient& c) {
             EXPECT_FALSE(c.Object(kDeployments, "default", "hello"));
             Json fn = Fn(c);
             const Json* sv = FindCondition(fn["status"]["conditions"], "SpecValid");
             ASSERT_TRUE(sv);
             EXPECT_EQ((*sv)["status"], "False");
             EXPECT_EQ(Fn(c)["status"]["url"], "http://hello.default.kfaas.local");
           }},
      {.name = "invalid spec already reported: no writes, no new event",
       .objects =
           [&] {
             Json f = FunctionObj("hello", {{"scale", {{"min", 5}, {"max", 2}}}});
             std::string msg =
                 "scale.min (5) must be <= scale.max (2): lower scale.min or raise scale.max";
             f["status"] = {{"observedGeneration", 1},
                            {"conditions",
                             {Cond("Ready", "False", "InvalidScale", msg),
                              Cond("SpecValid", "False", "InvalidScale", msg),
                              Cond("DeploymentReady", "Unknown", "SpecInvalid",
                                   "not created until the spec is fixed"),
                              Cond("ServiceReady", "Unknown", "SpecInvalid",
                                   "not created until the spec is fixed")}},
                            {"replicas", 0},
                            {"readyReplicas", 0},
                            {"url", "http://hello.default.kfaas.local"}};
             return std::vector<Seed>{{&kFunctions, f}};
           }(),
       .want_ready = "False/InvalidScale"},
      {.name = "invalid edit of a working function: children keep the last good spec",
       .objects =
           [&] {
             auto objs = Synced(hello, 1, 1);
             objs[0].object["spec"]["scale"] = {{"min", 3}, {"max", 1}};
             objs[0].object["spec"]["image"] = "registry.example.com/hello:broken";
             objs[0].object["metadata"]["generation"] = 2;
             return objs;
           }(),
       .want_writes = {"patch functions/status"},
       .want_ready = "False/InvalidScale",
       .want_events = {"Warning/InvalidScale"},
       .check =
           [](FakeClient& c) {
             EXPECT_EQ(Deploy(c)["spec"]["template"]["spec"]["containers"][0]["image"],
                       "registry.example.com/hello:1");
             Json fn = Fn(c);
             const Json* dr = FindCondition(fn["status"]["conditions"], "DeploymentReady");
             EXPECT_EQ((*dr)["reason"], "Available");
             EXPECT_EQ(Fn(c)["status"]["readyReplicas"], 1);
           }},
      {.name = "several problems are all listed",
       .objects = {{&kFunctions,
                    FunctionObj("hello", {{"scale", {{"min", 5}, {"max", 2}}},
                                          {"env", {{{"name", "PORT"}, {"value", "1"}}}}})}},
       .want_writes = {"patch functions/status"},
       .want_ready = "False/InvalidScale",
       .want_message_has = "; environment variable \"PORT\" is set by kfaas",
       .want_events = {"Warning/InvalidScale"}},
      {.name = "kfaas-local without spec.command: MissingCommand",
       .objects = {{&kFunctions, hello}},
       .opts = {.require_command = true},
       .want_writes = {"patch functions/status"},
       .want_ready = "False/MissingCommand",
       .want_events = {"Warning/MissingCommand"}},
      {.name = "a spec of the wrong shape (unvalidated server): InvalidSpec names the field",
       .objects = {{&kFunctions, FunctionObj("hello", {{"port", "http"}})}},
       .want_writes = {"patch functions/status"},
       .want_ready = "False/InvalidSpec",
       .want_message_has = "spec.port: must be an integer",
       .want_events = {"Warning/InvalidSpec"}},
      {.name = "host claimed by an older Function: HostConflict",
       .objects =
           [&] {
             Json older = FunctionObj("older", {{"hosts", {"shop.example.com"}}});
             Json newer = FunctionObj("hello", {{"hosts", {"shop.example.com"}}});
             newer["metadata"]["creationTimestamp"] = "2025-06-01T00:00:00Z";
             return std::vector<Seed>{{&kFunctions, older}, {&kFunctions, newer}};
           }(),
       .want_writes = {"patch functions/status"},
       .want_ready = "False/HostConflict",
       .want_message_has = "default/older",
       .want_events = {"Warning/HostConflict"}},
      {.name = "host conflict: the older Function is served",
       .objects =
           [&] {
             Json older = FunctionObj("hello", {{"hosts", {"shop.example.com"}}});
             Json newer = FunctionObj("newer", {{"hosts", {"shop.example.com"}}});
             newer["metadata"]["creationTimestamp"] = "2025-06-01T00:00:00Z";
             return std::vector<Seed>{{&kFunctions, older}, {&kFunctions, newer}};
           }(),
       .want_writes = {"create deployments", "create services", "patch functions/status"},
       .want_ready = "True/ScaledToZero"},
      {.name = "a Deployment of the same name owned by someone else: conflict, untouched",
       .objects =
           [&] {
             Json foreign = {{"apiVersion", "apps/v1"},
                             {"kind", "Deployment"},
                             {"metadata", {{"name", "hello"}, {"namespace", "default"}}},
                             {"spec", {{"replicas", 1}}}};
             return std::vector<Seed>{{&kFunctions, hello}, {&kDeployments, foreign}};
           }(),
       .want_writes = {"create deployments", "create services", "patch functions/status"},
       .want_ready = "False/DeploymentConflict",
       .want_message_has = "already exists and is not controlled by this Function",
       .want_events = {"Warning/DeploymentConflict"},
       .check =
           [](FakeClient& c) {
             EXPECT_FALSE(Deploy(c)["metadata"].contains("ownerReferences"));
             EXPECT_EQ(Fn(c)["status"]["replicas"], 0);
           }},
      {.name = "our Deployment lost its labels (outside the cache): found and repaired",
       .objects =
           [&] {
             auto objs = Synced(hello);
             objs[1].object["metadata"].erase("labels");
             return objs;
           }(),
       .want_writes = {"create deployments", "update deployments"},
       .check =
           [](FakeClient& c) {
             EXPECT_EQ(Deploy(c)["metadata"]["labels"]["kfaas.dev/function"], "hello");
           }},
      {.name = "lastColdStart written by the activator is preserved",
       .objects =
           [&] {
             auto objs = Synced(hello, 1, 1);
             objs[0].object["status"]["lastColdStart"] = {{"time", "2025-01-01T00:00:05Z"},
                                                          {"durationMilliseconds", 412}};
             return objs;
           }(),
       .want_writes = {"patch functions/status"},
       .want_ready = "True/Available",
       .check =
           [](FakeClient& c) {
             EXPECT_FALSE(c.Writes()[0].object["status"].contains("lastColdStart"));
             EXPECT_EQ(Fn(c)["status"]["lastColdStart"]["durationMilliseconds"], 412);
           }},
      {.name = "quantities written differently by the server: no update",
       .objects =
           [&] {
             Json f = FunctionObj(
                 "hello", {{"resources", {{"requests", {{"cpu", "100m"}, {"memory", "1Gi"}}}}}});
             auto objs = Synced(f);
             Json& res = objs[1].object["spec"]["template"]["spec"]["containers"][0]["resources"];
             res["requests"]["cpu"] = "0.1";
             res["requests"]["memory"] = "1024Mi";
             return objs;
           }()},
      {.name = "conditions of other writers are kept",
       .objects =
           [&] {
             auto objs = Synced(hello);
             objs[0].object["status"]["conditions"].push_back(
                 Cond("ScaledByKeda", "True", "Active", "x"));
             objs[0].object["metadata"]["generation"] = 2;
             return objs;
           }(),
       .want_writes = {"patch functions/status"},
       .check =
           [](FakeClient& c) {
             Json fn = Fn(c);
             EXPECT_TRUE(FindCondition(fn["status"]["conditions"], "ScaledByKeda"));
           }},
      {.name = "create fails with 500: error, status untouched",
       .objects = {{&kFunctions, hello}},
       .before =
           [](FakeClient& c) {
             c.FailNext("create", "deployments", kube::InternalApiError("etcd is sad"));
           },
       .want_writes = {"create deployments", "create services"},
       .want_result = Result::Kind::kError},
      {.name = "create refused with 422: DeploymentFailed in status, error",
       .objects = {{&kFunctions, hello}},
       .before =
           [](FakeClient& c) {
             c.FailNext("create", "deployments",
                        kube::InvalidError("Deployment", "apps", "hello",
                                           {{"FieldValueInvalid", "bad", "spec.template"}}));
           },
       .want_writes = {"create deployments", "create services", "patch functions/status"},
       .want_result = Result::Kind::kError,
       .want_ready = "False/DeploymentFailed",
       .want_message_has = "spec.template",
       .want_events = {"Warning/DeploymentFailed"}},
      {.name = "update conflict (409): requeue, status untouched",
       .objects =
           [&] {
             auto objs = Synced(hello);
             objs[0].object["spec"]["image"] = "registry.example.com/hello:2";
             return objs;
           }(),
       .before =
           [](FakeClient& c) {
             c.FailNext("update", "deployments", kube::ConflictError("deployments.apps", "hello"));
           },
       .want_writes = {"update deployments"},
       .want_result = Result::Kind::kRequeue},
      {.name = "status write fails: error",
       .objects = {{&kFunctions, hello}},
       .before =
           [](FakeClient& c) {
             c.FailNext("patch", "functions", kube::ServiceUnavailableError("try later"));
           },
       .want_writes = {"create deployments", "create services", "patch functions/status"},
       .want_result = Result::Kind::kError},
      {.name = "function gone: nothing to do", .objects = {}, .want_writes = {}},
      {.name = "function being deleted: nothing to do",
       .objects =
           [&] {
             Json f = hello;
             f["metadata"]["deletionTimestamp"] = kOldTime;
             f["metadata"]["finalizers"] = {"example.com/hold"};
             return std::vector<Seed>{{&kFunctions, f}};
           }(),
       .want_writes = {}},
      {.name = "malformed key: ignored", .key = "no-slash", .want_writes = {}},
      {.name = "a vanished child is re-created when the Function still exists",
       .objects =
           [&] {
             auto objs = Synced(hello);
             objs.pop_back();  // no Service
             return objs;
           }(),
       .want_writes = {"create services"},
       .check =
           [](FakeClient& c) {
             auto actions = c.Actions();
             ASSERT_FALSE(actions.empty());
             EXPECT_EQ(actions[0].verb + " " + actions[0].resource, "get functions");
           }},
      {.name = "a vanished child of a Function deleted meanwhile is not re-created",
       .objects =
           [&] {
             auto objs = Synced(hello);
             objs.pop_back();
             return objs;
           }(),
       .before =
           [](FakeClient& c) {
             c.FailNext("get", "functions", kube::NotFoundError("functions.kfaas.dev", "hello"));
           },
       .want_writes = {}},
  };
  for (const auto& row : rows) RunRow(row);
}

TEST(Reconcile, SecondPassWritesNothing) {
  FakeClock clock;
  FakeClient client(clock);
  client.Seed(kFunctions, FunctionObj("hello", {{"scale", {{"min", 1}}}, {"hosts", {"a.b.c"}}}));
  ClientCache cache(client);
  RecordingEvents events;
  Reconciler r(client, cache, events, clock, {});
  ASSERT_EQ(r.Reconcile("default/hello").kind, Result::Kind::kSuccess);
  client.ClearActions();
  clock.Advance(std::chrono::hours(1));
  Result again = r.Reconcile("default/hello");
  EXPECT_EQ(again.kind, Result::Kind::kSuccess);
  EXPECT_TRUE(client.Writes().empty()) << client.Writes()[0].verb;
  EXPECT_FALSE(again.converged) << "with spec.hosts the outcome depends on other Functions";
}

TEST(Reconcile, ConvergedNamesTheVersionsItsWritesLeft) {
  FakeClock clock;
  FakeClient client(clock);
  client.Seed(kFunctions, FunctionObj("hello", {}));
  ClientCache cache(client);
  RecordingEvents events;
  Reconciler r(client, cache, events, clock, {});
  Result first = r.Reconcile("default/hello");
  ASSERT_EQ(first.kind, Result::Kind::kSuccess);
  ASSERT_TRUE(first.converged);
  auto rv = [&](const kube::Resource& res) {
    auto o = client.Get(res, "default", "hello");
    EXPECT_TRUE(o.ok());
    return o.ok() ? (*o)["metadata"].value("resourceVersion", "") : "";
  };
  // The versions after the reconcile's own writes (created children, patched status).
  EXPECT_EQ(first.converged->function, rv(kFunctions));
  EXPECT_EQ(first.converged->deployment, rv(kDeployments));
  EXPECT_EQ(first.converged->service, rv(kServices));
  Result again = r.Reconcile("default/hello");
  ASSERT_TRUE(again.converged);
  EXPECT_EQ(*again.converged, *first.converged);

  // Invalid spec: not converged (its children are not reconciled).
  client.Seed(kFunctions, FunctionObj("bad", {{"scale", {{"min", 5}, {"max", 2}}}}));
  Result bad = r.Reconcile("default/bad");
  EXPECT_EQ(bad.kind, Result::Kind::kSuccess);
  EXPECT_FALSE(bad.converged);
}

// The cache is behind: a spec change (generation 2) reached the server after the cached copy
// (generation 1). The status patch's answer carries generation 2, which this reconcile did not
// act on, so its version must not be named converged.
TEST(Reconcile, NotConvergedWhenTheServerHasANewerSpec) {
  FakeClock clock;
  FakeClient client(clock);
  client.Seed(kFunctions,
              FunctionObj("hello", {{"image", "registry.example.com/hello:2"}}, /*generation=*/2));
  class Stale : public ClientCache {
   public:
    using ClientCache::ClientCache;
    ObjectPtr GetFunction(const std::string&, const std::string&) override {
      return std::make_shared<const Json>(FunctionObj("hello"));
    }
  } cache(client);
  RecordingEvents events;
  Reconciler r(client, cache, events, clock, {});
  Result res = r.Reconcile("default/hello");
  ASSERT_EQ(res.kind, Result::Kind::kSuccess);
  EXPECT_THAT(res.writes, ::testing::Contains("status"));
  EXPECT_FALSE(res.converged);
}

TEST(Reconcile, LastTransitionTimeMovesOnlyWhenStatusFlips) {
  FakeClock clock;
  FakeClient client(clock);
  client.Seed(kFunctions, FunctionObj("hello", {{"scale", {{"min", 1}}}}));
  ClientCache cache(client);
  RecordingEvents events;
  Reconciler r(client, cache, events, clock, {});
  ASSERT_EQ(r.Reconcile("default/hello").kind, Result::Kind::kSuccess);
  auto ready = [&] { return *FindCondition(Fn(client)["status"]["conditions"], "Ready"); };
  EXPECT_EQ(ready()["status"], "False");  // 0 of 1 ready
  std::string t0 = ready()["lastTransitionTime"];
  clock.Advance(std::chrono::seconds(30));
  Json d = Deploy(client);
  d["status"] = {{"replicas", 1}, {"readyReplicas", 1}};
  client.Seed(kDeployments, d);
  ASSERT_EQ(r.Reconcile("default/hello").kind, Result::Kind::kSuccess);
  EXPECT_EQ(ready()["status"], "True");
  std::string t1 = ready()["lastTransitionTime"];
  EXPECT_EQ(t1, FormatRfc3339(clock.WallNow()));
  EXPECT_NE(t0, t1);
  clock.Advance(std::chrono::seconds(30));
  d = Deploy(client);
  d["status"] = {{"replicas", 2}, {"readyReplicas", 2}};
  d["spec"]["replicas"] = 2;
  client.Seed(kDeployments, d);
  ASSERT_EQ(r.Reconcile("default/hello").kind, Result::Kind::kSuccess);
  EXPECT_EQ(ready()["message"], "2 of 2 instances ready");
  EXPECT_EQ(ready()["lastTransitionTime"], t1);
}

// scaling_status_delay: the status changes of a scale-up (replicas, then readyReplicas) become
// one write, made once the delay has passed since the first of them was seen; a spec change
// is written at once, with what was pending.
TEST(Reconcile, ScalingOnlyStatusChangesWaitAndCoalesce) {
  FakeClock clock;
  FakeClient client(clock);
  client.Seed(kFunctions, FunctionObj("hello"));
  ClientCache cache(client);
  RecordingEvents events;
  Reconciler r(client, cache, events, clock,
               {.scaling_status_delay = std::chrono::milliseconds(100)});
  Result first = r.Reconcile("default/hello");
  ASSERT_EQ(first.kind, Result::Kind::kSuccess);
  EXPECT_THAT(first.writes, ::testing::Contains("status")) << "a new Function: at once";
  EXPECT_EQ(first.requeue_after, Duration::zero());
  auto status = [&] { return Fn(client)["status"]; };
  ASSERT_EQ(status()["replicas"], 0);

  // The activator scales it to 1: the Deployment's pod is created, not ready yet.
  client.ClearActions();
  clock.Advance(std::chrono::seconds(5));
  Json d = Deploy(client);
  d["spec"]["replicas"] = 1;
  d["status"] = {{"replicas", 1}, {"readyReplicas", 0}};
  client.Seed(kDeployments, d);
  Result a = r.Reconcile("default/hello");
  EXPECT_EQ(a.kind, Result::Kind::kSuccess);
  EXPECT_TRUE(client.Writes().empty());
  EXPECT_EQ(a.requeue_after, std::chrono::milliseconds(100));
  EXPECT_FALSE(a.converged);

  // 10 ms later it is ready: still waiting, for the rest of the delay from the first change.
  clock.Advance(std::chrono::milliseconds(10));
  d = Deploy(client);
  d["status"] = {{"replicas", 1}, {"readyReplicas", 1}};
  client.Seed(kDeployments, d);
  Result b = r.Reconcile("default/hello");
  EXPECT_TRUE(client.Writes().empty());
  EXPECT_EQ(b.requeue_after, std::chrono::milliseconds(90));

  // The requeue: one write with the latest state.
  clock.Advance(std::chrono::milliseconds(90));
  Result c = r.Reconcile("default/hello");
  EXPECT_THAT(c.writes, ElementsAreArray({"status"}));
  EXPECT_EQ(c.requeue_after, Duration::zero());
  EXPECT_EQ(client.Writes().size(), 1u);
  EXPECT_EQ(status()["replicas"], 1);
  EXPECT_EQ(status()["readyReplicas"], 1);
  EXPECT_EQ((*FindCondition(status()["conditions"], "Ready"))["status"], "True");
  EXPECT_EQ(r.Reconcile("default/hello").requeue_after, Duration::zero());

  // Scaling to zero waits too; a spec change meanwhile is written at once, with it.
  client.ClearActions();
  d = Deploy(client);
  d["spec"]["replicas"] = 0;
  d["status"] = {{"replicas", 0}, {"readyReplicas", 0}};
  client.Seed(kDeployments, d);
  EXPECT_EQ(r.Reconcile("default/hello").requeue_after, std::chrono::milliseconds(100));
  EXPECT_TRUE(client.Writes().empty());
  Json fn = Fn(client);
  fn["metadata"]["generation"] = 2;
  client.Seed(kFunctions, fn);
  Result e = r.Reconcile("default/hello");
  EXPECT_THAT(e.writes, ::testing::Contains("status"));
  EXPECT_EQ(e.requeue_after, Duration::zero());
  EXPECT_EQ(status()["observedGeneration"], 2);
  EXPECT_EQ(status()["replicas"], 0);
}

TEST(Compare, DerivativeIgnoresDefaultsAndComparesQuantities) {
  std::string diff;
  EXPECT_TRUE(
      IsDerivative({{"a", 1}, {"b", ""}, {"c", Json::array()}}, {{"a", 1.0}, {"z", "default"}}));
  EXPECT_FALSE(IsDerivative({{"a", {{"b", {1, 2}}}}}, {{"a", {{"b", {1}}}}}, &diff));
  EXPECT_EQ(diff, "a.b");
  EXPECT_FALSE(IsDerivative({{"x", {{{"n", "a"}}, {{"n", "b"}}}}},
                            {{"x", {{{"n", "a"}}, {{"n", "c"}}}}}, &diff));
  EXPECT_EQ(diff, "x[1].n");
  EXPECT_FALSE(IsDerivative({{"flag", false}}, Json::object()));
  EXPECT_TRUE(
      IsDerivative({{"resources", {{"limits", {{"cpu", "1"}, {"memory", "1Gi"}}}}}},
                   {{"resources", {{"limits", {{"cpu", "1000m"}, {"memory", 1073741824}}}}}}));
  EXPECT_FALSE(IsDerivative({{"resources", {{"limits", {{"cpu", "1"}}}}}},
                            {{"resources", {{"limits", {{"cpu", "1001m"}}}}}}));
  // Outside resources, strings compare as strings.
  EXPECT_FALSE(IsDerivative({{"image", "1"}}, {{"image", "1000m"}}));
  EXPECT_EQ(*ParseQuantity("2e3"), 2000);
  EXPECT_EQ(*ParseQuantity("1Ki"), 1024);
  EXPECT_FALSE(ParseQuantity("1Q"));
}

}  // namespace
}  // namespace kfaas::op
