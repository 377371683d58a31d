#include "local/node/pod_writer.h"

#include <algorithm>

#include "common/base/log.h"

namespace kfaas::node {
namespace {

std::string Escape(const std::string& key) {  // RFC 6901
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

PodWriter::PodWriter(std::shared_ptr<kube::Client> client) : client_(std::move(client)) {}

PodWriter::~PodWriter() { Stop(std::chrono::milliseconds(0)); }

void PodWriter::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void PodWriter::Stop(Duration drain) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
    drain_deadline_ = std::chrono::steady_clock::now() + drain;
    cv_.notify_all();
  }
  thread_.join();
}

void PodWriter::Write(const std::string& uid, const std::string& ns, const std::string& name,
                      const Json& annotations, bool had_annotations, const Json& status) {
  std::lock_guard<std::mutex> l(mu_);
  auto [it, inserted] = pending_.try_emplace(uid);
  Task& t = it->second;
  t.ns = ns;
  t.name = name;
  if (annotations.is_object() && !annotations.empty()) {
    if (!t.annotations.is_object()) t.annotations = Json::object();
    t.annotations.update(annotations);
    t.had_annotations = t.had_annotations || had_annotations;
  }
  if (status.is_object()) t.status = status;
  if (inserted) order_.push_back(uid);
  cv_.notify_one();
}

void PodWriter::Finalize(const std::string& uid, const std::string& ns, const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  auto [it, inserted] = pending_.try_emplace(uid);
  it->second.ns = ns;
  it->second.name = name;
  it->second.finalize = true;
  // A status no one will read any more need not be written first.
  it->second.status = nullptr;
  it->second.annotations = nullptr;
  if (inserted) order_.push_back(uid);
  cv_.notify_one();
}

int64_t PodWriter::writes() const {
  std::lock_guard<std::mutex> l(mu_);
  return writes_;
}

int64_t PodWriter::failures() const {
  std::lock_guard<std::mutex> l(mu_);
  return failures_;
}

void PodWriter::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (stopping_ && (order_.empty() || now >= drain_deadline_)) return;
    // The first task that may run now (retries wait for their backoff).
    auto ready = std::find_if(order_.begin(), order_.end(), [&](const std::string& uid) {
      return pending_[uid].not_before <= now;
    });
    if (ready == order_.end()) {
      SteadyTime wake = stopping_ ? drain_deadline_ : SteadyTime::max();
      for (const auto& uid : order_) wake = std::min(wake, pending_[uid].not_before);
      if (wake == SteadyTime::max()) {
        cv_.wait(l);
      } else {
        cv_.wait_until(l, wake);
      }
      continue;
    }
    std::string uid = *ready;
    order_.erase(ready);
    Task task = std::move(pending_[uid]);
    pending_.erase(uid);
    l.unlock();
    bool done = Execute(uid, task);
    l.lock();
    if (done) {
      ++writes_;
      continue;
    }
    ++failures_;
    // Retry, merged with anything queued for the pod meanwhile (newer wins).
    auto [it, inserted] = pending_.try_emplace(uid);
    Task& t = it->second;
    if (inserted) {
      t = std::move(task);
      order_.push_back(uid);
    } else {
      if (!t.status.is_object()) t.status = task.status;
      if (task.annotations.is_object()) {
        Json merged = task.annotations;
        if (t.annotations.is_object()) merged.update(t.annotations);
        t.annotations = merged;
      }
      t.finalize = t.finalize || task.finalize;
      t.attempts = task.attempts;
    }
    t.attempts++;
    auto backoff = std::chrono::milliseconds(std::min(5 << std::min(t.attempts, 8), 1000));
    t.not_before = std::chrono::steady_clock::now() + backoff;
  }
}

bool PodWriter::PodGone(const std::string& uid, const Task& task) {
  auto cur = client_->Get(kube::resources::kPods, task.ns, task.name);
  if (!cur.ok()) return absl::IsNotFound(cur.status());
  return (*cur)["metadata"].value("uid", "") != uid;
}

bool PodWriter::Execute(const std::string& uid, Task& task) {
  const auto& pods = kube::resources::kPods;
  Json test = {{"op", "test"}, {"path", "/metadata/uid"}, {"value", uid}};
  if (task.finalize) {
    kube::DeleteOptions opts;
    opts.grace_period_seconds = 0;
    opts.precondition_uid = uid;
    auto r = client_->Delete(pods, task.ns, task.name, opts);
    if (r.ok() || absl::IsNotFound(r.status()) || PodGone(uid, task)) return true;
    KFAAS_LOG(WARNING) << "removing pod " << task.ns << "/" << task.name
                       << " failed (will retry): " << r.status().message();
    return false;
  }
  if (task.annotations.is_object()) {
    Json ops = Json::array({test});
    if (task.had_annotations) {
      for (const auto& [k, v] : task.annotations.items()) {
        ops.push_back(
            {{"op", "add"}, {"path", "/metadata/annotations/" + Escape(k)}, {"value", v}});
      }
    } else {
      ops.push_back(
          {{"op", "add"}, {"path", "/metadata/annotations"}, {"value", task.annotations}});
    }
    auto r = client_->Patch(pods, task.ns, task.name, kube::PatchType::kJson, ops);
    if (!r.ok()) {
      if (absl::IsNotFound(r.status())) return true;
      auto cur = client_->Get(pods, task.ns, task.name);
      if (!cur.ok() && absl::IsNotFound(cur.status())) return true;
      if (cur.ok()) {
        const Json& md = (*cur)["metadata"];
        if (md.value("uid", "") != uid) return true;  // a new pod under the same name
        // Retry with the right shape: add the map, or keys into the existing map.
        task.had_annotations = md.contains("annotations") && md["annotations"].is_object();
      }
      KFAAS_LOG(WARNING) << "annotating pod " << task.ns << "/" << task.name
                         << " failed (will retry): " << r.status().message();
      return false;
    }
    task.annotations = nullptr;
  }
  if (task.status.is_object()) {
    Json ops = Json::array({test, {{"op", "add"}, {"path", "/status"}, {"value", task.status}}});
    auto r = client_->Patch(pods, task.ns, task.name, kube::PatchType::kJson, ops, "status");
    if (!r.ok()) {
      if (absl::IsNotFound(r.status()) || PodGone(uid, task)) return true;
      KFAAS_LOG(WARNING) << "writing the status of pod " << task.ns << "/" << task.name
                         << " failed (will retry): " << r.status().message();
      return false;
    }
  }
  return true;
}

}  // namespace kfaas::node
