#!/usr/bin/python3
"""Static checks of images/Dockerfile (no Docker engine here, so it cannot be built):
  - the build stage installs the C++ build packages of hack/install-deps.sh and nothing else;
  - the runtime stage is debian:<release>-slim, non-root (65532), and its packages are exactly
    what the binaries need: every shared library `ldd` finds for the built kfaas-operator and
    kfaas-activator belongs (dpkg -S) to a package of the runtime stage, a dependency of one, or the
    slim base image, and every runtime package provides a library one of the binaries loads (or
    is listed in PENDING_RUNTIME: skipped, naming it);
  - each component target copies its binary and runs it as the ENTRYPOINT, and the CMake target it
    builds exists."""
import functools
import json
import os
import re
import shlex
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testlib  # noqa: E402

DOCKERFILE = os.path.join(testlib.ROOT, "images", "Dockerfile")
INSTALL_DEPS = os.path.join(testlib.ROOT, "hack", "install-deps.sh")
COMPONENTS = {"operator": "kfaas-operator", "activator": "kfaas-activator"}
# Packages of the debian:bookworm-slim image that binaries link against (apt itself needs them).
SLIM_BASE = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}
# Runtime packages that provide no library (TLS roots for the API server's certificates).
NON_LIBRARY_RUNTIME = {"ca-certificates"}
# Runtime packages for code that has not landed in the binaries yet, {package: what will load it}:
# the test skips naming them while no binary loads them, and fails once one does (remove the entry).
# Empty: gRPC/protobuf (libgrpc++1.51, libgrpc29, libprotobuf32) are loaded by both binaries since
# the autoscaler wiring (the activator's gRPC server, the operator's stats client).
PENDING_RUNTIME = {}


def parse_dockerfile(path):
    """{stage: {"from": image, "apt": [packages], "user": str, "entrypoint": [..], "copy_from": [..],
    "run": [commands]}} plus the ARG defaults."""
    with open(path) as f:
        text = f.read()
    text = re.sub(r"\\\n", " ", text)  # line continuations
    args, stages, cur = {}, {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        rest = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), rest)
        if instr == "ARG" and "=" in rest:
            k, v = rest.split("=", 1)
            args[k.strip()] = v.strip()
        elif instr == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            name = m.group(2) or str(len(stages))
            base = m.group(1)
            cur = {"from": base, "apt": [], "user": None, "entrypoint": None, "copy_from": [], "run": []}
            if base in stages:  # inherits from an earlier stage
                cur["user"] = stages[base]["user"]
            stages[name] = cur
        elif instr == "RUN":
            cur["run"].append(rest)
            for cmd in re.split(r"&&|;", rest):
                words = shlex.split(cmd)
                if "apt-get" in words and "install" in words:
                    cur["apt"] += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
        elif instr == "USER":
            cur["user"] = rest
        elif instr == "ENTRYPOINT":
            cur["entrypoint"] = json.loads(rest)
        elif instr == "COPY":
            m = re.match(r"--from=(\S+)\s+(\S+)\s+(\S+)", rest)
            if m:
                cur["copy_from"].append(m.groups())
    return args, stages


def install_deps_groups():
    """{group comment: [packages]} of PACKAGES=(...) in hack/install-deps.sh."""
    with open(INSTALL_DEPS) as f:
        text = f.read()
    body = re.search(r"PACKAGES=\((.*?)\n\)", text, re.S).group(1)
    groups, cur = {}, None
    for line in body.splitlines():
        line = line.strip()
        if line.startswith("#"):
            cur = line.lstrip("# ").split(" (")[0]
            groups[cur] = []
        elif line:
            groups[cur] += line.split()
    return groups


def _usrmerge_candidates(path):
    real = os.path.realpath(path)
    candidates = [path, real]
    for p in list(candidates):
        if p.startswith("/usr/lib/"):
            candidates.append(p[len("/usr"):])
        elif p.startswith("/lib/"):
            candidates.append("/usr" + p)
    return candidates


def packages_of(paths):
    """{path: the Debian package owning it, or None}, trying both sides of the /usr merge; one
    `dpkg -S` for all of them (one per file takes minutes on a loaded machine)."""
    cands = {p: _usrmerge_candidates(p) for p in paths}
    every = sorted({c for cs in cands.values() for c in cs})
    owner = {}
    if every:
        r = subprocess.run(["dpkg", "-S"] + every, capture_output=True, text=True)
        for line in r.stdout.splitlines():
            pkgs, sep, path = line.partition(": ")
            if sep and not pkgs.startswith("diversion"):
                owner.setdefault(path.strip(), pkgs.split(",")[0].strip().split(":")[0])
    return {p: next((owner[c] for c in cs if c in owner), None) for p, cs in cands.items()}


def ldd_libraries(binary):
    r = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True)
    libs = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line)
        if m:
            if m.group(2) == "not":
                raise AssertionError("%s: %s is not found" % (binary, m.group(1)))
            libs[m.group(1)] = m.group(2)
        else:
            m = re.match(r"\s*(/\S+)\s+\(", line)  # the dynamic loader
            if m:
                libs[os.path.basename(m.group(1))] = m.group(1)
    return libs


@functools.lru_cache(maxsize=None)
def installed_depends():
    """{installed package: [names in its Depends and Pre-Depends, all alternatives]}, from one
    dpkg-query."""
    r = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}\t${Package}\t${Depends}, ${Pre-Depends}\n"],
                       capture_output=True, text=True, check=True)
    out = {}
    for line in r.stdout.splitlines():
        status, name, deps = (line.split("\t") + ["", ""])[:3]
        if status != "installed":
            continue
        names = []
        for dep in deps.split(","):
            for alt in dep.split("|"):
                n = alt.strip().split(" ")[0].split(":")[0]
                if n:
                    names.append(n)
        out.setdefault(name, []).extend(names)
    return out


def depends_closure(packages):
    """Installed packages reachable through Depends/Pre-Depends (all installed alternatives)."""
    deps = installed_depends()
    seen, todo = set(), list(packages)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo.extend(n for n in deps.get(p, []) if n not in seen)
    return seen


@functools.lru_cache(maxsize=None)
def closure_of(package):
    return frozenset(depends_closure([package]))


class ImagesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.args, cls.stages = parse_dockerfile(DOCKERFILE)

    def test_build_stage_matches_install_deps(self):
        groups = install_deps_groups()
        all_deps = {p for g in groups.values() for p in g}
        build = set(self.stages["build"]["apt"])
        self.assertTrue(self.stages["build"]["from"].startswith("debian:bookworm"), self.stages["build"]["from"])
        self.assertFalse(build - all_deps, "build-stage packages missing from hack/install-deps.sh")
        cxx = set(groups["C++ libraries"])
        self.assertFalse(cxx - build, "C++ libraries of hack/install-deps.sh missing from the build stage")
        for tool in ("g++", "cmake", "ninja-build", "pkg-config"):
            self.assertIn(tool, build)
        self.assertNotIn("libboost1.81-dev", build)

    def test_runtime_stage(self):
        rt = self.stages["runtime"]
        self.assertEqual(rt["from"], "debian:bookworm-slim")
        self.assertEqual(rt["user"], "65532:65532", "numeric non-root USER (runAsNonRoot needs numbers)")
        self.assertFalse([p for p in rt["apt"] if p.endswith("-dev")], "no -dev packages at runtime")
        self.assertTrue(any("rm -rf /var/lib/apt/lists" in r for r in rt["run"]), "apt lists removed")

    def test_component_stages(self):
        for comp, binary in COMPONENTS.items():
            st = self.stages[comp]
            self.assertEqual(st["from"], "runtime", comp)
            self.assertEqual(st["user"], "65532:65532", comp)
            path = "/usr/local/bin/" + binary
            self.assertEqual(st["entrypoint"], [path], comp)
            self.assertIn(("build-" + comp, "/out/" + binary, path), st["copy_from"], comp)
            build_cmds = " ".join(self.stages["build-" + comp]["run"])
            self.assertIn("--target %s " % binary, build_cmds + " ", comp)

    def test_cmake_targets_exist(self):
        if not os.path.exists(os.path.join(testlib.BUILD, "CMakeCache.txt")):
            self.skipTest("no configured build dir at %s" % testlib.BUILD)
        r = subprocess.run(["cmake", "--build", testlib.BUILD, "--target", "help"], capture_output=True, text=True)
        targets = {line.split(":")[0].strip() for line in r.stdout.splitlines()}
        missing = [b for b in COMPONENTS.values() if b not in targets]
        if missing:
            self.skipTest("CMake targets %s do not exist yet (the operator/activator have not landed)" % missing)

    def test_runtime_packages_cover_ldd(self):
        runtime = set(self.stages["runtime"]["apt"])
        closure = depends_closure(runtime | SLIM_BASE)
        needed = set()  # packages owning a library one of the binaries loads
        built = {b: testlib.find_binary(b) for b in COMPONENTS.values()}
        missing = [b for b, p in built.items() if not p]
        if len(missing) == len(built):
            self.skipTest("neither %s is built: nothing to run ldd on" % " nor ".join(missing))
        libs = {binary: {so: lib for so, lib in ldd_libraries(path).items() if not so.startswith("linux-vdso")}
                for binary, path in built.items() if path}
        owners = packages_of({lib for by_so in libs.values() for lib in by_so.values()})
        for binary, by_so in libs.items():
            for soname, lib in by_so.items():
                pkg = owners[lib]
                self.assertIsNotNone(pkg, "%s needs %s (%s), which no Debian package owns" % (binary, soname, lib))
                self.assertIn(pkg, closure, "%s needs %s from %s: add it to the runtime stage" % (binary, soname, pkg))
                needed.add(pkg)
        if missing:
            self.skipTest("%s not built: the runtime packages were checked against the others only" % missing)
        # A runtime package is used if it owns a needed library, or brings in one that neither the
        # other runtime packages nor the base image would (e.g. a dependency-only package).
        used = set()
        for q in runtime:
            others = depends_closure((runtime - {q}) | SLIM_BASE)
            if q in needed or (closure_of(q) & needed) - others:
                used.add(q)
        landed = sorted(used & set(PENDING_RUNTIME))
        self.assertFalse(landed, "now loaded by a binary: remove from PENDING_RUNTIME: %s" % landed)
        unused = runtime - used - NON_LIBRARY_RUNTIME
        pending = sorted(unused & set(PENDING_RUNTIME))
        unused -= set(pending)
        self.assertFalse(unused, "runtime packages no binary loads a library from: remove them")
        if pending:
            self.skipTest("runtime packages no binary loads yet, kept for code not landed: %s" % "; ".join(
                "%s (%s)" % (p, PENDING_RUNTIME[p]) for p in pending))


if __name__ == "__main__":
    testlib.main()
