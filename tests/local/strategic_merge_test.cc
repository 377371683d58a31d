#include <gtest/gtest.h>

#include "common/base/yaml_json.h"
#include "common/kube/errors.h"
#include "local/apiserver/patch.h"

namespace kfaas::local {
namespace {

Json Y(const std::string& yaml) {
  auto j = YamlToJson(yaml);
  EXPECT_TRUE(j.ok()) << j.status() << "\n" << yaml;
  return j.ok() ? *j : Json();
}

const char kDeployment[] = R"(
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: front}
  finalizers: [a]
spec:
  replicas: 1
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1}}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1
        args: [a, b]
        env: [{name: A, value: '1'}, {name: B, value: '2'}]
        ports: [{containerPort: 80}, {containerPort: 443}]
      - name: side
        image: busybox
status:
  conditions: [{type: Available, status: 'True'}, {type: Progressing, status: 'True'}]
)";

struct Case {
  std::string name;
  std::string patch;
  std::string path;  // JSON pointer into the result
  std::string want;  // YAML of the expected value ("<absent>" for a removed field)
};

TEST(StrategicMergePatch, DeploymentCases) {
  const Case cases[] = {
      {"merge container by name",
       "{spec: {template: {spec: {containers: [{name: side, image: busybox:2}]}}}}",
       "/spec/template/spec/containers",
       "[{name: web, image: 'nginx:1', args: [a, b], env: [{name: A, value: '1'}, {name: B, "
       "value: '2'}], ports: [{containerPort: 80}, {containerPort: 443}]}, {name: side, image: "
       "'busybox:2'}]"},
      // Without $setElementOrder the real algorithm puts items new to the list first.
      {"append a container", "{spec: {template: {spec: {containers: [{name: new, image: x}]}}}}",
       "/spec/template/spec/containers/0", "{name: new, image: x}"},
      {"delete a container",
       "{spec: {template: {spec: {containers: [{name: web, $patch: delete}]}}}}",
       "/spec/template/spec/containers", "[{name: side, image: busybox}]"},
      {"replace the list",
       "{spec: {template: {spec: {containers: [{$patch: replace}, {name: z, image: q}]}}}}",
       "/spec/template/spec/containers", "[{name: z, image: q}]"},
      {"env by name",
       "{spec: {template: {spec: {containers: [{name: web, env: [{name: B, value: '3'}, {name: "
       "C, value: '4'}]}]}}}}",
       "/spec/template/spec/containers/0/env",
       "[{name: A, value: '1'}, {name: B, value: '3'}, {name: C, value: '4'}]"},
      {"ports by containerPort",
       "{spec: {template: {spec: {containers: [{name: web, ports: [{containerPort: 443, name: "
       "https}]}]}}}}",
       "/spec/template/spec/containers/0/ports",
       "[{containerPort: 80}, {containerPort: 443, name: https}]"},
      {"atomic list replaced", "{spec: {template: {spec: {containers: [{name: web, args: [c]}]}}}}",
       "/spec/template/spec/containers/0/args", "[c]"},
      {"null deletes", "{spec: {replicas: null}}", "/spec/replicas", "<absent>"},
      {"scalar set", "{spec: {replicas: 3}}", "/spec/replicas", "3"},
      {"label merge and delete", "{metadata: {labels: {tier: null, new: x}}}", "/metadata/labels",
       "{app: web, new: x}"},
      {"finalizers as a set", "{metadata: {finalizers: [b, a]}}", "/metadata/finalizers", "[b, a]"},
      {"finalizers added (new first)", "{metadata: {finalizers: [b]}}", "/metadata/finalizers",
       "[b, a]"},
      {"delete from primitive list", "{metadata: {$deleteFromPrimitiveList/finalizers: [a]}}",
       "/metadata/finalizers", "[]"},
      {"set element order",
       "{spec: {template: {spec: {$setElementOrder/containers: [{name: side}, {name: web}], "
       "containers: [{name: web, image: 'nginx:2'}]}}}}",
       "/spec/template/spec/containers/0/name", "side"},
      {"retainKeys", "{spec: {strategy: {$retainKeys: [type], type: Recreate}}}", "/spec/strategy",
       "{type: Recreate}"},
      {"conditions by type", "{status: {conditions: [{type: Available, status: 'False'}]}}",
       "/status/conditions",
       "[{type: Available, status: 'False'}, {type: Progressing, status: 'True'}]"},
      {"map delete directive", "{spec: {selector: {$patch: delete}}}", "/spec/selector", "{}"},
      {"map replace directive", "{spec: {strategy: {$patch: replace, type: Recreate}}}",
       "/spec/strategy", "{type: Recreate}"},
      {"new list taken without nulls or directives",
       "{spec: {template: {spec: {volumes: [{name: v, emptyDir: {}, secret: null}]}}}}",
       "/spec/template/spec/volumes", "[{name: v, emptyDir: {}}]"},
      {"type change replaces", "{spec: {replicas: {weird: 1}}}", "/spec/replicas", "{weird: 1}"},
  };
  for (const auto& c : cases) {
    auto got = StrategicMergePatch(Y(kDeployment), Y(c.patch), "Deployment");
    ASSERT_TRUE(got.ok()) << c.name << ": " << got.status();
    Json::json_pointer ptr(c.path);
    if (c.want == "<absent>") {
      EXPECT_FALSE(got->contains(ptr)) << c.name << ": " << got->dump();
    } else {
      ASSERT_TRUE(got->contains(ptr)) << c.name << ": " << got->dump();
      EXPECT_EQ((*got)[ptr], Y(c.want)) << c.name;
    }
  }
}

TEST(StrategicMergePatch, KubectlClientSideApplyPatches) {
  // What kubectl apply sends for a Deployment whose manifest changed the image, dropped env B
  // and added env C (three-way patch with $setElementOrder and delete directives).
  Json patch = Json::parse(R"({
    "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}},
    "spec": {"template": {"spec": {
      "$setElementOrder/containers": [{"name": "web"}, {"name": "side"}],
      "containers": [{
        "$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
        "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "B"}],
        "image": "nginx:2",
        "name": "web"}]}}}})");
  auto got = StrategicMergePatch(Y(kDeployment), patch, "Deployment");
  ASSERT_TRUE(got.ok()) << got.status();
  const Json& web = (*got)["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(web["image"], "nginx:2");
  EXPECT_EQ(web["env"], Y("[{name: A, value: '1'}, {name: C, value: '3'}]"));
  EXPECT_EQ((*got)["spec"]["template"]["spec"]["containers"][1]["name"], "side");
  EXPECT_EQ((*got)["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            "{}\n");
  // Removing a whole field from the manifest: kubectl sends null.
  got = StrategicMergePatch(*got, Json::parse(R"({"spec":{"strategy":null}})"), "Deployment");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE((*got)["spec"].contains("strategy"));
}

TEST(StrategicMergePatch, ServiceAndPod) {
  Json svc = Y("{spec: {ports: [{port: 80, targetPort: 8080}, {port: 443}], selector: {app: a}}}");
  auto got =
      StrategicMergePatch(svc, Y("{spec: {ports: [{port: 80, targetPort: 9090}]}}"), "Service");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["spec"]["ports"], Y("[{port: 80, targetPort: 9090}, {port: 443}]"));

  Json pod = Y("{status: {conditions: [{type: Ready, status: 'False'}], podIPs: [{ip: 1.2.3.4}]}}");
  got = StrategicMergePatch(
      pod,
      Y("{status: {conditions: [{type: Ready, status: 'True'}, {type: Initialized, status: "
        "'True'}]}}"),
      "Pod");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["status"]["conditions"],
            Y("[{type: Ready, status: 'True'}, {type: Initialized, status: 'True'}]"));
  // ownerReferences merge by uid.
  Json owned = Y("{metadata: {ownerReferences: [{uid: u1, name: a}]}}");
  got = StrategicMergePatch(owned, Y("{metadata: {ownerReferences: [{uid: u2, name: b}]}}"),
                            "ConfigMap");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["metadata"]["ownerReferences"].size(), 2u);
}

TEST(StrategicMergePatch, UnknownKindIsAMergePatch) {
  Json fn = Y("{spec: {hosts: [a, b], scale: {min: 0, max: 10}}}");
  auto got =
      StrategicMergePatch(fn, Y("{spec: {hosts: [c], scale: {max: null, target: 5}}}"), "Function");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, Y("{spec: {hosts: [c], scale: {min: 0, target: 5}}}"));
}

TEST(StrategicMergePatch, ErrorsAreBadRequests) {
  const std::pair<std::string, std::string> cases[] = {
      {"{spec: {template: {spec: {containers: [{image: x}]}}}}",
       "map: map[image:x] does not contain declared merge key: name"},
      {"{spec: {template: {spec: {containers: [{name: web, $patch: merge}]}}}}",
       "merging lists cannot yet be specified in the patch"},
      {"{spec: {template: {spec: {containers: [{name: web, $patch: bogus}]}}}}",
       "unknown patch type: bogus in map: map[$patch:bogus name:web]"},
      {"{spec: {$patch: merge}}", "unknown patch type: merge in map: map[$patch:merge]"},
      {"{spec: {strategy: {$retainKeys: [type], rollingUpdate: {}}}}",
       "invalid patch format of retainKeys"},
      {"{metadata: {finalizers: [[x]]}}", "list element types are not identical: [a] [[x]]"},
      {"{spec: {template: {spec: {containers: [1]}}}}", "list element types are not identical"},
  };
  for (const auto& [patch, msg] : cases) {
    auto got = StrategicMergePatch(Y(kDeployment), Y(patch), "Deployment");
    ASSERT_FALSE(got.ok()) << patch << " gave " << got->dump();
    EXPECT_EQ(kube::HttpCode(got.status()), 400) << patch;
    EXPECT_NE(std::string(got.status().message()).find(msg), std::string::npos)
        << patch << ": " << got.status().message();
  }
  EXPECT_FALSE(StrategicMergePatch(Json::object(), Json::array(), "Deployment").ok());
}

TEST(StrategicMergePatch, HostileInputNeverCrashes) {
  Json deep = Json::object();
  Json* cur = &deep;
  for (int i = 0; i < 5000; ++i) cur = &(*cur)["spec"];
  *cur = 1;
  (void)StrategicMergePatch(deep, deep, "Deployment");
  (void)StrategicMergePatch(deep, deep, "Function");
  const Json patches[] = {
      Y("{spec: {template: {spec: {containers: {name: x}}}}}"),
      Y("{spec: {template: {spec: {$setElementOrder/containers: [1, 2]}}}}"),
      Y("{spec: {template: {spec: {$setElementOrder/containers: x}}}}"),
      Y("{spec: {template: {spec: {$setElementOrder/containers: [{name: q}], containers: [{name: "
        "z}]}}}}"),
      Y("{metadata: {$deleteFromPrimitiveList/finalizers: x}}"),
      Y("{metadata: {$deleteFromPrimitiveList: [a]}}"),
      Y("{spec: {$retainKeys: x}}"),
      Y("{$patch: replace}"),
      Y("{$patch: delete}"),
      Y("{spec: {template: {spec: {containers: [{name: web, $patch: delete}, {$patch: "
        "replace}]}}}}"),
  };
  for (const auto& p : patches) (void)StrategicMergePatch(Y(kDeployment), p, "Deployment");
}

}  // namespace
}  // namespace kfaas::local
