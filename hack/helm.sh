#!/usr/bin/env bash
# Builds (once per machine) Helm from the Go module proxy, caches it outside the checkout and
# prints the path of the helm binary.
#
#   hack/helm.sh            build if missing, print the helm binary's path
#   hack/helm.sh --print    print the path without building
#
# The cache lives in ${KELOS_TEST_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kelos/test-bin}, keyed
# by Helm version, platform and Go version. A stamp file (.ok) marks a finished build; a flock
# keeps parallel callers (several test binaries) from building twice.
#
# `go install` leaves Helm's notion of "the cluster's Kubernetes version" (used by `helm lint`
# and `helm template` without a cluster) at v1.20; the -X flags below set it to the version of
# the test control plane, as Helm's own Makefile does for releases. Callers still pass
# `--kube-version` where it matters.
#
# Run helm hermetically: point HELM_CACHE_HOME, HELM_CONFIG_HOME and HELM_DATA_HOME at temp
# dirs and pass --kubeconfig. Never `helm repo add/update` (network).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/versions.env"
HELM_VERSION=${HELM_VERSION:-v3.22.0}

if ! command -v go >/dev/null 2>&1; then
  echo "helm.sh: the Go toolchain is required to build helm (install Go >= 1.26)" >&2
  exit 1
fi

goos=$(go env GOOS)
goarch=$(go env GOARCH)
gover=$(go env GOVERSION)
root=${KELOS_TEST_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kelos/test-bin}
key="helm-${HELM_VERSION}-${goos}-${goarch}-${gover}"
dir="$root/$key"

if [ "${1:-}" = "--print" ]; then
  echo "$dir/helm"
  exit 0
fi

mkdir -p "$root"
exec 9>"$root/.lock-$key"
flock 9

if [ -f "$dir/.ok" ]; then
  echo "$dir/helm"
  exit 0
fi

tmp=$(mktemp -d "$root/.build-$key.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export GOWORK=off CGO_ENABLED=0 GOFLAGS=-buildvcs=false

k8s_minor=${KUBERNETES_VERSION#v1.}
k8s_minor=${k8s_minor%%.*}
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=${k8s_minor}"
done

start=$(date +%s)
echo "helm.sh: building helm ${HELM_VERSION} into $dir (one-time, cached)" >&2
GOBIN="$tmp" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
echo "helm.sh: helm built in $(( $(date +%s) - start ))s" >&2
touch "$tmp/.ok"
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir/helm"
