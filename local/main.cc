// kfaas-local: the local Kubernetes API server (and, beside it, the node agent) in one process.
// Flags and wiring only; everything else lives in libraries (local/apiserver, local/node).
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <iostream>

#include "common/base/log.h"
#include "local/apiserver/api_server.h"
#include "local/node/node.h"

namespace po = boost::program_options;
using kfaas::local::ApiServer;

namespace {

int ParsePort(const std::string& v, const char* flag, bool zero_is_off) {
  if (v == "auto") return 0;
  try {
    size_t pos = 0;
    int p = std::stoi(v, &pos);
    if (pos == v.size() && p >= 0 && p <= 65535) return zero_is_off && p == 0 ? -1 : p;
  } catch (const std::exception&) {
  }
  std::cerr << "kfaas-local: --" << flag << "=" << v
            << " is not a port (0-65535, or \"auto\" for any free port)\n";
  exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  ApiServer::Options o;
  std::string secure_port, insecure_port, log_level;
  int64_t bookmark_ms = 60000;
  int64_t header_timeout_ms = 32000;
  int64_t watch_batch_ms = 5;
  // The node (local/node): pods as processes, Deployment and Endpoints controllers.
  bool run_node = true;
  std::vector<std::string> bin_dirs;
  std::string pod_ports = "20000-32000";
  int64_t backoff_ms = 10000, backoff_max_ms = 300000;
  int64_t ready_delay_ms = 10;
  po::options_description desc(
      "kfaas-local: an in-memory Kubernetes API server (and node) for running kfaas on one "
      "machine.\nNot a Kubernetes replacement: a single-process stand-in for development and "
      "tests.\n\nUsage: kfaas-local [flags]\n\nFlags");
  desc.add_options()("help,h", "print this help and exit")(
      "home", po::value(&o.home)->default_value(kfaas::local::DefaultKfaasHome()),
      "state directory: certificates, tokens, kubeconfig, apiserver.json, logs/ "
      "(default ${KFAAS_HOME:-$HOME/.kfaas})")("secure-port",
                                               po::value(&secure_port)->default_value("6443"),
                                               "HTTPS port (0 or \"auto\": any free port)")(
      "insecure-port", po::value(&insecure_port)->default_value("0"),
      "plain-HTTP port without authentication, for tests (0: off; \"auto\": any free port)")(
      "bind-address", po::value(&o.bind_address)->default_value("127.0.0.1"),
      "address to listen on")("tls-san", po::value(&o.tls_sans)->composing(),
                              "extra subject alternative name for the serving certificate "
                              "(repeatable)")(
      "token-auth-file", po::value(&o.token_file),
      "extra bearer tokens, one per line: token,user[,uid[,\"groups\"]]")(
      "log-dir", po::value(&o.log_dir),
      "where pod logs are read from: <dir>/<namespace>_<pod>_<container>.log (default "
      "<home>/logs)")("preload", po::value(&o.preload)->composing(),
                      "YAML manifest file or directory created at start, e.g. a CRD "
                      "(repeatable)")(
      "watch-history", po::value(&o.watch_history)->default_value(10000),
      "watch events kept for resuming watches; older versions get 410 Expired")(
      "watch-queue-limit", po::value(&o.watch_queue_limit)->default_value(10000),
      "events queued per watcher before a slow watcher is closed")(
      "bookmark-interval-ms", po::value(&bookmark_ms)->default_value(60000),
      "interval of BOOKMARK events to watchers that allow them")(
      "request-header-timeout-ms", po::value(&header_timeout_ms)->default_value(32000),
      "a request's header must arrive within this from its first byte, else the connection "
      "is closed (slow clients, slowloris)")("threads", po::value(&o.threads)->default_value(0),
                                             "HTTP threads (0: max(2, cores))")(
      "max-header-bytes", po::value(&o.max_header_bytes)->default_value(o.max_header_bytes),
      "largest request line + headers accepted; a larger request gets 431")(
      "watch-batch-ms", po::value(&watch_batch_ms)->default_value(watch_batch_ms),
      "a watch that wrote less than this ago sends its next events with the next shared flush "
      "tick (fewer writes per watcher under load; 0: write every event batch at once)")(
      "log-level", po::value(&log_level)->default_value("info"), "debug, info, warning or error")(
      "node", po::value(&run_node)->default_value(true),
      "run the node beside the API server: Deployment and Endpoints controllers, pods as local "
      "processes (false: API server only)")(
      "bin-dir", po::value(&bin_dirs)->composing(),
      "where a pod's bare command name (e.g. hello-function) is looked up before PATH "
      "(repeatable; default <home>/bin)")(
      "pod-ports", po::value(&pod_ports)->default_value(pod_ports),
      "port range for pods' processes on 127.0.0.1 (each pod gets one, as $PORT)")(
      "restart-backoff-ms", po::value(&backoff_ms)->default_value(backoff_ms),
      "first back-off before restarting a crashed container again (doubles up to the max)")(
      "restart-backoff-max-ms", po::value(&backoff_max_ms)->default_value(backoff_max_ms),
      "maximum restart back-off (CrashLoopBackOff)")(
      "ready-publish-delay-ms", po::value(&ready_delay_ms)->default_value(ready_delay_ms),
      "publish a started pod whose port is known ready this long after its first successful "
      "probe (the activator probes it itself), so the status write and the watch events it "
      "causes follow the function's first request");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "kfaas-local: " << e.what() << "\nRun kfaas-local --help for the flags.\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (!kfaas::log::SetLevelFromString(log_level)) {
    std::cerr << "kfaas-local: --log-level=" << log_level
              << " is not one of debug, info, warning, error\n";
    return 2;
  }
  o.secure_port = ParsePort(secure_port, "secure-port", false);
  o.insecure_port = ParsePort(insecure_port, "insecure-port", true);
  o.bookmark_interval = std::chrono::milliseconds(bookmark_ms);
  o.header_timeout = std::chrono::milliseconds(header_timeout_ms);
  if (o.max_header_bytes < 1024 || watch_batch_ms < 0) {
    std::cerr << "kfaas-local: --max-header-bytes must be at least 1024 and --watch-batch-ms at "
                 "least 0\n";
    return 2;
  }
  o.watch_batch_interval = std::chrono::milliseconds(watch_batch_ms);
  // Keep freed memory in the heap instead of trimming it back to the kernel after every burst:
  // under write load the store's allocation churn otherwise grows and shrinks the heaps with
  // mprotect/madvise and page faults (measured: ~2 syscalls and ~15 us CPU per write). Fixing
  // the trim threshold also fixes glibc's mmap threshold, so raise that too: list responses
  // (MBs) and watch batches are then reused heap memory, not a fresh mmap per response.
  mallopt(M_TOP_PAD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);

  // Block the stop signals before any thread starts, so only sigwait below receives them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ApiServer server(o);
  if (auto st = server.Start(); !st.ok()) {
    KFAAS_LOG(ERROR) << "kfaas-local: cannot start the API server: " << st.message();
    return 1;
  }
  KFAAS_LOG(INFO) << "API server listening on " << server.secure_url() << " (HTTPS)"
                  << (server.insecure_url().empty()
                          ? std::string()
                          : ", " + server.insecure_url() + " (plain HTTP, no auth)");
  KFAAS_LOG(INFO) << "kubeconfig: " << server.kubeconfig_path();
  KFAAS_LOG(INFO) << "try: KUBECONFIG=" << server.kubeconfig_path() << " kubectl get namespaces";
  KFAAS_LOG(INFO) << "pod logs are read from " << server.log_dir();

  std::unique_ptr<kfaas::node::Node> node;
  if (run_node) {
    kfaas::node::NodeOptions no;
    no.agent.logs_dir = server.log_dir();
    no.agent.bin_dirs =
        bin_dirs.empty() ? std::vector<std::string>{server.home() + "/bin"} : bin_dirs;
    unsigned first = 0, last = 0;
    if (sscanf(pod_ports.c_str(), "%u-%u", &first, &last) != 2 || first == 0 || last > 65535 ||
        first > last) {
      std::cerr << "kfaas-local: --pod-ports=" << pod_ports << " is not a range like 20000-32000\n";
      return 2;
    }
    no.agent.first_port = static_cast<uint16_t>(first);
    no.agent.last_port = static_cast<uint16_t>(last);
    no.agent.backoff_initial = std::chrono::milliseconds(backoff_ms);
    no.agent.backoff_max = std::chrono::milliseconds(backoff_max_ms);
    no.agent.known_port_ready_delay = std::chrono::milliseconds(ready_delay_ms);
    node = std::make_unique<kfaas::node::Node>(
        [&server](const std::string& ua) { return server.LocalClient(ua); }, no);
    if (auto st = node->Start(); !st.ok()) {
      KFAAS_LOG(ERROR) << "kfaas-local: cannot start the node: " << st.message();
      return 1;
    }
  }

  int sig = 0;
  sigwait(&stop, &sig);
  KFAAS_LOG(INFO) << "received " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", shutting down";
  if (node) node->Stop();  // stops every pod process first
  server.Stop();
  return 0;
}
