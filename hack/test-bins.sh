#!/usr/bin/env bash
# Builds (once per machine) the binaries of the test control plane from the Go module proxy and
# caches them outside the checkout, keyed by component version, platform and Go version.
#
#   hack/test-bins.sh                 build what is missing (everything both test tiers need),
#                                     print the bin directory (etcd, kube-apiserver,
#                                     kube-controller-manager, kube-scheduler, kubectl)
#   hack/test-bins.sh --envtest       only the bin directory's binaries; print it
#   hack/test-bins.sh --kwok          only KWOK (the simulated cluster's kubelet); print its
#                                     directory (holds `kwok`)
#   hack/test-bins.sh --full          everything; print the KWOK directory, then the bin directory
#   hack/test-bins.sh --print [...]   print the same directories without building
#
# The last line printed is the bin directory, except with --kwok.
#
# The cache lives in ${KELOS_TEST_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kelos/test-bin}.
# A stamp file (.ok) marks a finished build; a flock per cache entry keeps parallel callers from
# building twice. Phase timings of a cold build land in <dir>/build-times.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/versions.env"

print_only=false
want_k8s=true want_kwok=true   # what to build
show_k8s=true show_kwok=false  # what to print
for arg in "$@"; do
  case "$arg" in
    --print) print_only=true ;;
    --envtest) want_k8s=true want_kwok=false show_k8s=true show_kwok=false ;;
    --kwok) want_k8s=false want_kwok=true show_k8s=false show_kwok=true ;;
    --full) want_k8s=true want_kwok=true show_k8s=true show_kwok=true ;;
    *) echo "test-bins: unknown argument $arg (usage: hack/test-bins.sh [--print] [--envtest|--kwok|--full])" >&2; exit 2 ;;
  esac
done

if ! command -v go >/dev/null 2>&1; then
  echo "test-bins: the Go toolchain is required to build kube-apiserver, etcd and kwok (install Go >= 1.26)" >&2
  exit 1
fi

goos=$(go env GOOS)
goarch=$(go env GOARCH)
gover=$(go env GOVERSION)
root=${KELOS_TEST_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kelos/test-bin}
k8s_key="k8s-${KUBERNETES_VERSION}-etcd-${ETCD_VERSION}-${goos}-${goarch}-${gover}"
kwok_key="kwok-${KWOK_VERSION}-${goos}-${goarch}-${gover}"

if $print_only; then
  if $show_kwok; then echo "$root/$kwok_key"; fi
  if $show_k8s; then echo "$root/$k8s_key"; fi
  exit 0
fi

mkdir -p "$root"
export GOWORK=off CGO_ENABLED=0

# build_k8s DIR: etcd + the Kubernetes binaries, from the wrapper modules in hack/.
build_k8s() {
  local out=$1
  local now minor ldflags pkg start mid end
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  minor=${KUBERNETES_VERSION#v1.}
  minor=${minor%%.*}
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=${KUBERNETES_VERSION} -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor}"
    ldflags+=" -X $pkg.gitCommit=0000000000000000000000000000000000000000 -X $pkg.gitTreeState=clean -X $pkg.buildDate=${now}"
  done
  start=$(date +%s)
  echo "test-bins: building etcd ${ETCD_VERSION} (one-time, cached)" >&2
  (cd "$here/etcd-bin" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3)
  mid=$(date +%s)
  echo "test-bins: etcd built in $((mid - start))s; building Kubernetes ${KUBERNETES_VERSION} (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl)" >&2
  (cd "$here/k8s-bins" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "$ldflags" -o "$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl)
  end=$(date +%s)
  echo "test-bins: Kubernetes built in $((end - mid))s (total $((end - start))s)" >&2
  printf 'etcd_seconds=%s\nkubernetes_seconds=%s\n' "$((mid - start))" "$((end - mid))" >"$out/build-times"
}

# build_kwok DIR: kwok's go.mod has no replace/exclude, so a plain `go install pkg@version` works.
build_kwok() {
  local out=$1
  local start end
  start=$(date +%s)
  echo "test-bins: building kwok ${KWOK_VERSION} (one-time, cached)" >&2
  # Outside any module, so the checkout's go.work/go.mod (if any) cannot interfere.
  (cd "$out" && GOBIN="$out" GOFLAGS= go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}" \
    "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}")
  end=$(date +%s)
  echo "test-bins: kwok built in $((end - start))s" >&2
  printf 'kwok_seconds=%s\n' "$((end - start))" >"$out/build-times"
}

# ensure KEY BUILDER: builds into a temp sibling under the entry's flock, renames it into place
# and stamps it; prints the directory. A subshell, so each entry has its own lock fd and trap.
# Warm, this is a stat of the stamp: no go command runs.
ensure() (
  local key=$1 builder=$2
  local dir="$root/$key"
  exec 9>"$root/.lock-$key"
  flock 9
  if [ ! -f "$dir/.ok" ]; then
    tmp=$(mktemp -d "$root/.build-$key.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    "$builder" "$tmp"
    touch "$tmp/.ok"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    trap - EXIT
  fi
  echo "$dir"
)

# The Kubernetes binaries first: the envtest tier needs nothing else.
if $want_k8s; then k8s_dir=$(ensure "$k8s_key" build_k8s); fi
if $want_kwok; then kwok_dir=$(ensure "$kwok_key" build_kwok); fi
if $show_kwok; then echo "$kwok_dir"; fi
if $show_k8s; then echo "$k8s_dir"; fi
