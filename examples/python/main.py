#!/usr/bin/python3
"""hello-python: the example kfaas function in Python (standard library only).

    PORT=8080 GREETING=hi examples/python/main.py

Same endpoints as the C++ example (examples/hello):
  GET  /healthz        200 "ok" (the readiness probe)
  GET  /sleep?ms=N     answers after N milliseconds (each connection has its own thread)
  POST <any path>      echoes the request body (and its Content-Type)
  GET  <any other>     the greeting: $GREETING (default "Hello from kfaas!") and a newline
Every response carries `X-Kfaas-Instance: $HOSTNAME` (the pod name under kfaas-local).
On SIGTERM it stops accepting, lets the requests in flight finish, and exits 0.
"""
import functools
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

GREETING = os.environ.get("GREETING") or "Hello from kfaas!"
INSTANCE = os.environ.get("HOSTNAME", "")

_in_flight = 0
_changed = threading.Condition()


def tracked(method):
    """Counts a request as in flight while its handler runs (idle keep-alive does not count)."""

    @functools.wraps(method)
    def wrapper(self):
        global _in_flight
        with _changed:
            _in_flight += 1
        try:
            method(self)
        finally:
            with _changed:
                _in_flight -= 1
                _changed.notify_all()

    return wrapper


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "hello-python"

    def log_message(self, fmt, *args):  # one line per request is noise under load
        pass

    def _send(self, body, content_type="text/plain"):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Kfaas-Instance", INSTANCE)
        self.end_headers()
        self.wfile.write(data)

    @tracked
    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._send("ok\n")
        elif url.path == "/sleep":
            try:
                ms = max(0, int(parse_qs(url.query).get("ms", ["0"])[0]))
            except ValueError:
                ms = 0
            time.sleep(ms / 1000.0)
            self._send("slept %d ms\n" % ms)
        else:
            self._send(GREETING + "\n")

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            body = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    @tracked
    def do_POST(self):
        body = self._read_body()
        self._send(body, self.headers.get("Content-Type") or "application/octet-stream")

    do_PUT = do_POST


class Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not hold up the exit
    request_queue_size = 1024


def main():
    port = int(os.environ.get("PORT", "8080"))
    server = Server((os.environ.get("BIND_ADDRESS", ""), port), Handler)

    def stop(signum, frame):
        print("hello-python: signal %d, finishing requests in flight" % signum,
              file=sys.stderr, flush=True)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("hello-python: listening on port %d" % port, file=sys.stderr, flush=True)
    server.serve_forever(poll_interval=0.05)
    server.socket.close()
    with _changed:
        _changed.wait_for(lambda: _in_flight == 0)
    print("hello-python: exiting", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
