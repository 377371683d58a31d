// RestClient through real HTTP(S) on loopback, against FakeApiServer and scripted servers.
#include "common/kube/rest_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/kube/event_recorder.h"
#include "common/kube/retry.h"
#include "tests/common/kube_test_server.h"
#include "tests/common/kube_test_util.h"

namespace kfaas::kube {
namespace {

using testing::FakeApiServer;
using ::testing::HasSubstr;
using testing::TempDir;
using testing::TestRequest;
using testing::TestResponse;
using testing::TestServer;
using testing::WaitFor;

const Resource& kCM = resources::kConfigMaps;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

Json ConfigMap(const std::string& name, const std::string& value = "v") {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", {{"app", "test"}}}}},
          {"data", {{"key", value}}}};
}

// KFAAS_TEST_KUBE_TRANSPORT names the transport under test ("beast"; unset: the default).
void UseTestTransport(RestConfig& c) {
  const char* t = std::getenv("KFAAS_TEST_KUBE_TRANSPORT");
  if (t != nullptr && *t != '\0') c.transport = t;
}

std::shared_ptr<RestClient> NewClient(const std::string& url, int max_retries = 5,
                                      const std::function<void(RestConfig&)>& adjust = nullptr) {
  RestConfig c;
  c.host = url;
  c.max_retries = max_retries;
  c.user_agent = "kube-rest-client-test";
  UseTestTransport(c);
  if (adjust) adjust(c);
  auto client = RestClient::New(c);
  EXPECT_TRUE(client.ok()) << client.status();
  return *client;
}

TEST(RestClient, CrudRoundTrip) {
  FakeApiServer server;
  auto client = NewClient(server.url());

  auto created = client->Create(kCM, "default", ConfigMap("a"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["metadata"]["namespace"], "default");
  EXPECT_FALSE((*created)["metadata"]["resourceVersion"].get<std::string>().empty());

  auto got = client->Get(kCM, "default", "a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["data"]["key"], "v");

  // Empty namespace: the object's, else the config's default ("default").
  ASSERT_TRUE(client->Create(kCM, "", ConfigMap("b")).ok());
  ASSERT_TRUE(client->Get(kCM, "", "b").ok());

  auto list = client->List(kCM, "default");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ((*list)["items"].size(), 2u);
  EXPECT_FALSE((*list)["metadata"]["resourceVersion"].get<std::string>().empty());

  Json upd = *got;
  upd["data"]["key"] = "v2";
  auto updated = client->Update(kCM, "default", upd);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ((*updated)["data"]["key"], "v2");

  auto merged = client->Patch(kCM, "default", "a", PatchType::kMerge, {{"data", {{"m", "1"}}}});
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ((*merged)["data"]["m"], "1");
  auto jp = client->Patch(kCM, "default", "a", PatchType::kJson,
                          Json::array({{{"op", "replace"}, {"path", "/data/m"}, {"value", "2"}}}));
  ASSERT_TRUE(jp.ok()) << jp.status();
  EXPECT_EQ((*jp)["data"]["m"], "2");
  PatchOptions apply_opts;
  apply_opts.field_manager = "tester";
  apply_opts.force = true;
  auto applied =
      client->Patch(kCM, "default", "c", PatchType::kApply, ConfigMap("c"), "", apply_opts);
  ASSERT_TRUE(applied.ok()) << applied.status();

  DeleteOptions del;
  del.propagation_policy = "Background";
  ASSERT_TRUE(client->Delete(kCM, "default", "a", del).ok());
  auto gone = client->Get(kCM, "default", "a");
  EXPECT_TRUE(absl::IsNotFound(gone.status()));
  EXPECT_EQ(Msg(gone.status()), "configmaps \"a\" not found");

  // What went over the wire.
  auto log = server.Log();
  auto has = [&](const std::string& s) {
    return std::any_of(log.begin(), log.end(), [&](const std::string& l) { return l == s; });
  };
  EXPECT_TRUE(has("PATCH /api/v1/namespaces/default/configmaps/c?fieldManager=tester&force=true"));
  EXPECT_TRUE(has("POST /api/v1/namespaces/default/configmaps"));
  EXPECT_TRUE(has("DELETE /api/v1/namespaces/default/configmaps/a"));
}

TEST(RestClient, TypedErrorsAndRetryOnConflict) {
  FakeApiServer server;
  auto client = NewClient(server.url());
  ASSERT_TRUE(client->Create(kCM, "default", ConfigMap("x")).ok());
  auto dup = client->Create(kCM, "default", ConfigMap("x"));
  EXPECT_TRUE(absl::IsAlreadyExists(dup.status())) << dup.status();

  auto stale = *client->Get(kCM, "default", "x");
  ASSERT_TRUE(
      client->Patch(kCM, "default", "x", PatchType::kMerge, {{"data", {{"k", "other"}}}}).ok());
  stale["data"]["key"] = "mine";
  auto conflict = client->Update(kCM, "default", stale);
  ASSERT_TRUE(IsConflict(conflict.status())) << conflict.status();
  EXPECT_THAT(Msg(conflict.status()), HasSubstr("the object has been modified"));

  // RetryOnConflict re-reads: the first attempt races with another writer and loses.
  int attempts = 0;
  absl::Status s = RetryOnConflict([&]() -> absl::Status {
    ++attempts;
    auto cm = client->Get(kCM, "default", "x");
    if (!cm.ok()) return cm.status();
    if (attempts == 1) {
      server.Update("/api/v1/namespaces/default/configmaps",
                    Json{{"metadata", {{"name", "x"}}}, {"data", {{"key", "racer"}}}});
    }
    (*cm)["data"]["key"] = "mine";
    return client->Update(kCM, "default", *cm).status();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ((*client->Get(kCM, "default", "x"))["data"]["key"], "mine");

  // A conflict that never resolves gives up after the backoff's steps.
  attempts = 0;
  s = RetryOnConflict([&]() -> absl::Status {
    ++attempts;
    return ConflictError("configmaps", "x");
  });
  EXPECT_TRUE(IsConflict(s));
  EXPECT_EQ(attempts, 5);
}

TEST(RestClient, RetriesServerErrorsOnlyWhenSafe) {
  FakeApiServer server;
  auto client = NewClient(server.url());
  ASSERT_TRUE(client->Create(kCM, "default", ConfigMap("a")).ok());

  server.FailNext(2, 500, "GET");
  auto got = client->Get(kCM, "default", "a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(client->stats().retries, 2);

  // A POST that got a 500 may have been processed: not retried.
  server.FailNext(1, 500, "POST");
  auto created = client->Create(kCM, "default", ConfigMap("b"));
  EXPECT_EQ(HttpCode(created.status()), 500);
  EXPECT_EQ(Msg(created.status()), "injected failure 500");
  EXPECT_EQ(client->stats().retries, 2);

  // 429 and 503 + Retry-After say "not processed": retried for any verb, after Retry-After.
  server.FailNext(1, 429, "POST", /*retry_after=*/1);
  auto start = std::chrono::steady_clock::now();
  created = client->Create(kCM, "default", ConfigMap("c"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(950));
  server.FailNext(1, 503, "POST", 1);
  ASSERT_TRUE(client->Create(kCM, "default", ConfigMap("d")).ok());

  // Exhausted retries report the last error.
  auto small = NewClient(server.url(), /*max_retries=*/1);
  server.FailNext(5, 500, "GET");
  got = small->Get(kCM, "default", "a");
  EXPECT_EQ(HttpCode(got.status()), 500);
  EXPECT_EQ(small->stats().requests, 2);
}

TEST(RestClient, ConnectionErrors) {
  FakeApiServer server;
  auto client = NewClient(server.url());
  ASSERT_TRUE(client->Create(kCM, "default", ConfigMap("a")).ok());
  // The server drops the connection mid-request: GET is retried, POST is not. Fresh clients:
  // on a reused keep-alive connection cpprestsdk itself resends once when the server closed it
  // before answering (the idle-close race), whatever the verb.
  server.FailNext(1, 0, "GET");
  auto fresh = NewClient(server.url());
  ASSERT_TRUE(fresh->Get(kCM, "default", "a").ok());
  EXPECT_EQ(fresh->stats().retries, 1);
  server.FailNext(1, 0, "POST");
  fresh = NewClient(server.url());
  auto created = fresh->Create(kCM, "default", ConfigMap("b"));
  EXPECT_FALSE(created.ok());
  EXPECT_EQ(HttpCode(created.status()), 0);
  EXPECT_EQ(fresh->stats().retries, 0);

  // Connection refused: provably not sent, so even a POST is retried (and then gives up).
  int port;
  {
    TestServer closed([](const TestRequest&) { return TestResponse(); });
    port = closed.port();
  }
  auto refused = NewClient("http://127.0.0.1:" + std::to_string(port), /*max_retries=*/2);
  auto r = refused->Create(kCM, "default", ConfigMap("z"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_THAT(Msg(r.status()), HasSubstr("cannot connect"));
  EXPECT_THAT(Msg(r.status()), HasSubstr("POST http://127.0.0.1:" + std::to_string(port)));
  EXPECT_EQ(refused->stats().requests, 3);
}

TEST(RestClient, NonStatusErrorBodies) {
  TestServer server([](const TestRequest& req) {
    TestResponse r;
    if (req.path == "/html") {
      r.status = 502;
      r.content_type = "text/html";
      r.body = "<html>bad gateway</html>";
    } else if (req.path == "/notjson") {
      r.status = 200;
      r.body = "{not json";
    } else {
      r.status = 403;
      r.body = R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden",)"
               R"("message":"configmaps is forbidden: User \"bob\" cannot list","code":403})";
    }
    return r;
  });
  auto client = NewClient(server.url(), 0);
  auto r = client->GetPath("/html");
  EXPECT_EQ(HttpCode(r.status()), 502);
  EXPECT_EQ(Msg(r.status()), "the server responded with HTTP 502: <html>bad gateway</html>");
  auto list = client->List(kCM, "x");
  EXPECT_TRUE(absl::IsPermissionDenied(list.status()));
  EXPECT_THAT(Msg(list.status()), HasSubstr("cannot list"));
  HttpRequest req;
  req.method = "GET";
  req.target = "/notjson";
  EXPECT_EQ(client->Do(req, true)->body, "{not json");
}

TEST(RestClient, BadTokenFailsClearly) {
  FakeApiServer server;
  server.RequireToken("good-token");
  auto bad = NewClient(server.url(), 5, [](RestConfig& c) {
    c.bearer_token = "bad-token";
    c.source = "kubeconfig /tmp/x (context dev)";
  });
  auto r = bad->List(kCM, "default");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(r.status()));
  EXPECT_EQ(HttpCode(r.status()), 401);
  EXPECT_THAT(Msg(r.status()), HasSubstr("rejected the credentials (token from kubeconfig /tmp/x"));
  EXPECT_EQ(bad->stats().retries, 0);  // a static token cannot get better

  auto good = NewClient(server.url(), 5, [](RestConfig& c) { c.bearer_token = "good-token"; });
  EXPECT_TRUE(good->List(kCM, "default").ok());
}

TEST(RestClient, TokenFileIsReReadOn401) {
  FakeApiServer server;
  TempDir dir;
  std::string path = dir.Write("token", "first\n");
  server.RequireToken("first");
  auto client = NewClient(server.url(), 5, [&](RestConfig& c) { c.bearer_token_file = path; });
  ASSERT_TRUE(client->List(kCM, "default").ok());
  dir.Write("token", "second\n");  // rotated
  server.RequireToken("second");
  auto r = client->List(kCM, "default");
  EXPECT_TRUE(r.ok()) << r.status();
}

TEST(RestClient, ConcurrentRequestsShareConnections) {
  FakeApiServer server;
  auto client = NewClient(server.url(), 5, [](RestConfig& c) {
    c.qps = 0;  // unlimited
  });
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        if (client
                ->Create(kCM, "default",
                         ConfigMap("t" + std::to_string(t) + "-" + std::to_string(i)))
                .ok())
          ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 800);
  EXPECT_EQ(server.Objects("configmaps").size(), 800u);
}

TEST(RestClient, ClientSideRateLimit) {
  FakeApiServer server;
  auto client = NewClient(server.url(), 5, [](RestConfig& c) {
    c.qps = 10;
    c.burst = 2;
  });
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client->GetPath("/version").ok());
  // 2 from the burst, then 3 at 10 qps: the fifth cannot start before ~300 ms.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(280));
  // 3 waited when each call is fast; a call slower than the 100 ms refill (under a sanitizer)
  // finds its token ready, so fewer wait — but at least one must.
  EXPECT_GE(client->stats().throttled, 1);
  EXPECT_LE(client->stats().throttled, 3);
}

TEST(RestClient, EventRecorderWritesAndAggregatesThroughHttp) {
  FakeApiServer server;
  auto client = NewClient(server.url());
  {
    EventRecorder rec(client, "kfaas-operator");
    Json fn = {{"apiVersion", "kfaas.dev/v1alpha1"},
               {"kind", "Function"},
               {"metadata", {{"name", "hello"}, {"namespace", "default"}, {"uid", "u1"}}}};
    rec.Record(fn, "Normal", "ScaledUp", "scaled to 1");
    rec.Record(fn, "Normal", "ScaledUp", "scaled to 1");
    rec.Flush();
  }
  auto events = server.Objects("events");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["count"], 2);
  EXPECT_EQ(events[0]["involvedObject"]["name"], "hello");
}

// --- Watch -----------------------------------------------------------------------------

TEST(RestClient, WatchDeliversEventsAndStopUnblocks) {
  FakeApiServer server;
  auto client = NewClient(server.url());
  auto created = client->Create(kCM, "default", ConfigMap("a"));
  std::string rv = (*created)["metadata"]["resourceVersion"];
  WatchOptions wo;
  wo.resource_version = rv;
  auto w = client->Watch(kCM, "default", wo);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE(client->Patch(kCM, "default", "a", PatchType::kMerge, {{"data", {{"x", "1"}}}}).ok());
  ASSERT_TRUE(client->Create(kCM, "default", ConfigMap("b")).ok());
  ASSERT_TRUE(client->Delete(kCM, "default", "a").ok());
  WatchEvent ev;
  ASSERT_TRUE((*w)->Next(&ev));
  EXPECT_EQ(ev.type, WatchEvent::Type::kModified);
  ASSERT_TRUE((*w)->Next(&ev));
  EXPECT_EQ(ev.type, WatchEvent::Type::kAdded);
  EXPECT_EQ(ev.object["metadata"]["name"], "b");
  ASSERT_TRUE((*w)->Next(&ev));
  EXPECT_EQ(ev.type, WatchEvent::Type::kDeleted);

  // Next() blocks with nothing to read; Stop() from another thread ends it promptly.
  std::atomic<bool> returned{false};
  std::thread t([&] {
    WatchEvent e;
    EXPECT_FALSE((*w)->Next(&e));
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(returned);
  auto stop_at = std::chrono::steady_clock::now();
  (*w)->Stop();
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_at, std::chrono::seconds(1));
  EXPECT_TRUE(absl::IsCancelled((*w)->status())) << (*w)->status();
}

TEST(RestClient, WatchEndings) {
  FakeApiServer server;
  auto client = NewClient(server.url());
  ASSERT_TRUE(client->Create(kCM, "default", ConfigMap("a")).ok());

  // From "0": synthetic ADDED, then a clean close by the server.
  WatchOptions wo;
  wo.resource_version = "0";
  auto w = client->Watch(kCM, "", wo);
  ASSERT_TRUE(w.ok());
  WatchEvent ev;
  ASSERT_TRUE((*w)->Next(&ev));
  EXPECT_EQ(ev.type, WatchEvent::Type::kAdded);
  ASSERT_TRUE(WaitFor([&] { return server.OpenWatches() == 1; }));
  server.CloseWatchesCleanly();
  EXPECT_FALSE((*w)->Next(&ev));
  EXPECT_TRUE((*w)->status().ok()) << (*w)->status();

  // An abrupt drop is an error.
  w = client->Watch(kCM, "", wo);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Next(&ev));
  ASSERT_TRUE(WaitFor([&] { return server.OpenWatches() == 1; }));
  server.DropWatches();
  EXPECT_FALSE((*w)->Next(&ev));
  EXPECT_FALSE((*w)->status().ok());

  // Too old: HTTP 200 and an ERROR event with a 410 Status.
  server.Compact();
  wo.resource_version = "1";
  w = client->Watch(kCM, "", wo);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Next(&ev));
  EXPECT_EQ(ev.type, WatchEvent::Type::kError);
  EXPECT_TRUE(IsGone(FromStatusJson(ev.object, 200)));

  // Bookmarks.
  server.SetBookmarkInterval(std::chrono::milliseconds(50));
  wo.resource_version = std::to_string(server.ResourceVersion());
  w = client->Watch(kCM, "", wo);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Next(&ev));
  EXPECT_EQ(ev.type, WatchEvent::Type::kBookmark);
  EXPECT_EQ(ev.object["metadata"]["resourceVersion"], wo.resource_version);
}

TEST(RestClient, MalformedWatchStreamEndsWithError) {
  TestServer server([](const TestRequest&) {
    TestResponse r;
    r.stream = [](testing::ChunkWriter& w) {
      w.Write(R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})"
              "\n{\"type\":\"ADD");
      w.Write("ED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}\ngarbage\n");
    };
    return r;
  });
  auto client = NewClient(server.url());
  auto w = client->Watch(kCM, "default");
  ASSERT_TRUE(w.ok()) << w.status();
  WatchEvent ev;
  ASSERT_TRUE((*w)->Next(&ev));
  EXPECT_EQ(ev.object["metadata"]["name"], "a");
  ASSERT_TRUE((*w)->Next(&ev));  // split across chunks
  EXPECT_EQ(ev.object["metadata"]["name"], "b");
  EXPECT_FALSE((*w)->Next(&ev));
  EXPECT_THAT(Msg((*w)->status()), HasSubstr("garbage"));
}

TEST(RestClient, WatchOpenErrorsAreTyped) {
  FakeApiServer server;
  server.RequireToken("t");
  auto client = NewClient(server.url(), 0, [](RestConfig& c) { c.bearer_token = "wrong"; });
  auto w = client->Watch(kCM, "default");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(HttpCode(w.status()), 401) << w.status();
}

// --- TLS -------------------------------------------------------------------------------

class RestClientTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new testing::Pki(testing::MakePki({"kfaas.local"}));
    other_ = new testing::Pki(testing::MakePki());
  }
  static testing::Pki* pki_;
  static testing::Pki* other_;
};
testing::Pki* RestClientTls::pki_ = nullptr;
testing::Pki* RestClientTls::other_ = nullptr;

TEST_F(RestClientTls, VerifiesTheServerAndSendsClientCertificates) {
  TestServer::Options opts;
  opts.tls = true;
  opts.pki = pki_;
  opts.require_client_cert = true;
  std::atomic<int> seen{0};
  std::string cn;
  std::mutex mu;
  TestServer server(
      [&](const TestRequest& req) {
        std::lock_guard<std::mutex> l(mu);
        cn = req.client_cn;
        ++seen;
        TestResponse r;
        r.body = R"({"major":"1","minor":"32"})";
        return r;
      },
      opts);
  // The certificate names kfaas.local, not 127.0.0.1: tls-server-name makes it verify.
  auto client = NewClient(server.url(), 0, [&](RestConfig& c) {
    c.ca_pem = pki_->ca_cert;
    c.tls_server_name = "kfaas.local";
    c.client_cert_pem = pki_->client_cert;
    c.client_key_pem = pki_->client_key;
  });
  auto v = client->GetPath("/version");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ((*v)["minor"], "32");
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_EQ(cn, "alice");
  }

  // Without tls-server-name the name does not match.
  auto wrong_name = NewClient(server.url(), 0, [&](RestConfig& c) {
    c.ca_pem = pki_->ca_cert;
    c.client_cert_pem = pki_->client_cert;
    c.client_key_pem = pki_->client_key;
  });
  auto r = wrong_name->GetPath("/version");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(Msg(r.status()), HasSubstr("TLS handshake failed"));

  // Another CA: refused.
  auto wrong_ca = NewClient(server.url(), 0, [&](RestConfig& c) {
    c.ca_pem = other_->ca_cert;
    c.tls_server_name = "kfaas.local";
    c.client_cert_pem = pki_->client_cert;
    c.client_key_pem = pki_->client_key;
  });
  r = wrong_ca->GetPath("/version");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(Msg(r.status()), HasSubstr("TLS handshake failed"));

  // insecure-skip-tls-verify accepts any server certificate.
  auto insecure = NewClient(server.url(), 0, [&](RestConfig& c) {
    c.insecure_skip_tls_verify = true;
    c.client_cert_pem = pki_->client_cert;
    c.client_key_pem = pki_->client_key;
  });
  EXPECT_TRUE(insecure->GetPath("/version").ok());

  // No client certificate: the server refuses the handshake.
  auto anonymous = NewClient(server.url(), 0, [&](RestConfig& c) {
    c.ca_pem = pki_->ca_cert;
    c.tls_server_name = "kfaas.local";
  });
  EXPECT_FALSE(anonymous->GetPath("/version").ok());
}

TEST_F(RestClientTls, BadTlsMaterialIsRefusedAtConstruction) {
  RestConfig c;
  c.host = "https://127.0.0.1:1";
  c.client_cert_pem = "garbage";
  c.client_key_pem = "garbage";
  UseTestTransport(c);
  auto client = RestClient::New(c);
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(Msg(client.status()), HasSubstr("TLS configuration"));
}

// Kubeconfig variants connect over HTTPS.
TEST_F(RestClientTls, KubeconfigVariantsConnect) {
  TestServer::Options opts;
  opts.tls = true;
  opts.pki = other_;  // certificate for localhost and 127.0.0.1
  FakeApiServer server(opts);
  server.RequireToken("tok-123");
  TempDir dir;
  dir.Write("ca.crt", other_->ca_cert);
  std::string cluster = "clusters: [{name: local, cluster: {server: \"" + server.url() +
                        "\", certificate-authority: ca.crt}}]\n";
  // token
  std::string token_kc = dir.Write(
      "token.yaml", "current-context: t\n" + cluster +
                        "contexts: [{name: t, context: {cluster: local, user: u, "
                        "namespace: team}}]\nusers: [{name: u, user: {token: tok-123}}]\n");
  ConfigLoadOptions o;
  o.kubeconfig = token_kc;
  auto client = RestClient::FromOptions(o, UseTestTransport);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->default_namespace(), "team");
  auto created = (*client)->Create(kCM, "", ConfigMap("via-token"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["metadata"]["namespace"], "team");

  // exec plugin (the token it prints rotates: the client re-runs it after a 401)
  dir.Write("current-token", "tok-123");
  dir.Write("bin/get-token",
            "#!/bin/sh\nprintf '{\"kind\":\"ExecCredential\",\"apiVersion\":"
            "\"client.authentication.k8s.io/v1\",\"status\":{\"token\":\"%s\"}}' \"$(cat " +
                dir.path() + "/current-token)\"\n",
            0755);
  std::string exec_kc = dir.Write(
      "exec.yaml", "current-context: e\n" + cluster +
                       "contexts: [{name: e, context: {cluster: local, user: u}}]\n"
                       "users: [{name: u, user: {exec: {command: ./bin/get-token, apiVersion: "
                       "client.authentication.k8s.io/v1, interactiveMode: Never}}}]\n");
  o.kubeconfig = exec_kc;
  client = RestClient::FromOptions(o, UseTestTransport);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->List(kCM, "").ok());
  dir.Write("current-token", "tok-456");
  server.RequireToken("tok-456");
  auto list = (*client)->List(kCM, "");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ((*list)["items"].size(), 1u);

  // several files via KUBECONFIG: the cluster from one, the user and context from another
  server.RequireToken("");
  std::string part1 = dir.Write("part1.yaml", cluster);
  std::string part2 =
      dir.Write("part2.yaml",
                "current-context: m\ncontexts: [{name: m, context: {cluster: local, "
                "user: u}}]\nusers: [{name: u, user: {token: any}}]\n");
  ConfigLoadOptions multi;
  multi.getenv = [&](const std::string& name) -> std::optional<std::string> {
    if (name == "KUBECONFIG") return part2 + ":" + part1;
    return std::nullopt;
  };
  client = RestClient::FromOptions(multi, UseTestTransport);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->GetPath("/version").ok());

  // A kubeconfig with the wrong CA fails with a clear TLS message.
  dir.Write("wrong-ca.crt", pki_->ca_cert);
  std::string wrong = dir.Write(
      "wrong.yaml", "current-context: w\nclusters: [{name: c, cluster: {server: \"" + server.url() +
                        "\", certificate-authority: wrong-ca.crt}}]\n"
                        "contexts: [{name: w, context: {cluster: c}}]\n");
  o.kubeconfig = wrong;
  client = RestClient::FromOptions(o, [](RestConfig& c) {
    UseTestTransport(c);
    c.max_retries = 0;
  });
  ASSERT_TRUE(client.ok()) << client.status();
  auto r = (*client)->GetPath("/version");
  EXPECT_THAT(Msg(r.status()), HasSubstr("TLS handshake failed"));
}

}  // namespace
}  // namespace kfaas::kube
