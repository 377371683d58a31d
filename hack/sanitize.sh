#!/usr/bin/env bash
# Runs the tests under a sanitizer, each in its own build directory (ccache makes reruns cheap):
#
#   hack/sanitize.sh asan    # ASan+UBSan: every unit and integration test (build-asan/)
#   hack/sanitize.sh tsan    # TSan: the concurrent parts — activator, informer, work queue,
#                            # leader election, REST client, API server, autoscaler loop,
#                            # operator controller (build-tsan/)
#   hack/sanitize.sh tsan -R Proxy    # extra arguments go to ctest
#
# Any report fails the test that produced it (halt_on_error / -fno-sanitize-recover). e2e tests
# (kubectl and whole-platform processes) are left to hack/test.sh: under instrumentation their
# timing budgets would measure the sanitizer, not kfaas. Suppressions, each with its reason, are
# in hack/sanitizers/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
kind=${1:-}
case "$kind" in
  asan|tsan) shift ;;
  -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
  *) echo "usage: hack/sanitize.sh asan|tsan [ctest arguments] (see --help)" >&2; exit 2 ;;
esac

supp="$root/hack/sanitizers"
# Shell scripts and Python-only checks (the chart) run no instrumented code.
exclude='_NOT_BUILT$|^chart\.'
if [[ $kind == asan ]]; then
  targets="kfaas_fast_tests autoscaler_fake_activator"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
else
  targets="activator_core_test activator_proxy_test activator_burst_test activator_kube_test
    kube_informer_test kube_informer_integration_test kube_workqueue_test kube_leader_election_test
    kube_leader_election_integration_test kube_rest_client_test kube_apiserver_integration_test
    kube_event_recorder_test apiserver_core_test apiserver_http_test autoscaler_loop_test
    autoscaler_stats_hub_test autoscaler_external_scaler_test autoscaler_pipeline_test
    operator_controller_test reliability_activator_hostile_test reliability_apiserver_hostile_test"
  # The KEDA Python client test needs a binary outside this set.
  exclude="$exclude|^AutoscalerKedaPythonClient$"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp"
fi

export KFAAS_SANITIZE=$kind KFAAS_TARGETS=$targets
exec hack/test.sh -L 'unit|integration' -E "$exclude" "$@"
