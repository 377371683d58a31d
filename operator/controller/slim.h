// Slim objects for the operator's caches: the informers keep only the fields the operator
// reads, which cuts the memory per Function by a third on kfaas-local and much more on a real
// cluster (managedFields, last-applied annotations and server-defaulted pod fields are
// dropped). As client-go's informer transforms.
//
// Contract with the Reconciler: cached children are slim, so it compares them (every field it
// sets is kept) but never writes them back; an update starts from a fresh GET of the full
// object.
//
// The caches also hold the slim objects packed (Pack): the slim object as one CBOR binary
// value beside the few plain fields the informers and the event handlers read. A Function
// with its Deployment and Service takes about 7 KiB instead of 26 KiB as Json trees; readers
// call Unpack (the controller's Cache does).
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

// The packed form of `obj`: {apiVersion, kind, metadata: {name, namespace, uid,
// resourceVersion}, spec: {hosts} (when obj has spec.hosts), "kfaas.dev/packed": CBOR of obj}.
Json Pack(Json obj);
// The object Pack was given (a copy of `obj` itself when it is not packed).
Json Unpack(const Json& obj);
bool IsPacked(const Json& obj);

// What the operator's informers store: Pack(SlimX(obj)); children also keep
// "kfaas.dev/controller": ControllerFunctionKey (the event handlers' only read).
Json CacheFunction(Json obj);
Json CacheDeployment(Json obj);
Json CacheService(Json obj);
// ControllerFunctionKey of a cached child, packed or not, without unpacking it.
std::string PackedControllerKey(const Json& obj);

// A kube::Client whose List and Watch results pass through `slim` (other calls go straight
// through). Give it to an informer.
std::shared_ptr<kube::Client> SlimmingClient(std::shared_ptr<kube::Client> inner,
                                             Json (*slim)(Json));

}  // namespace kfaas::op
