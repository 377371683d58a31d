// Helpers for the operator's tests: files under the source tree.
#pragma once

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "common/base/yaml_json.h"

namespace kfaas::op::testing {

inline std::string SourceDir() {
  const char* d = std::getenv("KFAAS_SOURCE_DIR");
  return d ? d : ".";
}

inline std::string ReadSourceFile(const std::string& rel) {
  std::ifstream in(SourceDir() + "/" + rel);
  EXPECT_TRUE(in.good()) << "cannot read " << SourceDir() << "/" << rel;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline Json LoadYaml(const std::string& rel) {
  auto j = YamlToJson(ReadSourceFile(rel));
  EXPECT_TRUE(j.ok()) << rel << ": " << j.status();
  return j.ok() ? *j : Json();
}

inline Json LoadCrd() { return LoadYaml("crds/functions.kfaas.dev.yaml"); }

// The CRD's v1alpha1 openAPIV3Schema.
inline Json CrdSchema() { return LoadCrd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]; }

}  // namespace kfaas::op::testing
