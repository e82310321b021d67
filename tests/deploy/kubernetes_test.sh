#!/usr/bin/env bash
# The Kubernetes manifests (deploy/kubernetes): credentials made by its
# make-secrets.sh, the base and each overlay rendered by `kubectl kustomize`,
# every object validated against the Kubernetes API (validate_k8s.mjs:
# schemas, unknown fields, references), the layout the issue asks for checked
# (GPU DaemonSet with node selector, toleration, nvidia.com/gpu and probes;
# headless Service; NetworkPolicy; ServiceMonitor; a Job running flopctl over
# the Service's DNS records), and a broken manifest rejected. Then the
# DaemonSet's container runs here for real: the built flopd with the rendered
# args, ConfigMap values and Secret files (listening on loopback instead of
# 0.0.0.0), answering flopctl with the client Secret's CA and token, a job
# with that token, the probes' paths, and /metrics as the ServiceMonitor
# scrapes it (server name flopd.flopd.svc, the read token; 401 without).
#
#   kubernetes_test.sh BUILD_DIR WORK_DIR
#
# Exits 77 (ctest: skipped) without kubectl (its kustomize >= v4) or without
# tests/deploy/node_modules (`npm ci` there, as deploy/test.sh does). No cluster.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$2
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
command -v kubectl >/dev/null || skip "kubectl is missing (Debian: kubernetes-client; deploy/install_deps.sh installs it)"
kv=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9]*\).*/\1/p')
[[ -n $kv ]] && ((kv >= 4)) ||
  skip "kubectl's kustomize is older than v4 ($(kubectl version --client 2>&1 | head -1)): its 'resources:' cannot name directories"
command -v node >/dev/null || skip "node is missing"
[[ -d $here/node_modules/kubernetes-models && -d $here/node_modules/@kubernetes/client-node ]] ||
  skip "tests/deploy/node_modules is missing: run 'npm ci' in tests/deploy (deploy/test.sh does)"
echo "kubectl: $(kubectl version --client 2>/dev/null | tr '\n' ' ')"
rm -rf "$work" && mkdir -p "$work" || fail "cannot create $work"
cp -r "$root/deploy/kubernetes" "$work/k"
rm -rf "$work"/k/base/secrets/[!.]* "$work"/k/overlays/servicemonitor/secrets/[!.]*
bash "$work/k/make-secrets.sh" "$work/k" >/dev/null || fail "make-secrets.sh failed"

status=0
for dir in base overlays/job overlays/servicemonitor overlays/cpu; do
  out=$work/$(basename "$dir").yaml
  echo "--- kubectl kustomize $dir"
  kubectl kustomize "$work/k/$dir" >"$out" 2>"$out.err" || { cat "$out.err"; fail "kustomize $dir failed"; }
  [[ -s $out.err ]] && { echo "kustomize said:"; cat "$out.err"; fail "kustomize $dir warned (deprecated syntax?)"; }
  node "$here/validate_k8s.mjs" <"$out" || status=1
done
((status == 0)) || fail "a rendering does not validate"

echo "--- the layout"
(cd "$here" && node --input-type=module - "$work") <<'JS' || fail "the layout is not what deploy/kubernetes/README.md says"
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
const work = process.argv[2];
const load = (n) => parseAllDocuments(readFileSync(`${work}/${n}.yaml`, "utf8")).map((d) => d.toJS());
const find = (objs, kind, name) => objs.find((o) => o.kind === kind && (!name || o.metadata.name === name));
let bad = 0;
const check = (ok, what) => { console.log(`${ok ? "ok  " : "FAIL"} ${what}`); if (!ok) bad++; };
const base = load("base");
const ds = find(base, "DaemonSet", "flopd");
const pod = ds.spec.template.spec, c = pod.containers[0];
check(pod.nodeSelector?.["nvidia.com/gpu.present"] === "true", "DaemonSet: GPU node selector");
check(pod.tolerations?.some((t) => t.key === "nvidia.com/gpu"), "DaemonSet: tolerates the nvidia.com/gpu taint");
check(c.resources?.limits?.["nvidia.com/gpu"] >= 1, "DaemonSet: asks for nvidia.com/gpu");
check(c.startupProbe && c.livenessProbe && c.readinessProbe, "DaemonSet: startup, liveness and readiness probes");
check(pod.securityContext.runAsNonRoot === true && c.securityContext.allowPrivilegeEscalation === false &&
      c.securityContext.capabilities.drop.includes("ALL") && c.securityContext.readOnlyRootFilesystem, "DaemonSet: restricted security context");
check(c.args.some((a) => a.startsWith("--tls-cert=")) && c.args.some((a) => a.startsWith("--tokens=")), "DaemonSet: TLS and tokens");
const svc = find(base, "Service", "flopd");
check(svc.spec.clusterIP === "None", "Service: headless (one DNS record per pod)");
const labels = ds.spec.template.metadata.labels;
check(Object.entries(svc.spec.selector).every(([k, v]) => labels[k] === v), "Service: selects the DaemonSet's pods");
check(find(base, "NetworkPolicy", "flopd")?.spec.policyTypes.includes("Ingress"), "NetworkPolicy: restricts ingress");
check(find(base, "ConfigMap") && base.filter((o) => o.kind === "Secret").length === 3, "ConfigMap and Secrets generated");
const job = load("job");
const j = find(job, "Job", "flopctl-run");
const jc = j?.spec.template.spec.containers[0];
check(jc?.args.includes("--host=dns:flopd.flopd.svc.cluster.local"), "Job: flopctl over the headless Service's DNS records");
const np = find(job, "NetworkPolicy", "flopd").spec.ingress[0].from[0].podSelector.matchLabels;
check(Object.entries(np).every(([k, v]) => j.spec.template.metadata.labels[k] === v), "Job: its pods may reach flopd's gRPC port");
const sm = find(load("servicemonitor"), "ServiceMonitor", "flopd");
check(sm && Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels[k] === v), "ServiceMonitor: selects the Service");
const cpu = find(load("cpu"), "DaemonSet", "flopd").spec.template.spec;
check(!cpu.nodeSelector && !JSON.stringify(cpu).includes("nvidia.com/gpu") && cpu.containers[0].args.includes("--no-cuda"), "overlays/cpu: no GPU");
process.exit(bad ? 1 : 0);
JS

echo "--- the DaemonSet's container, run here with the rendered args, ConfigMap and Secrets"
# Each mount of the pod becomes a directory under $pod, each Secret key a
# file; $(VAR)s expand from the ConfigMap and NODE_NAME; the listen
# addresses become 127.0.0.1:0 (this test sends nothing off loopback).
pod=$(mktemp -d /tmp/flopd-k8s-pod.XXXXXX)  # short: a Unix socket's path is at most 107 bytes
flopd_pid=
trap '[[ -n $flopd_pid ]] && kill -TERM $flopd_pid 2>/dev/null; rm -rf "$pod"' EXIT
(cd "$here" && node --input-type=module - "$work/base.yaml" "$pod") >"$work/args.txt" <<'JS' ||
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
const [file, pod] = process.argv.slice(2);
const objs = parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJS());
const ds = objs.find((o) => o.kind === "DaemonSet");
const spec = ds.spec.template.spec, c = spec.containers[0];
const env = { NODE_NAME: "gpu-node-1" };
for (const r of c.envFrom ?? []) Object.assign(env, objs.find((o) => o.kind === "ConfigMap" && o.metadata.name === r.configMapRef.name).data);
for (const m of c.volumeMounts) {
  const dir = pod + m.mountPath;
  mkdirSync(dir, { recursive: true });
  const v = spec.volumes.find((x) => x.name === m.name);
  if (v.secret) {
    const secret = objs.find((o) => o.kind === "Secret" && o.metadata.name === v.secret.secretName);
    for (const [k, b64] of Object.entries(secret.data)) writeFileSync(`${dir}/${k}`, Buffer.from(b64, "base64"), { mode: 0o600 });
  }
}
const client = objs.find((o) => o.kind === "Secret" && o.metadata.name.startsWith("flopd-client"));
mkdirSync(`${pod}/client`, { recursive: true });
for (const [k, b64] of Object.entries(client.data)) writeFileSync(`${pod}/client/${k}`, Buffer.from(b64, "base64"), { mode: 0o600 });
for (const probe of ["livenessProbe", "readinessProbe"]) console.error(`probe ${probe} ${c[probe].httpGet.scheme} ${c[probe].httpGet.path}`);
for (let a of c.args) {
  a = a.replace(/\$\(([A-Z_]+)\)/g, (_, n) => env[n] ?? `UNSET_${n}`);
  a = a.replace(/^(--(?:http-)?listen=)0\.0\.0\.0:\d+$/, "$1127.0.0.1:0");
  a = a.replace(/^(--[a-z-]+=)(\/(?:etc|var|run)\/)/, `$1${pod}$2`);
  console.log(a);
}
JS
  fail "could not lay out the pod"
grep -q UNSET_ "$work/args.txt" && fail "an arg names a variable neither the ConfigMap nor the pod sets: $(grep UNSET_ "$work/args.txt")"
mapfile -t podargs <"$work/args.txt"
echo "flopd ${podargs[*]}"
DESTDIR='' cmake --install "$1" --prefix "$work/prefix" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "cmake --install"; }
"$work/prefix/bin/flopd" "${podargs[@]}" >"$work/flopd.out" 2>"$work/flopd.err" &
flopd_pid=$!
for _ in $(seq 100); do grep -q "http serving" "$work/flopd.out" && break; kill -0 $flopd_pid 2>/dev/null || break; sleep 0.1; done
grpc=$(sed -n 's/^flopd .* listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/flopd.out")
http=$(sed -n 's|^flopd http serving on https://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$work/flopd.out")
[[ -n $grpc && -n $http ]] || { cat "$work/flopd.out" "$work/flopd.err"; fail "flopd did not start with the DaemonSet's args"; }
export FLOPD_TLS_CA=$pod/client/ca.crt FLOPD_TOKEN_FILE=$pod/client/token
"$work/prefix/bin/flopctl" info --host "localhost:$grpc" >"$work/info.txt" 2>&1 || { cat "$work/info.txt"; fail "flopctl info with the client Secret"; }
head -1 "$work/info.txt"
grep -q "host gpu-node-1, .*health SERVING" "$work/info.txt" || fail "info does not show the node's name and SERVING"
"$work/prefix/bin/flopctl" run --host "localhost:$grpc" --op matvec --impl gemv --sizes 64 --dtype f32 --max-time 0.2 \
  >"$work/run.txt" 2>&1 || { cat "$work/run.txt"; fail "a job with the Job's token (role run)"; }
echo "a job with the Job's token: ok"
for path in /healthz /readyz; do
  code=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$http$path")
  echo "probe $path (HTTPS, unverified as the kubelet does): $code"
  [[ $code == 200 ]] || fail "probe $path answered $code"
done
metrics_token=$(cat "$work/k/overlays/servicemonitor/secrets/metrics-token")
code=$(curl -s --cacert "$FLOPD_TLS_CA" --resolve "flopd.flopd.svc:$http:127.0.0.1" -o /dev/null -w '%{http_code}' \
  -H "Authorization: Bearer $metrics_token" "https://flopd.flopd.svc:$http/metrics")
echo "/metrics as the ServiceMonitor scrapes it (serverName flopd.flopd.svc, read token): $code"
[[ $code == 200 ]] || fail "/metrics with the metrics token answered $code"
code=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$http/metrics")
[[ $code == 401 ]] || fail "/metrics without a token answered $code, not 401"
kill -TERM $flopd_pid; wait $flopd_pid; rc=$?
flopd_pid=
((rc == 0)) || fail "flopd exited $rc on SIGTERM"

echo "--- the validator rejects a broken manifest"
sed 's/^  updateStrategy:/  replicas: 3\n  updateStrategy:/; s/containerPort: 50051/containerPort: grpc/' "$work/base.yaml" >"$work/broken.yaml"
node "$here/validate_k8s.mjs" <"$work/broken.yaml" >"$work/broken.txt" && fail "a DaemonSet with replicas and a string containerPort passed"
grep -q 'unknown field' "$work/broken.txt" && grep -q 'must be integer' "$work/broken.txt" ||
  { cat "$work/broken.txt"; fail "the broken manifest failed for other reasons"; }
echo "rejected: $(grep -c FAIL "$work/broken.txt") object(s)"
echo "PASS"
