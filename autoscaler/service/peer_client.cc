#include "autoscaler/service/peer_client.h"

#include <condition_variable>

#include <grpcpp/grpcpp.h>

#include "common/base/log.h"
#include "common/metrics/metrics.h"
#include "kfaas/v1/stats.grpc.pb.h"

namespace kfaas::autoscaler {

PeerClient::PeerClient(Duration deadline, metrics::Registry* registry) : deadline_(deadline) {
  if (registry) {
    failures_ = &registry->AddCounter(
        "kfaas_activator_peer_query_failures_total",
        "Queries to a peer activator that failed or timed out (the peer was left out).", {"peer"});
  }
}

PeerClient::~PeerClient() = default;

std::shared_ptr<grpc::Channel> PeerClient::ChannelFor(const std::string& address) {
  std::lock_guard<std::mutex> l(mu_);
  auto& ch = channels_[address];
  if (!ch) {
    grpc::ChannelArguments args;
    // Reconnect quickly after a peer restarts: answers are wanted within a fraction of a second.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    ch = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  }
  return ch;
}

void PeerClient::LogFailure(const std::string& address, const std::string& error) {
  if (failures_) failures_->WithLabels({address}).Inc();
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = last_logged_.find(address);
    if (it != last_logged_.end() && now - it->second < std::chrono::seconds(30)) return;
    last_logged_[address] = now;
  }
  KFAAS_LOG(WARNING) << "peer activator " << address
                     << " left out of the answer (it did not answer in time): " << error;
}

PeerAnswers PeerClient::Query(const std::vector<std::string>& addresses,
                              const std::vector<std::string>& functions) {
  struct Call {
    std::string address;
    std::unique_ptr<kfaas::v1::Stats::Stub> stub;  // alive until the call completes
    grpc::ClientContext ctx;
    kfaas::v1::GetSnapshotRequest req;
    kfaas::v1::StatsReport resp;
    grpc::Status status;
    bool done = false;
  };
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    int pending = 0;
  };
  auto shared = std::make_shared<Shared>();
  std::vector<std::shared_ptr<Call>> calls;
  const auto deadline = std::chrono::system_clock::now() + deadline_;
  for (const std::string& address : addresses) {
    if (address.empty()) continue;
    auto call = std::make_shared<Call>();
    call->address = address;
    call->ctx.set_deadline(deadline);
    for (const auto& f : functions) call->req.add_functions(f);
    calls.push_back(call);
  }
  shared->pending = static_cast<int>(calls.size());
  for (auto& call : calls) {
    call->stub = kfaas::v1::Stats::NewStub(ChannelFor(call->address));
    call->stub->async()->GetSnapshot(&call->ctx, &call->req, &call->resp,
                                     [call, shared](grpc::Status s) {
                                       std::lock_guard<std::mutex> l(shared->mu);
                                       call->status = std::move(s);
                                       call->done = true;
                                       if (--shared->pending == 0) shared->cv.notify_all();
                                     });
  }
  {
    // The calls' own deadline ends every one of them; the extra second only guards against a
    // lost callback.
    std::unique_lock<std::mutex> l(shared->mu);
    shared->cv.wait_for(l, deadline_ + std::chrono::seconds(1),
                        [&] { return shared->pending == 0; });
  }
  PeerAnswers out;
  std::lock_guard<std::mutex> l(shared->mu);
  for (auto& call : calls) {
    if (!call->done) {
      call->ctx.TryCancel();
      out.failed.push_back(call->address);
      LogFailure(call->address, "no answer");
    } else if (!call->status.ok()) {
      out.failed.push_back(call->address);
      LogFailure(call->address,
                 std::to_string(call->status.error_code()) + " " + call->status.error_message());
    } else {
      out.reports.push_back(std::move(call->resp));
    }
  }
  return out;
}

}  // namespace kfaas::autoscaler
