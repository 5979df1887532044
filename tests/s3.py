"""A real S3-compatible server (moto's) on loopback, for tests of jobs on object storage.

Its endpoint and dummy credentials go into the environment before any Ray process starts, so
every Ray worker and actor reaches it the way a cluster's nodes reach S3 (pyarrow reads
``AWS_ENDPOINT_URL``). Nothing leaves the machine: the server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from types import SimpleNamespace

ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_EC2_METADATA_DISABLED": "true"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server() -> SimpleNamespace:
    """Start moto's threaded server on a free loopback port and point S3 clients at it (environment)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**ENV, "AWS_ENDPOINT_URL": endpoint}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    return SimpleNamespace(server=server, endpoint=endpoint, port=port, saved=saved)


def stop_server(s3: SimpleNamespace) -> None:
    s3.server.stop()
    for key, value in s3.saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def new_bucket(s3: SimpleNamespace) -> str:
    """A fresh bucket on the server; returns ``s3://<name>``."""
    import boto3

    name = f"bkt-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3.endpoint).create_bucket(Bucket=name)
    return f"s3://{name}"


def with_options(uri: str, s3: SimpleNamespace) -> str:
    """The same URI carrying the endpoint itself (``?endpoint_override=…``), as a MinIO user would pass it."""
    return f"{uri}?endpoint_override=127.0.0.1:{s3.port}&scheme=http"
