#!/usr/bin/env bash
# Install what the tests and the interop runs need; safe to run again (it skips what is there).
#
# Usage: ci/install-deps.sh [--dev] [--no-apt]
#   --dev     install the dev extra (ruff, mypy, tox, type stubs) instead of test
#   --no-apt  skip the Debian packages (or set MEMIF_SKIP_APT=1)
# Debian packages: dpdk dpdk-dev (dpdk-testpmd is in dpdk-dev on bookworm; the memif and
# mempool PMDs are Recommends of dpdk, so recommends stay on), only when
# dpdk-testpmd is missing; uses sudo when not root. Python: pip install -e '.[test]'.
set -euo pipefail
self=$(readlink -f "$0")
cd "$(dirname "$self")/.."

extra=test
apt=1
if [[ ${MEMIF_SKIP_APT:-0} == 1 ]]; then apt=0; fi
while (($#)); do
    case $1 in
        --dev) extra=dev ;;
        --no-apt) apt=0 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "install-deps: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

log() { printf '[install-deps] %s\n' "$*" >&2; }

if ((apt)); then
    if command -v dpdk-testpmd >/dev/null 2>&1; then
        log "dpdk-testpmd already installed: $(command -v dpdk-testpmd)"
    elif ! command -v apt-get >/dev/null 2>&1; then
        log "no apt-get here: install DPDK (dpdk-testpmd) yourself; testpmd tests will skip"
    else
        sudo=()
        if ((EUID != 0)); then
            if command -v sudo >/dev/null 2>&1; then
                sudo=(sudo)
            else
                log "not root and no sudo: cannot install dpdk; testpmd tests will skip"
                apt=0
            fi
        fi
        if ((apt)); then
            log "installing dpdk dpdk-dev"
            export DEBIAN_FRONTEND=noninteractive
            "${sudo[@]}" apt-get update -qq
            "${sudo[@]}" apt-get install -y -qq dpdk dpdk-dev >/dev/null
            log "dpdk-testpmd: $(command -v dpdk-testpmd || echo 'still missing!')"
        fi
    fi
fi

log "pip install -e .[$extra]"
PIP_ROOT_USER_ACTION=ignore python -m pip install -q --disable-pip-version-check -e ".[$extra]"
