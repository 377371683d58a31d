#!/usr/bin/python3
"""KEDA's external scaler protocol from another language: a Python gRPC client, generated at
test time from proto/externalscaler.proto with grpc_tools, calls every RPC of kfaas' C++ server
(two fake activators, one of them with an unreachable third peer) and checks the answers.

  keda_client_test.py <path to autoscaler_fake_activator> [unittest args]

Needs Debian's python3-grpcio and python3-grpc-tools (run with /usr/bin/python3).
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

FAKE = sys.argv.pop(1) if len(sys.argv) > 1 else os.environ.get("KFAAS_FAKE_ACTIVATOR", "")
SOURCE = os.environ.get("KFAAS_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Activator:
    """One autoscaler_fake_activator process; stops when its stdin closes."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([FAKE, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "port":
            self.stop()
            raise RuntimeError("fake activator did not start: %r" % line)
        self.address = "127.0.0.1:" + line[1]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class KedaClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not FAKE or not os.access(FAKE, os.X_OK):
            raise unittest.SkipTest("no fake activator binary given")
        base = os.environ.get("KFAAS_TEST_TMP") or None
        cls.tmp = tempfile.mkdtemp(prefix="keda-py-", dir=base)
        subprocess.check_call([
            sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(SOURCE, "proto"),
            "--python_out=" + cls.tmp, "--grpc_python_out=" + cls.tmp, "externalscaler.proto"])
        sys.path.insert(0, cls.tmp)
        import grpc  # noqa: E402
        import externalscaler_pb2 as pb  # noqa: E402
        import externalscaler_pb2_grpc as pb_grpc  # noqa: E402
        cls.grpc, cls.pb = grpc, pb
        cls.processes = []
        try:
            cls.peer = Activator("--id", "b", "--function", "default/hello:10:5:0")
            cls.processes.append(cls.peer)
            dead = "127.0.0.1:%d" % free_port()
            cls.main = Activator("--id", "a", "--function", "default/hello:10:7:3",
                                 "--function", "default/idle:5:0:0",
                                 "--peer", cls.peer.address, "--peer", dead)
            cls.processes.append(cls.main)
        except Exception:
            cls.tearDownClass()
            raise
        cls.channel = grpc.insecure_channel(cls.main.address)
        cls.stub = pb_grpc.ExternalScalerStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "channel", None):
            cls.channel.close()
        for p in getattr(cls, "processes", []):
            p.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ref(self, name="hello", namespace="default", metadata=None):
        return self.pb.ScaledObjectRef(name=name, namespace=namespace,
                                       scalerMetadata=metadata or {})

    def test_get_metric_spec(self):
        resp = self.stub.GetMetricSpec(self.ref(), timeout=5)
        self.assertEqual(len(resp.metricSpecs), 1)
        self.assertEqual(resp.metricSpecs[0].metricName, "kfaas-default-hello-concurrency")
        self.assertEqual(resp.metricSpecs[0].targetSize, 10)
        self.assertEqual(resp.metricSpecs[0].targetSizeFloat, 10.0)

    def test_scaler_metadata_names_the_function(self):
        ref = self.ref("my-scaledobject", "elsewhere",
                       {"namespace": "default", "function": "idle",
                        "scalerAddress": self.main.address})
        resp = self.stub.GetMetricSpec(ref, timeout=5)
        self.assertEqual(resp.metricSpecs[0].metricName, "kfaas-default-idle-concurrency")
        self.assertEqual(resp.metricSpecs[0].targetSize, 5)

    def test_is_active(self):
        self.assertTrue(self.stub.IsActive(self.ref(), timeout=5).result)
        self.assertFalse(self.stub.IsActive(self.ref("idle"), timeout=5).result)

    def test_get_metrics_sums_reachable_activators(self):
        start = time.monotonic()
        req = self.pb.GetMetricsRequest(scaledObjectRef=self.ref(),
                                        metricName="kfaas-default-hello-concurrency")
        resp = self.stub.GetMetrics(req, timeout=5)
        elapsed = time.monotonic() - start
        self.assertEqual(len(resp.metricValues), 1)
        value = resp.metricValues[0]
        self.assertEqual(value.metricName, "kfaas-default-hello-concurrency")
        # 7 in flight + 3 queued here, 5 on the reachable peer; the dead peer is left out.
        self.assertEqual(value.metricValue, 15)
        self.assertEqual(value.metricValueFloat, 15.0)
        self.assertLess(elapsed, 2.0)

    def test_stream_is_active(self):
        stream = self.stub.StreamIsActive(self.ref(), timeout=10)
        first = next(stream)
        self.assertTrue(first.result)
        stream.cancel()

    def test_stream_metric_spec(self):
        stream = self.stub.StreamMetricSpec(self.ref(), timeout=10)
        first = next(stream)
        self.assertEqual(first.metricSpecs[0].targetSize, 10)
        stream.cancel()

    def test_unknown_function_is_not_found(self):
        with self.assertRaises(self.grpc.RpcError) as cm:
            self.stub.IsActive(self.ref("nope"), timeout=5)
        self.assertEqual(cm.exception.code(), self.grpc.StatusCode.NOT_FOUND)
        self.assertIn("default/nope", cm.exception.details())


if __name__ == "__main__":
    unittest.main(verbosity=2)
