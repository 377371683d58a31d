// The activator-side gRPC services on real loopback servers, called through generated stubs.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "autoscaler/service/activator_scaler_server.h"
#include "common/metrics/metrics.h"
#include "externalscaler.grpc.pb.h"
#include "kfaas/v1/stats.grpc.pb.h"
#include "tests/autoscaler/fakes.h"
#include "tests/testutil/fake_client.h"
#include "tests/testutil/time_scale.h"

namespace kfaas::autoscaler {
namespace {

using kfaas::testing::Scaled;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BlackHole;
using testing::FakeFunctionInfo;
using testing::FakePeers;
using testing::FakeStatsSource;

// One activator's gRPC port, fed by fakes.
struct Activator {
  explicit Activator(std::string id, PeerSource* peers = nullptr) {
    ActivatorScalerOptions opts;
    opts.address = "127.0.0.1:0";
    opts.activator_id = std::move(id);
    opts.hub.poll_interval = milliseconds(20);
    opts.external_scaler.heartbeat = milliseconds(300);
    opts.peer_deadline = Scaled(milliseconds(300));
    opts.stats.default_interval = milliseconds(100);
    server = std::make_unique<ActivatorScalerServer>(
        ActivatorScalerDeps{
            .stats = &stats, .functions = &functions, .peers = peers, .registry = &registry},
        opts);
  }
  void Start() { ASSERT_TRUE(server->Start().ok()); }
  std::string Address() const { return "127.0.0.1:" + std::to_string(server->port()); }

  FakeStatsSource stats;
  FakeFunctionInfo functions;
  metrics::Registry registry;
  std::unique_ptr<ActivatorScalerServer> server;
};

externalscaler::ScaledObjectRef Ref(const std::string& ns, const std::string& name) {
  externalscaler::ScaledObjectRef ref;
  ref.set_namespace_(ns);
  ref.set_name(name);
  return ref;
}

std::unique_ptr<externalscaler::ExternalScaler::Stub> ScalerStub(const std::string& address) {
  return externalscaler::ExternalScaler::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

void Deadline(grpc::ClientContext* ctx, Duration d = seconds(5)) {
  ctx->set_deadline(std::chrono::system_clock::now() + d);
}

// A port where nothing listens (connection refused).
std::string ClosedAddress() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}

TEST(AutoscalerExternalScalerTest, GetMetricSpecNamesTheMetricAndTarget) {
  Activator act("a");
  act.functions.Add("default", "hello", 10);
  act.Start();
  auto stub = ScalerStub(act.Address());
  grpc::ClientContext ctx;
  Deadline(&ctx);
  externalscaler::GetMetricSpecResponse resp;
  ASSERT_TRUE(stub->GetMetricSpec(&ctx, Ref("default", "hello"), &resp).ok());
  ASSERT_EQ(resp.metricspecs_size(), 1);
  EXPECT_EQ(resp.metricspecs(0).metricname(), "kfaas-default-hello-concurrency");
  EXPECT_EQ(resp.metricspecs(0).targetsize(), 10);
  EXPECT_EQ(resp.metricspecs(0).targetsizefloat(), 10.0);
}

TEST(AutoscalerExternalScalerTest, ScalerMetadataNamesTheFunction) {
  Activator act("a");
  act.functions.Add("prod", "resize", 4);
  act.Start();
  auto stub = ScalerStub(act.Address());
  auto ref = Ref("default", "my-scaledobject");
  (*ref.mutable_scalermetadata())["namespace"] = "prod";
  (*ref.mutable_scalermetadata())["function"] = "resize";
  (*ref.mutable_scalermetadata())["scalerAddress"] = act.Address();
  grpc::ClientContext ctx;
  Deadline(&ctx);
  externalscaler::GetMetricSpecResponse resp;
  ASSERT_TRUE(stub->GetMetricSpec(&ctx, ref, &resp).ok());
  EXPECT_EQ(resp.metricspecs(0).metricname(), "kfaas-prod-resize-concurrency");
  EXPECT_EQ(resp.metricspecs(0).targetsize(), 4);
}

TEST(AutoscalerExternalScalerTest, UnknownFunctionIsNotFoundNamingIt) {
  Activator act("a");
  act.Start();
  auto stub = ScalerStub(act.Address());
  grpc::ClientContext ctx;
  Deadline(&ctx);
  externalscaler::IsActiveResponse resp;
  grpc::Status s = stub->IsActive(&ctx, Ref("default", "nope"), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("default/nope"), std::string::npos) << s.error_message();
}

TEST(AutoscalerExternalScalerTest, IsActiveAndGetMetricsFollowTheCounters) {
  Activator act("a");
  act.functions.Add("default", "hello", 10, /*idle_seconds=*/1);
  act.stats.Set("default", "hello", 0);
  act.Start();
  auto stub = ScalerStub(act.Address());
  auto is_active = [&] {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    externalscaler::IsActiveResponse resp;
    EXPECT_TRUE(stub->IsActive(&ctx, Ref("default", "hello"), &resp).ok());
    return resp.result();
  };
  auto metric = [&] {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    externalscaler::GetMetricsRequest req;
    *req.mutable_scaledobjectref() = Ref("default", "hello");
    req.set_metricname("kfaas-default-hello-concurrency");
    externalscaler::GetMetricsResponse resp;
    EXPECT_TRUE(stub->GetMetrics(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.metricvalues_size(), 1);
    EXPECT_EQ(resp.metricvalues(0).metricname(), "kfaas-default-hello-concurrency");
    EXPECT_EQ(resp.metricvalues(0).metricvalue(),
              static_cast<int64_t>(resp.metricvalues(0).metricvaluefloat()));
    return resp.metricvalues(0).metricvalue();
  };
  EXPECT_FALSE(is_active());
  EXPECT_EQ(metric(), 0);

  act.stats.Set("default", "hello", 7, 3, 10);
  act.server->Notify();
  ASSERT_TRUE(kfaas::testing::WaitFor([&] { return metric() == 10; }));
  EXPECT_TRUE(is_active());

  // Everything done: still active within the idle window (1 s), then not.
  act.stats.Set("default", "hello", 0);
  ASSERT_TRUE(kfaas::testing::WaitFor([&] { return metric() == 0; }));
  EXPECT_TRUE(is_active());
  EXPECT_TRUE(kfaas::testing::WaitFor([&] { return !is_active(); }, seconds(5)));
}

TEST(AutoscalerExternalScalerTest, StreamIsActivePushesAChangeAtOnce) {
  Activator act("a");
  act.functions.Add("default", "hello", 10, /*idle_seconds=*/60);
  act.stats.Set("default", "hello", 0);
  act.Start();
  auto stub = ScalerStub(act.Address());
  grpc::ClientContext ctx;
  Deadline(&ctx, seconds(30));
  auto reader = stub->StreamIsActive(&ctx, Ref("default", "hello"));
  externalscaler::IsActiveResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_FALSE(resp.result());
  // A heartbeat repeats the answer.
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_FALSE(resp.result());

  act.stats.Set("default", "hello", 1, 0, 1);
  const auto start = std::chrono::steady_clock::now();
  act.server->Notify();
  bool got_true = false;
  while (!got_true && reader->Read(&resp)) got_true = resp.result();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(got_true);
  // Pushed on the change, well before the 300 ms heartbeat would have carried it... or at
  // worst with it; never seconds later.
  EXPECT_LT(took, milliseconds(1000));
  ctx.TryCancel();
  while (reader->Read(&resp)) {
  }
  reader->Finish();
}

TEST(AutoscalerExternalScalerTest, StreamMetricSpecSendsAtOnceAndOnChange) {
  Activator act("a");
  act.functions.Add("default", "hello", 10);
  act.Start();
  auto stub = ScalerStub(act.Address());
  grpc::ClientContext ctx;
  Deadline(&ctx, seconds(30));
  auto reader = stub->StreamMetricSpec(&ctx, Ref("default", "hello"));
  externalscaler::GetMetricSpecResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.metricspecs(0).targetsize(), 10);
  act.functions.Add("default", "hello", 25);
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.metricspecs(0).targetsize(), 25);
  ctx.TryCancel();
  while (reader->Read(&resp)) {
  }
  reader->Finish();
}

TEST(AutoscalerExternalScalerTest, AnswersCoverPeersAndSkipUnreachableOnes) {
  BlackHole hung;
  Activator peer("b");
  peer.functions.Add("default", "hello", 10);
  peer.stats.Set("default", "hello", 5, 0, 5);
  peer.Start();

  FakePeers peers;
  Activator act("a", &peers);
  act.functions.Add("default", "hello", 10);
  act.stats.Set("default", "hello", 0);
  act.Start();
  peers.Set({peer.Address(), ClosedAddress(), hung.address()});

  auto stub = ScalerStub(act.Address());
  // Idle here, busy on the peer: active, and the metric is the peer's 5; the refused and the
  // hung peer are left out within the peer deadline (300 ms), not failing the answer.
  auto start = std::chrono::steady_clock::now();
  {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    externalscaler::IsActiveResponse resp;
    ASSERT_TRUE(stub->IsActive(&ctx, Ref("default", "hello"), &resp).ok());
    EXPECT_TRUE(resp.result());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, Scaled(seconds(2)));

  act.stats.Set("default", "hello", 2, 1, 3);
  act.server->Notify();
  ASSERT_TRUE(kfaas::testing::WaitFor(
      [&] { return act.server->hub().Latest()->Find("default", "hello")->busy; }));
  start = std::chrono::steady_clock::now();
  grpc::ClientContext ctx;
  Deadline(&ctx);
  externalscaler::GetMetricsRequest req;
  *req.mutable_scaledobjectref() = Ref("default", "hello");
  externalscaler::GetMetricsResponse resp;
  ASSERT_TRUE(stub->GetMetrics(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.metricvalues(0).metricvalue(), 8);
  EXPECT_LT(std::chrono::steady_clock::now() - start, Scaled(seconds(2)));
  EXPECT_NE(act.registry.Serialize().find("kfaas_activator_peer_query_failures_total"),
            std::string::npos);
}

TEST(AutoscalerStatsServiceTest, WatchStatsReportsAndBurstsEarly) {
  Activator act("act-1");
  act.functions.Add("default", "hello", 10);
  act.stats.Set("default", "hello", 0);
  act.Start();
  auto stub = kfaas::v1::Stats::NewStub(
      grpc::CreateChannel(act.Address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  Deadline(&ctx, seconds(30));
  kfaas::v1::WatchStatsRequest req;
  req.set_subscriber("test");
  req.set_interval_milliseconds(2000);  // long, so an early report must be a burst
  auto reader = stub->WatchStats(&ctx, req);
  kfaas::v1::StatsReport report;
  ASSERT_TRUE(reader->Read(&report));
  EXPECT_EQ(report.activator_id(), "act-1");
  EXPECT_EQ(report.functions_size(), 0);  // idle functions are left out
  const auto start = std::chrono::steady_clock::now();
  act.stats.Set("default", "hello", 12, 3, 15);
  act.server->Notify();
  ASSERT_TRUE(reader->Read(&report));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
  EXPECT_TRUE(report.burst());
  ASSERT_EQ(report.functions_size(), 1);
  EXPECT_EQ(report.functions(0).namespace_(), "default");
  EXPECT_EQ(report.functions(0).name(), "hello");
  EXPECT_EQ(report.functions(0).in_flight(), 12);
  EXPECT_EQ(report.functions(0).queued(), 3);
  EXPECT_EQ(report.functions(0).arrivals(), 15);
  EXPECT_GE(report.functions(0).idle_milliseconds(), 0);
  EXPECT_EQ(report.sequence(), 2u);
  ctx.TryCancel();
  while (reader->Read(&report)) {
  }
  reader->Finish();
}

TEST(AutoscalerStatsServiceTest, GetSnapshotListsKnownFunctions) {
  Activator act("act-1");
  act.stats.Set("default", "a", 1, 0, 1);
  act.stats.Set("default", "b", 0);
  act.Start();
  auto stub = kfaas::v1::Stats::NewStub(
      grpc::CreateChannel(act.Address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  Deadline(&ctx);
  kfaas::v1::GetSnapshotRequest req;
  req.add_functions("default/b");
  kfaas::v1::StatsReport report;
  ASSERT_TRUE(stub->GetSnapshot(&ctx, req, &report).ok());
  ASSERT_EQ(report.functions_size(), 1);
  EXPECT_EQ(report.functions(0).name(), "b");
  EXPECT_EQ(report.functions(0).idle_milliseconds(), -1);
  EXPECT_EQ(report.interval_micros(), 0);
}

TEST(AutoscalerActivatorScalerServerTest, BadAddressFailsClearly) {
  FakeStatsSource stats;
  FakeFunctionInfo functions;
  ActivatorScalerServer server({.stats = &stats, .functions = &functions},
                               {.address = "not-an-address:xyz"});
  absl::Status s = server.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("not-an-address:xyz"), std::string::npos);
}

}  // namespace
}  // namespace kfaas::autoscaler
