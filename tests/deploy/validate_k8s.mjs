// Validates Kubernetes manifests (a YAML stream on stdin, as `kubectl
// kustomize` prints it) against the Kubernetes API:
//   1. the JSON schemas of kubernetes-models (types, formats, required fields;
//      the Prometheus operator's for ServiceMonitor);
//   2. no unknown field, by the typed models of @kubernetes/client-node (the
//      schemas above allow any extra field, so a misspelt one would pass);
//   3. references inside the rendering resolve: every Secret and ConfigMap a
//      pod names exists in the same namespace, every namespaced object is in
//      a Namespace the rendering creates or --namespace names.
// Prints one line per object and exits 1 on the first file with errors.
//   node validate_k8s.mjs [--expect-namespace NS] < rendered.yaml
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const expectNamespace = args[0] === "--expect-namespace" ? args[1] : null;
const docs = parseAllDocuments(readFileSync(0, "utf8"));
const objects = [];
const errors = [];
for (const doc of docs) {
  if (doc.errors.length) errors.push(`YAML: ${doc.errors[0].message}`);
  const o = doc.toJS();
  // kustomize wraps a Secret's base64 at 76 columns; the API server's
  // decoder (Go's) skips the newlines, the "byte" format check does not.
  if (o?.kind === "Secret" && o.data) {
    for (const k of Object.keys(o.data)) o.data[k] = String(o.data[k]).replace(/[\r\n]/g, "");
  }
  if (o) objects.push(o);
}

// 1. Schemas.
async function schemaModel(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : [null, apiVersion];
  const path = group === "monitoring.coreos.com"
    ? `@kubernetes-models/prometheus-operator/${group}/${version}`
    : `kubernetes-models/${group ? group + "/" : ""}${version}`;
  try {
    const mod = await import(path);
    return mod[kind] ?? null;
  } catch {
    return null;
  }
}

// 2. Unknown fields: client-node's attribute type maps (deep import: its
// package entry point needs a newer Node than Debian 12's for the HTTP client).
const cn = await import(join(here, "node_modules/@kubernetes/client-node/dist/gen/models/ObjectSerializer.js"));
function typedModel(apiVersion, kind) {
  const version = apiVersion.split("/").pop();
  return cn[version[0].toUpperCase() + version.slice(1) + kind] ?? null;
}
const scalar = new Set(["string", "number", "boolean", "Date", "any", "object", "IntOrString", "RuntimeRawExtension"]);
function unknownFields(value, type, path, out) {
  if (value === null || value === undefined || scalar.has(type)) return;
  let m = /^Array<(.+)>$/.exec(type);
  if (m) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, m[1], `${path}[${i}]`, out));
    return;
  }
  m = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (m) {
    if (typeof value === "object") for (const [k, v] of Object.entries(value)) unknownFields(v, m[1], `${path}.${k}`, out);
    return;
  }
  const cls = cn[type];
  if (!cls || typeof cls.getAttributeTypeMap !== "function" || typeof value !== "object") return;
  const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!attrs.has(k)) out.push(`${path}.${k}: unknown field (${type} has no "${k}")`);
    else unknownFields(v, attrs.get(k), `${path}.${k}`, out);
  }
}

const clusterScoped = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass"]);
const have = new Set(objects.map((o) => `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`));
const namespaces = new Set(objects.filter((o) => o.kind === "Namespace").map((o) => o.metadata.name));
if (expectNamespace) namespaces.add(expectNamespace);

function podSpecOf(o) {
  if (o.kind === "Pod") return o.spec;
  if (o.kind === "CronJob") return o.spec?.jobTemplate?.spec?.template?.spec;
  return o.spec?.template?.spec;
}
function references(o) {
  const spec = podSpecOf(o);
  const refs = [];
  if (!spec) return refs;
  for (const v of spec.volumes ?? []) {
    if (v.secret) refs.push(["Secret", v.secret.secretName]);
    if (v.configMap) refs.push(["ConfigMap", v.configMap.name]);
  }
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    for (const e of c.envFrom ?? []) {
      if (e.secretRef) refs.push(["Secret", e.secretRef.name]);
      if (e.configMapRef) refs.push(["ConfigMap", e.configMapRef.name]);
    }
    for (const e of c.env ?? []) {
      if (e.valueFrom?.secretKeyRef) refs.push(["Secret", e.valueFrom.secretKeyRef.name]);
      if (e.valueFrom?.configMapKeyRef) refs.push(["ConfigMap", e.valueFrom.configMapKeyRef.name]);
    }
  }
  return refs;
}

for (const o of objects) {
  const id = `${o.kind ?? "?"} ${o.metadata?.namespace ? o.metadata.namespace + "/" : ""}${o.metadata?.name ?? "?"}`;
  const mine = [];
  if (!o.apiVersion || !o.kind) mine.push("no apiVersion or kind");
  const Model = o.apiVersion && o.kind ? await schemaModel(o.apiVersion, o.kind) : null;
  if (!Model) mine.push(`no schema known for ${o.apiVersion} ${o.kind}`);
  else {
    try {
      new Model(o).validate();
    } catch (e) {
      mine.push(`schema: ${e.message}`);
    }
  }
  const typed = o.kind ? typedModel(o.apiVersion ?? "", o.kind) : null;
  if (typed) unknownFields(o, typed.name ?? `${o.kind}`, o.kind, mine);
  else if (!o.apiVersion?.includes("monitoring.coreos.com")) mine.push("no typed model to check field names");
  if (!clusterScoped.has(o.kind)) {
    const ns = o.metadata?.namespace;
    if (!ns) mine.push("no namespace (it would land in the kubectl context's)");
    else if (!namespaces.has(ns)) mine.push(`namespace ${ns} is not created here`);
  }
  for (const [kind, name] of references(o)) {
    if (!have.has(`${kind}/${o.metadata?.namespace ?? ""}/${name}`)) mine.push(`names ${kind} ${name}, which is not in the rendering`);
  }
  console.log(`${mine.length ? "FAIL" : "ok  "} ${o.apiVersion} ${id}`);
  for (const e of mine) console.log(`       ${e}`);
  errors.push(...mine.map((e) => `${id}: ${e}`));
}
if (!objects.length) errors.push("no objects");
console.log(`${objects.length} objects, ${errors.length} errors`);
process.exit(errors.length ? 1 : 0);
