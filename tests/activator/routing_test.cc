#include "activator/core/routing.h"

#include <gtest/gtest.h>

#include "activator/core/endpoints.h"
#include "activator/core/function_spec.h"
#include "activator/core/idle.h"
#include "activator/core/lb.h"

namespace kfaas::activator {
namespace {

using R = PathRoute::Result;

TEST(NormalizeHost, StripsPortCaseAndDot) {
  EXPECT_EQ(NormalizeHost("Hello.Default.KFAAS.local:8080"), "hello.default.kfaas.local");
  EXPECT_EQ(NormalizeHost("example.com."), "example.com");
  EXPECT_EQ(NormalizeHost("[::1]:80"), "[::1]");
  EXPECT_EQ(NormalizeHost(""), "");
}

TEST(ParseFnPath, Matches) {
  auto r = ParseFnPath("/fn/default/hello/a/b?x=1&y=%2F");
  ASSERT_EQ(r.result, R::kMatch) << r.error;
  EXPECT_EQ(r.ns, "default");
  EXPECT_EQ(r.name, "hello");
  EXPECT_EQ(r.target, "/a/b?x=1&y=%2F");
  EXPECT_EQ(ParseFnPath("/fn/default/hello").target, "/");
  EXPECT_EQ(ParseFnPath("/fn/default/hello/").target, "/");
  EXPECT_EQ(ParseFnPath("/fn/default/hello?q").target, "/?q");
  EXPECT_EQ(ParseFnPath("/fn/ns-1/fn-2/x.y/..z/...").result, R::kMatch);
}

TEST(ParseFnPath, NoMatch) {
  EXPECT_EQ(ParseFnPath("/").result, R::kNoMatch);
  EXPECT_EQ(ParseFnPath("/fnx/default/hello").result, R::kNoMatch);
  EXPECT_EQ(ParseFnPath("/hello").result, R::kNoMatch);
}

TEST(ParseFnPath, RefusesTraversalAndEncodingTricks) {
  for (const char* t : {
           "/fn",
           "/fn/default",
           "/fn/default/",
           "/fn//hello/",
           "/fn/Default/hello/",
           "/fn/default/hel%6co/",
           "/fn/%2e%2e/hello/",
           "/fn/../default/hello/",
           "/fn/default/../other/x",
           "/fn/default/hello/../../other/x",
           "/fn/default/hello/./x",
           "/fn/default/hello/%2e%2e/other",
           "/fn/default/hello/.%2E/other",
           "/fn/default/hello/..%2fother",
           "/fn/default/hello/a%2Fb",
           "/fn/default/hello/a%5cb",
           "/fn/default/hello/a\\..\\b",
           "/fn/default/hello/%252e%252e/x",
           "/fn/default/hello/a%00b",
           "/fn/default/hello/a%zz",
           "/fn/default/hello/a%2",
           "/fn/default/hello.other/",
           "/fn/default/-hello/",
       }) {
    EXPECT_EQ(ParseFnPath(t).result, R::kBad) << t;
    EXPECT_FALSE(ParseFnPath(t).error.empty()) << t;
  }
  // A name that merely starts with another's never reaches it.
  auto r = ParseFnPath("/fn/default/hellox/a");
  EXPECT_EQ(r.name, "hellox");
}

TEST(RouteTable, HostsAndNames) {
  auto a = std::make_shared<int>(1);
  auto b = std::make_shared<int>(2);
  std::vector<std::string> conflicts;
  RouteTable<int> t({{"default", "a", {"a.example.com", "shared.example.com"}, a},
                     {"prod", "b", {"shared.example.com"}, b}},
                    "kfaas.local", &conflicts);
  EXPECT_EQ(t.ByHost("a.default.kfaas.local"), a);
  EXPECT_EQ(t.ByHost("b.prod.kfaas.local"), b);
  EXPECT_EQ(t.ByHost("a.example.com"), a);
  EXPECT_EQ(t.ByHost("shared.example.com"), a);  // first claim wins
  EXPECT_EQ(conflicts.size(), 1u);
  EXPECT_EQ(t.ByHost("b.default.kfaas.local"), nullptr);
  EXPECT_EQ(t.ByName("prod", "b"), b);
  EXPECT_EQ(t.ByName("default", "b"), nullptr);
}

TEST(RouteTable, AGeneratedHostCannotBeClaimedByAnotherFunction) {
  auto thief = std::make_shared<int>(1);
  auto owner = std::make_shared<int>(2);
  std::vector<std::string> conflicts;
  // The thief comes first (older) and lists the owner's generated host in its spec.hosts.
  RouteTable<int> t(
      {{"default", "thief", {"owner.default.kfaas.local"}, thief}, {"default", "owner", {}, owner}},
      "kfaas.local", &conflicts);
  EXPECT_EQ(t.ByHost("owner.default.kfaas.local"), owner);
  EXPECT_EQ(t.ByHost("thief.default.kfaas.local"), thief);
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_NE(conflicts[0].find("default/thief"), std::string::npos) << conflicts[0];
}

TEST(FunctionSpec, DefaultsAndTolerance) {
  auto s =
      ParseFunctionSpec(nlohmann::json::parse(R"({"metadata":{"name":"f","namespace":"d"},"spec":{
        "timeoutSeconds":"x","concurrency":4,"hosts":["Foo.COM",3],"readinessPath":"healthz",
        "scale":{"min":1,"idleWindowSeconds":5}}})"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->timeout_seconds, 300);
  EXPECT_EQ(s->concurrency, 4);
  EXPECT_EQ(s->hosts, std::vector<std::string>{"foo.com"});
  EXPECT_EQ(s->readiness_path, "/healthz");
  EXPECT_EQ(s->scale_min, 1);
  EXPECT_EQ(s->scale_max, 100);
  EXPECT_EQ(s->scale_target, 10);
  EXPECT_EQ(s->idle_window_seconds, 5);
  auto d = ParseFunctionSpec(nlohmann::json::parse(R"({"metadata":{"name":"f","namespace":"d"}})"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->idle_window_seconds, 60);
  EXPECT_FALSE(ParseFunctionSpec(nlohmann::json::parse(R"({"spec":{}})")).ok());
}

TEST(EndpointSlice, ParsesPortsAndConditions) {
  auto s = ParseEndpointSlice(nlohmann::json::parse(R"({
    "metadata":{"name":"hello-abc","namespace":"default",
                "labels":{"kubernetes.io/service-name":"hello"}},
    "ports":[{"name":"metrics","port":9000},{"name":"http","port":8080}],
    "endpoints":[
      {"addresses":["10.0.0.1"],"conditions":{"ready":true}},
      {"addresses":["10.0.0.2","10.0.0.3"],"conditions":{"ready":false}},
      {"addresses":["10.0.0.4"],"conditions":{"ready":false,"terminating":true}},
      {"addresses":["10.0.0.5"]}]})"));
  EXPECT_EQ(s.function, "hello");
  ASSERT_EQ(s.endpoints.size(), 5u);
  EXPECT_EQ(s.endpoints[0].port, 8080);
  EXPECT_TRUE(s.endpoints[0].ready);
  EXPECT_FALSE(s.endpoints[1].ready);
  EXPECT_TRUE(s.endpoints[3].terminating);
  EXPECT_TRUE(s.endpoints[4].ready);
  auto first = ParseEndpointSlice(nlohmann::json::parse(
      R"({"metadata":{"name":"x","namespace":"d"},"ports":[{"port":7}],
          "endpoints":[{"addresses":["1.2.3.4"]}]})"));
  EXPECT_EQ(first.endpoints.at(0).port, 7);
  EXPECT_TRUE(ParseEndpointSlice(nlohmann::json::parse(R"({"endpoints":[1]})")).endpoints.empty());
}

TEST(PickInstance, PrefersLessLoadedAndSkipsFull) {
  std::vector<int> load = {5, 1, 3};
  auto fn = [&](size_t i) { return load[i]; };
  for (uint64_t r = 0; r < 200; ++r) {
    int i = PickInstance(load.size(), 0, fn, FastRandom());
    EXPECT_NE(i, 0) << "the most loaded of three is never the better of two";
  }
  load = {2, 2, 1};
  for (int k = 0; k < 100; ++k) EXPECT_EQ(PickInstance(load.size(), 2, fn, FastRandom()), 2);
  load = {2, 2, 2};
  EXPECT_EQ(PickInstance(load.size(), 2, fn, FastRandom()), -1);
  EXPECT_EQ(PickInstance(0, 0, fn, 1), -1);
  load = {0};
  EXPECT_EQ(PickInstance(1, 1, fn, 7), 0);
}

TEST(DecideIdleScale, Rules) {
  IdleInput in;
  in.now = SteadyTime(std::chrono::hours(1));
  in.last_activity = in.now - std::chrono::seconds(61);
  in.idle_window = std::chrono::seconds(60);
  in.observed_replicas = 1;
  EXPECT_EQ(DecideIdleScale(in), 0);
  in.last_activity = in.now - std::chrono::seconds(59);
  EXPECT_EQ(DecideIdleScale(in), std::nullopt);
  in.last_activity = in.now - std::chrono::seconds(61);
  in.in_flight = 1;
  EXPECT_EQ(DecideIdleScale(in), std::nullopt);
  in.in_flight = 0;
  in.queued = 1;
  EXPECT_EQ(DecideIdleScale(in), std::nullopt);
  in.queued = 0;
  in.activating = true;
  EXPECT_EQ(DecideIdleScale(in), std::nullopt);
  in.activating = false;
  in.observed_replicas = 0;
  EXPECT_EQ(DecideIdleScale(in), std::nullopt);  // already there
  in.observed_replicas = 3;
  in.scale_min = 2;
  EXPECT_EQ(DecideIdleScale(in), 2);
  in.observed_replicas.reset();
  in.ready_instances = 1;
  in.scale_min = 0;
  EXPECT_EQ(DecideIdleScale(in), 0);
}

}  // namespace
}  // namespace kfaas::activator
