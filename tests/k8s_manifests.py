#!/usr/bin/python3
"""Checks that the Kubernetes manifests under deploy/k8s/ fit together:
what ties them is names and ports that nothing checks until a cluster runs
them, and there is none here. Every manifest is parsed (PyYAML); then:

- each Service's selector picks the pods of a workload, and each of its
  ports' targetPort is a containerPort of those pods, with the protocol;
- each container has liveness and readiness probes, GET /healthz on one
  of its TCP ports;
- a pod scraped by Prometheus names its container's port "http", as a
  string, and path /metrics;
- every container is non-root (a numeric user), read-only, without
  privilege escalation or capabilities, under a seccomp profile;
- ringcast's arguments are options of the ringcast given (its --help), its
  --listen and --udp ports are its containerPorts, --nats is made of the
  environment variables of a non-headless Service that reaches the NATS
  pods' client port, the arguments so expanded parse (ringcast ... --version),
  and --backend io_uring is not combined with the RuntimeDefault profile,
  which blocks io_uring under containerd >= 2.0;
- the NATS config the StatefulSet mounts listens on its containerPorts,
  routes to each replica by name under the StatefulSet's headless Service
  on the cluster port, and passes `nats-server -t`.

usage: k8s_manifests.py RINGCAST DIR"""
import glob
import os
import re
import subprocess
import sys
import tempfile

import yaml

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
failures = []
checks = 0


def check(cond, msg):
    global checks
    checks += 1
    if not cond:
        failures.append(msg)
    return cond


def load(directory):
    docs = []
    for path in sorted(glob.glob(os.path.join(directory, "*.y*ml"))):
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if doc is not None:
                    docs.append((os.path.basename(path), doc))
    if not docs:
        sys.exit(f"{directory}: no manifests")
    return docs


def ports_of(pod):
    """(container, port) for every containerPort of a pod spec."""
    return [(c, p) for c in pod["containers"] for p in c.get("ports", [])]


def find_port(pod, ref, protocol="TCP"):
    """The containerPort that ref (a name or a number) names, or None."""
    for _, p in ports_of(pod):
        if (p.get("name") == ref or p["containerPort"] == ref) and \
                p.get("protocol", "TCP") == protocol:
            return p
    return None


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def option_names(ringcast):
    """{name: takes an argument} from the OPTIONS of `ringcast --help`."""
    out = subprocess.run([ringcast, "--help"], capture_output=True, text=True,
                         check=True).stdout
    return {m[0]: bool(m[1]) for m in re.findall(r"^ {4}--([a-z0-9-]+)( \S+)?", out, re.M)}


def parse_args(args, options, where):
    """[(option, value)] of an argument list: '--opt value' or '--opt=value'."""
    pairs, i = [], 0
    while i < len(args):
        name, eq, value = args[i][2:].partition("=")
        check(args[i].startswith("--") and name in options,
              f"{where}: '{args[i]}' is not an option of ringcast --help")
        if options.get(name) and not eq:
            value = args[i + 1] if i + 1 < len(args) else None
            i += 1
        pairs.append((name, value))
        i += 1
    return pairs


def env_name(service):
    return service.upper().replace("-", "_")


def check_services(services, workloads):
    for svc in services:
        name, spec = svc["metadata"]["name"], svc["spec"]
        pods = [w for w in workloads if selects(spec.get("selector"),
                                                 w["spec"]["template"]["metadata"]["labels"])]
        if not check(pods, f"Service {name}: its selector {spec.get('selector')} picks no workload's pods"):
            continue
        ports = spec.get("ports", [])
        check(ports, f"Service {name}: no ports")
        for sp in ports:
            check(len(ports) == 1 or sp.get("name"), f"Service {name}: port {sp['port']} has no name")
            target, proto = sp.get("targetPort", sp["port"]), sp.get("protocol", "TCP")
            for w in pods:
                check(find_port(w["spec"]["template"]["spec"], target, proto),
                      f"Service {name}: targetPort {target}/{proto} is no containerPort of "
                      f"{w['kind']} {w['metadata']['name']}")


def check_pod(w):
    name = f"{w['kind']} {w['metadata']['name']}"
    meta, pod = w["spec"]["template"]["metadata"], w["spec"]["template"]["spec"]
    check(selects(w["spec"]["selector"]["matchLabels"], meta.get("labels", {})),
          f"{name}: selector does not match its pod labels")
    names = [p["name"] for _, p in ports_of(pod) if "name" in p]
    check(len(names) == len(set(names)), f"{name}: port names repeat")
    for n in names:
        check(re.fullmatch(r"(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?", n) and "--" not in n,
              f"{name}: port name '{n}' is not a valid IANA service name")
    pod_sc = pod.get("securityContext", {})
    for c in pod["containers"]:
        where = f"{name} container {c['name']}"
        for kind in ("livenessProbe", "readinessProbe"):
            get = c.get(kind, {}).get("httpGet", {})
            check(get.get("path") == "/healthz", f"{where}: {kind} is not GET /healthz")
            check(find_port(pod, get.get("port")), f"{where}: {kind} port {get.get('port')} is no TCP containerPort")
        sc = c.get("securityContext", {})
        merged = {**pod_sc, **sc}
        check(merged.get("runAsNonRoot") is True, f"{where}: runAsNonRoot is not true")
        check(isinstance(merged.get("runAsUser"), int) and merged["runAsUser"] > 0,
              f"{where}: runAsUser is not a non-root number")
        check(sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem is not true")
        check(sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation is not false")
        check("ALL" in sc.get("capabilities", {}).get("drop", []), f"{where}: capabilities do not drop ALL")
        check(merged.get("seccompProfile", {}).get("type") in ("RuntimeDefault", "Localhost"),
              f"{where}: no RuntimeDefault or Localhost seccompProfile")
    ann = meta.get("annotations", {})
    if ann.get("prometheus.io/scrape") == "true":
        http = find_port(pod, "http")
        check(http and ann.get("prometheus.io/port") == str(http["containerPort"]),
              f"{name}: prometheus.io/port {ann.get('prometheus.io/port')!r} is not the string of port http")
        check(ann.get("prometheus.io/path") == "/metrics", f"{name}: prometheus.io/path is not /metrics")


def config_file(w, container, configmaps):
    """The text of the file `--config PATH` names, from the ConfigMap mounted there."""
    argv = container.get("command", []) + container.get("args", [])
    path = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-c", "--config")), None)
    if not check(path, "nats container: no --config"):
        return None
    volumes = {v["name"]: v for v in w["spec"]["template"]["spec"].get("volumes", [])}
    for m in container.get("volumeMounts", []):
        if os.path.dirname(path) == m["mountPath"].rstrip("/"):
            cm = configmaps.get(volumes.get(m["name"], {}).get("configMap", {}).get("name"))
            text = cm and cm.get("data", {}).get(os.path.basename(path))
            check(text, f"nats: {path} is not a key of the ConfigMap mounted at {m['mountPath']}")
            return text
    check(False, f"nats: nothing mounted at {os.path.dirname(path)}")
    return None


def check_nats(w, services, configmaps):
    pod = w["spec"]["template"]["spec"]
    c = pod["containers"][0]
    text = config_file(w, c, configmaps)
    if not text:
        return
    cluster = re.search(r"^\s*cluster\s*\{(.*?)^\s*\}", text, re.S | re.M)
    top = text.replace(cluster.group(0), "") if cluster else text
    check(cluster, "nats.conf: no cluster block")

    def port_of(key, block):
        m = re.search(rf"^\s*{key}\s*[:=]\s*\S*:(\d+)\s*$", block or "", re.M)
        return int(m.group(1)) if m else None

    for key, block, pname in (("listen", top, "client"), ("http", top, "monitor"),
                              ("listen", cluster and cluster.group(1), "cluster")):
        p = find_port(pod, pname)
        check(p and port_of(key, block) == p["containerPort"],
              f"nats.conf: {key} port {port_of(key, block)} is not containerPort {pname}")
    headless = next((s for s in services if s["metadata"]["name"] == w["spec"].get("serviceName")), None)
    if check(headless and headless["spec"].get("clusterIP") == "None",
             f"StatefulSet {w['metadata']['name']}: serviceName is no headless Service") \
            and find_port(pod, "cluster"):
        cport = find_port(pod, "cluster")["containerPort"]
        check(any(find_port(pod, sp.get("targetPort", sp["port"])) == find_port(pod, "cluster")
                  for sp in headless["spec"]["ports"]),
              f"Service {headless['metadata']['name']}: no port to the cluster port")
        want = {f"{w['metadata']['name']}-{i}.{headless['metadata']['name']}:{cport}"
                for i in range(w["spec"]["replicas"])}
        routes = set(re.findall(r"nats(?:-route)?://([^\s,\]\"]+)", cluster.group(1) if cluster else ""))
        check(routes == want, f"nats.conf: routes {sorted(routes)}, expected {sorted(want)}")
    env = {e["name"]: "x" for e in c.get("env", [])}
    for var in re.findall(r"\$(\w+)", text):
        check(var in env, f"nats.conf: ${var} is not in the container's env")
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write(text)
        f.flush()
        r = subprocess.run(["nats-server", "-t", "-c", f.name], capture_output=True, text=True,
                           env={**os.environ, **env})
        check(r.returncode == 0, f"nats-server -t: {r.stdout}{r.stderr}".strip())


def check_ringcast(ringcast, w, c, services, nats):
    where = f"{w['kind']} {w['metadata']['name']}"
    pod = w["spec"]["template"]["spec"]
    options = option_names(ringcast)
    args = c.get("args", [])
    pairs = parse_args(args, options, where)
    for name, value in pairs:
        check(value is not None or not options.get(name), f"{where}: --{name} without its value")
    pairs = [(n, v) for n, v in pairs if v is not None]
    check(find_port(pod, "http"), f"{where}: no containerPort named http")
    check(w["spec"]["template"]["metadata"].get("annotations", {}).get("prometheus.io/scrape") == "true",
          f"{where}: no prometheus.io/scrape: \"true\" annotation")
    for name, value in pairs:
        if name == "listen":
            check(find_port(pod, "http") and value.endswith(f":{find_port(pod, 'http')['containerPort']}"),
                  f"{where}: --listen {value} is not on containerPort http")
        if name in ("udp", "udp-mux"):
            port = int(value.split("=")[0].rsplit(":", 1)[1])
            check(find_port(pod, port, "UDP"), f"{where}: --{name} {value}: no UDP containerPort {port}")
    udp_args = {int(v.split("=")[0].rsplit(":", 1)[1]) for n, v in pairs if n in ("udp", "udp-mux")}
    for _, p in ports_of(pod):
        if p.get("protocol") == "UDP":
            check(p["containerPort"] in udp_args, f"{where}: UDP containerPort {p['containerPort']} has no --udp")
    seccomp = pod.get("securityContext", {}).get("seccompProfile", {}).get("type")
    check(("backend", "io_uring") not in pairs or seccomp != "RuntimeDefault",
          f"{where}: --backend io_uring under the RuntimeDefault seccomp profile")

    # The environment the kubelet gives: per Service with a ClusterIP,
    # NAME_SERVICE_HOST, NAME_SERVICE_PORT (its first port) and
    # NAME_SERVICE_PORT_PORTNAME. 10.96.0.N stands for the ClusterIPs.
    env, reaches = {}, {}
    for i, s in enumerate(services):
        if s["spec"].get("clusterIP") == "None":
            continue
        n = env_name(s["metadata"]["name"])
        env[f"{n}_SERVICE_HOST"] = f"10.96.0.{i + 10}"
        env[f"{n}_SERVICE_PORT"] = str(s["spec"]["ports"][0]["port"])
        for sp in s["spec"]["ports"]:
            if sp.get("name"):
                env[f"{n}_SERVICE_PORT_{env_name(sp['name'])}"] = str(sp["port"])
            # Which port of the NATS pods this Service port reaches.
            if nats and selects(s["spec"]["selector"], nats["spec"]["template"]["metadata"]["labels"]):
                p = find_port(nats["spec"]["template"]["spec"], sp.get("targetPort", sp["port"]))
                reaches[(env[f"{n}_SERVICE_HOST"], str(sp["port"]))] = p and p.get("name")
    url = dict(pairs).get("nats")
    if not check(url, f"{where}: no --nats"):
        return
    m = re.fullmatch(r"nats://\$\((\w+)\):(\$\((\w+)\)|\d+)", url)
    if check(m, f"{where}: --nats {url} is not nats://$(NAME_SERVICE_HOST):PORT (ringcast resolves no names)"):
        check(pod.get("enableServiceLinks", True), f"{where}: enableServiceLinks is false")
        check(m.group(1) in env, f"{where}: --nats: {m.group(1)} is no Service's host variable")
        port = env.get(m.group(3)) if m.group(3) else m.group(2)
        check(m.group(1).endswith("_SERVICE_HOST") and (not m.group(3) or
              m.group(3).startswith(m.group(1)[:-len("HOST")] + "PORT")),
              f"{where}: --nats: host and port variables of different Services")
        check(reaches.get((env.get(m.group(1)), port)) == "client",
              f"{where}: --nats {url} does not reach the NATS pods' client port")
    expanded = [re.sub(r"\$\((\w+)\)", lambda v: env.get(v.group(1), v.group(0)), a) for a in args]
    r = subprocess.run([ringcast, *expanded, "--version"], capture_output=True, text=True)
    check(r.returncode == 0, f"{where}: ringcast {' '.join(expanded)}: {r.stderr.strip()}")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.rsplit("\n", 1)[-1])
    ringcast, directory = sys.argv[1], sys.argv[2]
    docs = load(directory)
    for path, d in docs:
        check(d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"),
              f"{path}: a document without apiVersion, kind or metadata.name")
    objs = [d for _, d in docs]
    workloads = [d for d in objs if d["kind"] in WORKLOADS]
    services = [d for d in objs if d["kind"] == "Service"]
    configmaps = {d["metadata"]["name"]: d for d in objs if d["kind"] == "ConfigMap"}
    check_services(services, workloads)
    for w in workloads:
        check_pod(w)
    containers = [(w, c) for w in workloads for c in w["spec"]["template"]["spec"]["containers"]]
    nats = [(w, c) for w, c in containers if "nats-server" in c.get("command", []) + [c["image"]]
            or c["image"].split(":")[0].endswith("nats")]
    rc = [(w, c) for w, c in containers if "ringcast" in c["image"]]
    if check(len(nats) == 1, f"{len(nats)} nats-server containers, expected 1"):
        check(nats[0][0]["kind"] == "StatefulSet", "nats-server does not run in a StatefulSet")
        check_nats(nats[0][0], services, configmaps)
    if check(rc, "no ringcast container"):
        for w, c in rc:
            check_ringcast(ringcast, w, c, services, nats[0][0] if nats else None)
    for f in failures:
        print(f"FAIL {f}")
    print(f"{checks - len(failures)} of {checks} checks passed, {len(objs)} objects in {directory}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
