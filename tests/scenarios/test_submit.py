"""None"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pandas as pd
import pytest

from lstmgan_ray.train.checkpoint import REQUIRED_FILES
from tests.helpers import TINY_SETS, last_json

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


BIN = os.path.dirname(sys.executable)


RAY = os.path.join(BIN, "ray")


TINY = [a for s in TINY_SETS for a in ("--set", s)]


PROGRESS = re.compile(r"\bepoch\s+(\d+)\s+d_loss\b")


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def session_pids(sid: int) -> list[int]:
    """Processes of the head's session: `ray start` gives its workers their own process groups."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                pids.append(int(entry))
    return pids


def end_session(proc: subprocess.Popen, grace_s: float = 3.0) -> None:
    """SIGTERM the head's process group, then SIGKILL whatever of its session is left."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace_s
    while session_pids(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in session_pids(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


def forget_head(gcs_address: str) -> None:
    """Remove the address `ray start` recorded for later `ray.init()` calls, if it is still ours.

    Ray records it in /tmp/ray/ray_current_cluster whatever --temp-dir says; left behind, it
    would point every later address-less `ray.init()` on this machine at a head that is gone.
    """
    from ray._common.utils import get_ray_address_file

    path = get_ray_address_file(None)
    try:
        with open(path) as fh:
            if fh.read().strip().endswith(":" + gcs_address.rsplit(":", 1)[1]):
                os.remove(path)
    except FileNotFoundError:
        pass


def api(head, path: str, token: str | None):
    """GET the job API (what `ray job status/list` call), optionally with a bearer token."""
    request = urllib.request.Request(f"{head.address}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, None


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """A real Ray head with token authentication, and the environment of a user who can reach it."""
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH") and k != "RAY_ADDRESS"}
    env.update(HOME=str(home), PATH=BIN + os.pathsep + env.get("PATH", ""), TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run([RAY, "get-auth-token", "--generate"], env=env, check=True, capture_output=True, timeout=120)
    token = (home / ".ray" / "auth_token").read_text().strip()
    user_env = {**env, "RAY_AUTH_MODE": "token"}

    gcs, dashboard, *others = free_ports(9)
    temp_dir = tempfile.mkdtemp(prefix="lstmgan-head-", dir="/tmp")  # short: Ray's socket paths
    log = open(os.path.join(temp_dir, "head.log"), "w")
    proc = subprocess.Popen(
        [RAY, "start", "--head", "--block", "--port", str(gcs), "--dashboard-host", "127.0.0.1",
         "--dashboard-port", str(dashboard), "--ray-client-server-port", str(others[0]),
         "--node-manager-port", str(others[1]), "--object-manager-port", str(others[2]),
         "--dashboard-agent-grpc-port", str(others[3]), "--dashboard-agent-listen-port", str(others[4]),
         "--metrics-export-port", str(others[5]), "--runtime-env-agent-port", str(others[6]),
         "--temp-dir", temp_dir, "--num-cpus", "4", "--num-gpus", "0", "--disable-usage-stats"],
        env=user_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    ns = SimpleNamespace(address=f"http://127.0.0.1:{dashboard}", env=user_env, home=home, token=token)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, open(log.name).read()[-3000:]
            try:
                if api(ns, "/api/jobs/", token)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the head did not answer in 180 s:\n" + open(log.name).read()[-3000:]
            time.sleep(0.5)
        yield ns
    finally:
        end_session(proc)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
        forget_head(f"127.0.0.1:{gcs}")


def ray_cli(head, *args, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([RAY, *args], cwd=ROOT, env=env or head.env, capture_output=True, text=True,
                          timeout=timeout)


def submit(head, submission_id: str, *job_args, env=None, timeout=900) -> subprocess.CompletedProcess:
    """`ray job submit` exactly as docs/cluster.md writes it; it waits for the job and tails its logs
    (exit code 1 if the job failed), so ``timeout`` is the deadline.

    A submission the head did not take (no job under that id: the job agent not up yet on a
    loaded machine) is made once more, as a user would.
    """
    args = ["job", "submit", "--address", head.address, "--working-dir", ".", "--runtime-env",
            "configs/runtime_env.yaml", "--submission-id", submission_id, "--", "python", "jobs/train.py",
            *job_args]
    proc = ray_cli(head, *args, env=env, timeout=timeout)
    if proc.returncode != 0 and env is None and api(head, f"/api/jobs/{submission_id}", head.token)[0] == 404:
        proc = ray_cli(head, *args, env=env, timeout=timeout)
    return proc


def test_submission_without_the_token_is_refused(head):
    no_token = {k: v for k, v in head.env.items() if k != "RAY_AUTH_MODE"}
    proc = submit(head, "no-token", "--help", env=no_token, timeout=120)
    assert proc.returncode != 0
    assert "Authentication required" in proc.stderr + proc.stdout
    assert api(head, "/api/jobs/", None)[0] == 401
    assert api(head, "/api/jobs/", "not-the-token")[0] == 403
    status, jobs = api(head, "/api/jobs/", head.token)
    assert status == 200 and "no-token" not in {j.get("submission_id") for j in jobs}


def test_submitted_training_job_on_two_workers_then_resumed(head, bars_dir, tmp_path):
    storage = tmp_path / "runs"
    args = ["--data", bars_dir, "--num-workers", "2", "--batch-size", "16", "--storage-path", str(storage),
            "--name", "cli", *TINY]
    proc = submit(head, "train-1", *args, "--epochs", "2")
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert api(head, "/api/jobs/train-1", head.token)[1]["status"] == "SUCCEEDED"  # as `ray job status` reads it
    logs = ray_cli(head, "job", "logs", "--address", head.address, "train-1").stdout

    # One progress line per epoch, and the JSON summary as the last line of the job's logs.
    assert [int(e) for e in PROGRESS.findall(logs)] == [1, 2]
    summary = last_json(logs)
    assert summary["run_dir"] == str(storage / "cli") and summary["epochs_reported"] == 2
    best = summary["best_checkpoint"]
    assert best.startswith(str(storage / "cli")) and os.path.basename(best).startswith("checkpoint_epoch_")
    assert sorted(os.listdir(best)) == sorted(REQUIRED_FILES)
    for key in ("epoch", "d_loss", "g_loss", "val_rmse", "val_rmse_persistence", "windows_per_s", "epoch_time_s"):
        assert key in summary["metrics"], key
    history = pd.read_csv(storage / "cli" / "metrics.csv")
    assert list(history["epoch"]) == [1, 2]
    assert summary["metrics"]["val_crps"] == pytest.approx(history["val_crps"].min())  # the checkpoint metric
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(storage / "cli" / "tensorboard"))
    with open(os.path.join(best, "config.json")) as fh:
        saved = json.load(fh)
    assert saved["run"]["num_workers"] == 2 and saved["model"]["generator_units"] == [8, 8]

    # The user resubmits the same run for one more epoch: it continues, it does not start over.
    proc = submit(head, "train-2", *args, "--epochs", "3", "--resume")
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert [int(e) for e in PROGRESS.findall(proc.stdout)] == [3]
    assert list(pd.read_csv(storage / "cli" / "metrics.csv")["epoch"]) == [1, 2, 3]
    summaries = [line for line in proc.stdout.splitlines() if line.startswith('{"best_checkpoint"')]
    assert json.loads(summaries[-1])["epochs_reported"] == 3


def test_gpu_asked_of_a_cluster_without_gpus_fails_fast(head, bars_dir, tmp_path):
    """No GPU node and no autoscaler: the job fails with the reason instead of waiting forever
    (the submit's timeout is the bound), and writes nothing."""
    storage = tmp_path / "runs"
    proc = submit(head, "gpu", "--data", bars_dir, "--use-gpu", "--num-workers", "2", "--batch-size", "16",
                  "--storage-path", str(storage), "--name", "gpu", *TINY, timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    status, info = api(head, "/api/jobs/gpu", head.token)
    assert status == 200 and info["status"] == "FAILED" and "exit code 2" in info["message"], out[-3000:]
    assert "not enough resources" in out and "needs 2 CPUs, 2 GPUs" in out, out[-3000:]
    assert "no autoscaler can add nodes" in out and "{CPU: 4}" in out
    assert "Traceback" not in out
    assert not storage.exists() or not any(storage.iterdir())


def test_waiting_for_an_autoscaler_is_bounded(ray_local):
    """The wait for nodes that never come ends after run.resource_timeout_s with the reason, and
    leaves no placement group behind; resources that are there end it at once."""
    from lstmgan_ray.config import RunSection
    from lstmgan_ray.train.resources import Autoscaler, NodeShape, ResourceError, wait_for_autoscaler

    def placement_groups():
        return {k: v["state"] for k, v in ray_local.util.placement_group_table().items()}

    before = placement_groups()
    gpu_type = Autoscaler([NodeShape("gpu_worker", {"CPU": 4.0, "GPU": 1.0}, 2)], 2)
    run = RunSection(num_workers=2, use_gpu=True, resource_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(ResourceError, match=r"after 1 s \(run.resource_timeout_s\).*needs 2 CPUs, 2 GPUs"
                                            r"(.|\n)*gpu_worker \{CPU: 4, GPU: 1\} x up to 2"):
        wait_for_autoscaler(run, gpu_type, verbose=False)
    assert time.monotonic() - started < 30
    wait_for_autoscaler(RunSection(num_workers=2, resource_timeout_s=60.0), gpu_type, verbose=False)
    new = {k: v for k, v in placement_groups().items() if k not in before}
    assert len(new) == 2 and set(new.values()) == {"REMOVED"}
