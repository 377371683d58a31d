"""A recording HTTP proxy in front of the Kubernetes API server (kfaas-local's plain-HTTP port).

Each component under test gets its own proxy (and a kubeconfig pointing at it), so every request
is attributed to the component that sent it, whatever its User-Agent. Each request is appended to
a JSON-lines log as a Kubernetes audit-style record:

  {"component": "operator", "userAgent": "...", "method": "PATCH", "path": "/apis/...",
   "verb": "patch", "apiGroup": "apps", "apiVersion": "v1", "resource": "deployments",
   "subresource": "scale", "namespace": "default", "name": "hello", "code": 200}

Responses are streamed (watches stay open and flow through chunk by chunk)."""
import http.client
import http.server
import json
import socketserver
import threading
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "host", "content-length"}


def request_info(method, raw_path):
    """Kubernetes' RequestInfo for a request: verb, API group/version, resource, subresource,
    namespace and name (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go, simplified)."""
    u = urllib.parse.urlsplit(raw_path)
    q = urllib.parse.parse_qs(u.query)
    parts = [p for p in u.path.split("/") if p]
    info = {"path": u.path, "query": u.query, "verb": method.lower(), "apiGroup": "", "apiVersion": "",
            "resource": "", "subresource": "", "namespace": "", "name": "", "resourceRequest": False}
    if len(parts) >= 2 and parts[0] == "api":
        info["apiVersion"], rest = parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        info["apiGroup"], info["apiVersion"], rest = parts[1], parts[2], parts[3:]
    else:
        return info  # a non-resource URL (/version, /api, /apis, /openapi/v3, ...)
    if not rest:
        return info  # discovery of a group version
    info["resourceRequest"] = True
    if rest[0] == "watch":  # deprecated /watch/ paths
        info["verb"] = "watch"
        rest = rest[1:]
    if len(rest) >= 2 and rest[0] == "namespaces":
        info["namespace"] = rest[1]
        if len(rest) == 2 or (len(rest) == 3 and rest[2] in ("status", "finalize")):
            info["resource"], info["name"] = "namespaces", rest[1]
            if len(rest) == 3:
                info["subresource"] = rest[2]
            rest = []
        else:
            rest = rest[2:]
    if rest:
        info["resource"] = rest[0]
        if len(rest) >= 2:
            info["name"] = rest[1]
        if len(rest) >= 3:
            info["subresource"] = rest[2]
    m = method.upper()
    if info["verb"] == "watch":
        pass
    elif m in ("GET", "HEAD"):
        if q.get("watch", ["false"])[0] in ("true", "1"):
            info["verb"] = "watch"
        else:
            info["verb"] = "get" if info["name"] else "list"
    elif m == "POST":
        info["verb"] = "create"
    elif m == "PUT":
        info["verb"] = "update"
    elif m == "PATCH":
        info["verb"] = "patch"
    elif m == "DELETE":
        info["verb"] = "delete" if info["name"] else "deletecollection"
    return info


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _proxy(self):
        srv = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        record = {"component": srv.component, "userAgent": self.headers.get("User-Agent", ""),
                  "method": self.command}
        record.update(request_info(self.command, self.path))
        conn = http.client.HTTPConnection(srv.upstream_host, srv.upstream_port, timeout=900)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            record["code"] = resp.status
            srv.write(record)
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            clen = resp.getheader("Content-Length")
            if clen is not None and resp.getheader("Transfer-Encoding") is None:
                data = resp.read()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (ConnectionError, OSError) as e:
            if "code" not in record:
                record["code"] = 502
                record["error"] = str(e)
                srv.write(record)
            self.close_connection = True
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _proxy


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class AuditProxy:
    """Listens on 127.0.0.1:<free port> and forwards to upstream ("http://127.0.0.1:6444")."""

    def __init__(self, component, upstream, log_path):
        u = urllib.parse.urlsplit(upstream)
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.component = component
        self.server.upstream_host = u.hostname
        self.server.upstream_port = u.port or 80
        self._lock = threading.Lock()
        self._log = open(log_path, "a")
        self.server.write = self._write
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _write(self, record):
        with self._lock:
            self._log.write(json.dumps(record, sort_keys=True) + "\n")
            self._log.flush()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        with self._lock:
            self._log.close()


def read_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_kubeconfig(path, server, namespace="default"):
    """A kubeconfig for a plain-HTTP server (no credentials: client-go sends none over http)."""
    with open(path, "w") as f:
        f.write("""apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster:
      server: %s
contexts:
  - name: local
    context:
      cluster: local
      user: local
      namespace: %s
users:
  - name: local
    user: {}
current-context: local
""" % (server, namespace))
