#!/usr/bin/env bash
# Compare issuing a 1,000-node plan's PKI with `kisgen certs issue` (cfssl as a library,
# in one process) and with the `cfssl gencert | cfssljson` command line of the same cfssl
# version, one certificate at a time, in one run on this machine. Not part of make test.
#
#   test/pki-cfssl-cli-bench.sh [WORKERS]     (default 994 workers + 3 etcd + 3 masters)
#
# cfssl and cfssljson v1.6.5 are built into kisgen's per-user cache (CACHE/bin/cfssl-v1.6.5,
# CACHE as internal/cachedir finds it) on first use. Both
# sides issue the same 2,013 leaf certificates (ECDSA P-256) and three CAs; kisgen also
# writes the service-account key, the kubeconfigs and the SSH host keys, which the cfssl
# side does not.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
workers=${1:-994}
cache=${KISGEN_CACHE:-}
if [ -z "$cache" ]; then
  case "${XDG_CACHE_HOME:-}" in
  /*) cache=$XDG_CACHE_HOME/kisgen ;;
  *) cache=$HOME/.cache/kisgen ;;
  esac
fi
case $cache in /*) ;; *) cache=$PWD/$cache ;; esac # go install wants an absolute GOBIN
cfssl_dir=$cache/bin/cfssl-v1.6.5
work=$(mktemp -d "${TMPDIR:-/tmp}/kisgen-cfssl-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [[ ! -x $cfssl_dir/cfssl || ! -x $cfssl_dir/cfssljson ]]; then
  echo "building cfssl and cfssljson v1.6.5 into $cfssl_dir" >&2
  (cd "$work" && GOFLAGS=-mod=mod GOBIN=$cfssl_dir go install \
    github.com/cloudflare/cfssl/cmd/cfssl@v1.6.5 github.com/cloudflare/cfssl/cmd/cfssljson@v1.6.5)
fi
cfssl=$cfssl_dir/cfssl cfssljson=$cfssl_dir/cfssljson
(cd "$root" && go build -o "$work/kisgen" .)

# The plan: 3 etcd, 3 masters, $workers workers.
plan=$work/kismatic-cluster.yaml
{
  printf 'apiVersion: kisgen.io/v1alpha1\nkind: ClusterPlan\ncluster:\n  name: bench\n  version: v1.37.2\n'
  printf '  networking: {pod_cidr_block: 172.16.0.0/12, service_cidr_block: 10.96.0.0/16}\n'
  printf '  certificates: {expiry: 17520h, ca_expiry: 43800h}\n'
  printf '  ssh: {user: kismaticuser, ssh_key: kismaticuser.key}\n'
  n=0
  group() { # role count [extra]
    printf '%s:\n  expected_count: %d\n%s  nodes:\n' "$1" "$2" "${3:-}"
    for ((i = 1; i <= $2; i++)); do
      n=$((n + 1)); printf '  - {host: %s%d, ip: 10.%d.%d.%d}\n' "$1" "$i" $((1 + n / 65536)) $(((n / 256) % 256)) $((n % 256))
    done
  }
  group etcd 3
  group master 3 '  load_balancer: lb.example.com:6443\n'
  group worker "$workers"
} | sed 's/\\n/\n/g' >"$plan"
ssh-keygen -q -t ed25519 -N '' -f "$work/kismaticuser.key"

now() { date +%s.%N; }

t0=$(now)
"$work/kisgen" certs issue -f "$plan" --state "$work/kisgen-state" >/dev/null
t1=$(now)
kisgen_s=$(echo "$t1 - $t0" | bc)
leaves=$("$work/kisgen" certs list -f "$plan" --state "$work/kisgen-state" -o json | grep -c '"kind": "\(server\|client\|peer\)"')

# The same certificates with the cfssl command line, one at a time.
c=$work/cfssl && mkdir -p "$c" && cd "$c"
cat >config.json <<'JSON'
{"signing": {"default": {"expiry": "17520h"}, "profiles": {
  "server": {"expiry": "17520h", "usages": ["digital signature", "server auth"]},
  "client": {"expiry": "17520h", "usages": ["digital signature", "client auth"]},
  "peer":   {"expiry": "17520h", "usages": ["digital signature", "server auth", "client auth"]}}}}
JSON
csr() { printf '{"CN": "%s", "names": [{"O": "%s"}], "key": {"algo": "ecdsa", "size": 256}}' "$1" "$2" >csr.json; }
gen() { # name ca profile cn o hosts
  csr "$4" "$5"
  "$cfssl" gencert -loglevel 5 -ca "$2.pem" -ca-key "$2-key.pem" -config config.json -profile "$3" -hostname "${6:-}" csr.json | "$cfssljson" -bare "$1"
}
ip() { awk -v h="$1" '$0 ~ "host: "h"," {gsub(/[{},]/, ""); print $5}' "$plan"; }
t2=$(now)
for ca in ca etcd-ca front-proxy-ca; do
  printf '{"CN": "bench-%s", "key": {"algo": "ecdsa", "size": 256}, "ca": {"expiry": "43800h"}}' "$ca" >ca-csr.json
  "$cfssl" gencert -loglevel 5 -initca ca-csr.json | "$cfssljson" -bare "$ca"
done
count=0
for i in 1 2 3; do
  h=etcd$i a=$(ip "$h")
  gen "etcd-server-$h" etcd-ca server "$h" "" "$h,$a,127.0.0.1,localhost"
  gen "etcd-peer-$h" etcd-ca peer "$h" "" "$h,$a,127.0.0.1,localhost"
  count=$((count + 2))
done
gen apiserver-etcd-client etcd-ca client kube-apiserver-etcd-client ""
gen etcd-healthcheck-client etcd-ca client kube-etcd-healthcheck-client ""
for i in 1 2 3; do
  h=master$i a=$(ip "$h")
  gen "apiserver-$h" ca server kube-apiserver "" \
    "kubernetes,kubernetes.default,kubernetes.default.svc,kubernetes.default.svc.cluster.local,10.96.0.1,127.0.0.1,localhost,$h,$a,lb.example.com"
done
gen apiserver-kubelet-client ca client kube-apiserver-kubelet-client ""
gen front-proxy-client front-proxy-ca client front-proxy-client ""
gen admin ca client admin system:masters
for u in kube-controller-manager kube-scheduler kube-proxy; do gen "$u" ca client "system:$u" ""; done
gen calico-node ca client calico-node ""
gen calico-cni ca client calico-cni ""
count=$((count + 2 + 3 + 8))
for h in $(awk '/host: (master|worker)/ {gsub(/[{},]/, ""); print $3}' "$plan"); do
  a=$(ip "$h")
  gen "kubelet-$h" ca client "system:node:$h" system:nodes
  gen "kubelet-serving-$h" ca server "$h" "" "$h,$a"
  count=$((count + 2))
done
t3=$(now)
cfssl_s=$(echo "$t3 - $t2" | bc)
# Both sides made real certificates: check a sample of the command line's.
openssl verify -CAfile ca.pem -purpose sslclient kubelet-worker1.pem >/dev/null
openssl verify -CAfile etcd-ca.pem -purpose sslserver etcd-peer-etcd1.pem >/dev/null
openssl verify -CAfile ca.pem -purpose sslserver apiserver-master1.pem >/dev/null

echo "plan: $((workers + 6)) nodes; leaf certificates: kisgen $leaves, cfssl CLI $count"
printf 'kisgen certs issue (cfssl library, one process): %.2f s\n' "$kisgen_s"
printf 'cfssl gencert | cfssljson, one certificate at a time: %.2f s\n' "$cfssl_s"
printf 'ratio (cfssl CLI / kisgen): %.1fx\n' "$(echo "$cfssl_s / $kisgen_s" | bc -l)"
