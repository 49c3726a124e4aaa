#!/usr/bin/env bash
# Install what the tests and the interop runs need; safe to run again (it skips what is there).
#
# Usage: ci/install-deps.sh [--dev] [--no-apt]
#   --dev     install the dev extra (ruff, mypy, tox, type stubs) instead of test
#   --no-apt  skip the Debian packages (or set MEMIF_SKIP_APT=1)
# Debian packages: dpdk dpdk-dev (dpdk-testpmd is in dpdk-dev on bookworm; the memif and
# mempool PMDs are Recommends of dpdk, so recommends stay on), only when
# dpdk-testpmd is missing; chromium (the HTML report's browser tests, driven by
# Playwright), only when /usr/bin/chromium is missing; uses sudo when not root.
# Python: pip install -e '.[test]'.
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

apt_updated=0
# apt_install CHECK PACKAGES...: install PACKAGES unless the command CHECK exists
apt_install() {
    local check=$1
    shift
    if command -v "$check" >/dev/null 2>&1; then
        log "$check already installed: $(command -v "$check")"
        return
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "no apt-get here: install $* yourself; the tests needing $check will skip"
        return
    fi
    local sudo=()
    if ((EUID != 0)); then
        if ! command -v sudo >/dev/null 2>&1; then
            log "not root and no sudo: cannot install $*; the tests needing $check will skip"
            return
        fi
        sudo=(sudo)
    fi
    log "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    if ((!apt_updated)); then
        "${sudo[@]}" apt-get update -qq
        apt_updated=1
    fi
    "${sudo[@]}" apt-get install -y -qq "$@" >/dev/null
    log "$check: $(command -v "$check" || echo 'still missing!')"
}

if ((apt)); then
    apt_install dpdk-testpmd dpdk dpdk-dev
    apt_install chromium chromium
fi

log "pip install -e .[$extra]"
PIP_ROOT_USER_ACTION=ignore python -m pip install -q --disable-pip-version-check -e ".[$extra]"
