# memif-harness itself: Python 3.11 (Debian bookworm's python3) in a venv at
# /opt/venv with `pip install /src[test]`, plus DPDK testpmd and the net_memif
# PMD so the same image can also act as a testpmd peer.
#
# Build context is the repository root (see /.dockerignore):
#   here (no registry): docker/build.sh harness
#   elsewhere:          docker build -f docker/harness.Dockerfile -t memif-harness/harness:local .
ARG BASE=debian:bookworm-slim
FROM ${BASE}
ARG BASE

# Metadata first: on the legacy builder (no buildx here) every instruction is
# a committed step, so keep the ones after COPY . to a minimum.
LABEL org.opencontainers.image.title="memif-harness" \
      org.opencontainers.image.description="memif conformance/interop harness with DPDK testpmd" \
      memif-harness.image="harness" \
      memif-harness.base-image="${BASE}"
ARG DEBIAN_FRONTEND=noninteractive
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates \
        dpdk dpdk-dev librte-net-memif23 librte-mempool-ring23 coreutils procps iproute2; \
    rm -rf /var/lib/apt/lists/*; \
    pmd_dir=$(dirname "$(find /usr/lib -name 'librte_net_memif.so.23' -path '*/dpdk/pmds-23.0/*' | head -n1)"); \
    test -f "$pmd_dir/librte_net_memif.so.23"; \
    ln -s "$pmd_dir" /usr/local/lib/dpdk-pmds; \
    python3 -m venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    MEMIF_DPDK_PMD_DIR=/usr/local/lib/dpdk-pmds
WORKDIR /src
# memif_harness.cli is the console script target (pyproject [project.scripts]).
CMD ["memif-harness", "--help"]

# A PyPI mirror can be passed with --build-arg PIP_INDEX_URL=...
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
# pip trusts the system CA store (which includes any CA the base image put in
# /usr/local/share/ca-certificates), not only its vendored certifi bundle.
ARG PIP_CERT=/etc/ssl/certs/ca-certificates.crt
ARG PIP_NO_CACHE_DIR=1
ARG PIP_DISABLE_PIP_VERSION_CHECK=1

# Dependencies (runtime, [test] extra and build backend) first, from
# pyproject.toml alone, so that editing the sources does not re-resolve
# numpy/scapy/... on every build; the package itself is then installed
# without touching the index.
COPY pyproject.toml /src/pyproject.toml
RUN set -eux; \
    python -c 'import tomllib; t = tomllib.load(open("/src/pyproject.toml", "rb")); p = t["project"]; print("\n".join(t["build-system"]["requires"] + p["dependencies"] + p["optional-dependencies"]["test"]))' > /tmp/requirements.txt; \
    pip install -r /tmp/requirements.txt; \
    rm /tmp/requirements.txt

COPY . /src
RUN set -eux; \
    pip install --no-deps --no-build-isolation "/src[test]"; \
    pip check; \
    rm -rf /src/build /src/*.egg-info; \
    python -c "import memif_harness"; \
    # compile the bulk-path kernels into Numba's cache now: a container's first interface
    # then loads them in milliseconds instead of compiling for seconds before it listens
    python -c "from memif_harness.memif.datapath import kernel; kernel.warm(1); print('kernels:', kernel.describe())"
