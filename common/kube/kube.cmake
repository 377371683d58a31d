# The Kubernetes client: config, REST, informer, work queue, leader election, events.
# Included by common/CMakeLists.txt; paths are relative to common/.
kfaas_library(NAME kube
  SRCS kube/auth.cc kube/beast_transport.cc kube/config.cc kube/cpprest_transport.cc kube/informer.cc kube/rest_client.cc
       kube/event_recorder.cc kube/leader_election.cc kube/retry.cc kube/tls.cc
       kube/watch_decoder.cc kube/workqueue.cc
  PUBLIC_DEPS kfaas::kube_api kfaas::base absl::status absl::statusor
  DEPS yaml-cpp OpenSSL::SSL OpenSSL::Crypto absl::strings cpprestsdk::cpprest Boost::system)
