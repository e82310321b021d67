#!/usr/bin/env bash
# Makes the credentials that the manifests' secretGenerators read, into
# base/secrets/ and overlays/servicemonitor/secrets/ (git ignores both):
#
#   bash deploy/kubernetes/make-secrets.sh [KUSTOMIZE_DIR]
#
#   ca.crt, ca.key       a new CA (keep ca.key off the cluster: it is in no Secret)
#   tls.crt, tls.key     the daemons' certificate, naming the Service flopd in
#                        the namespace flopd ($NAMESPACE, $CLUSTER_DOMAIN):
#                        flopd.flopd.svc[.cluster.local], *.flopd.flopd.svc[...]
#                        and localhost (for kubectl port-forward)
#   tokens               flopd's tokens file: the Job (role run) and Prometheus
#                        (role read), by SHA-256
#   client-token, metrics-token   the tokens themselves
#
# Existing files are kept, so running it again changes nothing; delete them
# to rotate. With your own CA (cert-manager, Vault), put its files there instead.
set -euo pipefail
dir=${1:-$(cd "$(dirname "$0")" && pwd)}
ns=${NAMESPACE:-flopd} domain=${CLUSTER_DOMAIN:-cluster.local}
s=$dir/base/secrets m=$dir/overlays/servicemonitor/secrets
mkdir -p "$s" "$m"
umask 077
if [[ ! -e $s/ca.crt ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=flopd CA ($ns)" -keyout "$s/ca.key" -out "$s/ca.crt" 2>/dev/null
fi
if [[ ! -e $s/tls.crt ]]; then
  svc=flopd.$ns.svc
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$svc" \
    -keyout "$s/tls.key" -out "$s/tls.csr" 2>/dev/null
  # localhost too: `kubectl port-forward` then `flopctl --host localhost`.
  printf 'subjectAltName=DNS:%s,DNS:%s.%s,DNS:*.%s,DNS:*.%s.%s,DNS:flopd.%s,DNS:localhost\nextendedKeyUsage=serverAuth\n' \
    "$svc" "$svc" "$domain" "$svc" "$svc" "$domain" "$ns" >"$s/tls.ext"
  openssl x509 -req -in "$s/tls.csr" -CA "$s/ca.crt" -CAkey "$s/ca.key" -CAcreateserial -days 825 \
    -extfile "$s/tls.ext" -out "$s/tls.crt" 2>/dev/null
  rm -f "$s/tls.csr" "$s/tls.ext" "$s/ca.srl"
fi
[[ -e $s/client-token ]] || openssl rand -hex 32 | tr -d '\n' >"$s/client-token"
[[ -e $s/metrics-token ]] || openssl rand -hex 32 | tr -d '\n' >"$s/metrics-token"
hash() { printf %s "$(cat "$1")" | sha256sum | cut -d' ' -f1; }
cat >"$s/tokens" <<TOKENS
# flopd's tokens file (docs/SECURITY.md), made by make-secrets.sh
flopctl-job  run   sha256:$(hash "$s/client-token")
prometheus   read  sha256:$(hash "$s/metrics-token")
TOKENS
cp "$s/ca.crt" "$m/ca.crt"
cp "$s/metrics-token" "$m/metrics-token"
echo "credentials in $s and $m"
