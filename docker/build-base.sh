#!/usr/bin/env bash
# Build a minimal Debian base image locally, without any container registry.
#
#   debootstrap --variant=minbase <suite> <rootfs> <mirror>
#   tar -C <rootfs> -c . | docker import - memif-harness/debian:<suite>
#
# The image gets the same apt sources and apt proxy/validity configuration as
# this host, so `apt-get update && apt-get install` works in Dockerfiles that
# start `FROM memif-harness/debian:bookworm`.
#
# Usage: docker/build-base.sh [--force] [--suite S] [--mirror URL]
#                             [--security-mirror URL] [--tag NAME]
#                             [--also-tag NAME]...
#   --force             rebuild even if the image already exists
#   --suite S           Debian suite (default: bookworm)
#   --mirror URL        Debian mirror (default: first Debian mirror found in
#                       this host's /etc/apt/sources.list{,.d/*})
#   --security-mirror   debian-security mirror (default: from the host too)
#   --tag NAME          image name (default: memif-harness/debian:<suite>)
#   --no-host-ca        do not copy this host's extra CA certificates
#   --also-tag NAME     extra tag(s), e.g. --also-tag debian:bookworm-slim
#                       to make unmodified `FROM debian:bookworm-slim` resolve
#                       locally (shadows the official name: opt-in only)
# This host's locally added CA certificates (/usr/local/share/ca-certificates,
# e.g. a TLS-intercepting egress proxy's CA) are copied to the same place in the
# image: they become trusted once a Dockerfile installs `ca-certificates`
# (its postinst runs update-ca-certificates), so pip/curl over https work.
# Environment: MEMIF_BASE_MIRROR / MEMIF_BASE_SECURITY_MIRROR override the
# detected mirrors; TMPDIR chooses where the temporary rootfs is made.
set -euo pipefail

log() { printf '[build-base] %s\n' "$*" >&2; }
die() { printf '[build-base] ERROR: %s\n' "$*" >&2; exit 1; }

suite=bookworm
force=0
mirror=${MEMIF_BASE_MIRROR:-}
security_mirror=${MEMIF_BASE_SECURITY_MIRROR:-}
tag=
host_ca=1
also_tags=()

while (($#)); do
    case $1 in
        --force) force=1 ;;
        --no-host-ca) host_ca=0 ;;
        --suite) suite=${2:?--suite needs a value}; shift ;;
        --mirror) mirror=${2:?--mirror needs a value}; shift ;;
        --security-mirror) security_mirror=${2:?--security-mirror needs a value}; shift ;;
        --tag) tag=${2:?--tag needs a value}; shift ;;
        --also-tag) also_tags+=("${2:?--also-tag needs a value}"); shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done
tag=${tag:-memif-harness/debian:${suite}}

[[ $(id -u) -eq 0 ]] || die "debootstrap needs root; run as root (or via sudo)"
command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "cannot talk to the Docker engine (is dockerd running?)"

if [[ $force -eq 0 ]] && docker image inspect "$tag" >/dev/null 2>&1; then
    log "image $tag already exists; skipping (use --force to rebuild)"
    for t in "${also_tags[@]}"; do
        log "docker tag $tag $t"
        docker tag "$tag" "$t"
    done
    exit 0
fi

old_id=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)

# ---------------------------------------------------------------------------
# Find the host's Debian mirrors: URIs of deb822 *.sources stanzas and
# one-line `deb URI SUITE COMPONENTS` entries whose path ends in /debian or
# /debian-security (third-party repos such as nodesource are ignored).
host_debian_uris() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -r $f ]] || continue
        case $f in
            *.sources) sed -n 's/^[[:space:]]*URIs:[[:space:]]*//p' "$f" | tr ' ' '\n' ;;
            *) awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; break } }' "$f" ;;
        esac
    done | sed 's:/*$::' | awk 'NF && !seen[$0]++'
}
if [[ -z $mirror ]]; then
    mirror=$(host_debian_uris | grep -E '/debian$' | head -n1 || true)
    mirror=${mirror:-http://deb.debian.org/debian}
fi
if [[ -z $security_mirror ]]; then
    security_mirror=$(host_debian_uris | grep -E '/debian-security$' | head -n1 || true)
    security_mirror=${security_mirror:-${mirror%/debian}/debian-security}
fi
log "suite=$suite mirror=$mirror security-mirror=$security_mirror tag=$tag"

if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if [[ ! -r $keyring ]]; then
    log "installing debian-archive-keyring with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debian-archive-keyring >/dev/null
fi

# ---------------------------------------------------------------------------
workdir=$(mktemp -d "${TMPDIR:-/var/tmp}/memif-base.XXXXXX")
rootfs=$workdir/rootfs
cleanup() {
    local rc=$? m
    # debootstrap mounts proc/sys inside the target and may leave them
    # mounted when it fails: unmount anything below $workdir (deepest first)
    # before deleting, and never delete across a filesystem boundary.
    while read -r m; do
        umount -l "$m" 2>/dev/null || log "warning: could not unmount $m"
    done < <(awk -v d="$workdir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
    if awk -v d="$workdir/" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        log "warning: mounts remain below $workdir; not deleting it"
    else
        rm -rf --one-file-system "$workdir"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$SECONDS
log "debootstrap --variant=minbase $suite $rootfs $mirror"
debootstrap --variant=minbase --keyring="$keyring" "$suite" "$rootfs" "$mirror" \
    >"$workdir/debootstrap.log" 2>&1 || {
    tail -n 30 "$workdir/debootstrap.log" >&2
    die "debootstrap failed (log above)"
}
log "debootstrap done in $((SECONDS - start)) s"

# --- apt configuration inside the image -------------------------------------
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: $keyring

Types: deb
URIs: $security_mirror
Suites: $suite-security
Components: main
Signed-By: $keyring
EOF

# Host apt settings that matter for reaching the same mirror: proxies and the
# Valid-Until/Date relaxations needed by snapshot or caching mirrors.
for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
    [[ -f $f && -r $f ]] || continue
    if grep -qiE 'Acquire::(https?|ftp)::Proxy|Acquire::(https?::)?Proxy|Check-Valid-Until|Check-Date' "$f"; then
        dest=$rootfs/etc/apt/apt.conf.d/90host-$(basename "$f")
        log "copying host apt config $f -> ${dest#"$rootfs"}"
        cp "$f" "$dest"
    fi
done
if [[ $host_ca -eq 1 ]]; then
    shopt -s nullglob
    cas=(/usr/local/share/ca-certificates/*.crt)
    shopt -u nullglob
    if ((${#cas[@]})); then
        log "copying ${#cas[@]} host CA certificate(s) to /usr/local/share/ca-certificates"
        install -d -m 0755 "$rootfs/usr/local/share/ca-certificates"
        install -m 0644 "${cas[@]}" "$rootfs/usr/local/share/ca-certificates/"
    fi
fi
# What the official debian images do for containers: no caches, no
# translations, no recommends.
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-no-languages" <<'EOF'
Acquire::Languages "none";
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
# Docker manages these files at run time.
rm -f "$rootfs/etc/hostname" "$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"
: >"$rootfs/etc/resolv.conf"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/bootstrap.log "$rootfs"/tmp/* \
    "$rootfs"/debootstrap

# --- import ---------------------------------------------------------------
log "tar -C $rootfs -c . | docker import - $tag"
tar --numeric-owner --xattrs -C "$rootfs" -c . | docker import \
    --change 'CMD ["/bin/bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "LABEL org.opencontainers.image.description=\"Debian $suite minbase built locally by memif-harness docker/build-base.sh\"" \
    --change "LABEL memif-harness.base.mirror=\"$mirror\"" \
    --message "debootstrap --variant=minbase $suite $mirror" \
    - "$tag" >/dev/null
for t in "${also_tags[@]}"; do
    log "docker tag $tag $t"
    docker tag "$tag" "$t"
done

new_id=$(docker image inspect -f '{{.Id}}' "$tag")
if [[ -n $old_id && $old_id != "$new_id" ]] \
    && [[ -z $(docker image inspect -f '{{join .RepoTags ""}}' "$old_id" 2>/dev/null) ]]; then
    # The previous build is now untagged; images built FROM it keep it alive
    # (then this just warns).
    if docker image rm "$old_id" >/dev/null 2>&1; then
        log "removed the previous (now untagged) base image ${old_id#sha256:}"
    else
        log "previous base image ${old_id#sha256:} is still in use; left in place"
    fi
fi

log "smoke test: apt sources inside $tag"
docker run --rm "$tag" sh -c 'test -s /etc/apt/sources.list.d/debian.sources && . /etc/os-release && echo "$PRETTY_NAME"' >&2 \
    || die "smoke test of $tag failed"
log "built $tag in $((SECONDS - start)) s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
