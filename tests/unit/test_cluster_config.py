"""cluster.yaml: valid for the installed Ray's cluster launcher, and shaped as docs/cluster.md promises
(a head that trains nothing, GPU workers from zero, a spot type, one install everywhere, nothing
reachable from outside but SSH, no credentials). No cloud account and no Ray instance needed."""

import json
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER_YAML = os.path.join(ROOT, "cluster.yaml")


@pytest.fixture(scope="module")
def text() -> str:
    with open(CLUSTER_YAML) as fh:
        return fh.read()


@pytest.fixture(scope="module")
def raw(text) -> dict:
    return yaml.safe_load(text)


@pytest.fixture(scope="module")
def prepared(raw) -> dict:
    """The config as `ray up` sees it before touching AWS: defaults merged, then validated."""
    import copy

    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(copy.deepcopy(raw))
    validate_config(config)
    return config


def node_types(config: dict) -> dict:
    return config["available_node_types"]


def worker_types(config: dict) -> dict:
    return {k: v for k, v in node_types(config).items() if k != config["head_node_type"]}


def is_spot(node_type: dict) -> bool:
    return node_type["node_config"].get("InstanceMarketOptions", {}).get("MarketType") == "spot"


def test_valid_against_the_installed_ray_schema(raw, prepared):
    import jsonschema
    import ray.autoscaler

    with open(os.path.join(os.path.dirname(ray.autoscaler.__file__), "ray-schema.json")) as fh:
        schema = json.load(fh)
    jsonschema.validate(raw, schema)  # the file as written, not only after defaults
    assert prepared["provider"]["type"] == "aws"


def test_head_runs_no_training(raw):
    head = node_types(raw)[raw["head_node_type"]]
    assert head["resources"] == {"CPU": 0}
    assert head.get("max_workers", 0) == 0 and head.get("min_workers", 0) == 0


def test_gpu_workers_scale_from_zero_under_a_ceiling(raw):
    workers = worker_types(raw)
    gpu = {k: v for k, v in workers.items() if v["resources"].get("GPU", 0) >= 1}
    assert gpu and set(gpu) == set(workers), "every worker type is a GPU type"
    for name, node_type in gpu.items():
        assert node_type["min_workers"] == 0, name
        assert 0 < node_type["max_workers"] <= raw["max_workers"], name
    on_demand = [k for k, v in gpu.items() if not is_spot(v)]
    spot = [k for k, v in gpu.items() if is_spot(v)]
    assert on_demand and spot
    for name in spot:
        options = gpu[name]["node_config"]["InstanceMarketOptions"]["SpotOptions"]
        assert options["InstanceInterruptionBehavior"] == "terminate", name


def test_project_and_gpu_extra_installed_identically_on_every_node(raw, prepared):
    install = [c for c in raw["setup_commands"] if "lstmgan-ray[gpu]" in c]
    assert len(install) == 1 and "pip install" in install[0]
    # After Ray merges setup_commands into the head's and the workers' lists, both run it, first.
    assert prepared["head_setup_commands"][0] == install[0]
    assert prepared["worker_setup_commands"][0] == install[0]
    for name, node_type in node_types(raw).items():
        assert "worker_setup_commands" not in node_type, f"{name} overrides the install"
        assert "docker" not in node_type, f"{name} runs another image"
    assert not {"head_image", "worker_image"} & set(raw["docker"])
    assert raw["file_mounts"]["~/lstmgan-ray"] == "."
    # Pinned: every node installs the same versions, whenever it boots (configs/constraints.txt).
    assert '-c "$HOME/lstmgan-ray/configs/constraints.txt"' in install[0]
    with open(os.path.join(ROOT, "configs", "constraints.txt")) as fh:
        pins = dict(line.strip().split("==") for line in fh if line.strip() and not line.startswith("#"))
    assert pins["ray"] == "2.60.0" and pins["tensorflow"].startswith("2.21.")
    assert tuple(int(p) for p in pins["keras"].split(".")[:2]) >= (3, 14)  # safe_mode fixes
    assert not [name for name in pins if name.lower().startswith("lstmgan")]


def test_dashboard_and_job_api_stay_on_loopback(raw, text):
    head_start = " ".join(raw["head_start_ray_commands"])
    assert "ray start --head" in head_start
    assert re.search(r"--dashboard-host[= ](127\.0\.0\.1|localhost)\b", head_start)
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    assert "0.0.0.0" not in code
    # Token authentication for every process on every node, and the token shipped from the
    # user's machine rather than written here.
    assert "--env RAY_AUTH_MODE=token" in raw["docker"]["run_options"]
    assert raw["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"


def test_security_group_admits_only_ssh_from_one_range(raw, text):
    # Ray creates a group with SSH open to 0.0.0.0/0 whenever a node type names none, and
    # provider.security_group can only add rules to it: every node type must name the group.
    assert "security_group" not in raw["provider"]
    groups = {json.dumps(v["node_config"].get("SecurityGroupIds")) for v in node_types(raw).values()}
    assert len(groups) == 1 and json.loads(groups.pop())
    # The documented rules for that group: tcp 22 from a CIDR, and the group itself.
    rules = [line for line in text.splitlines() if "authorize-security-group-ingress" in line]
    assert len(rules) == 2
    for rule in rules:
        ssh = re.search(r"--protocol tcp --port (\d+) --cidr (\S+)", rule)
        itself = re.search(r"--protocol all --source-group \"\$SG\"", rule)
        assert (ssh and ssh.group(1) == "22" and ssh.group(2) != "0.0.0.0/0") or itself, rule


CREDENTIAL_KEYS = {"aws_credentials", "gcp_credentials", "ssh_private_key", "aws_access_key_id",
                   "aws_secret_access_key", "aws_session_token", "password", "secret"}
CREDENTIAL_VALUES = [r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", r"-----BEGIN", r"RAY_AUTH_TOKEN=",
                     r"\b[0-9a-f]{32,}\b", r"(?<![\w/])[A-Za-z0-9/+]{40}(?![\w/])"]


def _keys(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from _keys(value)


def test_workers_get_a_bucket_only_instance_profile(raw, text):
    """The head launches workers (Ray's ray-autoscaler-v1: EC2 and S3); workers only read and write the
    bucket, so a compromised worker cannot start machines or read other buckets."""
    workers = {k: v for k, v in raw["available_node_types"].items() if k != raw["head_node_type"]}
    assert workers and {v["node_config"]["IamInstanceProfile"]["Name"] for v in workers.values()} == {
        "lstmgan-ray-worker"}
    assert "IamInstanceProfile" not in raw["available_node_types"][raw["head_node_type"]]["node_config"]
    assert '"s3:GetObject","s3:PutObject","s3:DeleteObject"' in text
    assert "ec2:" not in text.split("lstmgan-ray-worker")[1]  # the worker's policy grants no EC2 action


def test_no_credentials_in_the_file(raw, text):
    found = {k for k in _keys(raw) if k.lower() in CREDENTIAL_KEYS}
    assert not found
    for pattern in CREDENTIAL_VALUES:
        assert not re.search(pattern, text), pattern


def test_synced_files_follow_the_working_dir_exclusions(raw):
    from ray._private import ray_constants

    assert {".gitignore", ".rayignore"} <= set(raw["rsync_filter"])
    excluded = {p.removeprefix("**/") for p in raw["rsync_exclude"]}
    assert set(ray_constants.get_runtime_env_default_excludes()) <= excluded
    assert os.path.isfile(os.path.join(ROOT, ".rayignore"))


def test_a_job_on_this_cluster_waits_for_gpu_workers_and_refuses_what_no_node_type_holds(prepared, tmp_path):
    """What a job's driver reads from the config `ray up` leaves on the head for its autoscaler."""
    from lstmgan_ray.train.resources import NodeShape, autoscaler_from_launcher_config, decide

    path = tmp_path / "ray_bootstrap_config.yaml"
    path.write_text(yaml.safe_dump(prepared))
    autoscaler = autoscaler_from_launcher_config(str(path))
    assert {t.name for t in autoscaler.types} == set(worker_types(prepared))
    assert autoscaler.max_nodes == prepared["max_workers"]
    head_only = [NodeShape("head", {"CPU": 0.0}, 1)]
    gpu_worker = {"CPU": 1.0, "GPU": 1.0}
    assert decide(gpu_worker, 8, head_only, autoscaler) == "wait"
    assert decide(gpu_worker, 9, head_only, autoscaler) == "impossible"  # max_workers nodes in all
    assert decide({"CPU": 1.0, "GPU": 2.0}, 1, head_only, autoscaler) == "impossible"  # 1 GPU a node
    assert decide({"CPU": 1.0}, 1, head_only, None) == "impossible"  # the head trains nothing
    one_up = head_only + [NodeShape("10.0.0.7", {"CPU": 4.0, "GPU": 1.0}, 1)]
    assert decide(gpu_worker, 1, one_up, autoscaler) == "ready"
    assert decide(gpu_worker, 8, one_up, autoscaler) == "wait"
    assert decide(gpu_worker, 9, one_up, autoscaler) == "impossible"  # the node up counts too
