# DPDK testpmd peer for memif interop tests (Debian's dpdk 22.11 LTS, whose
# PMDs live in /usr/lib/<triplet>/dpdk/pmds-23.0/ with ABI suffix .so.23).
#
# No ENTRYPOINT: the harness runs `dpdk-testpmd ...` as the container command,
# e.g. (see docker/README.md for the run options):
#   docker run --rm --privileged -v /tmp/x:/run/memif memif-harness/testpmd:local \
#     stdbuf -oL dpdk-testpmd -l 0-1 --no-huge -m 1024 --no-pci --file-prefix srv \
#       --vdev=net_memif0,role=server,socket=/run/memif/memif.sock,socket-abstract=no \
#       -- --nb-cores=1 --total-num-mbufs=8192 --forward-mode=icmpecho --auto-start
#
# Build here (no registry): docker/build.sh testpmd
# Build where a registry exists: docker build -f docker/testpmd.Dockerfile docker/
ARG BASE=debian:bookworm-slim
FROM ${BASE}
ARG BASE
LABEL org.opencontainers.image.title="memif-harness testpmd" \
      org.opencontainers.image.description="DPDK dpdk-testpmd with the net_memif PMD, a memif peer for memif-harness" \
      memif-harness.image="testpmd" \
      memif-harness.base-image="${BASE}"

ARG DEBIAN_FRONTEND=noninteractive
# On bookworm /usr/bin/dpdk-testpmd is shipped by dpdk-dev (dpdk itself only
# has the dpdk-devbind/hugepages/pmdinfo scripts). dpdk's Recommends (skipped
# here) would pull every NIC PMD but not net_memif, so ask for net_memif and
# the ring mempool handler explicitly. coreutils: stdbuf for line-buffered
# stdout; procps/iproute2: debugging inside a running peer.
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        dpdk dpdk-dev librte-net-memif23 librte-mempool-ring23 coreutils procps iproute2; \
    rm -rf /var/lib/apt/lists/*; \
    pmd_dir=$(dirname "$(find /usr/lib -name 'librte_net_memif.so.23' -path '*/dpdk/pmds-23.0/*' | head -n1)"); \
    test -f "$pmd_dir/librte_net_memif.so.23"; \
    test -f "$pmd_dir/librte_mempool_ring.so.23"; \
    ln -s "$pmd_dir" /usr/local/lib/dpdk-pmds; \
    command -v dpdk-testpmd; command -v stdbuf

# Arch-independent alias of the PMD directory (also reachable at the
# Debian multiarch path, e.g. /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0).
ENV MEMIF_DPDK_PMD_DIR=/usr/local/lib/dpdk-pmds
CMD ["dpdk-testpmd", "--help"]
