#include "common/kube/selector.h"

#include <gtest/gtest.h>

namespace kfaas::kube {
namespace {

struct ParseCase {
  std::string selector;
  std::string canonical;  // "" with error
  std::string error;      // substring of the error, "" when it parses
};

TEST(LabelSelector, ParsesTheFullGrammar) {
  const ParseCase cases[] = {
      {"", "", ""},
      {"   ", "", ""},
      {"app=web", "app=web", ""},
      {"app==web", "app=web", ""},
      {"app!=web", "app!=web", ""},
      {"app in (b,a)", "app in (a,b)", ""},
      {"app notin (a)", "app notin (a)", ""},
      {"app", "app", ""},
      {"!app", "!app", ""},
      {"x=", "x=", ""},
      {"x in ()", "x in ()", ""},
      {"x in (a,,b)", "x in (,a,b)", ""},
      {"x in (a,)", "x in (,a)", ""},
      {"x in (in)", "x in (in)", ""},
      {"in in (notin)", "in in (notin)", ""},
      {"z,b=1, a in (x)", "a in (x),b=1,z", ""},
      {"example.com/app=web", "example.com/app=web", ""},
      {"n>5", "n>5", ""},
      {"n<5", "n<5", ""},
      {"  tier = frontend , !canary ", "!canary,tier=frontend", ""},
      {"app=web,", "", "found '', expected: identifier after ','"},
      {"app=web,,", "", "found ',', expected: identifier after ','"},
      {"=web", "", "found '=', expected: !, identifier, or 'end of string'"},
      {"app=web x", "", "found 'x', expected: ',' or 'end of string'"},
      {"a b", "", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"},
      {"a in b", "", "unable to parse requirement: found 'b' expected: '('"},
      {"a in (b", "", "unable to parse requirement: found '', expected: ',' or ')'"},
      {"a in (b c)", "", "found 'c', expected: ',' or ')'"},
      {"a in (=)", "", "found '=', expected: ',', ')' or identifier"},
      {"a=(", "", "unable to parse requirement: found '(', expected: identifier"},
      {"!", "", "unable to parse requirement: found '', expected: identifier"},
      {"!a=b", "", "found '=', expected: ',' or 'end of string'"},
      {"n>x", "",
       "values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"},
  };
  for (const auto& c : cases) {
    auto sel = LabelSelector::Parse(c.selector);
    if (c.error.empty()) {
      ASSERT_TRUE(sel.ok()) << c.selector << ": " << sel.status();
      EXPECT_EQ(sel->String(), c.canonical) << c.selector;
    } else {
      ASSERT_FALSE(sel.ok()) << c.selector << " parsed as " << sel->String();
      EXPECT_NE(std::string(sel.status().message()).find(c.error), std::string::npos)
          << c.selector << ": " << sel.status().message();
      EXPECT_EQ(sel.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(LabelSelector, KeyAndValueErrorsUseApimachineryWording) {
  auto s = LabelSelector::Parse("app:monolith");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.status().message()),
            "unable to parse requirement: <nil>: Invalid value: \"app:monolith\": name part must "
            "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
            "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");

  s = LabelSelector::Parse("app.kubernetes_io/name=x");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.status().message()),
            "unable to parse requirement: <nil>: Invalid value: \"app.kubernetes_io/name\": prefix "
            "part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
            "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
            "'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");

  s = LabelSelector::Parse("a/b/c=x");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message())
                .find("Invalid value: \"a/b/c\": a qualified name must consist of"),
            std::string::npos);

  s = LabelSelector::Parse("app=a*b");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(
      std::string(s.status().message()),
      "unable to parse requirement: values[0][app]: Invalid value: \"a*b\": a valid label "
      "must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
      "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  "
      "or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");

  s = LabelSelector::Parse(std::string(64, 'a'));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("name part must be no more than 63 characters"),
            std::string::npos);
}

TEST(LabelSelector, Matches) {
  const Json labels = {{"app", "web"}, {"tier", "frontend"}, {"n", "7"}};
  const std::pair<std::string, bool> cases[] = {
      {"", true},
      {"app=web", true},
      {"app=db", false},
      {"app!=db", true},
      {"missing!=x", true},
      {"app in (db,web)", true},
      {"app notin (db,web)", false},
      {"missing notin (x)", true},
      {"missing in (x)", false},
      {"app", true},
      {"missing", false},
      {"!missing", true},
      {"!app", false},
      {"app=web,tier=frontend", true},
      {"app=web,tier=backend", false},
      {"n>5", true},
      {"n<5", false},
      {"app>5", false},
      {"missing>5", false},
      {"missing=", false},
  };
  for (const auto& [sel, want] : cases) {
    auto s = LabelSelector::Parse(sel);
    ASSERT_TRUE(s.ok()) << sel;
    EXPECT_EQ(s->Matches(labels), want) << sel;
  }
  auto any = LabelSelector::Parse("!app");
  EXPECT_TRUE(any->Matches(nullptr));
  EXPECT_TRUE(any->Matches(Json::object()));
  auto empty_value = LabelSelector::Parse("x=");
  EXPECT_TRUE(empty_value->Matches(Json{{"x", ""}}));
}

TEST(LabelSelector, FromJson) {
  Json sel = {{"matchLabels", {{"app", "web"}}},
              {"matchExpressions",
               {{{"key", "tier"}, {"operator", "In"}, {"values", {"b", "a"}}},
                {{"key", "canary"}, {"operator", "DoesNotExist"}}}}};
  auto s = LabelSelector::FromJson(sel);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->String(), "app=web,!canary,tier in (a,b)") << "sorted by key as apimachinery does";
  EXPECT_TRUE(s->Matches({{"app", "web"}, {"tier", "a"}}));
  EXPECT_FALSE(s->Matches({{"app", "web"}, {"tier", "a"}, {"canary", "1"}}));

  auto everything = LabelSelector::FromJson(Json::object());
  ASSERT_TRUE(everything.ok());
  EXPECT_TRUE(everything->Empty());
  EXPECT_TRUE(everything->Matches({{"x", "y"}}));

  auto nothing = LabelSelector::FromJson(nullptr);
  ASSERT_TRUE(nothing.ok());
  EXPECT_FALSE(nothing->Empty());
  EXPECT_FALSE(nothing->Matches({{"x", "y"}}));

  auto bad_op =
      LabelSelector::FromJson({{"matchExpressions", {{{"key", "a"}, {"operator", "Gt"}}}}});
  ASSERT_FALSE(bad_op.ok());
  EXPECT_EQ(std::string(bad_op.status().message()),
            "\"Gt\" is not a valid label selector operator");

  auto in_empty =
      LabelSelector::FromJson({{"matchExpressions", {{{"key", "a"}, {"operator", "In"}}}}});
  ASSERT_FALSE(in_empty.ok());
  EXPECT_EQ(std::string(in_empty.status().message()),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't "
            "be empty");

  auto exists_values = LabelSelector::FromJson(
      {{"matchExpressions", {{{"key", "a"}, {"operator", "Exists"}, {"values", {"x"}}}}}});
  ASSERT_FALSE(exists_values.ok());
  EXPECT_EQ(std::string(exists_values.status().message()),
            "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does "
            "not exist");

  auto bad_key = LabelSelector::FromJson({{"matchLabels", {{"a b", "x"}}}});
  ASSERT_FALSE(bad_key.ok());
  EXPECT_NE(std::string(bad_key.status().message()).find("key: Invalid value: \"a b\""),
            std::string::npos);

  for (const Json& hostile :
       {Json(5), Json("x"), Json{{"matchLabels", 3}}, Json{{"matchLabels", {{"a", 1}}}},
        Json{{"matchExpressions", "x"}}, Json{{"matchExpressions", {1}}}}) {
    EXPECT_FALSE(LabelSelector::FromJson(hostile).ok()) << hostile.dump();
  }
}

TEST(FieldSelector, ParsesAndMatches) {
  Json pod = {{"metadata", {{"name", "web-1"}, {"namespace", "default"}}},
              {"spec", {{"nodeName", "local"}, {"hostNetwork", false}}},
              {"status", {{"phase", "Running"}}}};
  const std::pair<std::string, bool> cases[] = {
      {"", true},
      {"metadata.name=web-1", true},
      {"metadata.name==web-1", true},
      {"metadata.name!=web-1", false},
      {"metadata.name=web-2", false},
      {"metadata.name=web-1,status.phase=Running", true},
      {"metadata.name=web-1,status.phase!=Running", false},
      {"spec.hostNetwork=false", true},
      {"spec.missing=", true},
      {"spec.missing!=x", true},
      {"metadata.name=web-1,", true},
  };
  for (const auto& [sel, want] : cases) {
    auto s = FieldSelector::Parse(sel);
    ASSERT_TRUE(s.ok()) << sel << ": " << s.status();
    EXPECT_EQ(s->Matches(pod), want) << sel;
  }
  auto s = FieldSelector::Parse("status.phase!=Failed,metadata.name=web-1");
  ASSERT_TRUE(s.ok());
  ASSERT_NE(s->RequiredValue("metadata.name"), nullptr);
  EXPECT_EQ(*s->RequiredValue("metadata.name"), "web-1");
  EXPECT_EQ(s->RequiredValue("status.phase"), nullptr);
  EXPECT_EQ(s->String(), "metadata.name=web-1,status.phase!=Failed");
  EXPECT_TRUE(s->CheckFields({"metadata.name", "status.phase"}).ok());
  auto unsupported = s->CheckFields({"metadata.name"});
  EXPECT_EQ(std::string(unsupported.message()), "field label not supported: status.phase");
}

TEST(FieldSelector, EscapesAndErrors) {
  auto s = FieldSelector::Parse("metadata.name=a\\,b\\=c\\\\d");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s->RequiredValue("metadata.name"), "a,b=c\\d");
  EXPECT_EQ(s->String(), "metadata.name=a\\,b\\=c\\\\d");

  const std::pair<std::string, std::string> errors[] = {
      {"metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"},
      {"a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"},
      {"a=b=c", "invalid field selector: unescaped character in value: 61"},
      {"a=b\\x", "invalid field selector: invalid escape sequence: \\x"},
      {"a=b\\", "invalid field selector: invalid escape sequence: \\"},
  };
  for (const auto& [sel, msg] : errors) {
    auto r = FieldSelector::Parse(sel);
    ASSERT_FALSE(r.ok()) << sel;
    EXPECT_EQ(std::string(r.status().message()), msg) << sel;
  }
}

TEST(NameValidation, Checks) {
  EXPECT_TRUE(IsDNS1123Subdomain("my-app.example.com").empty());
  EXPECT_FALSE(IsDNS1123Subdomain("My-App").empty());
  EXPECT_FALSE(IsDNS1123Subdomain("a..b").empty());
  EXPECT_FALSE(IsDNS1123Subdomain("").empty());
  EXPECT_EQ(IsDNS1123Subdomain(std::string(254, 'a')).front(),
            "must be no more than 253 characters");
  EXPECT_TRUE(IsDNS1123Label("default").empty());
  EXPECT_FALSE(IsDNS1123Label("a.b").empty());
  EXPECT_TRUE(IsValidLabelValue("").empty());
  EXPECT_TRUE(IsValidLabelValue("v1.2_3-x").empty());
  EXPECT_FALSE(IsValidLabelValue("-x").empty());
  EXPECT_TRUE(IsQualifiedName("app.kubernetes.io/name").empty());
  EXPECT_EQ(IsQualifiedName("/x").front(), "prefix part must be non-empty");
  EXPECT_EQ(GoQuote("a\"b\\c\n\x01\xff"), "\"a\\\"b\\\\c\\n\\x01\\xff\"");
  EXPECT_EQ(GoQuote("é"), "\"é\"");
}

TEST(LabelSelector, HostileInputNeverCrashes) {
  std::string deep(100000, '(');
  EXPECT_FALSE(LabelSelector::Parse("a in " + deep).ok());
  EXPECT_FALSE(LabelSelector::Parse(std::string(100000, ',')).ok());
  (void)LabelSelector::Parse(std::string("a\0b", 3) + "=c");  // must not crash
  std::string many;
  for (int i = 0; i < 10000; ++i) many += "k" + std::to_string(i) + "=v,";
  many += "z";
  auto s = LabelSelector::Parse(many);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->requirements().size(), 10001u);
  EXPECT_TRUE(FieldSelector::Parse(std::string(100000, ',')).ok());
}

}  // namespace
}  // namespace kfaas::kube
