# FD.io VPP peer for memif interop tests, installed from FD.io's package
# repository (packagecloud fdio/release by default; any mirror with the same
# layout via VPP_REPO). Packages: vpp, vpp-plugin-core (memif_plugin.so lives
# there) and the matching libvppinfra; vpp-plugin-dpdk is not needed.
#
# NOTE: this image could NOT be built on the machine where it was written:
# that machine reaches Debian's mirrors and PyPI but not packagecloud.io (nor
# any container registry). It is written to work unchanged where the FD.io
# repository is reachable, and it fails the build loudly (never a half-empty
# image) when the repository, its key or the requested version is missing.
#
# The harness runs VPP as the container's process (entrypoint vpp, its own
# startup.conf at /etc/vpp/startup.conf) and talks to it through its bind-mounted
# runtime dir (cli.sock, api.sock, stats.sock, memif sockets); the image contract
# is in docker/README.md.
#
# Build:  VPP_VERSION=26.06 docker/build.sh vpp
#   or    docker build -f docker/vpp.Dockerfile --build-arg VPP_VERSION=26.06 \
#             [--build-arg VPP_REPO=https://packagecloud.io/fdio/2606] \
#             -t memif-harness/vpp:26.06 docker/
ARG BASE=debian:bookworm-slim
FROM ${BASE}
ARG BASE
LABEL org.opencontainers.image.title="memif-harness vpp" \
      org.opencontainers.image.description="FD.io VPP with the memif plugin, a memif peer for memif-harness (started by exec)" \
      memif-harness.image="vpp" \
      memif-harness.base-image="${BASE}"

# Release to install: "26.06" picks the newest 26.06* package in the repo,
# a full Debian version ("26.06-release") pins exactly, empty = newest.
ARG VPP_VERSION=26.06
# Repository root; the apt source becomes "$VPP_REPO/<os id>/ <codename> main"
# (packagecloud layout: .../fdio/release/debian/ bookworm main).
ARG VPP_REPO=https://packagecloud.io/fdio/release
# Armored signing key; default "$VPP_REPO/gpgkey" (packagecloud layout).
ARG VPP_REPO_KEY_URL=
ARG DEBIAN_FRONTEND=noninteractive
# The vpp package's postinst otherwise runs `sysctl --system` with its
# hugepage settings, which fails (or worse) in a build container.
ENV VPP_INSTALL_SKIP_SYSCTL=1

RUN set -eu; \
    fail() { echo "ERROR (vpp.Dockerfile): $*" >&2; exit 1; }; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl; \
    . /etc/os-release; \
    repo="${VPP_REPO%/}"; \
    key_url="${VPP_REPO_KEY_URL:-$repo/gpgkey}"; \
    install -d -m 0755 /etc/apt/keyrings; \
    echo "fetching FD.io repository key $key_url"; \
    curl -fsSL --retry 3 --connect-timeout 20 -o /etc/apt/keyrings/fdio.asc "$key_url" \
        || fail "cannot download the FD.io repository key from $key_url. This image needs network access to the FD.io package repository ($repo) or --build-arg VPP_REPO=<reachable mirror>."; \
    grep -q 'BEGIN PGP PUBLIC KEY BLOCK' /etc/apt/keyrings/fdio.asc \
        || fail "$key_url did not return an ASCII-armored PGP key (proxy/captive portal?)"; \
    printf 'Types: deb\nURIs: %s/%s/\nSuites: %s\nComponents: main\nSigned-By: /etc/apt/keyrings/fdio.asc\n' \
        "$repo" "$ID" "$VERSION_CODENAME" >/etc/apt/sources.list.d/fdio.sources; \
    cat /etc/apt/sources.list.d/fdio.sources; \
    apt-get update || fail "apt-get update failed with the FD.io source $repo/$ID/ $VERSION_CODENAME"; \
    apt-cache madison vpp | grep -F "$repo" >/dev/null \
        || fail "no vpp package for $ID/$VERSION_CODENAME in $repo (unreachable repo, or no build for this distribution)"; \
    if [ -z "$VPP_VERSION" ]; then \
        ver=$(apt-cache madison vpp | awk -v r="$repo" 'index($0, r) { print $3; exit }'); \
    else \
        ver=$(apt-cache madison vpp | awk -v v="$VPP_VERSION" -v r="$repo" \
            'index($0, r) && ($3 == v || index($3, v "-") == 1 || index($3, v ".") == 1 || index($3, v "~") == 1) { print $3; exit }'); \
    fi; \
    [ -n "$ver" ] || { apt-cache madison vpp >&2; fail "VPP version '$VPP_VERSION' not found in $repo (available versions above)"; }; \
    echo "installing VPP $ver"; \
    apt-get install -y --no-install-recommends \
        "vpp=$ver" "vpp-plugin-core=$ver" "libvppinfra=$ver" \
        iproute2 procps; \
    rm -rf /var/lib/apt/lists/*; \
    command -v vpp >/dev/null || fail "vpp binary missing after install"; \
    command -v vppctl >/dev/null || fail "vppctl missing after install"; \
    plugin=$(find /usr/lib -path '*/vpp_plugins/memif_plugin.so' | head -n1); \
    [ -n "$plugin" ] || fail "memif_plugin.so missing (vpp-plugin-core $ver)"; \
    echo "memif plugin: $plugin"; \
    ls /usr/share/vpp/api/plugins/memif.api.json /usr/share/vpp/api/core/interface.api.json \
        || fail "VPP API definitions missing under /usr/share/vpp/api (the harness needs them)"; \
    echo "$ver" >/etc/vpp/memif-harness-vpp-version; \
    install -d -m 0755 /run/vpp /var/log/vpp

LABEL memif-harness.vpp-version="${VPP_VERSION}"
CMD ["vpp", "-c", "/etc/vpp/startup.conf"]
