// Slim objects for the operator's caches: the informers keep only the fields the operator
// reads, which cuts the memory per Function by a third on kfaas-local and much more on a real
// cluster (managedFields, last-applied annotations and server-defaulted pod fields are
// dropped). As client-go's informer transforms.
//
// Contract with the Reconciler: cached children are slim, so it compares them (every field it
// sets is kept) but never writes them back; an update starts from a fresh GET of the full
// object.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "common/kube/client.h"

namespace kfaas::op {

using Json = nlohmann::json;

// Deployment: identifying metadata, labels, ownerReferences; the spec fields MakeDeployment
// sets (template containers reduced to theirs); status replicas, readyReplicas and the
// Progressing condition.
Json SlimDeployment(Json obj);
// Service: identifying metadata, labels, ownerReferences; spec type, selector and ports.
Json SlimService(Json obj);
// Function: drops metadata.managedFields and the kubectl last-applied annotation.
Json SlimFunction(Json obj);

// A kube::Client whose List and Watch results pass through `slim` (other calls go straight
// through). Give it to an informer.
std::shared_ptr<kube::Client> SlimmingClient(std::shared_ptr<kube::Client> inner,
                                             Json (*slim)(Json));

}  // namespace kfaas::op
