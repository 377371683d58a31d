#include "activator/app/static_source.h"

#include <fstream>
#include <sstream>

#include "common/base/log.h"
#include "common/base/yaml_json.h"

namespace kfaas::activator {

absl::Status FileUpdateSource::Load() {
  std::ifstream in(path_);
  if (!in) return absl::NotFoundError("cannot read " + path_);
  std::stringstream ss;
  ss << in.rdbuf();
  auto docs = YamlDocumentsToJson(ss.str());
  if (!docs.ok()) {
    return absl::InvalidArgumentError(path_ + ": " + std::string(docs.status().message()));
  }
  objects_.clear();
  for (const auto& d : *docs) {
    if (d.is_object() && d.contains("items") && d["items"].is_array()) {
      for (const auto& i : d["items"]) objects_.push_back(i);
    } else if (!d.is_null()) {
      objects_.push_back(d);
    }
  }
  for (const auto& o : objects_) {
    std::string kind = o.is_object() ? o.value("kind", "") : "";
    if (kind != "Function" && kind != "EndpointSlice") {
      return absl::InvalidArgumentError(path_ +
                                        ": only kind Function and EndpointSlice are "
                                        "supported, found \"" +
                                        kind + "\"");
    }
  }
  return absl::OkStatus();
}

void FileUpdateSource::Start(UpdateSink* sink) {
  for (const auto& o : objects_) {
    if (o.value("kind", "") == "Function") sink->OnFunction(o);
  }
  for (const auto& o : objects_) {
    if (o.value("kind", "") == "EndpointSlice") sink->OnEndpointSlice(o);
  }
  started_ = true;
}

void LogScaler::ScaleTo(const std::string& ns, const std::string& name, int replicas,
                        std::function<void(absl::Status)> done) {
  KFAAS_LOG(INFO) << "(no cluster) would scale " << ns << "/" << name << " to " << replicas;
  done(absl::OkStatus());
}

}  // namespace kfaas::activator
