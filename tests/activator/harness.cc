#include "tests/activator/harness.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <limits>

namespace kfaas::activator::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Json = nlohmann::json;

Response Fetch(uint16_t port, const RequestSpec& spec) {
  Response out;
  try {
    asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::milliseconds(spec.timeout_ms));
    stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> req{http::string_to_verb(spec.method), spec.target, 11};
    req.set(http::field::host, spec.host);
    for (const auto& [k, v] : spec.headers) req.set(k, v);
    req.body() = spec.body;
    if (spec.chunked) {
      req.chunked(true);
    } else if (!spec.body.empty() || spec.method == "POST" || spec.method == "PUT") {
      req.prepare_payload();
    }
    http::write(stream, req);
    beast::flat_buffer buf;
    std::optional<http::response_parser<http::string_body>> po;
    beast::error_code ec;
    do {  // skip interim responses (100 Continue)
      po.emplace();
      po->body_limit(std::numeric_limits<std::uint64_t>::max());
      if (spec.method == "HEAD") po->skip(true);
      http::read(stream, buf, *po, ec);
    } while (!ec && po->get().result_int() == 100);
    auto& p = *po;
    if (ec) {
      out.error = ec.message();
      if (!p.is_header_done()) return out;
    }
    auto& res = p.get();
    out.status = res.result_int();
    for (const auto& f : res) {
      std::string n(f.name_string());
      for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[n] = std::string(f.value());
    }
    out.body = res.body();
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

std::string RawExchange(uint16_t port, const std::string& bytes, int timeout_ms) {
  std::string out;
  try {
    asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::milliseconds(timeout_ms));
    stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    asio::write(stream, asio::buffer(bytes));
    char buf[4096];
    beast::error_code ec;
    while (true) {
      size_t n = stream.read_some(asio::buffer(buf), ec);
      out.append(buf, n);
      if (ec) break;
    }
  } catch (const std::exception& e) {
    out += std::string("<error: ") + e.what() + ">";
  }
  return out;
}

Json FunctionJson(const std::string& ns, const std::string& name, Json spec) {
  return {{"apiVersion", "kfaas.dev/v1alpha1"},
          {"kind", "Function"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", spec}};
}

Json SliceJson(const std::string& ns, const std::string& slice, const std::string& fn,
               uint16_t port, bool ready, const std::string& address) {
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"name", slice}, {"namespace", ns}, {"labels", {{"kubernetes.io/service-name", fn}}}}},
          {"addressType", "IPv4"},
          {"ports", {{{"name", "http"}, {"port", port}, {"protocol", "TCP"}}}},
          {"endpoints", {{{"addresses", {address}}, {"conditions", {{"ready", ready}}}}}}};
}

LocalScaler::~LocalScaler() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    released_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  for (auto& [k, b] : backends_) {
    if (b) b->Stop();
  }
}

void LocalScaler::Release() {
  {
    std::lock_guard<std::mutex> l(mu_);
    released_ = true;
  }
  cv_.notify_all();
}

void LocalScaler::ScaleTo(const std::string& ns, const std::string& name, int replicas,
                          std::function<void(absl::Status)> done) {
  std::string key = ns + "/" + name;
  bool start = false;
  std::unique_ptr<TestBackend> stopped;
  {
    std::lock_guard<std::mutex> l(mu_);
    writes_[key].push_back(replicas);
    replicas_[key] = replicas;
    if (replicas >= 1 && !backends_.count(key)) {
      backends_[key] = nullptr;  // starting
      start = true;
    } else if (replicas == 0 && backends_.count(key) && backends_[key]) {
      stopped = std::move(backends_[key]);
      backends_.erase(key);
    }
  }
  done(absl::OkStatus());
  if (stopped) {
    stopped->Stop();
    if (sink_) sink_->OnEndpointSliceDeleted(SliceJson(ns, name + "-pod", name, 0, false));
  }
  if (start) {
    std::lock_guard<std::mutex> l(mu_);
    threads_.emplace_back([this, ns, name] { StartBackend(ns, name); });
  }
}

void LocalScaler::StartBackend(std::string ns, std::string name) {
  std::string key = ns + "/" + name;
  {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !hold || released_; });
    if (stopping_) return;
  }
  // Like a node: the endpoint is published (not ready) as the process starts; it listens a
  // little later; the slice says ready later still.
  uint16_t port = FreePort();
  if (sink_) sink_->OnEndpointSlice(SliceJson(ns, name + "-pod", name, port, false));
  std::this_thread::sleep_for(start_delay);
  auto b = std::make_unique<TestBackend>(name);
  if (!b->Start(port)) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    backends_[key] = std::move(b);
  }
  std::unique_lock<std::mutex> l(mu_);
  if (cv_.wait_for(l, slice_ready_delay, [&] { return stopping_; })) return;
  l.unlock();
  if (sink_) sink_->OnEndpointSlice(SliceJson(ns, name + "-pod", name, port, true));
}

std::optional<int> LocalScaler::CurrentReplicas(const std::string& ns, const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = replicas_.find(ns + "/" + name);
  if (it == replicas_.end()) return 0;
  return it->second;
}

std::vector<int> LocalScaler::Writes(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  return writes_[key];
}

TestBackend* LocalScaler::backend(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = backends_.find(key);
  return it == backends_.end() ? nullptr : it->second.get();
}

Harness::Harness(Options opts) {
  am = std::make_unique<ActivatorMetrics>(metrics_registry);
  prober = std::make_unique<net::AsioProber>();
  CoreDeps d;
  d.clock = &RealClock::Get();
  if (opts.local_scaler) {
    local_scaler = std::make_unique<LocalScaler>();
    d.scaler = local_scaler.get();
  } else {
    d.scaler = &fake_scaler;
  }
  d.reporter = &reporter;
  d.prober = prober.get();
  d.metrics = am.get();
  d.global = &global;
  d.options = opts.core;
  registry = std::make_unique<Registry>(d);
  if (local_scaler) local_scaler->set_sink(registry.get());
  opts.proxy.address = "127.0.0.1";
  opts.proxy.port = 0;
  if (opts.proxy.threads == 0) opts.proxy.threads = 2;
  server = std::make_unique<net::ProxyServer>(registry.get(), opts.proxy);
  auto st = server->Start();
  if (!st.ok()) throw std::runtime_error(std::string(st.message()));
}

Harness::~Harness() {
  server->Stop();
  local_scaler.reset();
  for (auto& b : backends) b->Stop();
  prober.reset();
}

TestBackend* Harness::AddBackend(const std::string& fn, const std::string& backend_name,
                                 const std::string& ns) {
  auto b = std::make_unique<TestBackend>(backend_name);
  if (!b->Start(0)) return nullptr;
  registry->OnEndpointSlice(SliceJson(ns, fn + "-" + backend_name, fn, b->port(), true));
  backends.push_back(std::move(b));
  return backends.back().get();
}

bool WaitFor(const std::function<bool()>& cond, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return cond();
}

}  // namespace kfaas::activator::testing
