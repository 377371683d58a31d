#include "local/apiserver/schema.h"

#include <gtest/gtest.h>

#include "common/base/yaml_json.h"

namespace kfaas::local {
namespace {

// The Function CRD's schema, trimmed to what the cases need plus the constructs under test.
Json FunctionSchema() {
  auto j = YamlToJson(R"(
type: object
properties:
  apiVersion: {type: string}
  kind: {type: string}
  metadata: {type: object}
  spec:
    type: object
    required: [image]
    properties:
      image: {type: string, minLength: 1}
      command: {type: array, items: {type: string}}
      port: {type: integer, minimum: 1, maximum: 65535, default: 8080}
      timeoutSeconds: {type: integer, minimum: 1, maximum: 900, default: 300}
      concurrency: {type: integer, minimum: 0, default: 0}
      ratio: {type: number, maximum: 1, exclusiveMinimum: true, minimum: 0}
      mode: {type: string, enum: [a, b]}
      level: {type: integer, enum: [1, 2]}
      name: {type: string, maxLength: 5, pattern: '^[a-z]+$'}
      code: {type: string, minLength: 3}
      when: {type: string, format: date-time}
      note: {type: string, nullable: true}
      region: {type: string, default: eu}
      targetPort: {x-kubernetes-int-or-string: true, anyOf: [{type: integer}, {type: string}]}
      labels: {type: object, additionalProperties: {type: string}}
      hosts:
        type: array
        maxItems: 3
        minItems: 1
        x-kubernetes-list-type: set
        items: {type: string}
      env:
        type: array
        x-kubernetes-list-type: map
        x-kubernetes-list-map-keys: [name]
        items:
          type: object
          required: [name]
          properties:
            name: {type: string}
            value: {type: string}
      scale:
        type: object
        properties:
          min: {type: integer, minimum: 0, default: 0}
          max: {type: integer, minimum: 1, default: 100}
          target: {type: integer, minimum: 1, default: 10}
      config:
        type: object
        x-kubernetes-preserve-unknown-fields: true
        properties:
          typed:
            type: object
            properties:
              known: {type: string}
      template:
        type: object
        x-kubernetes-embedded-resource: true
        x-kubernetes-preserve-unknown-fields: true
  status:
    type: object
    properties:
      url: {type: string}
)");
  EXPECT_TRUE(j.ok()) << j.status();
  return *j;
}

Json Fn(const Json& spec) {
  return {{"apiVersion", "kfaas.dev/v1alpha1"},
          {"kind", "Function"},
          {"metadata", {{"name", "hello"}, {"namespace", "default"}, {"labels", {{"a", "b"}}}}},
          {"spec", spec}};
}

std::string Render(const std::vector<kube::Cause>& causes) {
  std::string out;
  for (const auto& c : causes) out += c.field + ": " + c.message + " [" + c.reason + "]\n";
  return out;
}

struct ErrorCase {
  std::string name;
  Json spec;
  std::string field;
  std::string message;
  std::string reason;
};

TEST(ProcessObject, ErrorsUseTheApiServerWording) {
  const ErrorCase cases[] = {
      {"maximum",
       {{"image", "x"}, {"timeoutSeconds", 2000}},
       "spec.timeoutSeconds",
       "Invalid value: 2000: spec.timeoutSeconds in body should be less than or equal to 900",
       "FieldValueInvalid"},
      {"minimum",
       {{"image", "x"}, {"port", 0}},
       "spec.port",
       "Invalid value: 0: spec.port in body should be greater than or equal to 1",
       "FieldValueInvalid"},
      {"type",
       {{"image", "x"}, {"port", "string"}},
       "spec.port",
       "Invalid value: \"string\": spec.port in body must be of type integer: \"string\"",
       "FieldValueTypeInvalid"},
      {"type of a float for an integer",
       {{"image", "x"}, {"port", 80.5}},
       "spec.port",
       "Invalid value: \"number\": spec.port in body must be of type integer: \"number\"",
       "FieldValueTypeInvalid"},
      {"type object",
       {{"image", "x"}, {"scale", "big"}},
       "spec.scale",
       "Invalid value: \"string\": spec.scale in body must be of type object: \"string\"",
       "FieldValueTypeInvalid"},
      {"required", {{"port", 80}}, "spec.image", "Required value", "FieldValueRequired"},
      {"enum",
       {{"image", "x"}, {"mode", "x"}},
       "spec.mode",
       "Unsupported value: \"x\": supported values: \"a\", \"b\"",
       "FieldValueNotSupported"},
      {"numeric enum",
       {{"image", "x"}, {"level", 3}},
       "spec.level",
       "Unsupported value: 3: supported values: \"1\", \"2\"",
       "FieldValueNotSupported"},
      {"maxLength",
       {{"image", "x"}, {"name", "abcdef"}},
       "spec.name",
       "Too long: may not be more than 5 bytes",
       "FieldValueTooLong"},
      {"pattern",
       {{"image", "x"}, {"name", "ab1"}},
       "spec.name",
       "Invalid value: \"ab1\": spec.name in body should match '^[a-z]+$'",
       "FieldValueInvalid"},
      {"minLength",
       {{"image", "x"}, {"code", "ab"}},
       "spec.code",
       "Invalid value: \"ab\": spec.code in body should be at least 3 chars long",
       "FieldValueInvalid"},
      {"maxItems",
       {{"image", "x"}, {"hosts", {"a", "b", "c", "d"}}},
       "spec.hosts",
       "Too many: 4: must have at most 3 items",
       "FieldValueTooMany"},
      {"minItems",
       {{"image", "x"}, {"hosts", Json::array()}},
       "spec.hosts",
       "Invalid value: 0: spec.hosts in body should have at least 1 items",
       "FieldValueInvalid"},
      {"float maximum",
       {{"image", "x"}, {"ratio", 1.5}},
       "spec.ratio",
       "Invalid value: 1.5: spec.ratio in body should be less than or equal to 1",
       "FieldValueInvalid"},
      {"exclusive minimum",
       {{"image", "x"}, {"ratio", 0}},
       "spec.ratio",
       "Invalid value: 0: spec.ratio in body should be greater than 0",
       "FieldValueInvalid"},
      {"date-time",
       {{"image", "x"}, {"when", "yesterday"}},
       "spec.when",
       "Invalid value: \"yesterday\": spec.when in body must be of type date-time: \"yesterday\"",
       "FieldValueTypeInvalid"},
      {"additionalProperties",
       {{"image", "x"}, {"labels", {{"tier", 5}}}},
       "spec.labels.tier",
       "Invalid value: \"integer\": spec.labels.tier in body must be of type string: \"integer\"",
       "FieldValueTypeInvalid"},
      {"items",
       {{"image", "x"}, {"command", {"a", 1}}},
       "spec.command[1]",
       "Invalid value: \"integer\": spec.command[1] in body must be of type string: \"integer\"",
       "FieldValueTypeInvalid"},
      {"required in items",
       {{"image", "x"}, {"env", {{{"value", "v"}}}}},
       "spec.env[0].name",
       "Required value",
       "FieldValueRequired"},
      {"set duplicate",
       {{"image", "x"}, {"hosts", {"a", "b", "a"}}},
       "spec.hosts[2]",
       "Duplicate value: \"a\"",
       "FieldValueDuplicate"},
      {"map duplicate",
       {{"image", "x"}, {"env", {{{"name", "A"}}, {{"name", "A"}}}}},
       "spec.env[1]",
       "Duplicate value: map[string]interface {}{\"name\":\"A\"}",
       "FieldValueDuplicate"},
      {"embedded resource",
       {{"image", "x"}, {"template", {{"kind", "Pod"}}}},
       "spec.template.apiVersion",
       "Required value: must not be empty",
       "FieldValueRequired"},
      {"int-or-string",
       {{"image", "x"}, {"targetPort", true}},
       "spec.targetPort",
       "Invalid value: \"boolean\": spec.targetPort in body must be of type integer,string: "
       "\"boolean\"",
       "FieldValueTypeInvalid"},
      {"null where not nullable, item",
       {{"image", "x"}, {"command", {nullptr}}},
       "spec.command[0]",
       "Invalid value: \"null\": spec.command[0] in body must be of type string: \"null\"",
       "FieldValueTypeInvalid"},
  };
  for (const auto& c : cases) {
    Json obj = Fn(c.spec);
    SchemaResult r = ProcessObject(FunctionSchema(), obj);
    ASSERT_FALSE(r.errors.empty()) << c.name;
    EXPECT_EQ(r.errors[0].field, c.field) << c.name << "\n" << Render(r.errors);
    EXPECT_EQ(r.errors[0].message, c.message) << c.name << "\n" << Render(r.errors);
    EXPECT_EQ(r.errors[0].reason, c.reason) << c.name << "\n" << Render(r.errors);
  }
}

TEST(ProcessObject, ValidObjectsPassAndAreDefaulted) {
  Json obj = Fn({{"image", "registry.example.com/hello:1.0"},
                 {"port", 8080},
                 {"targetPort", "http"},
                 {"env", {{{"name", "A"}, {"value", "1"}}, {{"name", "B"}}}},
                 {"hosts", {"a.example.com"}},
                 {"when", "2026-11-29T11:28:54Z"},
                 {"labels", {{"tier", "web"}}},
                 {"scale", Json::object()}});
  SchemaResult r = ProcessObject(FunctionSchema(), obj);
  EXPECT_TRUE(r.errors.empty()) << Render(r.errors);
  EXPECT_TRUE(r.unknown_fields.empty());
  EXPECT_EQ(obj["spec"]["timeoutSeconds"], 300);
  EXPECT_EQ(obj["spec"]["concurrency"], 0);
  EXPECT_EQ(obj["spec"]["region"], "eu");
  EXPECT_EQ(obj["spec"]["scale"], (Json{{"min", 0}, {"max", 100}, {"target", 10}}));
  EXPECT_EQ(obj["metadata"]["labels"]["a"], "b") << "metadata is left to the server";
  EXPECT_EQ(obj["apiVersion"], "kfaas.dev/v1alpha1");
}

TEST(ProcessObject, NestedDefaultsOnlyWhenTheParentExists) {
  Json obj = Fn({{"image", "x"}});
  ASSERT_TRUE(ProcessObject(FunctionSchema(), obj).errors.empty());
  EXPECT_FALSE(obj["spec"].contains("scale"));
  EXPECT_FALSE(obj.contains("status"));
}

TEST(ProcessObject, IntegerVersusNumber) {
  // An integral float is accepted for an integer field and reads back as an integer, as
  // Go's JSON round trip does.
  Json obj = Fn({{"image", "x"}, {"port", 5.0}, {"ratio", 0.5}});
  auto r = ProcessObject(FunctionSchema(), obj);
  EXPECT_TRUE(r.errors.empty()) << Render(r.errors);
  EXPECT_TRUE(obj["spec"]["port"].is_number_integer());
  EXPECT_EQ(obj["spec"]["port"].dump(), "5");
  EXPECT_TRUE(obj["spec"]["ratio"].is_number_float());
  // An integer is a valid number.
  obj = Fn({{"image", "x"}, {"ratio", 1}});
  EXPECT_TRUE(ProcessObject(FunctionSchema(), obj).errors.empty());
}

TEST(ProcessObject, PrunesUnknownFieldsAndReportsTheirPaths) {
  Json obj =
      Fn({{"image", "x"},
          {"colour", "red"},
          {"env", {{{"name", "A"}, {"extra", 1}}}},
          {"config", {{"anything", {{"goes", 1}}}, {"typed", {{"known", "k"}, {"junk", 2}}}}},
          {"template", {{"apiVersion", "v1"}, {"kind", "Pod"}, {"spec", {{"x", 1}}}}}});
  obj["extra"] = 1;
  obj["status"] = {{"url", "u"}, {"bogus", true}};
  auto r = ProcessObject(FunctionSchema(), obj);
  EXPECT_TRUE(r.errors.empty()) << Render(r.errors);
  EXPECT_EQ(r.unknown_fields,
            (std::vector<std::string>{"extra", "spec.colour", "spec.config.typed.junk",
                                      "spec.env[0].extra", "status.bogus"}));
  EXPECT_FALSE(obj["spec"].contains("colour"));
  EXPECT_FALSE(obj.contains("extra"));
  EXPECT_EQ(obj["spec"]["config"]["anything"]["goes"], 1) << "preserved";
  EXPECT_FALSE(obj["spec"]["config"]["typed"].contains("junk"));
  EXPECT_EQ(obj["spec"]["template"]["spec"]["x"], 1);
  EXPECT_TRUE(obj.contains("metadata"));
}

TEST(ProcessObject, RootMetaFieldsSurviveASchemaThatOmitsThem) {
  Json schema = {{"type", "object"}, {"properties", {{"spec", {{"type", "object"}}}}}};
  Json obj = {{"apiVersion", "x/v1"}, {"kind", "X"}, {"metadata", {{"name", "a"}}}, {"spec", {}}};
  auto r = ProcessObject(schema, obj);
  EXPECT_TRUE(r.unknown_fields.empty());
  EXPECT_EQ(obj["metadata"]["name"], "a");
}

TEST(ProcessObject, Nulls) {
  Json obj = Fn({{"image", "x"}, {"note", nullptr}, {"code", nullptr}, {"region", nullptr}});
  auto r = ProcessObject(FunctionSchema(), obj);
  EXPECT_TRUE(r.errors.empty()) << Render(r.errors);
  EXPECT_TRUE(obj["spec"]["note"].is_null()) << "nullable keeps null";
  EXPECT_FALSE(obj["spec"].contains("code")) << "non-nullable null without default is dropped";
  EXPECT_EQ(obj["spec"]["region"], "eu") << "non-nullable null with a default is defaulted";
}

TEST(ProcessObject, CompositeSchemas) {
  Json schema = {
      {"type", "object"},
      {"properties",
       {{"spec",
         {{"type", "object"},
          {"properties",
           {{"size",
             {{"type", "integer"}, {"anyOf", {{{"minimum", 10}}, {{"maximum", 2}}}}}}}}}}}}};
  Json ok = {{"spec", {{"size", 1}}}};
  EXPECT_TRUE(ProcessObject(schema, ok).errors.empty());
  Json bad = {{"spec", {{"size", 5}}}};
  auto r = ProcessObject(schema, bad);
  ASSERT_EQ(r.errors.size(), 2u) << Render(r.errors);
  EXPECT_EQ(r.errors[0].field, "<nil>");
  EXPECT_EQ(r.errors[0].message,
            "Invalid value: \"\": \"spec.size\" must validate at least one schema (anyOf)");
}

TEST(ProcessObject, HostileSchemasAndObjectsNeverCrash) {
  const Json schemas[] = {
      Json(5),
      Json::array(),
      Json{{"type", 5}, {"properties", "x"}},
      Json{{"type", "object"}, {"properties", {{"spec", 5}}}, {"required", "spec"}},
      Json{{"type", "object"},
           {"properties",
            {{"spec", {{"type", "integer"}, {"maximum", "x"}, {"enum", 3}, {"pattern", "("}}}}}},
      Json{{"type", "object"}, {"additionalProperties", false}},
      Json{{"type", "object"},
           {"properties", {{"spec", {{"type", "array"}, {"items", {1, 2}}, {"maxItems", -1}}}}}},
      Json{{"type", "object"},
           {"properties", {{"spec", {{"multipleOf", 0.0}, {"type", "integer"}}}}}},
  };
  const Json objects[] = {
      Json::object(),
      Json{{"spec", 5}},
      Json{{"spec", {1, 2, nullptr}}},
      Json{{"spec", {{"a", {{"b", nullptr}}}}}},
      Json{{"spec", "x"}},
      Json(3),
  };
  for (const auto& s : schemas) {
    for (const auto& o : objects) {
      Json obj = o;
      (void)ProcessObject(s, obj);
    }
  }
  // A schema nested far deeper than any real CRD.
  Json deep;
  Json* cur = &deep;
  for (int i = 0; i < 5000; ++i) {
    (*cur)["type"] = "object";
    cur = &(*cur)["properties"]["a"];
  }
  (*cur)["type"] = "object";
  Json obj = {{"a", {{"a", {{"a", 1}}}}}};
  (void)ProcessObject(deep, obj);
  auto causes = CheckStructural(deep, "x");
  ASSERT_FALSE(causes.empty());
}

struct StructuralCase {
  std::string name;
  std::string yaml;
  std::string want;  // "" = structural
};

TEST(CheckStructural, ReportsTheApiServerMessages) {
  const std::string p = "spec.versions[0].schema.openAPIV3Schema";
  const StructuralCase cases[] = {
      {"function schema", "", ""},
      {"missing type", "{type: object, properties: {spec: {properties: {a: {type: string}}}}}",
       p + ".properties[spec].type: Required value: must not be empty for specified object fields"},
      {"root type", "{type: string}",
       p + ".type: Invalid value: \"string\": must be object at the root"},
      {"root without type", "{properties: {spec: {type: object}}}",
       p + ".type: Required value: must not be empty at the root"},
      {"items", "{type: object, properties: {a: {type: array}}}",
       p + ".properties[a].items: Required value: must be specified"},
      {"items type", "{type: object, properties: {a: {type: array, items: {}}}}",
       p + ".properties[a].items.type: Required value: must not be empty for specified array "
           "items"},
      {"preserve without type",
       "{type: object, properties: {a: {x-kubernetes-preserve-unknown-fields: true}}}", ""},
      {"int-or-string",
       "{type: object, properties: {a: {x-kubernetes-int-or-string: true, anyOf: [{type: integer}, "
       "{type: string}]}}}",
       ""},
      {"nested type", "{type: object, properties: {a: {type: string, anyOf: [{type: string}]}}}",
       p + ".properties[a].anyOf[0].type: Forbidden: must be empty to be structural"},
      {"completeness",
       "{type: object, properties: {a: {type: object, anyOf: [{properties: {b: {}}}]}}}",
       p + ".properties[a].properties[b]: Required value: because it is defined in " + p +
           ".properties[a].anyOf[0].properties[b]"},
      {"properties and additionalProperties",
       "{type: object, properties: {a: {type: object, properties: {b: {type: string}}, "
       "additionalProperties: {type: string}}}}",
       p + ".properties[a].additionalProperties: Forbidden: additionalProperties and properties "
           "are mutual exclusive"},
      {"ref", "{type: object, properties: {a: {$ref: '#/x'}}}",
       p + ".properties[a].$ref: Forbidden: $ref is not supported"},
      {"metadata",
       "{type: object, properties: {metadata: {type: object, properties: {labels: {type: "
       "object}}}}}",
       p + ".properties[metadata]: Forbidden: must not specify anything other than name and "
           "generateName, but metadata is implicitly specified"},
      {"metadata name ok",
       "{type: object, properties: {metadata: {type: object, properties: {name: {type: string, "
       "maxLength: 10}}}}}",
       ""},
      {"bad type", "{type: object, properties: {a: {type: float}}}",
       p + ".properties[a].type: Unsupported value: \"float\": supported values: \"array\", "
           "\"boolean\", \"integer\", \"number\", \"object\", \"string\""},
      {"bad default", "{type: object, properties: {a: {type: integer, default: abc}}}",
       p + ".properties[a].default: Invalid value: \"string\":  in body must be of type integer: "
           "\"string\""},
      {"bad pattern", "{type: object, properties: {a: {type: string, pattern: '('}}}",
       p + ".properties[a].pattern: Invalid value: \"(\": must be a valid regular expression, but "
           "isn't: "},
      {"embedded",
       "{type: object, properties: {a: {x-kubernetes-embedded-resource: true, type: object}}}",
       p + ".properties[a].properties: Required value: must not be empty if "
           "x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"},
  };
  for (const auto& c : cases) {
    Json schema;
    if (c.yaml.empty()) {
      schema = FunctionSchema();
    } else {
      auto j = YamlToJson(c.yaml);
      ASSERT_TRUE(j.ok()) << c.name;
      schema = *j;
    }
    auto causes = CheckStructural(schema, p);
    if (c.want.empty()) {
      EXPECT_TRUE(causes.empty()) << c.name << "\n" << Render(causes);
    } else {
      ASSERT_FALSE(causes.empty()) << c.name;
      std::string got = causes[0].field + ": " + causes[0].message;
      EXPECT_EQ(got.substr(0, c.want.size()), c.want) << c.name << "\n" << Render(causes);
    }
  }
}

}  // namespace
}  // namespace kfaas::local
