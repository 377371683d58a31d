#include "autoscaler/service/external_scaler_service.h"

#include <algorithm>
#include <cmath>

#include "common/base/log.h"
#include "common/metrics/metrics.h"

namespace kfaas::autoscaler {
namespace {

// How often a waiting stream wakes to notice a cancelled client or a shutdown.
constexpr auto kCancelCheck = std::chrono::milliseconds(200);

const std::string* MetadataValue(const externalscaler::ScaledObjectRef& ref, const char* key) {
  auto it = ref.scalermetadata().find(key);
  if (it == ref.scalermetadata().end() || it->second.empty()) return nullptr;
  return &it->second;
}

}  // namespace

ExternalScalerService::ExternalScalerService(StatsHub& hub, FunctionInfo& functions,
                                             PeerSource* peers, PeerClient* peer_client,
                                             ExternalScalerOptions opts,
                                             metrics::Registry* registry)
    : hub_(hub),
      functions_(functions),
      peers_(peers),
      peer_client_(peer_client),
      opts_(opts),
      registry_(registry) {
  if (registry_) {
    registry_->AddCounter("kfaas_activator_external_scaler_requests_total",
                          "KEDA external scaler calls answered, by method.", {"method"});
    streams_ = &registry_
                    ->AddGauge("kfaas_activator_external_scaler_streams",
                               "Open KEDA StreamIsActive / StreamMetricSpec streams.")
                    .WithLabels({});
  }
}

void ExternalScalerService::Count(const char* method) {
  if (registry_) {
    registry_->AddCounter("kfaas_activator_external_scaler_requests_total", "", {"method"})
        .WithLabels({method})
        .Inc();
  }
}

std::pair<std::string, std::string> ExternalScalerService::FunctionOf(
    const externalscaler::ScaledObjectRef& ref) {
  const std::string* ns = MetadataValue(ref, "namespace");
  const std::string* name = MetadataValue(ref, "function");
  return {ns ? *ns : ref.namespace_(), name ? *name : ref.name()};
}

grpc::Status ExternalScalerService::Resolve(const externalscaler::ScaledObjectRef& ref,
                                            Target* out) {
  auto [ns, name] = FunctionOf(ref);
  if (name.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "no function named: set the trigger's metadata \"function\" (and "
                        "\"namespace\") or name the ScaledObject after the Function");
  }
  if (ns.empty()) ns = "default";
  std::optional<FunctionScale> scale = functions_.Lookup(ns, name);
  if (!scale) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "function " + ns + "/" + name +
                            " is not known to this activator: check that the Function exists and "
                            "that the trigger's metadata \"namespace\" and \"function\" name it");
  }
  out->ns = std::move(ns);
  out->name = std::move(name);
  out->scale = std::move(*scale);
  return grpc::Status::OK;
}

bool ExternalScalerService::LocallyActive(const HubSnapshot& snap, const Target& t) const {
  const FunctionActivity* a = snap.Find(t.ns, t.name);
  if (!a) return false;
  if (a->busy) return true;
  return a->last_arrival &&
         hub_.clock().Now() - *a->last_arrival < std::chrono::seconds(t.scale.idle_window_seconds);
}

std::vector<std::string> ExternalScalerService::PeerAddresses() {
  if (!peers_ || !peer_client_) return {};
  return peers_->Peers();
}

bool ExternalScalerService::PeersActive(const Target& t, int64_t* concurrency) {
  if (concurrency) *concurrency = 0;
  std::vector<std::string> addresses = PeerAddresses();
  if (addresses.empty()) return false;
  PeerAnswers answers = peer_client_->Query(addresses, {t.ns + "/" + t.name});
  bool active = false;
  const int64_t idle_ms = int64_t{t.scale.idle_window_seconds} * 1000;
  for (const auto& report : answers.reports) {
    for (const auto& f : report.functions()) {
      if (f.namespace_() != t.ns || f.name() != t.name) continue;
      const int64_t c = std::max<int64_t>(0, f.in_flight()) + std::max<int64_t>(0, f.queued());
      if (concurrency) *concurrency += c;
      if (c > 0 || (f.idle_milliseconds() >= 0 && f.idle_milliseconds() < idle_ms)) active = true;
    }
  }
  return active;
}

grpc::Status ExternalScalerService::IsActive(grpc::ServerContext*,
                                             const externalscaler::ScaledObjectRef* ref,
                                             externalscaler::IsActiveResponse* out) {
  Count("IsActive");
  Target t;
  if (grpc::Status s = Resolve(*ref, &t); !s.ok()) return s;
  bool active = LocallyActive(*hub_.Latest(), t);
  if (!active) active = PeersActive(t, nullptr);
  out->set_result(active);
  return grpc::Status::OK;
}

grpc::Status ExternalScalerService::StreamIsActive(
    grpc::ServerContext* ctx, const externalscaler::ScaledObjectRef* ref,
    grpc::ServerWriter<externalscaler::IsActiveResponse>* out) {
  Count("StreamIsActive");
  Target t;
  if (grpc::Status s = Resolve(*ref, &t); !s.ok()) return s;
  if (streams_) streams_->Inc();
  Clock& clock = hub_.clock();
  std::optional<bool> sent;
  SteadyTime next_heartbeat = clock.Now();
  SteadyTime next_peer_check = clock.Now();
  bool peers_active = false;
  std::shared_ptr<const HubSnapshot> snap = hub_.Latest();
  while (!ctx->IsCancelled() && !hub_.shut_down()) {
    const SteadyTime now = clock.Now();
    // Settings may change (idle window); a deleted function reads as inactive.
    if (std::optional<FunctionScale> s = functions_.Lookup(t.ns, t.name)) t.scale = *s;
    bool active = LocallyActive(*snap, t);
    if (active) {
      peers_active = false;
    } else if (now >= next_peer_check) {
      peers_active = PeersActive(t, nullptr);
      next_peer_check = clock.Now() + opts_.heartbeat;
    }
    active = active || peers_active;
    if (!sent || *sent != active || now >= next_heartbeat) {
      externalscaler::IsActiveResponse resp;
      resp.set_result(active);
      if (!out->Write(resp)) break;
      sent = active;
      next_heartbeat = now + opts_.heartbeat;
    }
    // Wake for a change in activity, the heartbeat, the end of the idle window, or to notice
    // a cancelled stream.
    SteadyTime deadline = std::min(next_heartbeat, now + kCancelCheck);
    if (const FunctionActivity* a = snap->Find(t.ns, t.name); a && !a->busy && a->last_arrival) {
      const SteadyTime idle_end =
          *a->last_arrival + std::chrono::seconds(t.scale.idle_window_seconds);
      if (idle_end > now) deadline = std::min(deadline, idle_end);
    }
    snap = hub_.WaitForChange(snap->version, deadline);
  }
  if (streams_) streams_->Dec();
  return grpc::Status::OK;
}

namespace {

void FillSpec(const std::string& ns, const std::string& name, const FunctionScale& scale,
              externalscaler::GetMetricSpecResponse* out) {
  auto* spec = out->add_metricspecs();
  spec->set_metricname(ConcurrencyMetricName(ns, name));
  spec->set_targetsize(scale.bounds.target);
  spec->set_targetsizefloat(scale.bounds.target);
}

}  // namespace

grpc::Status ExternalScalerService::GetMetricSpec(grpc::ServerContext*,
                                                  const externalscaler::ScaledObjectRef* ref,
                                                  externalscaler::GetMetricSpecResponse* out) {
  Count("GetMetricSpec");
  Target t;
  if (grpc::Status s = Resolve(*ref, &t); !s.ok()) return s;
  FillSpec(t.ns, t.name, t.scale, out);
  return grpc::Status::OK;
}

grpc::Status ExternalScalerService::StreamMetricSpec(
    grpc::ServerContext* ctx, const externalscaler::ScaledObjectRef* ref,
    grpc::ServerWriter<externalscaler::GetMetricSpecResponse>* out) {
  Count("StreamMetricSpec");
  Target t;
  if (grpc::Status s = Resolve(*ref, &t); !s.ok()) return s;
  if (streams_) streams_->Inc();
  Clock& clock = hub_.clock();
  std::optional<int> sent_target;
  SteadyTime next_check = clock.Now();
  std::shared_ptr<const HubSnapshot> snap = hub_.Latest();
  while (!ctx->IsCancelled() && !hub_.shut_down()) {
    const SteadyTime now = clock.Now();
    if (now >= next_check) {
      if (std::optional<FunctionScale> s = functions_.Lookup(t.ns, t.name)) t.scale = *s;
      if (!sent_target || *sent_target != t.scale.bounds.target) {
        externalscaler::GetMetricSpecResponse resp;
        FillSpec(t.ns, t.name, t.scale, &resp);
        if (!out->Write(resp)) break;
        sent_target = t.scale.bounds.target;
      }
      next_check = now + opts_.heartbeat;
    }
    snap = hub_.WaitForChange(snap->version, std::min(next_check, now + kCancelCheck));
  }
  if (streams_) streams_->Dec();
  return grpc::Status::OK;
}

grpc::Status ExternalScalerService::GetMetrics(grpc::ServerContext*,
                                               const externalscaler::GetMetricsRequest* req,
                                               externalscaler::GetMetricsResponse* out) {
  Count("GetMetrics");
  Target t;
  if (grpc::Status s = Resolve(req->scaledobjectref(), &t); !s.ok()) return s;
  int64_t total = 0;
  if (const FunctionActivity* a = hub_.Latest()->Find(t.ns, t.name)) {
    total += std::max<int64_t>(0, a->Concurrency());
  }
  int64_t peers = 0;
  PeersActive(t, &peers);
  total += peers;
  auto* v = out->add_metricvalues();
  // KEDA asks by the name GetMetricSpec gave (without its "sN-" prefix); answer under the name
  // asked for, as KEDA files the value under its own name anyway.
  v->set_metricname(req->metricname().empty() ? ConcurrencyMetricName(t.ns, t.name)
                                              : req->metricname());
  v->set_metricvalue(total);
  v->set_metricvaluefloat(static_cast<double>(total));
  return grpc::Status::OK;
}

}  // namespace kfaas::autoscaler
