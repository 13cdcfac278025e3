"""Containers on a local Docker engine, all on the host network (the sandbox engine has no bridge).

Every test here is marked ``docker`` and skipped, with the reason, when no engine answers. The
images come from scripts/build-images; they are built when missing (or always with
ROSEY_REBUILD_IMAGES=1), which takes minutes the first time.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TAG = os.environ.get("ROSEY_IMAGE_TAG", "dev")
IMAGES = {name: f"rosey-{name}:{TAG}" for name in ("dbservice", "bot", "web", "nats")}


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          check=check)


def docker_unavailable() -> str | None:
    """Why the Docker tests cannot run here, or None."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH (apt-get install docker.io; scripts/dockerd starts an engine)"
    try:
        result = docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer `docker info` within 20s"
    if result.returncode != 0:
        return f"no Docker engine reachable (start one with scripts/dockerd): {result.stderr.strip()[:200]}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Container:
    """One `docker run -d --network host` container; kill/start keep its name and volumes."""

    def __init__(self, image: str, *, name: str, args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, volumes: dict[str, str] | None = None,
                 read_only: bool = True) -> None:
        self.image, self.name, self.args = image, name, args
        self.env, self.volumes, self.read_only = env or {}, volumes or {}, read_only

    def run(self) -> None:
        cmd = ["run", "-d", "--name", self.name, "--network", "host"]
        if self.read_only:
            cmd += ["--read-only", "--tmpfs", "/tmp"]
        for key, value in self.env.items():
            cmd += ["-e", f"{key}={value}"]
        for volume, path in self.volumes.items():
            cmd += ["-v", f"{volume}:{path}"]
        docker(*cmd, self.image, *self.args)

    def kill(self) -> None:
        docker("kill", self.name)
        self.wait_exit(timeout=30)

    def stop(self, timeout: int = 20) -> None:
        docker("stop", "-t", str(timeout), self.name, timeout=timeout + 30)

    def start(self) -> None:
        docker("start", self.name)

    def state(self) -> dict:
        out = docker("inspect", "--format", "{{json .State}}", self.name).stdout
        return json.loads(out)

    def restarts(self) -> int:
        return int(docker("inspect", "--format", "{{.RestartCount}}", self.name).stdout.strip())

    def wait_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while (state := self.state())["Running"]:
            assert time.monotonic() < deadline, f"{self.name} still running after {timeout}s"
            time.sleep(0.05)
        return int(state["ExitCode"])

    def logs(self) -> str:
        result = docker("logs", "--tail", "60", self.name, check=False)
        return result.stdout + result.stderr

    def remove(self) -> None:
        docker("rm", "-f", "-v", self.name, check=False)


@pytest.fixture(scope="session")
def docker_images() -> dict[str, str]:
    reason = docker_unavailable()
    if reason:
        pytest.skip(reason)
    missing = [image for image in IMAGES.values()
               if docker("image", "inspect", image, check=False).returncode != 0]
    if missing or os.environ.get("ROSEY_REBUILD_IMAGES"):
        result = subprocess.run([str(REPO / "scripts" / "build-images")], cwd=REPO,
                                env={**os.environ, "TAG": TAG}, capture_output=True, text=True,
                                timeout=3600)
        assert result.returncode == 0, f"scripts/build-images failed:\n{result.stderr[-3000:]}"
    return IMAGES


class Stack:
    """Containers and volumes of one test, named with a random prefix, removed by the fixture."""

    def __init__(self, images: dict[str, str]) -> None:
        self.images = images
        self.prefix = f"rosey-test-{uuid.uuid4().hex[:8]}"
        self.containers: dict[str, Container] = {}
        self.volumes: list[str] = []

    def volume(self, role: str) -> str:
        name = f"{self.prefix}-{role}"
        docker("volume", "create", name)
        self.volumes.append(name)
        return name

    def run(self, role: str, **kwargs) -> Container:
        container = Container(self.images[role], name=f"{self.prefix}-{role}", **kwargs)
        self.containers[role] = container
        container.run()
        return container

    def close(self) -> None:
        for c in self.containers.values():
            print(f"--- docker logs {c.name} (last lines) ---\n{c.logs()}")
            c.remove()
        for volume in self.volumes:
            docker("volume", "rm", "-f", volume, check=False)


@pytest.fixture
def stack(docker_images: dict[str, str]) -> Iterator[Stack]:
    s = Stack(docker_images)
    try:
        yield s
    finally:
        s.close()
