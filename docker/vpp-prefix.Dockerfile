# FD.io VPP from a local install prefix (what `ninja install` / `make install` of a VPP source
# build produced, e.g. /opt/vpp), for users who build VPP themselves:
#     docker/build.sh vpp --from-prefix /opt/vpp
# build.sh stages the prefix's bin/ lib/ share/ etc/ as prefix/ in its build context and
# passes PREFIX=<the prefix's absolute path>: VPP's binaries carry an absolute RUNPATH
# (<prefix>/lib/<triplet>), so the install keeps its path inside the image.
#
# The image contract (docker/README.md): vpp and vppctl on PATH, the memif (and ping) plugin
# in VPP's default plugin directory, VPP's API definitions at /usr/share/vpp/api, coreutils
# `timeout`. The harness runs VPP as the container's process with its own startup.conf.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
ARG BASE
ARG PREFIX=/opt/vpp
ARG VPP_VERSION=local
LABEL org.opencontainers.image.title="memif-harness vpp" \
      org.opencontainers.image.description="FD.io VPP from a local install prefix, a memif peer for memif-harness" \
      memif-harness.image="vpp" \
      memif-harness.base-image="${BASE}" \
      memif-harness.vpp-prefix="${PREFIX}" \
      memif-harness.vpp-version="${VPP_VERSION}"
ARG DEBIAN_FRONTEND=noninteractive
# The shared libraries a VPP build with the memif and ping plugins links to (besides libc).
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        coreutils libunwind8 liblzma5 libnl-3-200 libnl-route-3-200 libssl3 libnuma1 libuuid1; \
    rm -rf /var/lib/apt/lists/*
COPY prefix/ ${PREFIX}/
RUN set -eux; \
    for b in vpp vppctl; do ln -sf "${PREFIX}/bin/$b" "/usr/local/bin/$b"; done; \
    install -d -m 0755 /usr/share/vpp /etc/vpp /run/vpp; \
    ln -sfn "${PREFIX}/share/vpp/api" /usr/share/vpp/api; \
    test -n "$(find "${PREFIX}" -path '*/vpp_plugins/memif_plugin.so')"; \
    ls /usr/share/vpp/api/plugins/memif.api.json; \
    missing=$(ldd "${PREFIX}/bin/vpp" "${PREFIX}/bin/vppctl" | grep 'not found' || true); \
    test -z "$missing" || { echo "missing libraries: $missing" >&2; exit 1; }
CMD ["vpp", "-c", "/etc/vpp/startup.conf"]
