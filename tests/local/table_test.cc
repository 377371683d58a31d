#include "local/apiserver/table.h"

#include <gtest/gtest.h>

#include "common/base/time_format.h"
#include "common/base/yaml_json.h"

namespace kfaas::local {
namespace {

const WallTime kNow = *ParseRfc3339("2026-01-10T12:00:00Z");

std::string Ago(int seconds) { return FormatRfc3339(kNow - std::chrono::seconds(seconds)); }

Json Obj(const std::string& yaml) {
  auto j = YamlToJson(yaml);
  EXPECT_TRUE(j.ok()) << j.status() << "\n" << yaml;
  return j.ok() ? *j : Json();
}

Json Cells(const std::string& resource, const Json& obj) {
  Json t = BuildTable(resource, BuiltinColumns(resource), {obj}, kNow, IncludeObject::kNone, true);
  return t["rows"][0]["cells"];
}

std::vector<std::string> Names(const std::vector<TableColumn>& cols, bool wide = false) {
  std::vector<std::string> out;
  for (const auto& c : cols) {
    if (wide || c.priority == 0) out.push_back(c.name);
  }
  return out;
}

TEST(BuiltinColumns, MatchTheRealServer) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Names(BuiltinColumns("pods")), (V{"Name", "Ready", "Status", "Restarts", "Age"}));
  EXPECT_EQ(Names(BuiltinColumns("pods"), true),
            (V{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node",
               "Readiness Gates"}));
  EXPECT_EQ(Names(BuiltinColumns("deployments")),
            (V{"Name", "Ready", "Up-to-date", "Available", "Age"}));
  EXPECT_EQ(Names(BuiltinColumns("deployments"), true),
            (V{"Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images",
               "Selector"}));
  EXPECT_EQ(Names(BuiltinColumns("services")),
            (V{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"}));
  EXPECT_EQ(Names(BuiltinColumns("endpointslices")),
            (V{"Name", "AddressType", "Ports", "Endpoints", "Age"}));
  EXPECT_EQ(Names(BuiltinColumns("endpoints")), (V{"Name", "Endpoints", "Age"}));
  EXPECT_EQ(Names(BuiltinColumns("leases")), (V{"Name", "Holder", "Age"}));
  EXPECT_EQ(Names(BuiltinColumns("events")),
            (V{"Last Seen", "Type", "Reason", "Object", "Message"}));
  EXPECT_EQ(Names(BuiltinColumns("namespaces")), (V{"Name", "Status", "Age"}));
  EXPECT_EQ(Names(BuiltinColumns("configmaps")), (V{"Name", "Data", "Age"}));
  EXPECT_EQ(Names(BuiltinColumns("secrets")), (V{"Name", "Type", "Data", "Age"}));
  EXPECT_EQ(Names(BuiltinColumns("serviceaccounts")), (V{"Name", "Secrets", "Age"}));
  EXPECT_EQ(Names(BuiltinColumns("customresourcedefinitions")), (V{"Name", "Created At"}));
  EXPECT_EQ(BuiltinColumns("pods")[0].format, "name");
}

struct PodCase {
  std::string name;
  std::string yaml;
  Json want;  // the first five cells
};

TEST(BuildTable, PodCells) {
  const std::string created = "metadata: {name: web-1, creationTimestamp: '" + Ago(300) + "'}\n";
  const PodCase cases[] = {
      {"running",
       created + R"(spec: {containers: [{name: c}]}
status:
  phase: Running
  conditions: [{type: Ready, status: 'True'}]
  containerStatuses: [{name: c, ready: true, restartCount: 0, state: {running: {}}}])",
       {"web-1", "1/1", "Running", "0", "5m"}},
      {"pending", created + "spec: {containers: [{name: a}, {name: b}]}\nstatus: {phase: Pending}",
       {"web-1", "0/2", "Pending", "0", "5m"}},
      {"crash loop",
       created + R"(spec: {containers: [{name: c}]}
status:
  phase: Running
  containerStatuses:
  - name: c
    ready: false
    restartCount: 3
    state: {waiting: {reason: CrashLoopBackOff}}
    lastState: {terminated: {exitCode: 1, reason: Error, finishedAt: ')" +
           Ago(125) + R"('}})",
       {"web-1", "0/1", "CrashLoopBackOff", "3 (2m5s ago)", "5m"}},
      {"terminating",
       "metadata: {name: web-1, creationTimestamp: '" + Ago(300) + "', deletionTimestamp: '" +
           Ago(1) + R"('}
spec: {containers: [{name: c}]}
status:
  phase: Running
  containerStatuses: [{name: c, ready: true, state: {running: {}}}])",
       {"web-1", "1/1", "Terminating", "0", "5m"}},
      {"completed",
       created + R"(spec: {containers: [{name: c}]}
status:
  phase: Succeeded
  containerStatuses: [{name: c, ready: false, state: {terminated: {exitCode: 0, reason: Completed}}}])",
       {"web-1", "0/1", "Completed", "0", "5m"}},
      {"exit code",
       created + R"(spec: {containers: [{name: c}]}
status:
  phase: Failed
  containerStatuses: [{name: c, state: {terminated: {exitCode: 2}}}])",
       {"web-1", "0/1", "ExitCode:2", "0", "5m"}},
      {"init",
       created + R"(spec: {initContainers: [{name: i}], containers: [{name: c}]}
status:
  phase: Pending
  initContainerStatuses: [{name: i, state: {running: {}}}]
  containerStatuses: [{name: c, state: {waiting: {reason: PodInitializing}}}])",
       {"web-1", "0/1", "Init:0/1", "0", "5m"}},
      {"init error",
       created + R"(spec: {initContainers: [{name: i}], containers: [{name: c}]}
status:
  phase: Pending
  initContainerStatuses: [{name: i, state: {waiting: {reason: ImagePullBackOff}}}])",
       {"web-1", "0/1", "Init:ImagePullBackOff", "0", "5m"}},
      {"no timestamp", "metadata: {name: x}\nspec: {containers: [{name: c}]}",
       {"x", "0/1", "", "0", "<unknown>"}},
  };
  for (const auto& c : cases) {
    Json cells = Cells("pods", Obj(c.yaml));
    ASSERT_EQ(cells.size(), 9u) << c.name;
    Json first5(cells.begin(), cells.begin() + 5);
    EXPECT_EQ(first5, c.want) << c.name << ": " << cells.dump();
  }
  Json wide = Cells("pods", Obj(created + "spec: {nodeName: local, containers: [{name: c}]}\n"
                                          "status: {podIPs: [{ip: 10.0.0.7}]}"));
  EXPECT_EQ(wide[5], "10.0.0.7");
  EXPECT_EQ(wide[6], "local");
  EXPECT_EQ(wide[7], "<none>");
  EXPECT_EQ(wide[8], "<none>");

  Json t = BuildTable("pods", BuiltinColumns("pods"),
                      {Obj(created + "status: {phase: Succeeded}")}, kNow, IncludeObject::kNone,
                      true);
  EXPECT_EQ(t["rows"][0]["conditions"][0]["reason"], "Succeeded");
}

TEST(BuildTable, OtherBuiltins) {
  const std::string meta = "metadata: {name: web, creationTimestamp: '" + Ago(600) + "'}\n";
  EXPECT_EQ(Cells("deployments", Obj(meta + R"(spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template: {spec: {containers: [{name: web, image: 'img:1'}, {name: side, image: 'img:2'}]}}
status: {readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2})")),
            (Json{"web", "2/3", 3, 2, "10m", "web,side", "img:1,img:2", "app=web"}));
  EXPECT_EQ(Cells("deployments", Obj(meta + "spec: {}"))[1], "0/1") << "replicas default to 1";

  EXPECT_EQ(Cells("services", Obj(meta + R"(spec:
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}, {port: 443, protocol: TCP, nodePort: 30443}])")),
            (Json{"web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,443:30443/TCP", "10m",
                  "app=web"}));
  EXPECT_EQ(Cells("services", Obj(meta + "spec: {type: LoadBalancer, ports: [{port: 80}]}"))[3],
            "<pending>");
  EXPECT_EQ(Cells("services", Obj(meta + "spec: {type: ExternalName, externalName: a.b}"))[3],
            "a.b");
  EXPECT_EQ(Cells("services", Obj(meta + "spec: {}"))[4], "<none>");

  EXPECT_EQ(Cells("endpointslices", Obj(meta + R"(addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.0.0.1]
- addresses: [10.0.0.2, 10.0.0.3]
- addresses: [10.0.0.4])")),
            (Json{"web", "IPv4", "8080", "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...", "10m"}));
  EXPECT_EQ(Cells("endpointslices", Obj(meta + "addressType: IPv4")),
            (Json{"web", "IPv4", "<unset>", "<unset>", "10m"}));

  EXPECT_EQ(Cells("endpoints", Obj(meta + R"(subsets:
- addresses: [{ip: 10.0.0.1}, {ip: 10.0.0.2}]
  ports: [{port: 8080}])")),
            (Json{"web", "10.0.0.1:8080,10.0.0.2:8080", "10m"}));
  EXPECT_EQ(Cells("endpoints", Obj(meta))[1], "<none>");

  EXPECT_EQ(Cells("leases", Obj(meta + "spec: {holderIdentity: op-1}")),
            (Json{"web", "op-1", "10m"}));
  EXPECT_EQ(Cells("namespaces", Obj(meta + "status: {phase: Active}")),
            (Json{"web", "Active", "10m"}));
  EXPECT_EQ(Cells("configmaps", Obj(meta + "data: {a: '1', b: '2'}")), (Json{"web", 2, "10m"}));
  EXPECT_EQ(Cells("secrets", Obj(meta + "data: {a: eA==}")), (Json{"web", "Opaque", 1, "10m"}));
  EXPECT_EQ(Cells("customresourcedefinitions",
                  Obj("metadata: {name: functions.kfaas.dev, creationTimestamp: '2026-01-01T00:00:00Z'}")),
            (Json{"functions.kfaas.dev", "2026-01-01T00:00:00Z"}));

  EXPECT_EQ(Cells("events", Obj(R"(metadata: {name: web.17a}
type: Warning
reason: BackOff
message: "Back-off restarting failed container\n"
involvedObject: {kind: Pod, name: web-1, fieldPath: 'spec.containers{c}'}
source: {component: kubelet, host: local}
count: 4
firstTimestamp: ')" + Ago(3600) + "'\nlastTimestamp: '" + Ago(30) + "'")),
            (Json{"30s", "Warning", "BackOff", "pod/web-1", "spec.containers{c}", "kubelet, local",
                  "Back-off restarting failed container", "60m", 4, "web.17a"}));
}

TEST(BuildTable, CustomResourceColumns) {
  Json apc = Obj(R"(
- {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
- {name: Replicas, type: integer, jsonPath: .status.replicas}
- {name: URL, type: string, jsonPath: .status.url, priority: 1}
- {name: Last Cold Start, type: date, jsonPath: .status.lastColdStart.time}
- {name: Ratio, type: number, jsonPath: .status.ratio}
- {name: Paused, type: boolean, jsonPath: .spec.paused}
- {name: Hosts, type: string, jsonPath: .spec.hosts}
- {name: Age, type: date, jsonPath: .metadata.creationTimestamp})");
  auto cols = CustomResourceColumns(apc);
  ASSERT_EQ(cols.size(), 9u);
  EXPECT_EQ(cols[0].name, "Name");
  EXPECT_EQ(cols[3].priority, 1);
  EXPECT_EQ(cols[2].description,
            "Custom resource definition column (in JSONPath format): .status.replicas");
  Json fn = Obj("metadata: {name: hello, creationTimestamp: '" + Ago(90) + R"('}
spec: {paused: false, hosts: [a, b]}
status:
  replicas: 2
  ratio: 0.5
  url: http://hello.default.example.com
  conditions: [{type: Scheduled, status: 'True'}, {type: Ready, status: 'False'}]
  lastColdStart: {time: ')" + Ago(7200) + "'}");
  Json t = BuildTable("functions", cols, {fn}, kNow, IncludeObject::kMetadata, true);
  EXPECT_EQ(t["rows"][0]["cells"],
            (Json{"hello", "False", 2, "http://hello.default.example.com", "120m", 0.5, false,
                  "[\"a\",\"b\"]", "90s"}));
  EXPECT_EQ(t["columnDefinitions"].size(), 9u);
  EXPECT_EQ(t["columnDefinitions"][4]["type"], "date");
  EXPECT_EQ(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(t["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(t["rows"][0]["object"]["metadata"]["name"], "hello");

  // Missing values are null cells (kubectl prints <none>).
  Json bare = Obj("metadata: {name: bare}");
  t = BuildTable("functions", cols, {bare}, kNow, IncludeObject::kNone, false);
  EXPECT_EQ(t["rows"][0]["cells"],
            (Json{"bare", nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                  nullptr}));
  EXPECT_TRUE(t["columnDefinitions"].empty());
  EXPECT_FALSE(t["rows"][0].contains("object"));

  // No columns at all: the server serves NAME, AGE.
  auto dflt = CustomResourceColumns(Json::array());
  ASSERT_EQ(dflt.size(), 2u);
  EXPECT_EQ(dflt[1].name, "Age");
  EXPECT_EQ(dflt[1].json_path, ".metadata.creationTimestamp");
  t = BuildTable("functions", dflt, {fn}, kNow, IncludeObject::kObject, true,
                 {{"resourceVersion", "42"}, {"continue", ""}});
  EXPECT_EQ(t["rows"][0]["cells"], (Json{"hello", "90s"}));
  EXPECT_EQ(t["rows"][0]["object"], fn);
  EXPECT_EQ(t["metadata"], (Json{{"resourceVersion", "42"}}));
  EXPECT_EQ(t["kind"], "Table");
}

TEST(HumanAge, Formats) {
  EXPECT_EQ(HumanAge(Ago(0), kNow), "0s");
  EXPECT_EQ(HumanAge(Ago(59), kNow), "59s");
  EXPECT_EQ(HumanAge(Ago(300), kNow), "5m");
  EXPECT_EQ(HumanAge(Ago(3 * 3600 + 600), kNow), "3h10m");
  EXPECT_EQ(HumanAge(Ago(-1), kNow), "0s");
  EXPECT_EQ(HumanAge(Ago(-5), kNow), "<invalid>");
  EXPECT_EQ(HumanAge("", kNow), "<unknown>");
  EXPECT_EQ(HumanAge(nullptr, kNow), "<unknown>");
  EXPECT_EQ(HumanAge("garbage", kNow), "<unknown>");
}

TEST(JsonPath, Evaluates) {
  Json obj = Obj(R"(
metadata: {name: web, labels: {app: web, tier: front}}
spec:
  replicas: 3
  ratio: 0.25
  containers:
  - {name: a, image: 'img:a', ports: [{containerPort: 80}]}
  - {name: b, image: 'img:b', ports: [{containerPort: 81}, {containerPort: 82}]}
status:
  conditions: [{type: Available, status: 'True'}, {type: Ready, status: 'False', count: 2}]
items: [{name: x}, {name: y}])");
  const std::pair<std::string, std::string> cases[] = {
      {".metadata.name", "web"},
      {"{.metadata.name}", "web"},
      {"$.metadata.name", "web"},
      {".spec.replicas", "3"},
      {".spec.ratio", "0.25"},
      {".spec.containers[0].image", "img:a"},
      {".spec.containers[-1].name", "b"},
      {".spec.containers[*].name", "a,b"},
      {".spec.containers[0:1].name", "a"},
      {".spec.containers[5].name", ""},
      {".spec.containers[0,1].image", "img:a,img:b"},
      {".metadata.labels['app','tier']", "web,front"},
      {".metadata.labels.*", "web,front"},
      {".status.conditions[?(@.type=='Ready')].status", "False"},
      {".status.conditions[?(@.type==\"Available\")].status", "True"},
      {".status.conditions[?(@.count>1)].type", "Ready"},
      {".status.conditions[?(@.count)].type", "Ready"},
      {".status.conditions[?(@.type!='Ready')].type", "Available"},
      {"..containerPort", "80,81,82"},
      {".missing.path", ""},
      {".metadata.labels", "{\"app\":\"web\",\"tier\":\"front\"}"},
      {"{.metadata.name}/{.spec.replicas}", "web/3"},
      {"{range .items[*]}{.name}{\"\\n\"}{end}", "x\ny\n"},
      {"{range .spec.containers[*]}{.name}={.image} {end}", "a=img:a b=img:b "},
      {"{.}", obj.dump()},
  };
  for (const auto& [path, want] : cases) {
    auto got = EvaluateJsonPath(obj, path);
    ASSERT_TRUE(got.ok()) << path << ": " << got.status();
    EXPECT_EQ(*got, want) << path;
  }
  auto values = EvaluateJsonPathValues(obj, ".spec.containers[*].ports[*].containerPort");
  ASSERT_TRUE(values.ok());
  EXPECT_EQ(*values, (std::vector<Json>{80, 81, 82}));
}

TEST(JsonPath, MalformedAndHostile) {
  Json obj = {{"a", {{"b", 1}}}};
  for (const std::string bad : {"{.a", "{.a[}", "{.a[?(@.x=~'y')]}", "{range .a}", "{end}",
                                ".a['x", "{.a[1:2:3:4]}"}) {
    EXPECT_FALSE(EvaluateJsonPath(obj, bad).ok()) << bad;
  }
  std::string deep = ".a";
  for (int i = 0; i < 40; ++i) deep = ".a[?(@" + deep + ")]";
  (void)EvaluateJsonPath(obj, deep);
  Json big = Json::array();
  for (int i = 0; i < 200; ++i) big.push_back({{"x", {1, 2, 3}}});
  auto r = EvaluateJsonPath(big, "{..*..*..*..*}");
  EXPECT_TRUE(r.ok());
  std::string ranges;
  for (int i = 0; i < 40; ++i) ranges += "{range .a}";
  EXPECT_FALSE(EvaluateJsonPath(obj, ranges).ok());
}

TEST(BuildTable, OddObjectsDoNotThrow) {
  for (const Json& o : {Json(5), Json::array(), Json{{"metadata", 5}},
                        Json{{"spec", {{"containers", "x"}}}, {"status", {{"containerStatuses", 3}}}},
                        Json{{"status", {{"containerStatuses", {1, nullptr, "x"}}}}}}) {
    for (const char* r : {"pods", "deployments", "services", "events", "endpointslices",
                          "endpoints", "leases", "namespaces", "configmaps", "secrets",
                          "serviceaccounts", "widgets"}) {
      Json t = BuildTable(r, BuiltinColumns(r), {o}, kNow, IncludeObject::kMetadata, true);
      EXPECT_EQ(t["rows"].size(), 1u) << r;
    }
  }
}

}  // namespace
}  // namespace kfaas::local
