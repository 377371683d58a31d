#include "autoscaler/service/activator_scaler_server.h"

#include <grpcpp/grpcpp.h>

#include "common/base/log.h"

namespace kfaas::autoscaler {

ActivatorScalerServer::ActivatorScalerServer(ActivatorScalerDeps deps, ActivatorScalerOptions opts)
    : deps_(deps), opts_(std::move(opts)) {
  KFAAS_CHECK(deps_.stats && deps_.functions) << "ActivatorScalerServer needs stats and functions";
  Clock& clock = deps_.clock ? *deps_.clock : RealClock::Get();
  hub_ = std::make_unique<StatsHub>(*deps_.stats, clock, opts_.hub);
  peer_client_ = std::make_unique<PeerClient>(opts_.peer_deadline, deps_.registry);
}

ActivatorScalerServer::~ActivatorScalerServer() { Stop(); }

absl::Status ActivatorScalerServer::Start() {
  if (server_) return absl::OkStatus();
  StatsServiceOptions stats_opts = opts_.stats;
  stats_opts.activator_id = opts_.activator_id.empty() ? opts_.address : opts_.activator_id;
  external_scaler_ = std::make_unique<ExternalScalerService>(*hub_, *deps_.functions, deps_.peers,
                                                             peer_client_.get(),
                                                             opts_.external_scaler, deps_.registry);
  stats_service_ = std::make_unique<StatsService>(*hub_, stats_opts, deps_.registry);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(opts_.address, grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(external_scaler_.get());
  builder.RegisterService(stats_service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    server_.reset();
    return absl::UnavailableError("cannot serve gRPC on " + opts_.address +
                                  ": the address is invalid or the port is in use (set another "
                                  "with the activator's --grpc-port flag)");
  }
  hub_->Poll();
  hub_->Start();
  KFAAS_LOG(INFO) << "external scaler and stats gRPC serving on port " << port_;
  return absl::OkStatus();
}

void ActivatorScalerServer::Stop() {
  if (!server_) return;
  hub_->Shutdown();  // ends every stream's wait
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  server_.reset();
  hub_->Stop();
}

}  // namespace kfaas::autoscaler
