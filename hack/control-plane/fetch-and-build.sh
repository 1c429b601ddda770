#!/usr/bin/env bash
# Fetches and builds the Kubernetes control plane the control-plane test tier runs:
# kube-apiserver, kube-scheduler and kube-controller-manager v1.20.2 built from Debian
# bookworm's `kubernetes` source package with Debian bullseye's Go 1.15, and etcd from
# Debian bookworm's `etcd-server` package.
#
# Output: ${XDG_CACHE_HOME:-$HOME/.cache}/kube-eip/k8s-v1.20.2/bin/{kube-apiserver,
# kube-scheduler,kube-controller-manager,etcd} and a stamp file beside bin/. When the stamp
# matches this script's versions and the binaries are there, it exits in about a second.
# A cold run takes about 8-10 minutes on 2 cores (the Go build), ~2.3 GB of disk while it
# builds and ~300 MB kept.
#
# Nothing on the machine changes but `rsync`, installed with apt-get when missing (the
# Kubernetes build needs it): downloads go through a private apt state directory with its
# own sources list (Debian's mirror host as this machine's apt sources name it), and the
# Go toolchain, etcd and the Debian keyring are unpacked with `dpkg -x`, not installed.
#
# Verified: apt checks every download against the InRelease files signed by Debian's
# archive keys (/usr/share/keyrings/debian-archive-keyring.gpg); the source package's
# .dsc signature is checked with gpgv against the Debian developers' keyring (the
# `debian-keyring` package, itself verified by apt), and its Checksums-Sha256 against the
# tarballs (by sha256sum, and again by dpkg-source when unpacking).
#
# Environment: KUBE_EIP_K8S_CACHE overrides the cache directory; KUBE_EIP_KEEP_BUILD=1
# keeps the build tree (under the cache's work/) after a successful build.
set -euo pipefail

K8S_VERSION=v1.20.2
K8S_DEB_VERSION=1.20.5+really1.20.2-1.1+deb12u1
GO_DEB_VERSION=1.15.15-1~deb11u4
ETCD_DEB_SERIES=3.4.          # bookworm's etcd-server; the exact version is recorded in the stamp
KEYRING_PKG=debian-keyring
STAMP_KEY="kubernetes=${K8S_DEB_VERSION} golang-1.15=${GO_DEB_VERSION} etcd-server=${ETCD_DEB_SERIES}x"

CACHE="${KUBE_EIP_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-eip/k8s-${K8S_VERSION}}"
BIN="$CACHE/bin"
STAMP="$CACHE/stamp"
WORK="$CACHE/work"
BINARIES=(kube-apiserver kube-scheduler kube-controller-manager etcd)

log() { printf '[fetch-and-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

START=$SECONDS
phase_start=$SECONDS
phase() {
    log "$1 done in $((SECONDS - phase_start))s"
    phase_start=$SECONDS
}

warm() {
    [[ -f "$STAMP" ]] && [[ "$(head -n1 "$STAMP")" == "$STAMP_KEY" ]] || return 1
    local b
    for b in "${BINARIES[@]}"; do [[ -x "$BIN/$b" ]] || return 1; done
    "$BIN/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes ${K8S_VERSION}" || return 1
}

mkdir -p "$CACHE"
# One build at a time: a second caller waits for the first and then finds the stamp.
exec 9>"$CACHE/.lock"
flock 9

if warm; then
    log "cached: $BIN ($(tail -n +2 "$STAMP" | tr '\n' ' '))"
    exit 0
fi
log "building into $CACHE (cold: about 8-10 minutes)"
rm -f "$STAMP"

# --- a private apt state: its own sources list, lists and cache ------------------------
# The Debian mirror host this machine's apt already uses (deb822 or one-line sources).
mirror=$(
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
        grep -Ev '^[[:space:]]*#' | grep -Eo 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' | sed 's:/$::'
) || true
[[ -n "$mirror" ]] || die "no Debian mirror (a URI ending in /debian) in /etc/apt/sources.list(.d)"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -f "$keyring" ]] || die "$keyring is missing (package debian-archive-keyring)"

APT="$WORK/apt"
mkdir -p "$APT"/{lists/partial,cache/archives/partial,sources.list.d,preferences.d}
cat >"$APT/sources.list" <<SOURCES
deb-src [signed-by=$keyring] $mirror bookworm main
deb [arch=amd64 signed-by=$keyring] $mirror bookworm main
deb [arch=amd64 signed-by=$keyring] $mirror bullseye main
SOURCES
apt_opts=(
    -o "Dir::Etc::SourceList=$APT/sources.list"
    -o "Dir::Etc::SourceParts=$APT/sources.list.d"
    -o "Dir::Etc::Preferences=$APT/preferences"
    -o "Dir::Etc::PreferencesParts=$APT/preferences.d"
    -o "Dir::State=$APT"
    -o "Dir::State::Lists=$APT/lists"
    -o "Dir::State::status=/var/lib/dpkg/status"
    -o "Dir::Cache=$APT/cache"
    -o "Dir::Cache::pkgcache=$APT/cache/pkgcache.bin"
    -o "Dir::Cache::srcpkgcache=$APT/cache/srcpkgcache.bin"
    -o "APT::Sandbox::User=root"
    -o "Debug::NoLocking=1"
    -o "Acquire::Languages=none"
    -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
    -o "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false"
    -o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
    -o "Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false"
    -o "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false"
)
log "private apt state in $APT, mirror $mirror"
apt-get "${apt_opts[@]}" -qq update
phase "apt-get update"

# --- downloads -------------------------------------------------------------------------
DL="$WORK/dl"
mkdir -p "$DL"
etcd_version=$(apt-cache "${apt_opts[@]}" show etcd-server | sed -n 's/^Version: //p' | grep "^${ETCD_DEB_SERIES}" | head -n1) ||
    true
[[ -n "$etcd_version" ]] || die "no etcd-server ${ETCD_DEB_SERIES}x in bookworm"
(
    cd "$DL"
    apt-get "${apt_opts[@]}" -qq source --download-only "kubernetes=${K8S_DEB_VERSION}"
    apt-get "${apt_opts[@]}" -qq download \
        "golang-1.15-go=${GO_DEB_VERSION}" "golang-1.15-src=${GO_DEB_VERSION}" \
        "etcd-server=${etcd_version}" "$KEYRING_PKG"
)
phase "downloads (checked by apt against Debian's signed indexes)"

# --- verify the source package ----------------------------------------------------------
dsc="$DL/kubernetes_${K8S_DEB_VERSION#*:}.dsc"
[[ -f "$dsc" ]] || die "$dsc was not downloaded"
KEYS="$WORK/keyring"
rm -rf "$KEYS" && dpkg -x "$DL"/${KEYRING_PKG}_*.deb "$KEYS"
gpgv_args=()
for k in "$KEYS"/usr/share/keyrings/*.gpg; do gpgv_args+=(--keyring "$k"); done
if gpgv_out=$(gpgv "${gpgv_args[@]}" "$dsc" 2>&1); then
    signer=$(grep -Eo 'Good signature from "[^"]*"' <<<"$gpgv_out" | head -n1) || true
    log "source package signature: ${signer:-good} (Debian developers' keyring)"
    dsc_signature="good ($signer)"
else
    # A security upload may be signed by a key newer than bookworm's keyring package.
    # The .dsc still came through apt's signed Sources index, which fixes its sha256.
    log "warning: the .dsc signature did not verify against $KEYRING_PKG:"
    # shellcheck disable=SC2001 # indents every line
    sed 's/^/    /' <<<"$gpgv_out" >&2
    [[ "${KUBE_EIP_REQUIRE_DSC_SIGNATURE:-0}" != 1 ]] || die "KUBE_EIP_REQUIRE_DSC_SIGNATURE=1"
    dsc_signature="not verified (apt's signed Sources index only)"
fi
# The tarballs against the .dsc's own checksums.
sed -n '/^Checksums-Sha256:/,/^[^ ]/p' "$dsc" | grep '^ ' | while read -r sum _size name; do
    echo "$sum  $DL/$name"
done | sha256sum --check --quiet - || die "a source tarball does not match $dsc"
log "source tarballs match the .dsc's Checksums-Sha256"
phase "verification"

# --- unpack -----------------------------------------------------------------------------
SRC="$WORK/kubernetes"
rm -rf "$SRC"
dpkg-source --no-check -x "$dsc" "$SRC" >/dev/null # checksums were checked just above
GO="$WORK/go"
rm -rf "$GO"
dpkg -x "$DL"/golang-1.15-go_*.deb "$GO"
dpkg -x "$DL"/golang-1.15-src_*.deb "$GO"
ETCD="$WORK/etcd"
rm -rf "$ETCD"
dpkg -x "$DL"/etcd-server_*.deb "$ETCD"
phase "unpacking"

# --- build ------------------------------------------------------------------------------
if ! command -v rsync >/dev/null; then
    log "installing rsync (the Kubernetes build needs it)"
    apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y rsync >/dev/null
fi
export GOROOT="$GO/usr/lib/go-1.15"
export PATH="$GOROOT/bin:$PATH"
export GOPATH="$WORK/gopath" GOCACHE="$WORK/gocache" GOPROXY=off GOFLAGS=-mod=vendor
export CGO_ENABLED=0
go version >&2
log "make WHAT=\"cmd/kube-apiserver cmd/kube-scheduler cmd/kube-controller-manager\" (log: $WORK/build.log)"
if ! make -C "$SRC" WHAT="cmd/kube-apiserver cmd/kube-scheduler cmd/kube-controller-manager" >"$WORK/build.log" 2>&1; then
    tail -n 40 "$WORK/build.log" >&2
    die "the Kubernetes build failed (full log: $WORK/build.log)"
fi
phase "Go build"

# --- install into the cache -------------------------------------------------------------
build_size=$(du -sh "$WORK" | cut -f1)
rm -rf "$BIN.new" && mkdir -p "$BIN.new"
for b in kube-apiserver kube-scheduler kube-controller-manager; do
    cp "$SRC/_output/local/bin/linux/amd64/$b" "$BIN.new/$b"
done
cp "$ETCD/usr/bin/etcd" "$BIN.new/etcd"
rm -rf "$BIN" && mv "$BIN.new" "$BIN"
{
    echo "$STAMP_KEY"
    echo "kubernetes $("$BIN/kube-apiserver" --version)"
    echo "etcd-server $etcd_version"
    echo "go $GO_DEB_VERSION"
    echo "dsc-signature $dsc_signature"
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$STAMP"
if [[ "${KUBE_EIP_KEEP_BUILD:-0}" != 1 ]]; then
    rm -rf "$WORK"
fi
log "build tree was $build_size; cache now $(du -sh "$CACHE" | cut -f1) ($BIN)"
log "total $((SECONDS - START))s"
