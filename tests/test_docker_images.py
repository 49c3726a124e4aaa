"""Smoke tests of the container images built by ``docker/build.sh``.

Each test is skipped (not failed) when the Docker SDK, the Docker engine or
the image is missing; build the images with ``docker/build.sh`` (no registry
needed: it debootstraps a local Debian base image first).

Containers started here carry the label ``memif-harness=1`` and
``memif-harness.session=<id>``, like every container the harness starts, so
leftovers can be removed with
``docker rm -f $(docker ps -aq --filter label=memif-harness=1)``.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

docker = pytest.importorskip("docker", reason="the Docker SDK (`pip install docker`) is missing")

TESTPMD_IMAGE = os.environ.get("MEMIF_TESTPMD_IMAGE", "memif-harness/testpmd:local")
HARNESS_IMAGE = os.environ.get("MEMIF_HARNESS_IMAGE", "memif-harness/harness:local")
BUILD_HINT = "build it with `docker/build.sh` (or `docker/build.sh testpmd harness`)"

# Arch-independent alias of Debian's /usr/lib/<triplet>/dpdk/pmds-23.0 made
# by the Dockerfiles (also exported as $MEMIF_DPDK_PMD_DIR in the images).
PMD_DIR = "/usr/local/lib/dpdk-pmds"
MEMIF_PMD = f"{PMD_DIR}/librte_net_memif.so.23"
RING_PMD = f"{PMD_DIR}/librte_mempool_ring.so.23"

SESSION = f"test-docker-images-{uuid.uuid4().hex[:8]}"
LABELS = {"memif-harness": "1", "memif-harness.session": SESSION}


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    try:
        cli = docker.from_env()
        cli.ping()
    except Exception as exc:  # DockerException, requests errors, ...
        pytest.skip(f"no usable Docker engine ({exc}); images are built with `docker/build.sh`")
    yield cli
    # Belt and braces: nothing of this session should survive.
    for ctr in cli.containers.list(all=True, filters={"label": f"memif-harness.session={SESSION}"}):
        ctr.remove(force=True)
    cli.close()


def _require_image(client: Any, image: str) -> None:
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        pytest.skip(f"image {image} not found; {BUILD_HINT}")


@pytest.fixture(scope="module")
def testpmd_image(client: Any) -> str:
    _require_image(client, TESTPMD_IMAGE)
    return TESTPMD_IMAGE


@pytest.fixture(scope="module")
def harness_image(client: Any) -> str:
    _require_image(client, HARNESS_IMAGE)
    return HARNESS_IMAGE


def _run(client: Any, image: str, command: list[str], **kwargs: Any) -> tuple[int, str]:
    """Run a short-lived container; return (exit code, stdout+stderr)."""
    ctr = client.containers.run(image, command, detach=True, labels=LABELS, **kwargs)
    try:
        status = ctr.wait(timeout=120)
        return int(status["StatusCode"]), ctr.logs().decode(errors="replace")
    finally:
        ctr.remove(force=True)


def _testpmd_cmd(name: str, role: str, *fwd_args: str) -> list[str]:
    return [
        "stdbuf", "-oL", "dpdk-testpmd",
        "-l", "0-1", "--no-huge", "-m", "1024", "--no-pci", "--file-prefix", name,
        f"--vdev=net_memif0,role={role},socket=/run/memif/memif.sock,socket-abstract=no",
        "-d", MEMIF_PMD, "-d", RING_PMD,
        "--",
        "--nb-cores=1", "--total-num-mbufs=8192", "--auto-start", "--stats-period", "1",
        *fwd_args,
    ]  # fmt: skip


# --- testpmd image ----------------------------------------------------------


def test_testpmd_image_has_testpmd_and_memif_pmd(client: Any, testpmd_image: str) -> None:
    rc, out = _run(
        client,
        testpmd_image,
        ["sh", "-c", f"test -f {MEMIF_PMD} && test -f {RING_PMD} && command -v dpdk-testpmd"
         " && command -v stdbuf && echo ok"],
    )  # fmt: skip
    assert rc == 0, out
    assert out.strip().endswith("ok"), out


def test_testpmd_reports_dpdk_version(client: Any, testpmd_image: str) -> None:
    # `-v` makes the EAL print its version during init; `--help` after `--`
    # then ends testpmd, so only the output (not the exit code) is checked.
    _rc, out = _run(
        client,
        testpmd_image,
        ["dpdk-testpmd", "-v", "-l", "0", "--no-huge", "-m", "64", "--no-pci",
         "--file-prefix", "version", "-d", MEMIF_PMD, "-d", RING_PMD, "--", "--help"],
    )  # fmt: skip
    assert "RTE Version: 'DPDK " in out, out


def _nic_counters(logs: str) -> tuple[int, int]:
    """Last RX/TX-packets of the periodic NIC statistics (--stats-period)."""
    rx = tx = 0
    for line in logs.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "RX-packets:" and "RX-missed:" in words:
            rx = int(words[1])
        elif len(words) >= 2 and words[0] == "TX-packets:" and "TX-errors:" in words:
            tx = int(words[1])
    return rx, tx


def test_testpmd_memif_pair_forwards(client: Any, testpmd_image: str, tmp_path: Path) -> None:
    """Two testpmd containers share a memif socket on a bind mount and loop traffic.

    The server runs the `mac` engine (sends every frame back); the client runs
    `io --tx-first`, which injects one burst and then forwards whatever comes
    back, so frames circulate and both sides count RX and TX. No --privileged,
    hugepages, --ipc or --shm-size are needed in --no-huge mode.
    """
    sock_dir = tmp_path / "memif"
    sock_dir.mkdir()
    volumes = {str(sock_dir): {"bind": "/run/memif", "mode": "rw"}}
    started: list[Any] = []
    try:
        server = client.containers.run(
            testpmd_image, _testpmd_cmd("srv", "server", "--forward-mode=mac"),
            detach=True, labels=LABELS, volumes=volumes, name=f"{SESSION}-srv",
        )  # fmt: skip
        started.append(server)
        deadline = time.monotonic() + 30
        while not (sock_dir / "memif.sock").exists():
            server.reload()
            assert server.status in {"created", "running"}, server.logs().decode()
            assert time.monotonic() < deadline, "server never created memif.sock"
            time.sleep(0.2)

        cli = client.containers.run(
            testpmd_image, _testpmd_cmd("cli", "client", "--forward-mode=io", "--tx-first"),
            detach=True, labels=LABELS, volumes=volumes, name=f"{SESSION}-cli",
        )  # fmt: skip
        started.append(cli)

        deadline = time.monotonic() + 60
        while True:
            s_rx, s_tx = _nic_counters(server.logs().decode(errors="replace"))
            c_rx, c_tx = _nic_counters(cli.logs().decode(errors="replace"))
            if min(s_rx, s_tx, c_rx, c_tx) > 1000:
                break
            for ctr in started:
                ctr.reload()
                assert ctr.status == "running", ctr.logs().decode(errors="replace")[-3000:]
            assert time.monotonic() < deadline, (
                f"no memif traffic: server rx/tx={s_rx}/{s_tx} client rx/tx={c_rx}/{c_tx}\n"
                + cli.logs().decode(errors="replace")[-3000:]
            )
            time.sleep(0.5)

        # SIGTERM: testpmd stops forwarding, closes its port and exits 0.
        for ctr in reversed(started):
            ctr.stop(timeout=10)
            assert ctr.wait(timeout=30)["StatusCode"] == 0, ctr.logs().decode()[-3000:]
    finally:
        for ctr in started:
            ctr.remove(force=True)


# --- harness image ----------------------------------------------------------


def test_harness_image_imports_package(client: Any, harness_image: str) -> None:
    # working_dir=/ so that the installed package (not /src) is imported.
    rc, out = _run(
        client,
        harness_image,
        ["python", "-c", "import memif_harness, sys; print(memif_harness.__file__, sys.version)"],
        working_dir="/",
    )
    assert rc == 0, out
    assert "/opt/venv/" in out, out
    assert "3.11" in out, out


def test_harness_image_has_testpmd(client: Any, harness_image: str) -> None:
    rc, out = _run(
        client, harness_image,
        ["sh", "-c", f"command -v dpdk-testpmd && test -f {MEMIF_PMD} && echo ok"],
    )  # fmt: skip
    assert rc == 0, out


def test_harness_image_cli_help(client: Any, harness_image: str) -> None:
    has_cli = (
        "import importlib.util, sys;"
        " sys.exit(0 if importlib.util.find_spec('memif_harness.cli') else 3)"
    )
    rc, out = _run(client, harness_image, ["python", "-c", has_cli], working_dir="/")
    if rc == 3:
        pytest.skip(
            f"memif_harness.cli is not in {harness_image} yet; "
            "rebuild it with `docker/build.sh harness`"
        )
    assert rc == 0, out
    rc, out = _run(client, harness_image, ["memif-harness", "--help"], working_dir="/")
    assert rc == 0, out
