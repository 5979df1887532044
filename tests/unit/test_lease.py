"""The run lease (``storage/lock.py``) on a local disk and on a real S3-compatible server (moto): one
job at a time, the holder named to the one refused, stale leases taken over, released only by
their holder, a heartbeat that moves. Other holders are real processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from lstmgan_ray.errors import ConfigError, RunInUse
from lstmgan_ray.storage import (
    LEASE_FILE,
    acquire_lease,
    claim_output,
    filesystem_for,
    held_lease,
    holds_entries,
    join,
    path_type,
    read_bytes,
    replacing,
    write_atomic,
)
from lstmgan_ray.storage.lock import read_owner
from tests.helpers import ROOT

HOLDER = """
import sys
from lstmgan_ray.storage import acquire_lease
lease = acquire_lease(sys.argv[1], interval=0.2)
print("held", flush=True)
sys.stdin.read()  # until the test closes stdin; then exit without releasing, as a killed job would
"""


@pytest.fixture(params=["local", "s3"])
def base(request, tmp_path) -> str:
    return str(tmp_path) if request.param == "local" else request.getfixturevalue("bucket")


def owner_of(directory: str):
    return read_owner(join(directory, LEASE_FILE))


def wait_until(condition, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} after {timeout:.0f} s"
        time.sleep(0.05)


def test_a_lease_is_taken_written_whole_and_released(base):
    run = join(base, "runs", "a")
    with held_lease(run) as lease:
        owner = owner_of(run)
        assert (owner.host, owner.pid, owner.token) == (socket.gethostname(), os.getpid(), lease.owner.token)
        assert " ".join(sys.argv[1:])[:200] in owner.command
        assert holds_entries(run) == []  # the lease alone is no run: a new run may start here
        assert claim_output(run, refusal="taken").value == "new"
    assert owner_of(run) is None
    if not base.startswith("s3://"):
        # The folders the lease created go with it: the run directory and the storage path above it.
        assert not os.path.exists(run) and not os.path.exists(join(base, "runs")) and os.path.isdir(base)


def test_a_live_holder_is_named_and_a_dead_ones_lease_is_taken_over(base, capsys):
    """Another process holds the lease: refused, naming its pid and host. It exits without releasing
    (as a SIGKILL would leave it): the next job takes the lease over at once, saying whose it was."""
    run = join(base, "runs", "b")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, run], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunInUse) as refused:
            acquire_lease(run)
        message = str(refused.value)
        assert f"{run} is in use by another job" in message
        assert f"pid {holder.pid} on {socket.gethostname()}" in message
        assert "since " in message and "last heartbeat" in message and "s ago" in message
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert owner_of(run).pid == holder.pid  # left behind
    with held_lease(run) as lease:
        assert owner_of(run).token == lease.owner.token
    taken = capsys.readouterr().err
    assert f"taking over the lease on {run}" in taken and f"pid {holder.pid}" in taken
    assert f"process {holder.pid} is no longer running" in taken


def test_a_lease_whose_heartbeat_stopped_is_taken_over(base, capsys):
    """An owner on another machine cannot be asked whether it lives: its heartbeat's age decides."""
    run = join(base, "runs", "c")
    now = time.time()
    gone = {"host": "head-that-was-lost", "pid": 4242, "token": "f" * 32, "command": "lstmgan-train --name c",
            "job": "raysubmit_old", "started": now - 7200, "heartbeat": now - 600}
    write_atomic(join(run, LEASE_FILE), json.dumps(gone))
    fresh = {**gone, "heartbeat": now}
    write_atomic(join(run, LEASE_FILE), json.dumps(fresh))
    with pytest.raises(RunInUse, match="Ray job raysubmit_old; pid 4242 on head-that-was-lost"):
        acquire_lease(run)  # alive as far as anyone here can tell
    write_atomic(join(run, LEASE_FILE), json.dumps(gone))
    with held_lease(run):
        pass
    taken = capsys.readouterr().err
    assert "taking over the lease" in taken and "head-that-was-lost" in taken
    assert "no heartbeat for over 60 s" in taken and "last heartbeat 6" in taken


def test_release_deletes_only_its_own_lease(base, capsys):
    """A holder silent for too long may have been taken over: it must then leave the new lease alone."""
    run = join(base, "runs", "d")
    lease = acquire_lease(run, interval=60)
    other = {**json.loads(read_bytes(join(run, LEASE_FILE))), "token": "0" * 32, "pid": 1, "host": "elsewhere"}
    write_atomic(join(run, LEASE_FILE), json.dumps(other))
    assert lease.refresh() is False  # it does not write over the new owner's lease either
    lease.release()
    assert owner_of(run).token == "0" * 32
    assert "was taken over by" in capsys.readouterr().err


def test_the_heartbeat_advances_while_the_lease_is_held(base):
    run = join(base, "runs", "e")
    with held_lease(run, interval=0.2):
        first = owner_of(run).heartbeat
        wait_until(lambda: owner_of(run).heartbeat > first, "newer heartbeat")
        # ...and a lease deleted under it is written again, by its holder.
        fs, inner = filesystem_for(join(run, LEASE_FILE))
        fs.delete_file(inner)
        wait_until(lambda: owner_of(run) is not None, "rewritten lease")


def test_a_replaced_run_keeps_the_lease_where_the_job_writes(base):
    """--overwrite moves the old run aside (the lease with it); the job's lease is written again at the
    run directory, and after a failure the old run is back exactly, the lease gone with the job."""
    run = join(base, "runs", "f")
    write_atomic(join(run, "checkpoint_epoch_0001", "state.json"), '{"epoch": 1}')
    with held_lease(run) as lease:
        with pytest.raises(RuntimeError), replacing(run, True, lease.moving):
            assert owner_of(run).token == lease.owner.token
            assert holds_entries(run) == []
            write_atomic(join(run, "checkpoint_epoch_0001", "state.json"), '{"epoch": "new"}')
            raise RuntimeError("the new run failed")
        assert owner_of(run).token == lease.owner.token
    assert holds_entries(run) == ["checkpoint_epoch_0001"] and owner_of(run) is None
    assert read_bytes(join(run, "checkpoint_epoch_0001", "state.json")) == b'{"epoch": 1}'
    assert holds_entries(join(base, "runs")) == ["f"]
    assert path_type(join(run, LEASE_FILE)).name == "NotFound"


def test_a_file_where_the_directory_should_be_is_named(tmp_path):
    (tmp_path / "run").write_text("not a directory")
    with pytest.raises(ConfigError, match=f"{tmp_path / 'run'}: is a file; give a directory"):
        acquire_lease(str(tmp_path / "run"))
