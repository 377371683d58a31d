#include "local/node/node_agent.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <future>
#include <map>
#include <set>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/base/json_fields.h"
#include "common/base/log.h"
#include "common/metrics/metrics.h"
#include "local/node/container_env.h"
#include "local/node/pod_status.h"
#include "local/node/pod_writer.h"
#include "local/node/ports.h"
#include "local/node/process.h"

namespace kfaas::node {
namespace asio = boost::asio;

namespace {

using json::Str;

Duration GracePeriod(const Json& pod) {
  const Json& md = json::FieldOrEmptyObject(pod, "metadata");
  if (md.contains("deletionGracePeriodSeconds") &&
      md["deletionGracePeriodSeconds"].is_number_integer()) {
    return std::chrono::seconds(
        std::max<int64_t>(0, md["deletionGracePeriodSeconds"].get<int64_t>()));
  }
  const Json& spec = json::FieldOrEmptyObject(pod, "spec");
  if (spec.contains("terminationGracePeriodSeconds") &&
      spec["terminationGracePeriodSeconds"].is_number_integer()) {
    return std::chrono::seconds(
        std::max<int64_t>(0, spec["terminationGracePeriodSeconds"].get<int64_t>()));
  }
  return std::chrono::seconds(30);
}

bool Deleting(const Json& pod) {
  const Json& md = json::FieldOrEmptyObject(pod, "metadata");
  return md.contains("deletionTimestamp") && !md["deletionTimestamp"].is_null();
}

}  // namespace

class NodeAgent::Impl {
 public:
  Impl(std::shared_ptr<kube::Client> client, NodeAgentOptions opts)
      : client_(client),
        opts_(std::move(opts)),
        ports_(opts_.first_port, opts_.last_port),
        writer_(client) {
    if (opts_.metrics) {
      starts_ = &opts_.metrics->AddCounter("kfaas_node_process_starts_total",
                                           "Processes started for local pods.", {"namespace"});
      exits_ = &opts_.metrics->AddCounter("kfaas_node_process_exits_total",
                                          "Processes of local pods that exited.", {"namespace"});
      exec_to_ready_ = &opts_.metrics->AddHistogram(
          "kfaas_node_process_startup_seconds",
          "From a pod process's exec to its first successful readiness probe.", {"namespace"});
      seen_to_ready_ = &opts_.metrics->AddHistogram(
          "kfaas_node_pod_startup_seconds",
          "From the node seeing a new pod to its first successful readiness probe.", {"namespace"});
    }
  }

  ~Impl() { Stop(); }

  absl::Status Start() {
    if (opts_.logs_dir.empty()) return absl::InvalidArgumentError("node: logs_dir is required");
    if (auto s = MakeDirs(opts_.logs_dir); !s.ok()) return s;
    for (const auto& name : opts_.inherit_env) {
      if (const char* v = getenv(name.c_str())) base_env_.emplace_back(name, v);
    }
    writer_.Start();
    thread_ = std::thread([this] { io_.run(); });
    return absl::OkStatus();
  }

  void Stop() {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] { BeginShutdown(); });
    thread_.join();
    // Anything the loop could not reap (it always can; belt and braces).
    for (auto& [uid, p] : pods_) {
      if (p->running) {
        SignalGroup(p->proc.pid, SIGKILL);
        int st;
        waitpid(p->proc.pid, &st, 0);
        p->running = false;
      }
    }
    pods_.clear();
    writer_.Stop();
  }

  void Post(std::function<void()> f) { asio::post(io_, std::move(f)); }

  absl::StatusOr<uint16_t> ReservePort() {
    auto port = ports_.Allocate();
    if (port.ok()) {
      std::lock_guard<std::mutex> l(reserved_mu_);
      reserved_.insert(*port);
    }
    return port;
  }
  void ReleaseReserved(uint16_t port) {
    {
      std::lock_guard<std::mutex> l(reserved_mu_);
      if (reserved_.erase(port) == 0) return;
    }
    ports_.Release(port);
  }
  // The pod's annotated port when it was reserved for it (ReservePort), else 0.
  uint16_t TakeReserved(const Json& obj) {
    const Json& md = json::FieldOrEmptyObject(obj, "metadata");
    if (!md.contains("annotations") || !md["annotations"].is_object()) return 0;
    std::string s = Str(md["annotations"], kPortAnnotation);
    int port = s.empty() ? 0 : std::atoi(s.c_str());
    if (port <= 0 || port > 65535) return 0;
    std::lock_guard<std::mutex> l(reserved_mu_);
    return reserved_.erase(static_cast<uint16_t>(port)) ? static_cast<uint16_t>(port) : 0;
  }

  void Upsert(std::shared_ptr<const Json> obj) {
    if (stopping_) return;
    const Json& md = json::FieldOrEmptyObject(*obj, "metadata");
    std::string uid = Str(md, "uid");
    if (uid.empty()) return;
    auto it = pods_.find(uid);
    if (it == pods_.end()) {
      std::string phase = Str(json::FieldOrEmptyObject(*obj, "status"), "phase");
      uint16_t reserved = TakeReserved(*obj);
      if (Deleting(*obj)) {
        // Never ran here (or already gone): nothing to stop, remove it.
        if (reserved) ports_.Release(reserved);
        writer_.Finalize(uid, Str(md, "namespace"), Str(md, "name"));
        return;
      }
      if (phase == "Succeeded" || phase == "Failed") {
        if (reserved) ports_.Release(reserved);
        return;
      }
      auto p = std::make_unique<Pod>(io_);
      p->uid = uid;
      // Reserved at the pod's creation and already on it as its annotation.
      p->port = reserved;
      p->published_port = reserved;
      p->ns = Str(md, "namespace");
      p->name = Str(md, "name");
      p->obj = obj;
      p->seen = std::chrono::steady_clock::now();
      InitView(*p);
      Pod& ref = *p;
      pods_[uid] = std::move(p);
      StartProcess(ref);
      return;
    }
    Pod& p = *it->second;
    p.obj = obj;
    if (Deleting(*obj) && !p.terminating) BeginTermination(p, GracePeriod(*obj));
  }

  void Delete(std::shared_ptr<const Json> obj) {
    if (stopping_) return;
    std::string uid = Str(json::FieldOrEmptyObject(*obj, "metadata"), "uid");
    auto it = pods_.find(uid);
    if (it == pods_.end()) return;
    Pod& p = *it->second;
    p.object_deleted = true;
    if (!p.terminating) BeginTermination(p, GracePeriod(*obj));
  }

  std::vector<PodInfo> Snapshot() {
    std::vector<PodInfo> out;
    for (const auto& [uid, p] : pods_) {
      out.push_back(
          {.ns = p->ns,
           .name = p->name,
           .uid = p->uid,
           .port = p->port,
           .pid = p->running ? p->proc.pid : -1,
           .ready = p->view.ready,
           .terminating = p->terminating,
           .restarts = p->view.containers.empty() ? 0 : p->view.containers[0].restart_count});
    }
    return out;
  }

  std::string LogPath(const std::string& ns, const std::string& pod,
                      const std::string& container) const {
    return opts_.logs_dir + "/" + ns + "_" + pod + "_" + container + ".log";
  }

  bool InLoopThread() const { return std::this_thread::get_id() == thread_.get_id(); }
  bool Running() const { return thread_.joinable(); }

 private:
  struct Pod {
    explicit Pod(asio::io_context& io)
        : probe_timer(io), restart_timer(io), kill_timer(io), publish_timer(io) {}
    std::string uid, ns, name;
    std::shared_ptr<const Json> obj;
    PodView view;
    uint16_t port = 0;
    uint16_t published_port = 0;
    SpawnedProcess proc;
    bool running = false;
    std::unique_ptr<asio::posix::stream_descriptor> exit_watch;
    uint64_t run = 0;  // increments per process start; stale callbacks compare it
    SteadyTime run_started{};
    WallTime run_started_wall{};
    ProbeSpec probe_spec;
    std::unique_ptr<ProbeSchedule> schedule;
    asio::steady_timer probe_timer, restart_timer, kill_timer, publish_timer;
    Duration next_backoff{0};
    bool terminating = false;
    bool object_deleted = false;
    bool done = false;  // Succeeded or Failed: no process, no restart
    Json last_status;
    SteadyTime seen{}, spawn_begin{}, spawn_end{};
    bool timing_reported = false;
  };

  const Json& Container(const Pod& p) const {
    static const Json kNone = Json::object();
    auto spec = p.obj->find("spec");
    if (spec == p.obj->end() || !spec->is_object()) return kNone;
    auto containers = spec->find("containers");
    if (containers == spec->end() || !containers->is_array() || containers->empty()) return kNone;
    return (*containers)[0];
  }

  void InitView(Pod& p) {
    WallTime now = std::chrono::system_clock::now();
    p.view.start_time = now;
    p.view.scheduled_at = now;
    p.view.initialized_at = now;
    p.view.ready_changed_at = now;
    const Json& spec = json::FieldOrEmptyObject(*p.obj, "spec");
    p.view.qos_class = QosClass(spec);
    if (spec.contains("containers") && spec["containers"].is_array()) {
      bool first = true;
      for (const auto& c : spec["containers"]) {
        ContainerView cv;
        cv.name = Str(c, "name");
        cv.image = Str(c, "image");
        if (!first) {
          cv.waiting_reason = "CreateContainerError";
          cv.waiting_message = "kfaas-local runs only the first container of a pod";
        }
        first = false;
        p.view.containers.push_back(std::move(cv));
      }
    }
  }

  ContainerView* Main(Pod& p) {
    return p.view.containers.empty() ? nullptr : &p.view.containers[0];
  }

  void SetWaiting(Pod& p, const std::string& reason, const std::string& message) {
    if (ContainerView* c = Main(p)) {
      c->state = ContainerView::State::kWaiting;
      c->waiting_reason = reason;
      c->waiting_message = message;
      c->container_id.clear();
      c->ready = false;
      c->started = false;
    }
    SetReady(p, false);
  }

  void SetReady(Pod& p, bool ready) {
    if (ContainerView* c = Main(p)) c->ready = ready;
    if (p.view.ready != ready) {
      p.view.ready = ready;
      p.view.ready_changed_at = std::chrono::system_clock::now();
    }
  }

  // Looks up ConfigMaps and Secrets for env; synchronous (the local API is in-process).
  absl::StatusOr<Json> Lookup(const std::string& ns, const std::string& resource,
                              const std::string& name) {
    const kube::Resource& r =
        resource == "secrets" ? kube::resources::kSecrets : kube::resources::kConfigMaps;
    return client_->Get(r, ns, name);
  }

  void StartProcess(Pod& p) {
    if (p.terminating || stopping_ || p.done) return;
    const Json& container = Container(p);
    if (container.empty()) {
      p.view.reason = "NoContainers";
      p.view.message = "the pod has no containers";
      Publish(p);
      return;
    }
    if (!container.contains("command") || !container["command"].is_array() ||
        container["command"].empty()) {
      SetWaiting(p, "CreateContainerConfigError",
                 "no command: kfaas-local runs processes, set spec.command");
      Publish(p);
      return;
    }
    if (p.port == 0 || !PortAllocator::Bindable(p.port)) {
      if (p.port) ports_.Release(p.port);
      p.port = 0;
      auto port = ports_.Allocate();
      if (!port.ok()) {
        SetWaiting(p, "CreateContainerError", std::string(port.status().message()));
        Publish(p);
        RetryLater(p, opts_.config_retry);
        return;
      }
      p.port = *port;
    }
    std::string ns = p.ns;
    auto env = BuildContainerEnv(*p.obj, container, p.port, base_env_,
                                 [this, ns](const std::string& resource, const std::string& name) {
                                   return Lookup(ns, resource, name);
                                 });
    if (!env.ok()) {
      SetWaiting(p, "CreateContainerConfigError", std::string(env.status().message()));
      Publish(p);
      RetryLater(p, opts_.config_retry);
      return;
    }
    std::vector<std::string> argv = BuildArgv(container, *env);
    std::string path_env;
    for (const auto& [k, v] : *env) {
      if (k == "PATH") path_env = v;
    }
    std::string work_dir = Str(container, "workingDir");
    if (work_dir.empty()) work_dir = opts_.work_dir;
    auto path = ResolveCommand(argv[0], opts_.bin_dirs, path_env, work_dir);
    if (!path.ok()) return StartFailed(p, std::string(path.status().message()));

    SpawnSpec spec{.path = *path,
                   .argv = argv,
                   .env = ToEnvStrings(*env),
                   .work_dir = work_dir,
                   .log_path = LogPath(p.ns, p.name, Str(container, "name"))};
    p.spawn_begin = std::chrono::steady_clock::now();
    auto proc = Spawn(spec);
    p.spawn_end = std::chrono::steady_clock::now();
    if (!proc.ok()) return StartFailed(p, std::string(proc.status().message()));
    if (starts_) starts_->WithLabels({p.ns}).Inc();
    p.proc = *proc;
    p.running = true;
    p.run++;
    p.run_started = p.spawn_end;
    p.run_started_wall = std::chrono::system_clock::now();
    KFAAS_VLOG(1) << "pod " << p.ns << "/" << p.name << ": started pid " << p.proc.pid
                  << " on port " << p.port << ": " << *path;

    p.exit_watch = std::make_unique<asio::posix::stream_descriptor>(io_, p.proc.pidfd);
    WatchExit(p);

    p.view.phase = "Running";
    p.view.has_ip = true;
    p.view.reason.clear();
    p.view.message.clear();
    if (ContainerView* c = Main(p)) {
      c->state = ContainerView::State::kRunning;
      c->running_since = p.run_started_wall;
      c->container_id = "process://" + std::to_string(p.proc.pid);
      c->started = true;
      c->ready = false;
    }
    SetReady(p, false);
    // A function that starts within running_publish_delay (known_port_publish_delay when its
    // port is already on the pod) is published once, already ready (fewer writes while it
    // starts); a slower one is published as running (not ready) then, so its endpoint appears
    // and the activator can probe it too.
    Duration publish_delay = opts_.running_publish_delay;
    if (p.port != 0 && p.port == p.published_port) {
      publish_delay = std::max(publish_delay, opts_.known_port_publish_delay);
    }
    if (publish_delay.count() > 0) {
      PublishAfter(p, publish_delay);
    } else {
      Publish(p);
    }

    p.probe_spec = ProbeSpecFromContainer(container);
    p.schedule = std::make_unique<ProbeSchedule>(p.probe_spec, opts_.probe, p.run_started);
    ScheduleProbe(p, p.schedule->Next(std::chrono::steady_clock::now()));
  }

  void RetryLater(Pod& p, Duration delay) {
    std::string uid = p.uid;
    p.restart_timer.expires_after(delay);
    p.restart_timer.async_wait([this, uid](boost::system::error_code ec) {
      if (ec) return;
      if (Pod* q = Find(uid)) StartProcess(*q);
    });
  }

  void WatchExit(Pod& p) {
    std::string uid = p.uid;
    uint64_t run = p.run;
    p.exit_watch->async_wait(asio::posix::stream_descriptor::wait_read,
                             [this, uid, run](boost::system::error_code ec) {
                               if (ec == asio::error::operation_aborted) return;
                               if (Pod* q = Find(uid); q && q->run == run && q->running) OnExit(*q);
                             });
  }

  void ScheduleProbe(Pod& p, SteadyTime at) {
    std::string uid = p.uid;
    uint64_t run = p.run;
    p.probe_timer.expires_at(at);
    p.probe_timer.async_wait([this, uid, run](boost::system::error_code ec) {
      if (ec) return;
      Pod* q = Find(uid);
      if (!q || q->run != run || !q->running || q->terminating) return;
      RunProbe(io_, q->port, q->probe_spec,
               [this, uid, run](bool ok, std::string detail) { OnProbe(uid, run, ok, detail); });
    });
  }

  void OnProbe(const std::string& uid, uint64_t run, bool ok, const std::string& detail) {
    Pod* pp = Find(uid);
    if (!pp || pp->run != run || !pp->running || pp->terminating) return;
    Pod& p = *pp;
    SteadyTime now = std::chrono::steady_clock::now();
    if (p.schedule->Record(ok)) {
      SetReady(p, p.schedule->ready());
      if (!p.schedule->ready()) {
        KFAAS_LOG(INFO) << "pod " << p.ns << "/" << p.name << " not ready: " << detail;
      }
      const bool first_ready = p.schedule->ready() && !p.timing_reported;
      if (first_ready && p.port != 0 && p.port == p.published_port &&
          opts_.known_port_ready_delay.count() > 0) {
        // See NodeAgentOptions::known_port_ready_delay.
        PublishAfter(p, opts_.known_port_ready_delay);
      } else {
        Publish(p);
      }
      if (first_ready) {
        p.timing_reported = true;
        PodTiming t{.ns = p.ns,
                    .name = p.name,
                    .uid = p.uid,
                    .seen = p.seen,
                    .spawn_begin = p.spawn_begin,
                    .spawn_end = p.spawn_end,
                    .ready = now};
        if (exec_to_ready_) {
          exec_to_ready_->WithLabels({p.ns}).Observe(
              std::chrono::duration<double>(now - p.spawn_begin).count());
          seen_to_ready_->WithLabels({p.ns}).Observe(
              std::chrono::duration<double>(now - p.seen).count());
        }
        if (opts_.on_ready) opts_.on_ready(t);
      }
    }
    ScheduleProbe(p, p.schedule->Next(now));
  }

  void StartFailed(Pod& p, const std::string& message) {
    KFAAS_LOG(WARNING) << "pod " << p.ns << "/" << p.name << ": cannot start: " << message;
    WallTime now = std::chrono::system_clock::now();
    TerminatedState t{.exit_code = 128,
                      .reason = "StartError",
                      .message = message,
                      .started_at = now,
                      .finished_at = now};
    p.run_started = std::chrono::steady_clock::now();
    AfterRun(p, t);
  }

  void OnExit(Pod& p) {
    SignalGroup(p.proc.pid, SIGKILL);  // whatever the process left behind in its group
    ExitInfo info = TryReap(p.proc);
    if (!info.exited) {  // not expected once the pidfd is readable
      WatchExit(p);
      return;
    }
    p.exit_watch.reset();  // closes the pidfd
    p.running = false;
    p.probe_timer.cancel();
    if (exits_) exits_->WithLabels({p.ns}).Inc();
    WallTime now = std::chrono::system_clock::now();
    TerminatedState t{.exit_code = info.exit_code,
                      .signal = info.signal,
                      .reason = info.exit_code == 0 ? "Completed" : "Error",
                      .started_at = p.run_started_wall,
                      .finished_at = now,
                      .container_id = "process://" + std::to_string(p.proc.pid)};
    KFAAS_LOG(INFO) << "pod " << p.ns << "/" << p.name << ": process " << p.proc.pid
                    << " exited with " << info.exit_code;
    if (stopping_) {
      MaybeFinishShutdown();
      return;
    }
    if (p.terminating) {
      if (ContainerView* c = Main(p)) {
        c->state = ContainerView::State::kTerminated;
        c->terminated = t;
        c->container_id.clear();
      }
      ProcessGone(p);
      return;
    }
    AfterRun(p, t);
  }

  // A run ended (exit or failed start): restart per policy, or finish the pod.
  void AfterRun(Pod& p, const TerminatedState& t) {
    SetReady(p, false);
    std::string policy = Str(json::FieldOrEmptyObject(*p.obj, "spec"), "restartPolicy");
    bool restart =
        policy.empty() || policy == "Always" || (policy == "OnFailure" && t.exit_code != 0);
    ContainerView* c = Main(p);
    if (!restart) {
      if (c) {
        c->state = ContainerView::State::kTerminated;
        c->terminated = t;
        c->container_id.clear();
        c->started = false;
      }
      p.view.phase = t.exit_code == 0 ? "Succeeded" : "Failed";
      p.done = true;
      if (p.port) ports_.Release(p.port);
      p.port = 0;
      Publish(p);
      return;
    }
    if (c) {
      c->last_terminated = t;
      c->restart_count++;
    }
    SteadyTime now = std::chrono::steady_clock::now();
    if (now - p.run_started >= opts_.backoff_reset) p.next_backoff = Duration(0);
    Duration delay = p.next_backoff;
    p.next_backoff = delay.count() == 0 ? opts_.backoff_initial
                                        : std::min<Duration>(delay * 2, opts_.backoff_max);
    if (delay.count() == 0) {
      RetryLater(p, Duration(0));  // via the loop: a start failure must not recurse
      return;
    }
    SetWaiting(p, "CrashLoopBackOff",
               "back-off " + ShortDuration(delay) +
                   " restarting failed container=" + (c ? c->name : std::string()) +
                   " pod=" + p.name + "_" + p.ns + "(" + p.uid + ")");
    Publish(p);
    RetryLater(p, delay);
  }

  void BeginTermination(Pod& p, Duration grace) {
    p.terminating = true;
    p.restart_timer.cancel();
    p.probe_timer.cancel();
    if (!p.running) {
      ProcessGone(p);
      return;
    }
    SetReady(p, false);
    Publish(p);
    KFAAS_VLOG(1) << "pod " << p.ns << "/" << p.name << ": stopping pid " << p.proc.pid
                  << " (grace " << ShortDuration(grace) << ")";
    if (grace.count() == 0) {
      SignalGroup(p.proc.pid, SIGKILL);
      return;
    }
    SignalGroup(p.proc.pid, SIGTERM);
    std::string uid = p.uid;
    uint64_t run = p.run;
    p.kill_timer.expires_after(grace);
    p.kill_timer.async_wait([this, uid, run](boost::system::error_code ec) {
      if (ec) return;
      Pod* q = Find(uid);
      if (q && q->run == run && q->running) SignalGroup(q->proc.pid, SIGKILL);
    });
  }

  // The pod's process is gone for good: free its port and log, remove the object.
  void ProcessGone(Pod& p) {
    if (p.port) ports_.Release(p.port);
    // A pod recreated under the same name (a new uid) may already write to the same log file.
    bool same_name_alive = false;
    for (const auto& [uid, other] : pods_) {
      same_name_alive |= uid != p.uid && other->ns == p.ns && other->name == p.name;
    }
    if (!opts_.keep_logs && !same_name_alive) {
      for (const auto& c : p.view.containers) unlink(LogPath(p.ns, p.name, c.name).c_str());
    }
    if (!p.object_deleted) writer_.Finalize(p.uid, p.ns, p.name);
    std::string uid = p.uid;
    pods_.erase(uid);  // p is gone
  }

  // Publishes the pod's state as it is `delay` from now (unless something publishes it first).
  void PublishAfter(Pod& p, Duration delay) {
    std::string uid = p.uid;
    uint64_t run = p.run;
    p.publish_timer.expires_after(delay);
    p.publish_timer.async_wait([this, uid, run](boost::system::error_code ec) {
      if (ec) return;
      if (Pod* q = Find(uid); q && q->run == run) Publish(*q);
    });
  }

  void Publish(Pod& p) {
    p.publish_timer.cancel();
    if (p.object_deleted || stopping_) return;
    Json status = MakePodStatus(p.view);
    Json annotations;
    if (p.port && p.port != p.published_port) {
      annotations = {{kPortAnnotation, std::to_string(p.port)}};
      p.published_port = p.port;
    }
    if (status == p.last_status && annotations.is_null()) return;
    p.last_status = status;
    const Json& md = json::FieldOrEmptyObject(*p.obj, "metadata");
    bool had = md.contains("annotations") && md["annotations"].is_object();
    writer_.Write(p.uid, p.ns, p.name, annotations, had, status);
  }

  Pod* Find(const std::string& uid) {
    auto it = pods_.find(uid);
    return it == pods_.end() ? nullptr : it->second.get();
  }

  void BeginShutdown() {
    stopping_ = true;
    for (auto& [uid, p] : pods_) {
      p->probe_timer.cancel();
      p->restart_timer.cancel();
      p->kill_timer.cancel();
      if (p->running) SignalGroup(p->proc.pid, SIGTERM);
    }
    shutdown_timer_ = std::make_unique<asio::steady_timer>(io_, opts_.shutdown_grace);
    shutdown_timer_->async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      for (auto& [uid, p] : pods_) {
        if (p->running) SignalGroup(p->proc.pid, SIGKILL);
      }
    });
    MaybeFinishShutdown();
  }

  void MaybeFinishShutdown() {
    for (auto& [uid, p] : pods_) {
      if (p->running) return;
    }
    if (shutdown_timer_) shutdown_timer_->cancel();
    io_.stop();
  }

  std::shared_ptr<kube::Client> client_;
  NodeAgentOptions opts_;
  PortAllocator ports_;
  std::mutex reserved_mu_;
  std::set<uint16_t> reserved_;  // ports reserved for pods not seen yet (guarded by reserved_mu_)
  PodWriter writer_;
  EnvList base_env_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::map<std::string, std::unique_ptr<Pod>> pods_;  // by uid; loop thread only
  bool stopping_ = false;                             // loop thread only
  std::unique_ptr<asio::steady_timer> shutdown_timer_;
  std::thread thread_;
  metrics::Family<metrics::Counter>* starts_ = nullptr;
  metrics::Family<metrics::Counter>* exits_ = nullptr;
  metrics::Family<metrics::Histogram>* exec_to_ready_ = nullptr;
  metrics::Family<metrics::Histogram>* seen_to_ready_ = nullptr;
};

NodeAgent::NodeAgent(std::shared_ptr<kube::Client> client, NodeAgentOptions opts)
    : impl_(std::make_unique<Impl>(std::move(client), std::move(opts))) {}

NodeAgent::~NodeAgent() { Stop(); }

absl::Status NodeAgent::Start() { return impl_->Start(); }

absl::StatusOr<uint16_t> NodeAgent::ReservePort() { return impl_->ReservePort(); }

void NodeAgent::ReleasePort(uint16_t port) { impl_->ReleaseReserved(port); }

void NodeAgent::Stop() { impl_->Stop(); }

void NodeAgent::OnPodUpsert(std::shared_ptr<const nlohmann::json> pod) {
  Impl* impl = impl_.get();
  impl->Post([impl, pod] { impl->Upsert(pod); });
}

void NodeAgent::OnPodDelete(std::shared_ptr<const nlohmann::json> pod) {
  Impl* impl = impl_.get();
  impl->Post([impl, pod] { impl->Delete(pod); });
}

std::vector<NodeAgent::PodInfo> NodeAgent::Pods() const {
  if (!impl_->Running()) return {};
  auto promise = std::make_shared<std::promise<std::vector<PodInfo>>>();
  auto future = promise->get_future();
  Impl* impl = impl_.get();
  impl->Post([impl, promise] { promise->set_value(impl->Snapshot()); });
  if (future.wait_for(std::chrono::seconds(5)) != std::future_status::ready) return {};
  return future.get();
}

std::string NodeAgent::LogPath(const std::string& ns, const std::string& pod,
                               const std::string& container) const {
  return impl_->LogPath(ns, pod, container);
}

}  // namespace kfaas::node
