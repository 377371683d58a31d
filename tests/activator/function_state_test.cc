#include "activator/core/function_state.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/activator/fakes.h"

namespace kfaas::activator {
namespace {

using namespace std::chrono_literals;
using testing::FakeProber;
using testing::FakeReporter;
using testing::FakeScaler;

class FunctionStateTest : public ::testing::Test {
 protected:
  FunctionStateTest() : am_(registry_) {
    deps_.clock = &clock_;
    deps_.scaler = &scaler_;
    deps_.reporter = &reporter_;
    deps_.prober = &prober_;
    deps_.metrics = &am_;
    deps_.global = &global_;
    deps_.options.max_concurrency = 1000;
    deps_.options.max_buffered_per_function = 100;
    deps_.options.max_buffered_total = 1000;
    deps_.options.cold_start_timeout = 60s;
    fs_ = std::make_shared<FunctionState>("default", "hello", &deps_);
  }

  void SetSpec(int concurrency = 0, int min = 0, int idle = 60) {
    FunctionSpec s;
    s.ns = "default";
    s.name = "hello";
    s.concurrency = concurrency;
    s.scale_min = min;
    s.idle_window_seconds = idle;
    fs_->SetSpec(s);
  }
  void Slice(const std::string& name, std::vector<EndpointInfo> eps) {
    fs_->SetSliceEndpoints(name, eps);
  }
  // A waiter whose wake counts.
  std::shared_ptr<Waiter> NewWaiter() {
    auto w = std::make_shared<Waiter>();
    w->arrival = clock_.Now();
    w->wake = [this] { ++wakes_; };
    return w;
  }

  FakeClock clock_;
  FakeScaler scaler_;
  FakeReporter reporter_;
  FakeProber prober_;
  metrics::Registry registry_;
  ActivatorMetrics am_;
  GlobalCounters global_;
  CoreDeps deps_;
  std::shared_ptr<FunctionState> fs_;
  std::atomic<int> wakes_{0};
};

TEST_F(FunctionStateTest, WarmInstanceIsGrantedAtOnce) {
  SetSpec();
  Slice("s1", {{"127.0.0.1", 8080, true, false}});
  Lease lease;
  ASSERT_EQ(fs_->TryAdmit(clock_.Now(), &lease), AdmitResult::kGranted);
  EXPECT_EQ(lease.instance->key, "127.0.0.1:8080");
  EXPECT_EQ(lease.instance->in_flight.load(), 1);
  EXPECT_EQ(global_.in_flight.load(), 1);
  EXPECT_EQ(fs_->Stats().in_flight, 1);
  fs_->Release(lease, true);
  EXPECT_EQ(lease.instance->in_flight.load(), 0);
  EXPECT_EQ(global_.in_flight.load(), 0);
  EXPECT_EQ(fs_->Stats().completions, 1);
  EXPECT_TRUE(scaler_.Writes().empty());
}

TEST_F(FunctionStateTest, ConcurrencyLimitQueuesAndReleaseDispatches) {
  SetSpec(/*concurrency=*/1);
  Slice("s1", {{"10.0.0.1", 80, true, false}, {"10.0.0.2", 80, true, false}});
  Lease a, b, c;
  ASSERT_EQ(fs_->TryAdmit(clock_.Now(), &a), AdmitResult::kGranted);
  ASSERT_EQ(fs_->TryAdmit(clock_.Now(), &b), AdmitResult::kGranted);
  EXPECT_NE(a.instance, b.instance) << "the free instance is chosen, never the full one";
  ASSERT_EQ(fs_->TryAdmit(clock_.Now(), &c), AdmitResult::kMustWait);
  auto w = NewWaiter();
  ASSERT_EQ(fs_->Enqueue(w), AdmitResult::kQueued);
  EXPECT_FALSE(w->cold);
  EXPECT_EQ(fs_->Stats().queued, 1);
  EXPECT_EQ(wakes_.load(), 0);
  // A new arrival may not jump the queue even when a slot frees between.
  fs_->Release(a, true);
  EXPECT_EQ(wakes_.load(), 1);
  clock_.Advance(5ms);
  ASSERT_EQ(fs_->FinishWait(w, clock_.Now(), &c), WaitResult::kGranted);
  EXPECT_EQ(c.instance, a.instance);
  EXPECT_EQ(c.waited, 5ms);
  EXPECT_EQ(fs_->Stats().queued, 0);
  fs_->Release(b, true);
  fs_->Release(c, true);
  EXPECT_EQ(global_.in_flight.load(), 0);
}

TEST_F(FunctionStateTest, QueueBoundAnswersBufferFull) {
  SetSpec(1);
  deps_.options.max_buffered_per_function = 3;
  Slice("s1", {{"10.0.0.1", 80, true, false}});
  Lease a;
  ASSERT_EQ(fs_->TryAdmit(clock_.Now(), &a), AdmitResult::kGranted);
  std::vector<std::shared_ptr<Waiter>> ws;
  for (int i = 0; i < 3; ++i) {
    ws.push_back(NewWaiter());
    ASSERT_EQ(fs_->Enqueue(ws.back()), AdmitResult::kQueued);
  }
  EXPECT_EQ(fs_->Enqueue(NewWaiter()), AdmitResult::kBufferFull);
  EXPECT_EQ(global_.buffered.load(), 3);
  // Timed-out waiters leave the queue and free their buffer slot.
  Lease none;
  EXPECT_EQ(fs_->FinishWait(ws[2], clock_.Now(), &none), WaitResult::kTimedOut);
  EXPECT_EQ(global_.buffered.load(), 2);
  EXPECT_EQ(fs_->Enqueue(NewWaiter()), AdmitResult::kQueued);
  EXPECT_EQ(am_.buffer_rejected.WithLabels({"default", "hello"}).Value(), 1);
}

TEST_F(FunctionStateTest, OverallBufferBound) {
  SetSpec();
  deps_.options.max_buffered_total = 2;
  global_.buffered = 2;  // other functions hold the overall buffer
  EXPECT_EQ(fs_->Enqueue(NewWaiter()), AdmitResult::kBufferFull);
  global_.buffered = 0;
}

TEST_F(FunctionStateTest, ClusterConcurrencyLimitThrottles) {
  SetSpec();
  deps_.options.max_concurrency = 2;
  Slice("s1", {{"10.0.0.1", 80, true, false}});
  Lease a, b, c;
  ASSERT_EQ(fs_->TryAdmit(clock_.Now(), &a), AdmitResult::kGranted);
  ASSERT_EQ(fs_->TryAdmit(clock_.Now(), &b), AdmitResult::kGranted);
  EXPECT_EQ(fs_->TryAdmit(clock_.Now(), &c), AdmitResult::kThrottled);
  fs_->Release(a, true);
  EXPECT_EQ(fs_->TryAdmit(clock_.Now(), &c), AdmitResult::kGranted);
  fs_->Release(b, true);
  fs_->Release(c, true);
  EXPECT_EQ(am_.throttled.WithLabels({"default", "hello"}).Value(), 1);
}

TEST_F(FunctionStateTest, BurstAtZeroWritesScaleExactlyOnce) {
  SetSpec(0, /*min=*/0);
  scaler_.manual_ack = true;
  std::vector<std::shared_ptr<Waiter>> ws;
  std::vector<std::thread> threads;
  std::mutex mu;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        Lease l;
        ASSERT_EQ(fs_->TryAdmit(clock_.Now(), &l), AdmitResult::kMustWait);
        auto w = NewWaiter();
        ASSERT_EQ(fs_->Enqueue(w), AdmitResult::kQueued);
        std::lock_guard<std::mutex> g(mu);
        ws.push_back(w);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(scaler_.Writes().size(), 1u);
  EXPECT_EQ(scaler_.Writes()[0].replicas, 1);
  EXPECT_TRUE(fs_->Stats().activating);
  for (auto& w : ws) EXPECT_TRUE(w->cold);
  clock_.Advance(10ms);
  scaler_.Ack();
  clock_.Advance(20ms);
  Slice("pod-1", {{"10.0.0.9", 8080, false, false}});  // appeared, not ready
  ASSERT_EQ(prober_.probes.size(), 1u) << "a not-ready instance is probed directly";
  EXPECT_EQ(wakes_.load(), 0);
  clock_.Advance(30ms);
  fs_->OnProbeResult(prober_.probes[0].second, true);  // answered before the slice says so
  EXPECT_EQ(wakes_.load(), 100);
  EXPECT_FALSE(fs_->Stats().activating);
  clock_.Advance(1ms);
  std::vector<Lease> leases(ws.size());
  for (size_t i = 0; i < ws.size(); ++i) {
    ASSERT_EQ(fs_->FinishWait(ws[i], clock_.Now(), &leases[i]), WaitResult::kGranted);
    EXPECT_TRUE(leases[i].cold);
    EXPECT_EQ(leases[i].waited, 61ms);
  }
  fs_->OnFirstByteForwarded(clock_.Now());
  fs_->OnFirstByteForwarded(clock_.Now());  // only the first counts
  auto recs = reporter_.Records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].total, 61ms);
  EXPECT_EQ(recs[0].scale_acknowledged, 10ms);
  EXPECT_EQ(recs[0].instance_appeared, 30ms);
  EXPECT_EQ(recs[0].instance_ready, 60ms);
  EXPECT_EQ(am_.cold_starts.WithLabels({"default", "hello"}).Value(), 1);
  EXPECT_EQ(scaler_.Writes().size(), 1u);
  for (auto& l : leases) fs_->Release(l, true);
}

TEST_F(FunctionStateTest, PodAddressIsProbedBeforeItsSliceAndSlicesWin) {
  SetSpec();
  scaler_.manual_ack = true;
  auto w = NewWaiter();
  ASSERT_EQ(fs_->Enqueue(w), AdmitResult::kQueued);
  clock_.Advance(5ms);
  scaler_.Ack();
  clock_.Advance(2ms);
  // The pod exists (its port known): an instance to probe, never ready on its own.
  fs_->SetPodEndpoint("pod-1", EndpointInfo{"127.0.0.1", 20001, true, false});
  EXPECT_EQ(fs_->Stats().instances, 1);
  EXPECT_EQ(fs_->Stats().ready_instances, 0) << "a pod says where, not whether it is ready";
  ASSERT_EQ(prober_.probes.size(), 1u);
  EXPECT_EQ(prober_.probes[0].second->key, "127.0.0.1:20001");
  fs_->SetPodEndpoint("pod-1", EndpointInfo{"127.0.0.1", 20001, false, false});  // same: no-op
  EXPECT_EQ(prober_.probes.size(), 1u);
  clock_.Advance(3ms);
  fs_->OnProbeResult(prober_.probes[0].second, true);
  EXPECT_EQ(wakes_.load(), 1);
  Lease l;
  ASSERT_EQ(fs_->FinishWait(w, clock_.Now(), &l), WaitResult::kGranted);
  // Forwarded before this cold start began: an earlier cold start's, relayed late. Ignored.
  fs_->OnFirstByteForwarded(clock_.Now() - 20ms);
  EXPECT_TRUE(reporter_.Records().empty());
  fs_->OnFirstByteForwarded(clock_.Now());
  auto recs = reporter_.Records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].instance_appeared, 7ms) << "appeared with its pod, not its slice";
  EXPECT_EQ(recs[0].instance_ready, 10ms);
  // Its slice arrives, not ready yet: the same instance, still usable (it answered).
  Slice("s-pod-1", {{"127.0.0.1", 20001, false, false}});
  EXPECT_EQ(fs_->Stats().instances, 1);
  EXPECT_EQ(fs_->Stats().ready_instances, 1);
  // The slice now decides: terminating there is terminating, whatever the pod said.
  Slice("s-pod-1", {{"127.0.0.1", 20001, false, true}});
  EXPECT_EQ(fs_->Stats().ready_instances, 0);
  fs_->Release(l, true);
  // The pod went (terminating or deleted) and so did its slice: no instance left.
  fs_->SetPodEndpoint("pod-1", std::nullopt);
  EXPECT_EQ(fs_->Stats().instances, 1) << "the slice still lists it";
  fs_->RemoveSlice("s-pod-1");
  EXPECT_EQ(fs_->Stats().instances, 0);
  EXPECT_FALSE(fs_->HasEndpointSources());
}

// What this process writes to stderr (where log lines go) while it lives.
class StderrCapture {
 public:
  StderrCapture() {
    char path[] = "/tmp/kfaas-stderr-XXXXXX";
    fd_ = mkstemp(path);
    unlink(path);
    saved_ = dup(STDERR_FILENO);
    dup2(fd_, STDERR_FILENO);
  }
  ~StderrCapture() {
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    close(fd_);
  }
  std::string Text() const {
    std::string out;
    char buf[4096];
    for (off_t off = 0;;) {
      ssize_t n = pread(fd_, buf, sizeof buf, off);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
      off += n;
    }
    return out;
  }

 private:
  int fd_ = -1, saved_ = -1;
};

// The "activated" line of a cold start is written with the cold start's own line, after the
// first byte was forwarded (a log write wakes the log's reader, which would compete with
// forwarding it), and is not lost when the cold start ends without one.
TEST_F(FunctionStateTest, ActivatedLineWaitsForTheColdStartsFirstByte) {
  SetSpec();
  {
    StderrCapture err;
    auto w = NewWaiter();
    ASSERT_EQ(fs_->Enqueue(w), AdmitResult::kQueued);
    fs_->SetPodEndpoint("pod-1", EndpointInfo{"127.0.0.1", 20001, true, false});
    ASSERT_EQ(prober_.probes.size(), 1u);
    clock_.Advance(3ms);
    fs_->OnProbeResult(prober_.probes[0].second, true);
    EXPECT_EQ(wakes_.load(), 1);
    EXPECT_EQ(err.Text().find("activated"), std::string::npos) << err.Text();
    Lease l;
    ASSERT_EQ(fs_->FinishWait(w, clock_.Now(), &l), WaitResult::kGranted);
    fs_->OnFirstByteForwarded(clock_.Now());
    std::string text = err.Text();
    size_t activated = text.find("default/hello activated: 1 instance(s) ready after 3 ms");
    ASSERT_NE(activated, std::string::npos) << text;
    EXPECT_LT(activated, text.find("cold start of default/hello")) << text;
    fs_->Release(l, true);
  }
  // A cold start whose instance became ready but whose waiter went away: the spec is removed
  // before any first byte, and the line is written then.
  fs_->SetPodEndpoint("pod-1", std::nullopt);
  clock_.Advance(1s);
  StderrCapture err;
  auto w = NewWaiter();
  ASSERT_EQ(fs_->Enqueue(w), AdmitResult::kQueued);
  fs_->SetPodEndpoint("pod-2", EndpointInfo{"127.0.0.1", 20002, true, false});
  ASSERT_EQ(prober_.probes.size(), 2u);
  fs_->OnProbeResult(prober_.probes[1].second, true);
  EXPECT_EQ(err.Text().find("activated"), std::string::npos) << err.Text();
  Lease l;
  ASSERT_EQ(fs_->FinishWait(w, clock_.Now(), &l), WaitResult::kGranted);
  fs_->Release(l, false);
  fs_->ClearSpec();
  EXPECT_NE(err.Text().find("default/hello activated"), std::string::npos) << err.Text();
}

TEST_F(FunctionStateTest, ReplicasAlreadyStartingNeedNoWrite) {
  SetSpec();
  scaler_.SetReplicas("default/hello", 2);  // e.g. the autoscaler moved it already
  auto w = NewWaiter();
  ASSERT_EQ(fs_->Enqueue(w), AdmitResult::kQueued);
  EXPECT_TRUE(scaler_.Writes().empty()) << "never write 1 over a larger replica count";
  Slice("s", {{"10.0.0.1", 80, true, false}});
  EXPECT_EQ(wakes_.load(), 1);
  Lease l;
  ASSERT_EQ(fs_->FinishWait(w, clock_.Now(), &l), WaitResult::kGranted);
  fs_->Release(l, true);
}

TEST_F(FunctionStateTest, FailedScaleWriteIsRetriedOnTick) {
  SetSpec();
  scaler_.next_status = absl::UnavailableError("api down");
  auto w = NewWaiter();
  ASSERT_EQ(fs_->Enqueue(w), AdmitResult::kQueued);
  ASSERT_EQ(scaler_.Writes().size(), 1u);
  scaler_.next_status = absl::OkStatus();
  clock_.Advance(1s);
  fs_->Tick(clock_.Now());
  EXPECT_EQ(scaler_.Writes().size(), 2u);
  fs_->Tick(clock_.Now());
  EXPECT_EQ(scaler_.Writes().size(), 2u);
  Lease l;
  fs_->FinishWait(w, clock_.Now(), &l);
}

TEST_F(FunctionStateTest, ColdStartTimeoutLetsTheNextRequestRetry) {
  SetSpec();
  auto w = NewWaiter();
  ASSERT_EQ(fs_->Enqueue(w), AdmitResult::kQueued);
  clock_.Advance(61s);
  Lease l;
  EXPECT_EQ(fs_->FinishWait(w, clock_.Now(), &l), WaitResult::kTimedOut);
  fs_->Tick(clock_.Now());
  EXPECT_FALSE(fs_->Stats().activating);
  scaler_.SetReplicas("default/hello", 0);
  auto w2 = NewWaiter();
  ASSERT_EQ(fs_->Enqueue(w2), AdmitResult::kQueued);
  EXPECT_EQ(scaler_.Writes().size(), 2u);
  fs_->FinishWait(w2, clock_.Now(), &l);
}

TEST_F(FunctionStateTest, IdleScaleToZeroOnTheClock) {
  SetSpec(0, 0, /*idle=*/60);
  scaler_.SetReplicas("default/hello", 1);
  Slice("s", {{"10.0.0.1", 80, true, false}});
  Lease l;
  ASSERT_EQ(fs_->TryAdmit(clock_.Now(), &l), AdmitResult::kGranted);
  clock_.Advance(120s);
  fs_->Tick(clock_.Now());
  EXPECT_TRUE(scaler_.Writes().empty()) << "never with a request in flight";
  fs_->Release(l, true);  // completion counts as activity
  clock_.Advance(59s);
  fs_->Tick(clock_.Now());
  EXPECT_TRUE(scaler_.Writes().empty());
  // Short requests keep it warm: arrivals count, not only in-flight.
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(30s);
    ASSERT_EQ(fs_->TryAdmit(clock_.Now(), &l), AdmitResult::kGranted);
    fs_->Release(l, true);
    fs_->Tick(clock_.Now());
  }
  EXPECT_TRUE(scaler_.Writes().empty());
  clock_.Advance(60s);
  fs_->Tick(clock_.Now());
  ASSERT_EQ(scaler_.Writes().size(), 1u);
  EXPECT_EQ(scaler_.Writes()[0].replicas, 0);
  fs_->Tick(clock_.Now());
  EXPECT_EQ(scaler_.Writes().size(), 1u) << "once at zero, nothing more";
  // The instance still answers while it goes away: a request is served and scales back up.
  ASSERT_EQ(fs_->TryAdmit(clock_.Now(), &l), AdmitResult::kGranted);
  ASSERT_EQ(scaler_.Writes().size(), 2u);
  EXPECT_EQ(scaler_.Writes()[1].replicas, 1);
  fs_->Release(l, true);
}

TEST_F(FunctionStateTest, IdleNeverWithQueuedRequests) {
  SetSpec(1, 0, 1);
  scaler_.SetReplicas("default/hello", 1);
  Slice("s", {{"10.0.0.1", 80, true, false}});
  Lease l;
  ASSERT_EQ(fs_->TryAdmit(clock_.Now(), &l), AdmitResult::kGranted);
  auto w = NewWaiter();
  ASSERT_EQ(fs_->Enqueue(w), AdmitResult::kQueued);
  clock_.Advance(10s);
  fs_->Tick(clock_.Now());
  EXPECT_TRUE(scaler_.Writes().empty());
  fs_->Release(l, true);
  Lease l2;
  ASSERT_EQ(fs_->FinishWait(w, clock_.Now(), &l2), WaitResult::kGranted);
  fs_->Release(l2, true);
}

TEST_F(FunctionStateTest, MinScaleKeepsProvisionedInstances) {
  SetSpec(0, /*min=*/2, 1);
  scaler_.SetReplicas("default/hello", 2);
  clock_.Advance(10s);
  fs_->Tick(clock_.Now());
  EXPECT_TRUE(scaler_.Writes().empty());
  scaler_.SetReplicas("default/hello", 5);
  fs_->Tick(clock_.Now());
  ASSERT_EQ(scaler_.Writes().size(), 1u);
  EXPECT_EQ(scaler_.Writes()[0].replicas, 2);
}

TEST_F(FunctionStateTest, RefusedInstanceIsSkippedUntilProbed) {
  SetSpec();
  Slice("s", {{"10.0.0.1", 80, true, false}, {"10.0.0.2", 80, true, false}});
  Lease l;
  ASSERT_EQ(fs_->TryAdmit(clock_.Now(), &l), AdmitResult::kGranted);
  auto bad = l.instance;
  fs_->OnForwardFailed(bad);
  fs_->Release(l, false);
  EXPECT_EQ(fs_->Stats().ready_instances, 1);
  ASSERT_EQ(prober_.probes.size(), 1u);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(fs_->TryAdmit(clock_.Now(), &l, false), AdmitResult::kGranted);
    EXPECT_NE(l.instance, bad);
    fs_->Release(l, true);
  }
  EXPECT_TRUE(fs_->ContinueProbing(*bad));
  fs_->OnProbeResult(bad, true);
  EXPECT_FALSE(fs_->ContinueProbing(*bad));
  EXPECT_EQ(fs_->Stats().ready_instances, 2);
}

TEST_F(FunctionStateTest, SlicesPerPodAndManyPodsPerSlice) {
  SetSpec();
  Slice("pod-a", {{"10.0.0.1", 8001, false, false}});
  Slice("pod-b", {{"10.0.0.1", 8002, true, false}});
  Slice("big", {{"10.0.0.3", 80, true, false}, {"10.0.0.4", 80, false, true}});
  auto st = fs_->Stats();
  EXPECT_EQ(st.instances, 4);
  EXPECT_EQ(st.ready_instances, 2);
  EXPECT_EQ(prober_.probes.size(), 1u) << "terminating endpoints are not probed";
  Slice("pod-a", {{"10.0.0.1", 8001, true, false}});
  EXPECT_EQ(fs_->Stats().ready_instances, 3);
  fs_->RemoveSlice("big");
  EXPECT_EQ(fs_->Stats().instances, 2);
  // A ready instance that goes not-ready is no longer used.
  Slice("pod-b", {{"10.0.0.1", 8002, false, false}});
  EXPECT_EQ(fs_->Stats().ready_instances, 1);
}

TEST_F(FunctionStateTest, DeletedFunctionReleasesWaiters) {
  SetSpec();
  auto w = NewWaiter();
  ASSERT_EQ(fs_->Enqueue(w), AdmitResult::kQueued);
  fs_->ClearSpec();
  EXPECT_EQ(wakes_.load(), 1);
  Lease l;
  EXPECT_EQ(fs_->FinishWait(w, clock_.Now(), &l), WaitResult::kGone);
  EXPECT_EQ(global_.buffered.load(), 0);
}

TEST_F(FunctionStateTest, ShutdownAnswersEveryWaiterAndKeepsTheSpec) {
  SetSpec();
  auto w1 = NewWaiter();
  auto w2 = NewWaiter();
  ASSERT_EQ(fs_->Enqueue(w1), AdmitResult::kQueued);
  ASSERT_EQ(fs_->Enqueue(w2), AdmitResult::kQueued);
  EXPECT_EQ(fs_->CancelWaitersForShutdown(), 2u);
  EXPECT_EQ(wakes_.load(), 2);
  Lease l;
  EXPECT_EQ(fs_->FinishWait(w1, clock_.Now(), &l), WaitResult::kShuttingDown);
  EXPECT_EQ(fs_->FinishWait(w2, clock_.Now(), &l), WaitResult::kShuttingDown);
  EXPECT_EQ(global_.buffered.load(), 0);
  EXPECT_EQ(fs_->Stats().queued, 0);
  EXPECT_TRUE(fs_->HasSpec());
}

// Regression (8c0a6bf): the per-thread UpstreamPool keys idle keep-alive connections by instance
// id across all functions, so two functions' first instances must not share an id (function B's
// requests went over function A's connections).
TEST_F(FunctionStateTest, InstanceIdsAreUniqueAcrossFunctions) {
  SetSpec();
  Slice("s1", {{"127.0.0.1", 8080, true, false}});
  auto other = std::make_shared<FunctionState>("default", "other", &deps_);
  FunctionSpec s;
  s.ns = "default";
  s.name = "other";
  other->SetSpec(s);
  other->SetSliceEndpoints("s2", {{"127.0.0.1", 8081, true, false}});
  Lease a, b;
  ASSERT_EQ(fs_->TryAdmit(clock_.Now(), &a), AdmitResult::kGranted);
  ASSERT_EQ(other->TryAdmit(clock_.Now(), &b), AdmitResult::kGranted);
  EXPECT_NE(a.instance->id, b.instance->id) << "hello's and other's first instances share an id";
  // A re-created function (same name) gets fresh ids as well.
  auto again = std::make_shared<FunctionState>("default", "hello", &deps_);
  again->SetSpec(s);
  again->SetSliceEndpoints("s3", {{"127.0.0.1", 8082, true, false}});
  Lease c;
  ASSERT_EQ(again->TryAdmit(clock_.Now(), &c), AdmitResult::kGranted);
  EXPECT_NE(c.instance->id, a.instance->id);
  EXPECT_NE(c.instance->id, b.instance->id);
  fs_->Release(a, true);
  other->Release(b, true);
  again->Release(c, true);
}

}  // namespace
}  // namespace kfaas::activator
