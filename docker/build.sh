#!/usr/bin/env bash
# Build memif-harness container images.
#
# Usage: docker/build.sh [--base-image NAME] [--force-base] [--no-cache]
#                        [--from-prefix DIR] [images...]
#   images        any of: testpmd harness vpp   (default: testpmd harness)
#   --from-prefix build the vpp image from a local VPP install prefix DIR (a source
#                 build's `ninja install`, e.g. /opt/vpp) instead of FD.io's packages;
#                 tagged memif-harness/vpp:$VPP_VERSION (default here: local)
#   --base-image  base image for every Dockerfile's `ARG BASE`; e.g.
#                 debian:bookworm-slim where a registry is reachable.
#                 Default: $MEMIF_BASE_IMAGE, else a locally debootstrapped
#                 memif-harness/debian:bookworm made by docker/build-base.sh
#                 (no registry needed).
#   --force-base  rebuild the local base image even if it exists
#   --no-cache    pass --no-cache to docker build
#
# Tags: memif-harness/testpmd:local, memif-harness/harness:local,
#       memif-harness/vpp:${VPP_VERSION}.
# Environment: MEMIF_BASE_IMAGE, VPP_VERSION (default 26.06), VPP_REPO
# (default https://packagecloud.io/fdio/release), PIP_INDEX_URL,
# HTTP_PROXY/HTTPS_PROXY/NO_PROXY (passed on as build args when set).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/.." && pwd)

log() { printf '[build] %s\n' "$*" >&2; }
die() { printf '[build] ERROR: %s\n' "$*" >&2; exit 1; }
run() {
    printf '[build] +' >&2
    printf ' %q' "$@" >&2
    printf '\n' >&2
    "$@"
}

base_image=${MEMIF_BASE_IMAGE:-}
force_base=0
vpp_prefix=
extra=()
images=()
while (($#)); do
    case $1 in
        --base-image) base_image=${2:?--base-image needs a value}; shift ;;
        --base-image=*) base_image=${1#*=} ;;
        --force-base) force_base=1 ;;
        --no-cache) extra+=(--no-cache) ;;
        --from-prefix) vpp_prefix=${2:?--from-prefix needs a directory}; shift ;;
        --from-prefix=*) vpp_prefix=${1#*=} ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        testpmd | harness | vpp) images+=("$1") ;;
        *) die "unknown argument or image: $1 (images: testpmd harness vpp; see --help)" ;;
    esac
    shift
done
((${#images[@]})) || images=(testpmd harness)

if [[ -n $vpp_prefix ]]; then
    vpp_prefix=$(cd "$vpp_prefix" 2>/dev/null && pwd -P) || die "--from-prefix: no such directory"
    [[ -x $vpp_prefix/bin/vpp && -x $vpp_prefix/bin/vppctl ]] \
        || die "--from-prefix $vpp_prefix: no bin/vpp and bin/vppctl (an install prefix of VPP)"
    [[ -d $vpp_prefix/share/vpp/api ]] \
        || die "--from-prefix $vpp_prefix: no share/vpp/api (VPP's API definitions)"
    VPP_VERSION=${VPP_VERSION:-local}
fi
VPP_VERSION=${VPP_VERSION:-26.06}
VPP_REPO=${VPP_REPO:-}

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "cannot talk to the Docker engine (is dockerd running?)"

if [[ -z $base_image ]]; then
    base_image=memif-harness/debian:bookworm
    log "no --base-image and MEMIF_BASE_IMAGE is empty: using local $base_image"
    base_args=()
    if ((force_base)); then base_args+=(--force); fi
    run "$here/build-base.sh" "${base_args[@]}"
elif ((force_base)); then
    die "--force-base only applies to the local base image (drop --base-image/MEMIF_BASE_IMAGE)"
fi
docker image inspect "$base_image" >/dev/null 2>&1 \
    || log "base image $base_image is not present locally; docker build will try to pull it"

revision=$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)
# (Image/base labels are set in the Dockerfiles: on the legacy builder each
# --label costs an extra committed step.)
common=(--force-rm --build-arg "BASE=$base_image"
    --label "org.opencontainers.image.revision=$revision")
for v in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy PIP_INDEX_URL PIP_EXTRA_INDEX_URL; do
    if [[ -n ${!v:-} ]]; then common+=(--build-arg "$v"); fi
done

declare -A took
total_start=$SECONDS
for img in "${images[@]}"; do
    start=$SECONDS
    case $img in
        testpmd)
            tag=memif-harness/testpmd:local
            run docker build "${common[@]}" "${extra[@]}" \
                -f "$here/testpmd.Dockerfile" -t "$tag" "$here"
            ;;
        harness)
            tag=memif-harness/harness:local
            [[ -f $repo_root/.dockerignore ]] || die "$repo_root/.dockerignore is missing (the build context is the repo root)"
            run docker build "${common[@]}" "${extra[@]}" \
                -f "$here/harness.Dockerfile" -t "$tag" "$repo_root"
            ;;
        vpp)
            tag=memif-harness/vpp:$VPP_VERSION
            if [[ -n $vpp_prefix ]]; then
                ctx=$here/.build/vpp-prefix
                rm -rf "$ctx"
                mkdir -p "$ctx/prefix"
                for d in bin lib share etc; do
                    if [[ -d $vpp_prefix/$d ]]; then cp -a "$vpp_prefix/$d" "$ctx/prefix/"; fi
                done
                run docker build "${common[@]}" "${extra[@]}" \
                    --build-arg "PREFIX=$vpp_prefix" --build-arg "VPP_VERSION=$VPP_VERSION" \
                    -f "$here/vpp-prefix.Dockerfile" -t "$tag" "$ctx"
                rm -rf "$ctx"
                took[$img]=$((SECONDS - start))
                log "built $tag from $vpp_prefix in ${took[$img]} s"
                continue
            fi
            vpp_args=(--build-arg "VPP_VERSION=$VPP_VERSION")
            if [[ -n $VPP_REPO ]]; then vpp_args+=(--build-arg "VPP_REPO=$VPP_REPO"); fi
            run docker build "${common[@]}" "${extra[@]}" "${vpp_args[@]}" \
                -f "$here/vpp.Dockerfile" -t "$tag" "$here"
            ;;
    esac
    took[$img]=$((SECONDS - start))
    log "built $tag in ${took[$img]} s"
done

log "done in $((SECONDS - total_start)) s:"
for img in "${images[@]}"; do
    case $img in
        testpmd) tag=memif-harness/testpmd:local ;;
        harness) tag=memif-harness/harness:local ;;
        vpp) tag=memif-harness/vpp:$VPP_VERSION ;;
    esac
    printf '  %-32s %6s s  %s\n' "$tag" "${took[$img]}" \
        "$(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')" >&2
done
