"""A real S3-compatible server for the backup tests: moto's server mode (``moto_server``), as
a subprocess on a free port, with a bucket made for the test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from tests.support.procs import free_port

#: credentials moto accepts (any); the tests put them in the environment as AWS clients read them
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "rosey-test", "AWS_SECRET_ACCESS_KEY": "rosey-test-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class S3Server:
    endpoint: str
    bucket: str

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def keys(self, prefix: str = "") -> list[str]:
        listed = self.client().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for o in listed.get("Contents", []))


@contextmanager
def s3_server(log_path: Path, bucket: str = "rosey-backups") -> Iterator[S3Server]:
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **CREDENTIALS})
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
                break
            except (urllib.error.URLError, ConnectionError) as exc:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start: {exc}; see {log_path}") from exc
                time.sleep(0.1)  # polling a starting server, bounded by the deadline
        server = S3Server(endpoint, bucket)
        server.client().create_bucket(Bucket=bucket)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
