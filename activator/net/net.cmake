kfaas_library(NAME activator_net
  SRCS net/http_util.cc net/upstream_pool.cc net/prober.cc net/session.cc net/proxy_server.cc
  PUBLIC_DEPS kfaas::activator_core Boost::system Threads::Threads)
# g++ 12 misreports asio's coroutine frame allocator (operator new/delete of awaitable_frame).
target_compile_options(kfaas_activator_net PUBLIC -Wno-mismatched-new-delete)
