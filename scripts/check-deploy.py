#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Check the example deployments offline, against the binary they run.

  scripts/check-deploy.py [--bin ./dragonfly] [--deploy deploy]
  scripts/check-deploy.py --dashboard deploy/grafana/dragonfly.json --metrics PAGE...
  scripts/check-deploy.py --self-test

kubectl --dry-run is not available here, so this reads deploy/compose.yaml and
deploy/kubernetes/*.yaml with python3-yaml and checks what would break at run time:

- every dragonfly container runs a subcommand the binary has, with flags its --help lists,
  and `dragonfly <args> --check-config` accepts them (with $(VARS) and the TLS files filled
  in): the configuration loads as the daemon would load it;
- the ports: a Kubernetes container declares exactly the ports its role listens on (read
  from that --check-config output: listen, metricsListen, rpcPort, uploadPort,
  metricsPort, proxy.listen), compose publishes only such ports, probes ask /healthy or
  /readyz on the metrics port (the manager's REST port, which serves both), a Service's selector picks a workload and its targetPorts
  are that workload's ports, --scheduler names the scheduler's Service (or compose
  address) and its RPC port, the containerd hosts.toml points at the peer's mirror port;
- images: the one image scripts/build-image.sh makes (localhost/dragonfly:<VERSION>) for
  every dragonfly container; others only as init containers;
- volumes: every mount names a volume of its pod (or a volumeClaimTemplate), --data-dir
  and the --tls-* files lie under mounts, a DaemonSet's cache is a hostPath, a
  StatefulSet's a volumeClaimTemplate, the manager's data dir a PersistentVolumeClaim of
  these manifests (its database must outlive the pod), compose's named volumes are declared;
- workloads: apiVersion and kind go together, selectors match their template's labels,
  every $(VAR) in args is an env entry.

With --dashboard, every metric the Grafana dashboard queries must be a family (or a
histogram's _bucket/_sum/_count) of the given /metrics pages. --self-test breaks the
manifests in memory one way at a time and checks that each is caught.
"""
import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

KINDS = {
    "Namespace": "v1",
    "Service": "v1",
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "PersistentVolumeClaim": "v1",
}
ROLES = {"scheduler", "seed", "peer", "manager"}
TLS_FLAGS = ("--tls-cert", "--tls-key", "--tls-ca")


class Checker:
    def __init__(self, binary, version):
        self.bin = binary
        self.image = "localhost/dragonfly:%s" % version
        self.errors = []
        self.checked = 0
        self._flags = {}
        self._pki = None

    def err(self, where, msg):
        self.errors.append("%s: %s" % (where, msg))

    def ok(self):
        self.checked += 1

    # ---- the binary ----------------------------------------------------------------

    def run(self, args):
        return subprocess.run([self.bin] + args, capture_output=True, text=True, timeout=30)

    def flags(self, sub):
        """{flag: takes_value} from `dragonfly <sub> --help`."""
        if sub not in self._flags:
            out = self.run([sub, "--help"]).stdout
            fl = {}
            for m in re.finditer(r"^\s+(?:-\w, )?--([a-z0-9-]+)( \S+)?", out, re.M):
                fl[m.group(1)] = m.group(2) is not None
            self._flags[sub] = fl
        return self._flags[sub]

    def pki(self, role):
        """Certificate, key and CA of role for --check-config runs (made once)."""
        if self._pki is None:
            self._pki = tempfile.mkdtemp(prefix="df-check-deploy-")
            r = self.run(["cert", "ca", "--dir", self._pki + "/ca"])
            if r.returncode != 0:
                raise SystemExit("check-deploy: dragonfly cert ca: " + r.stderr)
        crt = "%s/%s.crt" % (self._pki, role)
        if not os.path.exists(crt):
            r = self.run(["cert", "issue", "--dir", self._pki + "/ca", "--role", role, "--host",
                          "check-" + role, "--ip", "10.0.0.5", "--out", "%s/%s" % (self._pki, role)])
            if r.returncode != 0:
                raise SystemExit("check-deploy: dragonfly cert issue: " + r.stderr)
        return {"--tls-cert": crt, "--tls-key": "%s/%s.key" % (self._pki, role),
                "--tls-ca": self._pki + "/ca/ca.crt"}

    def cleanup(self):
        if self._pki is not None:
            subprocess.run(["rm", "-rf", self._pki])

    # ---- one container's command line ---------------------------------------------

    def check_args(self, where, args, env_names):
        """Check args against the binary; return the role's listeners, or None."""
        if not args or args[0] not in ROLES:
            self.err(where, "command %r is not scheduler, seed, peer or manager" % (args[:1],))
            return None
        sub = args[0]
        fl = self.flags(sub)
        values = {}
        i = 1
        while i < len(args):
            a = args[i]
            if not a.startswith("--"):
                self.err(where, "stray argument %r" % a)
                i += 1
                continue
            name, eq, val = a[2:].partition("=")
            if name not in fl:
                self.err(where, "%s %s: no such flag (dragonfly %s --help)" % (sub, a, sub))
            elif fl[name] and not eq:
                if i + 1 >= len(args):
                    self.err(where, "%s needs a value" % a)
                else:
                    val = args[i + 1]
                    i += 1
            values["--" + name] = val
            i += 1
        for v in args:
            for var in re.findall(r"\$\((\w+)\)", v):
                if var not in env_names:
                    self.err(where, "$(%s) is not in the container's env" % var)
        self.ok()
        # the configuration as the daemon loads it, TLS files and $(VARS) filled in
        role = "seed" if sub == "seed" else sub
        pki = self.pki(role)
        run = []
        i = 0
        while i < len(args):
            a = args[i]
            if a in TLS_FLAGS:
                run += [a, pki[a]]
                i += 2
                continue
            run.append(re.sub(r"\$\(\w+\)", "10.0.0.5", a))
            i += 1
        r = self.run(run + ["--check-config"])
        if r.returncode != 0:
            self.err(where, "dragonfly %s --check-config: %s" % (" ".join(run), r.stderr.strip()))
            return None
        self.ok()
        return self.listeners(sub, json.loads(r.stdout), values)

    @staticmethod
    def port_of(addr):
        return int(addr.rsplit(":", 1)[1])

    def listeners(self, sub, cfg, values):
        """{name: port} of what the role listens on, and the values of its flags."""
        if sub == "manager":
            # the REST API with /metrics, /healthy and /readyz, and manager.v2 RPC
            ports = {"metrics": self.port_of(cfg["listen"]), "rpc": self.port_of(cfg["rpcListen"])}
        elif sub == "scheduler":
            ports = {"rpc": self.port_of(cfg["listen"]), "metrics": self.port_of(cfg["metricsListen"])}
        else:
            seed = cfg.get("seed", False)
            ports = {"rpc": cfg["rpcPort"], "upload": cfg["uploadPort"], "metrics": cfg["metricsPort"]}
            proxy = (cfg.get("proxy") or {}).get("listen")
            if proxy != "off":
                ports["proxy"] = (65007 if seed else 65001) if not proxy else self.port_of("x:" + proxy)
        return {"sub": sub, "ports": ports, "values": values, "cfg": cfg}

    # ---- Kubernetes ------------------------------------------------------------------

    def check_kube(self, docs):
        workloads, services = [], []
        for where, d in docs:
            kind = d.get("kind")
            if KINDS.get(kind) != d.get("apiVersion"):
                self.err(where, "kind %r with apiVersion %r" % (kind, d.get("apiVersion")))
                continue
            self.ok()
            if kind in ("Deployment", "StatefulSet", "DaemonSet"):
                workloads.append((where, d))
            elif kind == "Service":
                services.append((where, d))
        roles = {}
        claims = {d["metadata"]["name"] for _, d in docs if d.get("kind") == "PersistentVolumeClaim"}
        for where, w in workloads:
            info = self.check_workload(where, w, claims)
            if info is not None:
                roles[info["sub"]] = (w, info)
        for where, s in services:
            self.check_service(where, s, workloads)
        if "manager" not in roles:
            self.err("kubernetes", "no manager workload")
        # peers and seeds find the scheduler through its Service
        for sub in ("seed", "peer"):
            if sub not in roles:
                self.err("kubernetes", "no %s workload" % sub)
                continue
            sched = roles[sub][1]["values"].get("--scheduler", "")
            m = re.fullmatch(r"([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?:(\d+)", sched)
            svc = [s for _, s in services if m and s["metadata"]["name"] == m.group(1)
                   and s["metadata"].get("namespace") == m.group(2)]
            if not m or not svc:
                self.err(sub, "--scheduler %r names no Service here" % sched)
                continue
            if int(m.group(3)) not in [p["port"] for p in svc[0]["spec"]["ports"]]:
                self.err(sub, "--scheduler port %s is not a port of Service %s" % (m.group(3), m.group(1)))
            elif "scheduler" in roles and \
                    self.service_target(svc[0], int(m.group(3))) != roles["scheduler"][1]["ports"]["rpc"]:
                self.err(sub, "--scheduler reaches port %s, not the scheduler's RPC port" % m.group(3))
            else:
                self.ok()
        if "peer" in roles:
            self.check_hosts_toml(roles["peer"][0], roles["peer"][1])

    @staticmethod
    def service_target(svc, port):
        for p in svc["spec"]["ports"]:
            if p["port"] == port:
                return p.get("targetPort", port)
        return None

    def check_workload(self, where, w, pvcs):
        spec = w["spec"]
        tmpl = spec["template"]
        labels = tmpl["metadata"].get("labels", {})
        sel = spec.get("selector", {}).get("matchLabels", {})
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            self.err(where, "selector %r does not match the template's labels %r" % (sel, labels))
        else:
            self.ok()
        pod = tmpl["spec"]
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
        info = None
        for c in pod.get("initContainers", []):
            self.check_mounts("%s init %s" % (where, c["name"]), c, vols, claims)
        for c in pod.get("containers", []):
            cw = "%s container %s" % (where, c["name"])
            if c.get("image") != self.image:
                self.err(cw, "image %r, want %r (scripts/build-image.sh)" % (c.get("image"), self.image))
            else:
                self.ok()
            env = {e["name"] for e in c.get("env", [])}
            args = list(c.get("command", [])) + list(c.get("args", []))
            info = self.check_args(cw, args, env)
            mounts = self.check_mounts(cw, c, vols, claims)
            if info is None:
                continue
            declared = sorted(p["containerPort"] for p in c.get("ports", []))
            want = sorted(set(info["ports"].values()))
            if declared != want:
                self.err(cw, "declares ports %s; the role listens on %s" % (declared, want))
            else:
                self.ok()
            for probe in ("readinessProbe", "livenessProbe"):
                g = c.get(probe, {}).get("httpGet")
                if g is None:
                    self.err(cw, "no %s httpGet" % probe)
                elif g.get("path") not in ("/healthy", "/readyz") or g.get("port") != info["ports"]["metrics"]:
                    self.err(cw, "%s asks %s on %s, not /healthy or /readyz on the metrics port %s"
                             % (probe, g.get("path"), g.get("port"), info["ports"]["metrics"]))
                else:
                    self.ok()
            self.check_paths(cw, info, mounts)
            data = info["values"].get("--data-dir")
            if info["sub"] == "manager":
                claim = (vols.get(mounts.get(data)) or {}).get("persistentVolumeClaim", {}).get("claimName")
                if w["kind"] != "Deployment" or claim not in pvcs:
                    self.err(cw, "the manager's data dir (%s) must be a PersistentVolumeClaim of these "
                             "manifests, in a Deployment" % data)
                else:
                    self.ok()
            elif info["sub"] != "scheduler":
                src = mounts.get(data)
                if w["kind"] == "DaemonSet" and not (src in vols and "hostPath" in vols[src]):
                    self.err(cw, "a DaemonSet's cache (%s) must be a hostPath" % data)
                elif w["kind"] == "StatefulSet" and src not in claims:
                    self.err(cw, "a StatefulSet's cache (%s) must come from a volumeClaimTemplate" % data)
                else:
                    self.ok()
        return info

    def check_mounts(self, where, c, vols, claims):
        mounts = {}
        for m in c.get("volumeMounts", []):
            if m["name"] not in vols and m["name"] not in claims:
                self.err(where, "mounts %r, which is no volume of its pod" % m["name"])
            else:
                self.ok()
            mounts[m["mountPath"]] = m["name"]
        return mounts

    def check_paths(self, where, info, mounts):
        """--data-dir and the --tls-* files must lie on a mount (the root is read-only)."""
        for flag in ("--data-dir",) + TLS_FLAGS:
            path = info["values"].get(flag)
            if path is None:
                continue
            if not any(path == mp or path.startswith(mp.rstrip("/") + "/") for mp in mounts):
                self.err(where, "%s %s is on no volume" % (flag, path))
            else:
                self.ok()

    def check_service(self, where, s, workloads):
        sel = s["spec"].get("selector", {})
        match = [w for _, w in workloads
                 if sel and all(w["spec"]["template"]["metadata"].get("labels", {}).get(k) == v
                                for k, v in sel.items())]
        if len(match) != 1:
            self.err(where, "selector %r picks %d workloads, want 1" % (sel, len(match)))
            return
        ports = {p["containerPort"] for c in match[0]["spec"]["template"]["spec"]["containers"]
                 for p in c.get("ports", [])}
        for p in s["spec"]["ports"]:
            if p.get("targetPort", p["port"]) not in ports:
                self.err(where, "targetPort %s is no containerPort of %s"
                         % (p.get("targetPort"), match[0]["metadata"]["name"]))
            else:
                self.ok()

    def check_hosts_toml(self, w, info):
        script = " ".join(" ".join(c.get("command", []) + c.get("args", []))
                          for c in w["spec"]["template"]["spec"].get("initContainers", []))
        m = re.search(r'\[host\."http://([\d.]+):(\d+)"\]', script)
        if "hosts.toml" not in script or m is None:
            self.err("peer DaemonSet", "no init container writes containerd's hosts.toml")
        elif int(m.group(2)) != info["ports"].get("proxy"):
            self.err("peer DaemonSet", "hosts.toml points at port %s; the mirror listens on %s"
                     % (m.group(2), info["ports"].get("proxy")))
        else:
            self.ok()

    # ---- compose -------------------------------------------------------------------

    def check_compose(self, doc):
        svcs = doc.get("services", {})
        named = set((doc.get("volumes") or {}).keys())
        nets = set((doc.get("networks") or {}).keys())
        infos = {}
        for name, s in svcs.items():
            where = "compose %s" % name
            if s.get("image") != self.image:
                self.err(where, "image %r, want %r" % (s.get("image"), self.image))
            else:
                self.ok()
            info = self.check_args(where, list(s.get("command", [])), set())
            if info is None:
                continue
            infos[name] = info
            for p in s.get("ports", []):
                target = int(str(p).split(":")[-1].split("/")[0])
                if target not in info["ports"].values():
                    self.err(where, "publishes %s; the role listens on %s"
                             % (target, sorted(info["ports"].values())))
                else:
                    self.ok()
            mounts = {}
            for v in s.get("volumes", []):
                src, _, dst = v.partition(":")
                dst = dst.split(":")[0]
                if not src.startswith((".", "/")) and src not in named:
                    self.err(where, "volume %r is not declared" % src)
                mounts[dst] = src
            self.check_paths(where, info, mounts)
            addrs = [n.get("ipv4_address") for k, n in (s.get("networks") or {}).items()
                     if k in nets and isinstance(n, dict)]
            bind = info["values"].get("--ip") or \
                (info["values"].get("--listen") or "").rsplit(":", 1)[0]
            if not addrs or bind not in addrs:
                self.err(where, "binds %r, not its network address %r" % (bind, addrs))
            else:
                self.ok()
            for dep in s.get("depends_on", []):
                if dep not in svcs:
                    self.err(where, "depends on %r, no such service" % dep)
        sched = [i for i in infos.values() if i["sub"] == "scheduler"]
        for name, info in infos.items():
            if info["sub"] in ("scheduler", "manager"):
                continue
            want = sched[0]["values"].get("--listen") if sched else None
            if info["values"].get("--scheduler") != want:
                self.err("compose %s" % name, "--scheduler %r, the scheduler listens on %r"
                         % (info["values"].get("--scheduler"), want))
            else:
                self.ok()
        if {i["sub"] for i in infos.values()} != ROLES:
            self.err("compose", "roles %s, want scheduler, seed, peer and manager"
                     % sorted(i["sub"] for i in infos.values()))

    # ---- Grafana -------------------------------------------------------------------

    def check_dashboard(self, path, pages):
        families = set()
        for p in pages:
            for line in open(p):
                m = re.match(r"# TYPE (\S+) (\S+)", line)
                if m:
                    families.add(m.group(1))
                    if m.group(2) in ("histogram", "summary"):
                        families.update(m.group(1) + s for s in ("_bucket", "_sum", "_count"))
        dash = json.load(open(path))
        exprs = []

        def walk(o):
            if isinstance(o, dict):
                if isinstance(o.get("expr"), str):
                    exprs.append(o["expr"])
                for v in o.values():
                    walk(v)
            elif isinstance(o, list):
                for v in o:
                    walk(v)
        walk(dash)
        if not exprs:
            self.err(path, "no queries")
        for e in exprs:
            # metric names: identifiers not followed by "(" (functions) and not label names
            stripped = re.sub(r"\{[^}]*\}", "", e)
            stripped = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", stripped)
            names = [n for n in re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()", stripped)
                     if n.startswith(("dragonfly_", "process_"))]
            if not names:
                self.err(path, "query %r uses no dragonfly_ or process_ metric" % e)
            for n in names:
                if n not in families:
                    self.err(path, "query %r: %s is on no /metrics page" % (e, n))
                else:
                    self.ok()


def load_deploy(deploy):
    compose = yaml.safe_load(open(os.path.join(deploy, "compose.yaml")))
    kube = []
    kdir = os.path.join(deploy, "kubernetes")
    for f in sorted(os.listdir(kdir)):
        if f.endswith(".yaml"):
            for i, d in enumerate(yaml.safe_load_all(open(os.path.join(kdir, f)))):
                if d is not None:
                    kube.append(("%s#%d %s/%s" % (f, i, d.get("kind"), d.get("metadata", {}).get("name")), d))
    return compose, kube


def check(binary, version, compose, kube):
    c = Checker(binary, version)
    try:
        c.check_compose(compose)
        c.check_kube(kube)
    finally:
        c.cleanup()
    return c


def find(kube, kind, name):
    return [d for _, d in kube if d["kind"] == kind and d["metadata"]["name"] == name][0]


def self_test(binary, version, compose, kube):
    """Each breakage must be caught: a check that passes anything proves nothing."""
    def peer(k):
        return find(k, "DaemonSet", "dragonfly-peer")["spec"]["template"]["spec"]

    def manager(k):
        return find(k, "Deployment", "dragonfly-manager")["spec"]["template"]["spec"]

    breaks = {
        "an unknown flag": lambda c, k: peer(k)["containers"][0]["args"].append("--no-such-flag"),
        "a bad flag value": lambda c, k: peer(k)["containers"][0]["args"].extend(["--cache-quota", "lots"]),
        "a port the role does not listen on": lambda c, k: peer(k)["containers"][0]["ports"].append(
            {"name": "x", "containerPort": 4003}),
        "a probe off the metrics port": lambda c, k: peer(k)["containers"][0]["readinessProbe"]["httpGet"].update(
            port=65002),
        "a mount of no volume": lambda c, k: peer(k)["containers"][0]["volumeMounts"].append(
            {"name": "nope", "mountPath": "/x"}),
        "another image": lambda c, k: peer(k)["containers"][0].update(image="dragonfly:latest"),
        "an env var not defined": lambda c, k: peer(k)["containers"][0].update(env=[]),
        "a Service to no port": lambda c, k: find(k, "Service", "dragonfly-scheduler")["spec"]["ports"][0].update(
            targetPort=9999),
        "a scheduler address of no Service": lambda c, k: peer(k)["containers"][0]["args"].__setitem__(
            peer(k)["containers"][0]["args"].index("--scheduler") + 1, "nowhere.dragonfly.svc:8002"),
        "hosts.toml at another port": lambda c, k: peer(k)["initContainers"][0].update(
            command=[s.replace("65001", "65009") for s in peer(k)["initContainers"][0]["command"]]),
        "a compose service on another address": lambda c, k: c["services"]["peer"]["command"].__setitem__(
            c["services"]["peer"]["command"].index("--ip") + 1, "172.28.0.9"),
        "compose publishing a closed port": lambda c, k: c["services"]["scheduler"]["ports"].append("9000:9000"),
        "a manager probe off its REST port": lambda c, k: manager(k)["containers"][0]["readinessProbe"][
            "httpGet"].update(port=8000),
        "a manager data dir on no volume": lambda c, k: manager(k)["containers"][0]["volumeMounts"].pop(0),
        "a manager data dir in an emptyDir": lambda c, k: [v.update(emptyDir={}) or v.pop("persistentVolumeClaim")
                                                          for v in manager(k)["volumes"] if v["name"] == "data"],
        "a manager claim not in the manifests": lambda c, k: [k.remove(d) for d in list(k)
                                                             if d[1]["kind"] == "PersistentVolumeClaim"],
        "a manager flag it does not have": lambda c, k: manager(k)["containers"][0]["args"].extend(
            ["--scheduler", "x:1"]),
        "no manager in compose": lambda c, k: c["services"].pop("manager"),
        "a compose manager publishing another port": lambda c, k: c["services"]["manager"]["ports"].append(
            "8000:8000"),
        "a cache that is no hostPath": lambda c, k: [v.update(emptyDir={}) or v.pop("hostPath")
                                                    for v in peer(k)["volumes"] if v["name"] == "cache"],
    }
    bad = 0
    for what, fn in breaks.items():
        c2, k2 = copy.deepcopy(compose), copy.deepcopy(kube)
        fn(c2, k2)
        res = check(binary, version, c2, k2)
        if res.errors:
            print("ok   caught %s: %s" % (what, res.errors[0]))
        else:
            print("FAIL not caught: %s" % what)
            bad += 1
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="./dragonfly")
    ap.add_argument("--deploy", default="deploy")
    ap.add_argument("--dashboard")
    ap.add_argument("--metrics", nargs="*", default=[])
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    version = re.search(r"^VERSION\s*:=\s*(\S+)", open(os.path.join(os.path.dirname(__file__), "..", "Makefile")).read(),
                        re.M).group(1)
    if a.dashboard:
        c = Checker(a.bin, version)
        c.check_dashboard(a.dashboard, a.metrics)
    else:
        compose, kube = load_deploy(a.deploy)
        if a.self_test:
            bad = self_test(a.bin, version, compose, kube)
            print("check-deploy self-test: %d not caught" % bad)
            return 1 if bad else 0
        c = check(a.bin, version, compose, kube)
    for e in c.errors:
        print("FAIL " + e)
    print("check-deploy: %d checks, %d failed" % (c.checked + len(c.errors), len(c.errors)))
    return 1 if c.errors else 0


if __name__ == "__main__":
    sys.exit(main())
