"""memif_harness_fixtures.peers.containers and ``TestpmdPeer(image=...)``: command-line wrapping
(no Docker needed), labels, and - with a Docker engine and the images - cleanup and
HarnessContainer."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memif_harness.memif.protocol.constants import Role
from memif_harness_fixtures.peers import containers
from memif_harness_fixtures.peers import testpmd as testpmd_mod
from memif_harness_fixtures.peers.base import InterfaceSpec, PeerUnavailable
from memif_harness_fixtures.peers.testpmd import TestpmdPeer

PMDS = ["librte_net_memif.so", "librte_net_memif.so.23", "librte_net_memif.so.23.0",
        "librte_mempool_ring.so", "librte_mempool_ring.so.23", "librte_net_null.so.23"]  # fmt: skip


# -- labels and docker run argv ----------------------------------------------------------------


def test_labels_convention() -> None:
    assert containers.labels("s1") == {"memif-harness": "1", "memif-harness.session": "s1"}
    assert containers.labels()["memif-harness.session"] == containers.SESSION
    assert containers.label_args("s1") == [
        "--label", "memif-harness=1", "--label", "memif-harness.session=s1",
    ]  # fmt: skip


def test_names_and_sessions_are_unique() -> None:
    assert len({containers.unique_name("x") for _ in range(100)}) == 100
    session = containers.new_session("t")
    assert session.startswith(f"t-{os.getpid()}-")
    assert session != containers.new_session("t")


def test_docker_run_argv() -> None:
    argv = containers.docker_run_argv(
        "img:1", ["prog", "-x"], name="n1", session="s", bind_dirs=["/a", "/b", "/a"]
    )
    assert argv == [
        "docker", "run", "--rm", "-i", "--name", "n1",
        "--label", "memif-harness=1", "--label", "memif-harness.session=s",
        "-v", "/a:/a", "-v", "/b:/b", "img:1", "prog", "-x",
    ]  # fmt: skip
    argv = containers.docker_run_argv(
        "img", ["p"], name="n", interactive=False, network="host", extra=["--ulimit", "x"]
    )
    assert "-i" not in argv
    assert argv[-5:] == ["host", "--ulimit", "x", "img", "p"]


# -- TestpmdPeer(image=...) without Docker -----------------------------------------------------


class FakeDocker:
    """Stands in for ``docker image inspect`` / ``docker run ... ls`` / ``docker rm -f``."""

    def __init__(self, image_ok: bool = True) -> None:
        self.image_ok = image_ok
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], **_kw: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        if argv[1:3] == ["image", "inspect"]:
            code = 0 if self.image_ok else 1
            return subprocess.CompletedProcess(argv, code, "sha256:1\n", "No such image")
        if argv[1] == "run" and argv[-3:-1] == ["ls", "-1"]:
            return subprocess.CompletedProcess(argv, 0, "\n".join(PMDS) + "\n", "")
        return subprocess.CompletedProcess(argv, 0, "", "")


@pytest.fixture
def fake_docker(monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    fake = FakeDocker()
    monkeypatch.setattr(testpmd_mod.subprocess, "run", fake)
    real_which = testpmd_mod.shutil.which
    monkeypatch.setattr(
        testpmd_mod.shutil,
        "which",
        lambda name: "/usr/bin/docker" if name == "docker" else real_which(name),
    )
    return fake


def _spec(role: Role, socket: str) -> InterfaceSpec:
    return InterfaceSpec(role=role, socket=socket, id=3)


def test_image_command_line_is_wrapped_in_docker_run(fake_docker: FakeDocker) -> None:
    peer = TestpmdPeer(image="memif-harness/testpmd:local", session="sess", prefix="mh-tp-t")
    peer.start()
    # the image was checked and its PMD dir listed, by labelled throw-away containers
    assert fake_docker.calls[0][:3] == ["docker", "image", "inspect"]
    listing = fake_docker.calls[1]
    assert listing[:4] == ["docker", "run", "--rm", "--name"]
    assert "memif-harness.session=sess" in listing
    argv = peer.command_line(_spec(Role.MASTER, "/tmp/mh-x/s1/memif.sock"), "mh-tp-t-0")
    name = peer.container_name("mh-tp-t-0")
    assert name.startswith("mh-tp-t-0-")
    image_at = argv.index("memif-harness/testpmd:local")
    assert argv[:image_at] == [
        "docker", "run", "--rm", "-i", "--name", name,
        "--label", "memif-harness=1", "--label", "memif-harness.session=sess",
        "-v", "/tmp/mh-x/s1:/tmp/mh-x/s1",
    ]  # fmt: skip
    inner = argv[image_at + 1 :]
    assert inner[:3] == ["stdbuf", "-oL", "dpdk-testpmd"]
    assert "-i" in inner[inner.index("--") :]
    assert inner[inner.index("-d") + 1] == "/usr/local/lib/dpdk-pmds/librte_net_memif.so.23"
    assert "/usr/local/lib/dpdk-pmds/librte_mempool_ring.so.23" in inner
    vdev = next(a for a in inner if a.startswith("--vdev="))
    assert "role=server,socket=/tmp/mh-x/s1/memif.sock,socket-abstract=no,id=3" in vdev
    # a client (role slave) gets the same wrapping
    argv = peer.command_line(_spec(Role.SLAVE, "/tmp/mh-x/s2/memif.sock"), "mh-tp-t-1")
    assert argv[argv.index("-v") + 1] == "/tmp/mh-x/s2:/tmp/mh-x/s2"
    assert any("role=client" in a for a in argv)


def test_image_abstract_socket_uses_host_network(fake_docker: FakeDocker) -> None:
    peer = TestpmdPeer(image="img", session="s")
    peer.start()
    argv = peer.command_line(_spec(Role.MASTER, "@mh-abs"), "p-0")
    assert "-v" not in argv[: argv.index("img")]  # no bind mount (testpmd's own -v follows)
    assert argv[argv.index("--network") + 1] == "host"
    assert any("socket=mh-abs,socket-abstract=yes" in a for a in argv)


def test_image_missing_is_unavailable(fake_docker: FakeDocker) -> None:
    fake_docker.image_ok = False
    with pytest.raises(PeerUnavailable, match=r"docker/build\.sh"):
        TestpmdPeer(image="nope:1").start()


def test_image_without_docker_cli_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testpmd_mod.shutil, "which", lambda _name: None)
    with pytest.raises(PeerUnavailable, match="docker CLI"):
        TestpmdPeer(image="img").start()


def test_host_command_line_unchanged(tmp_path: Path) -> None:
    binary = tmp_path / "dpdk-testpmd"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    pmds = tmp_path / "pmds"
    pmds.mkdir()
    for name in PMDS:
        (pmds / name).touch()
    peer = TestpmdPeer(binary, pmd_dir=pmds, lcores="0@0,1@0")
    peer.start()
    argv = peer.command_line(_spec(Role.MASTER, "/tmp/x.sock"), "pfx")
    assert "docker" not in argv
    assert argv[1:3] == ["-oL", str(binary)]
    assert argv[argv.index("-d") + 1] == str(pmds / "librte_net_memif.so.23")
    assert peer.image is None


def test_delete_removes_the_container(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(argv: list[str], **_kw: Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(testpmd_mod.subprocess, "run", fake_run)
    process = subprocess.Popen(["true"])
    process.wait()
    testpmd_mod._kill_and_clean(process, "mh-tp-none", None, "mh-tp-c1")  # type: ignore[arg-type]
    assert calls == [["docker", "rm", "-f", "mh-tp-c1"]]


def test_container_result_check_carries_logs() -> None:
    ok = containers.ContainerResult("c", ("true",), 0, "fine")
    assert ok.check() is ok
    bad = containers.ContainerResult("c", ("sh", "-c", "x"), 3, "boom happened")
    with pytest.raises(containers.ContainerError, match="boom happened") as info:
        bad.check()
    assert "exited 3" in str(info.value)


def test_no_engine_gives_a_skip_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    client, reason = containers.docker_client_or_skip_reason()
    assert client is None
    assert reason is not None
    assert "docker/build.sh" in reason
    assert not containers.image_available("memif-harness/testpmd:local")
    assert containers.cleanup("whatever") == []


# -- with Docker -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docker_client() -> Iterator[Any]:
    client, reason = containers.docker_client_or_skip_reason()
    if client is None:
        if os.environ.get("MEMIF_REQUIRE_DOCKER") == "1":
            pytest.fail(f"{reason} [MEMIF_REQUIRE_DOCKER=1]")
        pytest.skip(reason or "no Docker")
    assert client is not None
    if not containers.image_available(containers.HARNESS_IMAGE, client):
        client.close()
        pytest.skip(f"image {containers.HARNESS_IMAGE} not found; {containers.BUILD_HINT}")
    yield client
    client.close()


@pytest.fixture
def session(docker_client: Any) -> Iterator[str]:
    name = containers.new_session("test-containers")
    yield name
    containers.cleanup(name, docker_client)


def test_image_available(docker_client: Any) -> None:
    assert containers.image_available(containers.HARNESS_IMAGE, docker_client)
    assert not containers.image_available("memif-harness/no-such-image:none", docker_client)


def test_cleanup_removes_only_the_session(docker_client: Any, session: str) -> None:
    other = containers.new_session("test-containers-other")
    try:
        for sess in (session, session, other):
            docker_client.containers.run(
                containers.HARNESS_IMAGE, ["sleep", "60"], detach=True,
                labels=containers.labels(sess), name=containers.unique_name("mh-t"),
            )  # fmt: skip
        assert len(containers.list_containers(session, docker_client)) == 2
        removed = containers.cleanup(session, docker_client)
        assert len(removed) == 2
        assert containers.list_containers(session, docker_client) == []
        assert len(containers.list_containers(other, docker_client)) == 1
    finally:
        containers.cleanup(other, docker_client)
    assert containers.list_containers(other, docker_client) == []


def test_harness_container_runs_the_cli(docker_client: Any, session: str) -> None:
    result = containers.HarnessContainer.run(
        ["memif-harness", "--help"], session=session, client=docker_client, timeout=60
    )
    assert result.check().exit_code == 0
    assert "usage: memif-harness" in result.logs
    assert containers.list_containers(session, docker_client) == []


def test_harness_container_failure_and_bind_dir(
    docker_client: Any, session: str, tmp_path: Path
) -> None:
    (tmp_path / "in.txt").write_text("hello")
    result = containers.HarnessContainer.run(
        ["sh", "-c", f"cat {tmp_path}/in.txt; echo written > {tmp_path}/out.txt; exit 3"],
        bind_dirs=[str(tmp_path)], session=session, client=docker_client, timeout=60,
    )  # fmt: skip
    assert result.exit_code == 3
    assert "hello" in result.logs
    assert (tmp_path / "out.txt").read_text() == "written\n"
    with pytest.raises(containers.ContainerError, match="hello"):
        result.check()
    assert containers.list_containers(session, docker_client) == []


def test_harness_container_timeout_has_logs(docker_client: Any, session: str) -> None:
    with containers.HarnessContainer(
        ["sh", "-c", "echo started; sleep 60"], session=session, client=docker_client
    ) as container:
        labels = container.container.labels if container.container else {}
        assert containers.labels(session).items() <= labels.items()
        with pytest.raises(containers.ContainerError, match="started"):
            container.wait(timeout=3)
    assert containers.list_containers(session, docker_client) == []
