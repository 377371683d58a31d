#include "local/apiserver/table.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

#include "common/base/time_format.h"
#include "common/kube/selector.h"
#include "local/apiserver/go_format.h"

namespace kfaas::local {
namespace {

constexpr char kNameDoc[] =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
constexpr char kCreationDoc[] =
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata";

TableColumn Col(const std::string& name, const std::string& description, int priority = 0,
                const std::string& type = "string", const std::string& format = "") {
  return {name, type, format, description, priority, ""};
}
TableColumn NameCol() { return Col("Name", kNameDoc, 0, "string", "name"); }
TableColumn AgeCol() { return Col("Age", kCreationDoc); }

// ---- tolerant accessors ----

const Json& Null() {
  static const Json* n = new Json();
  return *n;
}

const Json& Get(const Json& o, const char* k) {
  if (!o.is_object()) return Null();
  auto it = o.find(k);
  return it == o.end() ? Null() : *it;
}
template <typename... Rest>
const Json& Get(const Json& o, const char* k, Rest... rest) {
  return Get(Get(o, k), rest...);
}
std::string Str(const Json& v, const std::string& def = "") {
  return v.is_string() ? v.get<std::string>() : def;
}
long long Int(const Json& v, long long def = 0) {
  if (gofmt::IsInt(v)) return gofmt::AsInt(v);
  if (v.is_number_float()) return static_cast<long long>(v.get<double>());
  return def;
}
const Json& Arr(const Json& v) {
  static const Json* empty = new Json(Json::array());
  return v.is_array() ? v : *empty;
}

std::optional<WallTime> Time(const Json& v) {
  if (!v.is_string() || v.get<std::string>().empty()) return std::nullopt;
  return ParseRfc3339(v.get<std::string>());
}

std::string AgeSince(WallTime t, WallTime now) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - t).count();
  if (secs < -1) return "<invalid>";
  if (secs < 0) secs = 0;
  return HumanDuration(std::chrono::seconds(secs));
}

std::string Age(const Json& obj, WallTime now) {
  return HumanAge(Get(obj, "metadata", "creationTimestamp"), now);
}

std::string JoinStrings(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

// ---- built-in printers (kubernetes pkg/printers/internalversion) ----

bool ConditionTrue(const Json& status, const char* type) {
  for (const auto& c : Arr(Get(status, "conditions"))) {
    if (Str(Get(c, "type")) == type) return Str(Get(c, "status")) == "True";
  }
  return false;
}

bool RestartableInit(const Json& pod, const std::string& name) {
  for (const auto& c : Arr(Get(pod, "spec", "initContainers"))) {
    if (Str(Get(c, "name")) == name) return Str(Get(c, "restartPolicy")) == "Always";
  }
  return false;
}

struct Row {
  std::vector<Json> cells;
  Json conditions;  // null = none
};

Row PrintPod(const Json& pod, WallTime now) {
  const Json& spec = Get(pod, "spec");
  const Json& status = Get(pod, "status");
  long long restarts = 0, restartable_init_restarts = 0;
  long long total = static_cast<long long>(Arr(Get(spec, "containers")).size());
  long long ready = 0;
  std::optional<WallTime> last_restart, last_restartable_init_restart;
  std::string phase = Str(Get(status, "phase"));
  std::string reason = phase;
  if (!Str(Get(status, "reason")).empty()) reason = Str(Get(status, "reason"));
  for (const auto& c : Arr(Get(status, "conditions"))) {
    if (Str(Get(c, "type")) == "PodScheduled" && Str(Get(c, "reason")) == "SchedulingGated") {
      reason = "SchedulingGated";
    }
  }
  Row row;
  if (phase == "Succeeded") {
    row.conditions = Json::array({{{"type", "Completed"},
                                   {"status", "True"},
                                   {"reason", "Succeeded"},
                                   {"message", "The pod has completed successfully."}}});
  } else if (phase == "Failed") {
    row.conditions = Json::array({{{"type", "Completed"},
                                   {"status", "True"},
                                   {"reason", "Failed"},
                                   {"message", "The pod failed."}}});
  }
  const Json& init_specs = Arr(Get(spec, "initContainers"));
  for (const auto& c : init_specs) {
    if (Str(Get(c, "restartPolicy")) == "Always") ++total;
  }
  auto later = [](std::optional<WallTime>& cur, const Json& terminated) {
    auto t = Time(Get(terminated, "finishedAt"));
    if (t && (!cur || *cur < *t)) cur = t;
  };
  bool initializing = false;
  const Json& init_statuses = Arr(Get(status, "initContainerStatuses"));
  for (size_t i = 0; i < init_statuses.size(); ++i) {
    const Json& c = init_statuses[i];
    std::string name = Str(Get(c, "name"));
    restarts += Int(Get(c, "restartCount"));
    const Json& last_term = Get(c, "lastState", "terminated");
    if (last_term.is_object()) later(last_restart, last_term);
    bool restartable = RestartableInit(pod, name);
    if (restartable) {
      restartable_init_restarts += Int(Get(c, "restartCount"));
      if (last_term.is_object()) later(last_restartable_init_restart, last_term);
    }
    const Json& terminated = Get(c, "state", "terminated");
    const Json& waiting = Get(c, "state", "waiting");
    if (terminated.is_object() && Int(Get(terminated, "exitCode")) == 0) continue;
    if (restartable && Get(c, "started").is_boolean() && Get(c, "started").get<bool>()) {
      if (Get(c, "ready").is_boolean() && Get(c, "ready").get<bool>()) ++ready;
      continue;
    }
    if (terminated.is_object()) {
      std::string r = Str(Get(terminated, "reason"));
      if (r.empty()) {
        long long signal = Int(Get(terminated, "signal"));
        reason = signal != 0 ? "Init:Signal:" + std::to_string(signal)
                             : "Init:ExitCode:" + std::to_string(Int(Get(terminated, "exitCode")));
      } else {
        reason = "Init:" + r;
      }
    } else if (waiting.is_object() && !Str(Get(waiting, "reason")).empty() &&
               Str(Get(waiting, "reason")) != "PodInitializing") {
      reason = "Init:" + Str(Get(waiting, "reason"));
    } else {
      reason = "Init:" + std::to_string(i) + "/" + std::to_string(init_specs.size());
    }
    initializing = true;
    break;
  }
  if (!initializing || ConditionTrue(status, "Initialized")) {
    restarts = restartable_init_restarts;
    last_restart = last_restartable_init_restart;
    bool has_running = false;
    const Json& statuses = Arr(Get(status, "containerStatuses"));
    for (size_t k = statuses.size(); k-- > 0;) {
      const Json& c = statuses[k];
      restarts += Int(Get(c, "restartCount"));
      const Json& last_term = Get(c, "lastState", "terminated");
      if (last_term.is_object()) later(last_restart, last_term);
      const Json& waiting = Get(c, "state", "waiting");
      const Json& terminated = Get(c, "state", "terminated");
      const Json& running = Get(c, "state", "running");
      bool is_ready = Get(c, "ready").is_boolean() && Get(c, "ready").get<bool>();
      if (waiting.is_object() && !Str(Get(waiting, "reason")).empty()) {
        reason = Str(Get(waiting, "reason"));
      } else if (terminated.is_object() && !Str(Get(terminated, "reason")).empty()) {
        reason = Str(Get(terminated, "reason"));
      } else if (terminated.is_object()) {
        long long signal = Int(Get(terminated, "signal"));
        reason = signal != 0 ? "Signal:" + std::to_string(signal)
                             : "ExitCode:" + std::to_string(Int(Get(terminated, "exitCode")));
      } else if (is_ready && running.is_object()) {
        has_running = true;
        ++ready;
      }
    }
    if (reason == "Completed" && has_running) {
      reason = ConditionTrue(status, "Ready") ? "Running" : "NotReady";
    }
  }
  bool deleting = !Get(pod, "metadata", "deletionTimestamp").is_null();
  if (deleting && Str(Get(status, "reason")) == "NodeLost") {
    reason = "Unknown";
  } else if (deleting && phase != "Succeeded" && phase != "Failed") {
    reason = "Terminating";
  }
  std::string restarts_str = std::to_string(restarts);
  if (restarts != 0 && last_restart) {
    restarts_str += " (" + AgeSince(*last_restart, now) + " ago)";
  }
  std::string ip;
  const Json& ips = Arr(Get(status, "podIPs"));
  if (!ips.empty()) ip = Str(Get(ips[0], "ip"));
  if (ip.empty()) ip = "<none>";
  std::string node = Str(Get(spec, "nodeName"));
  if (node.empty()) node = "<none>";
  std::string nominated = Str(Get(status, "nominatedNodeName"));
  if (nominated.empty()) nominated = "<none>";
  std::string gates = "<none>";
  const Json& rg = Arr(Get(spec, "readinessGates"));
  if (!rg.empty()) {
    int true_conditions = 0;
    for (const auto& g : rg) {
      std::string type = Str(Get(g, "conditionType"));
      for (const auto& c : Arr(Get(status, "conditions"))) {
        if (Str(Get(c, "type")) == type) {
          if (Str(Get(c, "status")) == "True") ++true_conditions;
          break;
        }
      }
    }
    gates = std::to_string(true_conditions) + "/" + std::to_string(rg.size());
  }
  row.cells = {Str(Get(pod, "metadata", "name")),
               std::to_string(ready) + "/" + std::to_string(total),
               reason,
               restarts_str,
               Age(pod, now),
               ip,
               node,
               nominated,
               gates};
  return row;
}

std::string SelectorString(const Json& selector) {
  auto s = kube::LabelSelector::FromJson(selector);
  if (!s.ok()) return "";
  return s->String();
}

void ContainerCells(const Json& containers, std::string* names, std::string* images) {
  std::vector<std::string> n, i;
  for (const auto& c : Arr(containers)) {
    n.push_back(Str(Get(c, "name")));
    i.push_back(Str(Get(c, "image")));
  }
  *names = JoinStrings(n, ",");
  *images = JoinStrings(i, ",");
}

Row PrintDeployment(const Json& d, WallTime now) {
  const Json& status = Get(d, "status");
  long long desired = Int(Get(d, "spec", "replicas"), 1);
  std::string containers, images;
  ContainerCells(Get(d, "spec", "template", "spec", "containers"), &containers, &images);
  Row row;
  row.cells = {Str(Get(d, "metadata", "name")),
               std::to_string(Int(Get(status, "readyReplicas"))) + "/" + std::to_string(desired),
               Int(Get(status, "updatedReplicas")),
               Int(Get(status, "availableReplicas")),
               Age(d, now),
               containers,
               images,
               SelectorString(Get(d, "spec", "selector"))};
  return row;
}

std::string FormatLabels(const Json& labels) {
  if (!labels.is_object() || labels.empty()) return "<none>";
  std::vector<std::string> parts;
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    parts.push_back(it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump()));
  }
  return JoinStrings(parts, ",");
}

Row PrintService(const Json& svc, WallTime now) {
  const Json& spec = Get(svc, "spec");
  std::string type = Str(Get(spec, "type"), "ClusterIP");
  std::string cluster_ip = "<none>";
  const Json& ips = Arr(Get(spec, "clusterIPs"));
  if (!ips.empty()) {
    cluster_ip = Str(ips[0]);
  } else if (!Str(Get(spec, "clusterIP")).empty()) {
    cluster_ip = Str(Get(spec, "clusterIP"));
  }
  std::vector<std::string> external;
  for (const auto& e : Arr(Get(spec, "externalIPs"))) external.push_back(Str(e));
  std::string external_ip;
  if (type == "ClusterIP" || type == "NodePort") {
    external_ip = external.empty() ? "<none>" : JoinStrings(external, ",");
  } else if (type == "LoadBalancer") {
    std::vector<std::string> lb;
    for (const auto& ing : Arr(Get(svc, "status", "loadBalancer", "ingress"))) {
      if (!Str(Get(ing, "ip")).empty()) {
        lb.push_back(Str(Get(ing, "ip")));
      } else if (!Str(Get(ing, "hostname")).empty()) {
        lb.push_back(Str(Get(ing, "hostname")));
      }
    }
    lb.insert(lb.end(), external.begin(), external.end());
    external_ip = lb.empty() ? "<pending>" : JoinStrings(lb, ",");
  } else if (type == "ExternalName") {
    external_ip = Str(Get(spec, "externalName"));
  } else {
    external_ip = "<unknown>";
  }
  std::vector<std::string> ports;
  for (const auto& p : Arr(Get(spec, "ports"))) {
    std::string proto = Str(Get(p, "protocol"), "TCP");
    long long node_port = Int(Get(p, "nodePort"));
    std::string s = std::to_string(Int(Get(p, "port")));
    if (node_port > 0) s += ":" + std::to_string(node_port);
    ports.push_back(s + "/" + proto);
  }
  Row row;
  row.cells = {Str(Get(svc, "metadata", "name")),
               type,
               cluster_ip,
               external_ip,
               ports.empty() ? "<none>" : JoinStrings(ports, ","),
               Age(svc, now),
               FormatLabels(Get(spec, "selector"))};
  return row;
}

std::string JoinHostPort(const std::string& host, long long port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Row PrintEndpoints(const Json& ep, WallTime now) {
  std::string cell;
  const Json& subsets = Arr(Get(ep, "subsets"));
  if (subsets.empty()) {
    cell = "<none>";
  } else {
    std::vector<std::string> list;
    const size_t max = 3;
    bool more = false;
    size_t count = 0;
    for (const auto& ss : subsets) {
      const Json& addrs = Arr(Get(ss, "addresses"));
      const Json& ports = Arr(Get(ss, "ports"));
      if (ports.empty()) {
        count += addrs.size();
        for (const auto& a : addrs) {
          if (list.size() == max) {
            more = true;
            break;
          }
          list.push_back(Str(Get(a, "ip")));
        }
        continue;
      }
      for (const auto& p : ports) {
        count += addrs.size();
        for (const auto& a : addrs) {
          if (list.size() == max) {
            more = true;
            break;
          }
          list.push_back(JoinHostPort(Str(Get(a, "ip")), Int(Get(p, "port"))));
        }
      }
    }
    cell = JoinStrings(list, ",");
    if (more) cell += " + " + std::to_string(count - max) + " more...";
  }
  Row row;
  row.cells = {Str(Get(ep, "metadata", "name")), cell, Age(ep, now)};
  return row;
}

std::string ListWithMore(const std::vector<std::string>& list, bool more, size_t count,
                         size_t max) {
  std::string s = JoinStrings(list, ",");
  if (more) return s + " + " + std::to_string(count - max) + " more...";
  return s.empty() ? "<unset>" : s;
}

Row PrintEndpointSlice(const Json& es, WallTime now) {
  const size_t max = 3;
  std::vector<std::string> ports;
  bool more = false;
  size_t count = 0;
  for (const auto& p : Arr(Get(es, "ports"))) {
    if (ports.size() < max) {
      std::string n = "*";
      if (gofmt::IsInt(Get(p, "port"))) {
        n = std::to_string(Int(Get(p, "port")));
      } else if (Get(p, "name").is_string()) {
        n = Str(Get(p, "name"));
      }
      ports.push_back(n);
    } else if (ports.size() == max) {
      more = true;
    }
    ++count;
  }
  std::string port_cell = ListWithMore(ports, more, count, max);
  std::vector<std::string> addrs;
  more = false;
  count = 0;
  for (const auto& e : Arr(Get(es, "endpoints"))) {
    for (const auto& a : Arr(Get(e, "addresses"))) {
      if (addrs.size() < max) {
        addrs.push_back(Str(a));
      } else if (addrs.size() == max) {
        more = true;
      }
      ++count;
    }
  }
  Row row;
  row.cells = {Str(Get(es, "metadata", "name")), Str(Get(es, "addressType")), port_cell,
               ListWithMore(addrs, more, count, max), Age(es, now)};
  return row;
}

Row PrintEvent(const Json& ev, WallTime now) {
  std::string first = HumanAge(Get(ev, "firstTimestamp"), now);
  if (!Time(Get(ev, "firstTimestamp"))) first = HumanAge(Get(ev, "eventTime"), now);
  std::string last = HumanAge(Get(ev, "lastTimestamp"), now);
  if (!Time(Get(ev, "lastTimestamp"))) last = first;
  long long count = Int(Get(ev, "count"));
  if (Get(ev, "series").is_object()) {
    last = HumanAge(Get(ev, "series", "lastObservedTime"), now);
    count = Int(Get(ev, "series", "count"));
  } else if (count == 0) {
    count = 1;
  }
  const Json& io = Get(ev, "involvedObject");
  std::string kind = Str(Get(io, "kind"));
  std::transform(kind.begin(), kind.end(), kind.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string target = Str(Get(io, "name")).empty() ? kind : kind + "/" + Str(Get(io, "name"));
  std::string component = Str(Get(ev, "source", "component"));
  if (component.empty()) component = Str(Get(ev, "reportingComponent"));
  std::string host = Str(Get(ev, "source", "host"));
  if (host.empty()) host = Str(Get(ev, "reportingInstance"));
  std::string source = host.empty() ? component : component + ", " + host;
  std::string message = Str(Get(ev, "message"));
  auto ws = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!message.empty() && ws(message.back())) message.pop_back();
  size_t lead = 0;
  while (lead < message.size() && ws(message[lead])) ++lead;
  message.erase(0, lead);
  Row row;
  row.cells = {last,   Str(Get(ev, "type")), Str(Get(ev, "reason")), target,
               Str(Get(io, "fieldPath")), source, message, first, count,
               Str(Get(ev, "metadata", "name"))};
  return row;
}

Row PrintSimple(const std::string& resource, const Json& o, WallTime now) {
  Row row;
  std::string name = Str(Get(o, "metadata", "name"));
  if (resource == "namespaces") {
    row.cells = {name, Str(Get(o, "status", "phase")), Age(o, now)};
  } else if (resource == "configmaps") {
    long long n = 0;
    if (Get(o, "data").is_object()) n += static_cast<long long>(Get(o, "data").size());
    if (Get(o, "binaryData").is_object()) n += static_cast<long long>(Get(o, "binaryData").size());
    row.cells = {name, n, Age(o, now)};
  } else if (resource == "secrets") {
    long long n = Get(o, "data").is_object() ? static_cast<long long>(Get(o, "data").size()) : 0;
    row.cells = {name, Str(Get(o, "type"), "Opaque"), n, Age(o, now)};
  } else if (resource == "serviceaccounts") {
    row.cells = {name, static_cast<long long>(Arr(Get(o, "secrets")).size()), Age(o, now)};
  } else if (resource == "leases") {
    row.cells = {name, Str(Get(o, "spec", "holderIdentity")), Age(o, now)};
  } else {
    // The server's default convertor (also CRDs): Name, Created At.
    std::string created;
    if (auto t = Time(Get(o, "metadata", "creationTimestamp"))) created = FormatRfc3339(*t);
    row.cells = {name, created.empty() ? Json() : Json(created)};
  }
  return row;
}

Row PrintBuiltin(const std::string& resource, const Json& o, WallTime now) {
  if (resource == "pods") return PrintPod(o, now);
  if (resource == "deployments") return PrintDeployment(o, now);
  if (resource == "services") return PrintService(o, now);
  if (resource == "endpoints") return PrintEndpoints(o, now);
  if (resource == "endpointslices") return PrintEndpointSlice(o, now);
  if (resource == "events") return PrintEvent(o, now);
  return PrintSimple(resource, o, now);
}

// apiextensions tableconvertor.cellForJSONValue.
Json CellForValue(const std::string& type, const Json& v, WallTime now) {
  if (v.is_null()) return nullptr;
  if (type == "integer") {
    if (gofmt::IsInt(v)) return gofmt::AsInt(v);
    if (v.is_number_float()) return static_cast<long long>(v.get<double>());
    return nullptr;
  }
  if (type == "number") {
    if (v.is_number()) return gofmt::AsDouble(v);
    return nullptr;
  }
  if (type == "boolean") return v.is_boolean() ? v : Json();
  if (type == "date") {
    if (!v.is_string()) return nullptr;
    const std::string& s = v.get_ref<const std::string&>();
    if (s.empty() || s == "null") return "<unknown>";
    auto t = ParseRfc3339(s);
    if (!t) return "<invalid>";
    return AgeSince(*t, now);
  }
  if (type == "string") {
    // jsonpath PrintResults: strings raw, objects and arrays as JSON, scalars with %v.
    if (v.is_string()) return v;
    if (v.is_object() || v.is_array()) return v.dump();
    if (v.is_number_float()) return gofmt::FloatV(v.get<double>());
    return gofmt::SharpV(v);
  }
  return nullptr;
}

Json ColumnJson(const TableColumn& c) {
  return {{"name", c.name},
          {"type", c.type},
          {"format", c.format},
          {"description", c.description},
          {"priority", c.priority}};
}

bool IsBuiltinPrinter(const std::string& resource) {
  static const char* kKnown[] = {"pods",       "deployments",    "services",   "endpoints",
                                 "endpointslices", "events",     "namespaces", "configmaps",
                                 "secrets",    "serviceaccounts", "leases"};
  return std::find(std::begin(kKnown), std::end(kKnown), resource) != std::end(kKnown);
}

}  // namespace

std::string HumanAge(const Json& timestamp, WallTime now) {
  if (!timestamp.is_string() || timestamp.get<std::string>().empty()) return "<unknown>";
  auto t = ParseRfc3339(timestamp.get<std::string>());
  if (!t) return "<unknown>";
  return AgeSince(*t, now);
}

std::vector<TableColumn> BuiltinColumns(const std::string& resource) {
  if (resource == "pods") {
    return {NameCol(),
            Col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
            Col("Status", "The aggregate status of the containers in this pod."),
            Col("Restarts",
                "The number of times the containers in this pod have been restarted and when the "
                "last container in this pod has restarted."),
            AgeCol(),
            Col("IP", "podIP address allocated to the pod. Routable at least within the cluster.",
                1),
            Col("Node", "NodeName indicates in which node this pod is scheduled.", 1),
            Col("Nominated Node",
                "nominatedNodeName is set only when this pod preempts other pods on the node.", 1),
            Col("Readiness Gates", "If specified, all readiness gates will be evaluated for pod "
                                   "readiness.",
                1)};
  }
  if (resource == "deployments") {
    return {NameCol(),
            Col("Ready", "Number of the pod with ready state"),
            Col("Up-to-date",
                "Total number of non-terminating pods targeted by this deployment that have the "
                "desired template spec."),
            Col("Available",
                "Total number of available non-terminating pods (ready for at least "
                "minReadySeconds) targeted by this deployment."),
            AgeCol(),
            Col("Containers", "Names of each container in the template.", 1),
            Col("Images", "Images referenced by each container in the template.", 1),
            Col("Selector",
                "Label selector for pods. Existing ReplicaSets whose pods are selected by this "
                "will be the ones affected by this deployment.",
                1)};
  }
  if (resource == "services") {
    return {NameCol(),
            Col("Type", "type determines how the Service is exposed."),
            Col("Cluster-IP", "clusterIP is the IP address of the service."),
            Col("External-IP", "externalIPs is a list of IP addresses for which nodes in the "
                               "cluster will also accept traffic for this service."),
            Col("Port(s)", "The list of ports that are exposed by this service."),
            AgeCol(),
            Col("Selector",
                "Route service traffic to pods with label keys and values matching this selector.",
                1)};
  }
  if (resource == "endpoints") {
    return {NameCol(),
            Col("Endpoints", "The set of all endpoints is the union of all subsets."), AgeCol()};
  }
  if (resource == "endpointslices") {
    return {NameCol(),
            Col("AddressType", "addressType specifies the type of address carried by this "
                               "EndpointSlice."),
            Col("Ports", "ports specifies the list of network ports exposed by each endpoint in "
                         "this slice."),
            Col("Endpoints", "endpoints is a list of unique endpoints in this slice."), AgeCol()};
  }
  if (resource == "events") {
    return {Col("Last Seen", "The time at which the most recent occurrence of this event was "
                             "recorded."),
            Col("Type", "Type of this event (Normal, Warning), new types could be added in the "
                        "future"),
            Col("Reason", "This should be a short, machine understandable string that gives the "
                          "reason for the transition into the object's current status."),
            Col("Object", "The object that this event is about."),
            Col("Subobject", "If referring to a piece of an object instead of an entire object, "
                             "this string should contain a valid JSON/Go field access statement.",
                1),
            Col("Source", "The component reporting this event.", 1),
            Col("Message", "A human-readable description of the status of this operation."),
            Col("First Seen", "The time at which the event was first recorded.", 1),
            Col("Count", "The number of times this event has occurred.", 1),
            Col("Name", kNameDoc, 1, "string", "name")};
  }
  if (resource == "namespaces") {
    return {NameCol(), Col("Status", "The status of the namespace"), AgeCol()};
  }
  if (resource == "configmaps") {
    return {NameCol(), Col("Data", "Data contains the configuration data."), AgeCol()};
  }
  if (resource == "secrets") {
    return {NameCol(), Col("Type", "Used to facilitate programmatic handling of secret data."),
            Col("Data", "Data contains the secret data."), AgeCol()};
  }
  if (resource == "serviceaccounts") {
    return {NameCol(), Col("Secrets", "Secrets is a list of the secrets in the same namespace."),
            AgeCol()};
  }
  if (resource == "leases") {
    return {NameCol(),
            Col("Holder", "holderIdentity contains the identity of the holder of a current lease."),
            AgeCol()};
  }
  return {NameCol(), Col("Created At", kCreationDoc, 0, "date")};
}

std::vector<TableColumn> CustomResourceColumns(const Json& additional_printer_columns) {
  std::vector<TableColumn> cols{NameCol()};
  if (additional_printer_columns.is_array()) {
    for (const auto& c : additional_printer_columns) {
      if (!c.is_object()) continue;
      TableColumn col;
      col.name = Str(Get(c, "name"));
      col.type = Str(Get(c, "type"));
      col.format = Str(Get(c, "format"));
      col.json_path = Str(Get(c, "jsonPath"));
      col.priority = static_cast<int>(Int(Get(c, "priority")));
      col.description = Str(Get(c, "description"));
      if (col.description.empty()) {
        col.description =
            "Custom resource definition column (in JSONPath format): " + col.json_path;
      }
      if (col.name.empty() || col.json_path.empty()) continue;
      cols.push_back(std::move(col));
    }
  }
  if (cols.size() == 1) {
    TableColumn age{"Age", "date", "", kCreationDoc, 0, ".metadata.creationTimestamp"};
    cols.push_back(age);
  }
  return cols;
}

Json BuildTable(const std::string& resource, const std::vector<TableColumn>& columns,
                const std::vector<Json>& objects, WallTime now, IncludeObject include,
                bool with_column_definitions, const Json& list_metadata) {
  Json table = {{"kind", "Table"}, {"apiVersion", "meta.k8s.io/v1"}};
  Json meta = Json::object();
  if (list_metadata.is_object()) {
    for (const char* k : {"resourceVersion", "continue", "remainingItemCount"}) {
      auto it = list_metadata.find(k);
      if (it != list_metadata.end() && !it->is_null() && !(it->is_string() && it->get_ref<const std::string&>().empty())) {
        meta[k] = *it;
      }
    }
  }
  table["metadata"] = meta;
  Json defs = Json::array();
  if (with_column_definitions) {
    for (const auto& c : columns) defs.push_back(ColumnJson(c));
  }
  table["columnDefinitions"] = defs;
  const std::vector<TableColumn> builtin_cols = BuiltinColumns(resource);
  bool builtin = IsBuiltinPrinter(resource) || resource == "customresourcedefinitions";
  Json rows = Json::array();
  for (const Json& obj : objects) {
    try {
      Row printed;
      bool have_printed = false;
      Json cells = Json::array();
      for (const auto& col : columns) {
        if (!col.json_path.empty()) {
          auto values = EvaluateJsonPathValues(obj, col.json_path);
          if (!values.ok() || values->empty()) {
            cells.push_back(nullptr);
          } else {
            cells.push_back(CellForValue(col.type, (*values)[0], now));
          }
          continue;
        }
        if (!have_printed) {
          printed = PrintBuiltin(builtin ? resource : "", obj, now);
          have_printed = true;
        }
        // Built-in cells by column name; Name and Age also for any other resource.
        Json cell;
        bool found = false;
        for (size_t i = 0; i < builtin_cols.size() && i < printed.cells.size(); ++i) {
          if (builtin_cols[i].name == col.name) {
            cell = printed.cells[i];
            found = true;
            break;
          }
        }
        if (!found) {
          if (col.name == "Name") {
            cell = Str(Get(obj, "metadata", "name"));
          } else if (col.name == "Age") {
            cell = Age(obj, now);
          }
        }
        cells.push_back(cell);
      }
      Json row = {{"cells", cells}};
      if (have_printed && !printed.conditions.is_null()) row["conditions"] = printed.conditions;
      switch (include) {
        case IncludeObject::kNone:
          break;
        case IncludeObject::kMetadata:
          row["object"] = {{"kind", "PartialObjectMetadata"},
                           {"apiVersion", "meta.k8s.io/v1"},
                           {"metadata", Get(obj, "metadata").is_object() ? Get(obj, "metadata")
                                                                         : Json::object()}};
          break;
        case IncludeObject::kObject:
          row["object"] = obj;
          break;
      }
      rows.push_back(std::move(row));
    } catch (const std::exception&) {
      // A cell computation hit an unexpected type: show the row with its name only.
      rows.push_back({{"cells", Json::array({Str(Get(obj, "metadata", "name"))})}});
    }
  }
  table["rows"] = rows;
  return table;
}

}  // namespace kfaas::local
