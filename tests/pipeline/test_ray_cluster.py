"""``rig run --executor ray`` against a real Ray cluster, started for the test.

Every Ray process runs inside a private network namespace with loopback only (and its own
PID namespace, so ``ray stop --force`` sees only this cluster and nothing outlives it):
Ray would otherwise pick the machine's external address. One subprocess starts the head,
runs ``rig run`` against it a few times, stops it; the test then reads the project, its
``rig.lock`` and the lab's runs from outside.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from _netns import netns_unavailable
from rigml.pipeline._lockfile import read_lock

from .conftest import PY, Project

pytest.importorskip("ray")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # each step is bounded (timeout 180)

PORT = 6390  # any port: nothing else listens in a fresh network namespace
WHERE = """
import os, pathlib, sys
pid, chain = os.getpid(), []
while pid > 1:
    chain.append(open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")[0].decode())
    pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
pathlib.Path(sys.argv[1]).write_text(
    "ray worker\\n" if any(c.startswith("ray::") for c in chain) else "not ray\\n"
)
"""
TRAIN = """
import pathlib
for i in range(3):
    print("epoch", i, flush=True)
pathlib.Path("model.txt").write_text("model\\n")
"""
# a sweep's stage: its loss from params.yaml, and whether it ran in a Ray worker
TUNE = """
import json, os, pathlib, yaml
x = float(yaml.safe_load(open("params.yaml"))["tune"]["x"])
pid, ray = os.getpid(), 0.0
while pid > 1:
    if open(f"/proc/{pid}/cmdline", "rb").read().startswith(b"ray::"):
        ray = 1.0
    pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
pathlib.Path("out").mkdir(exist_ok=True)
json.dump({"loss": (x - 0.7) ** 2, "ray": ray}, open("out/metrics.json", "w"))
"""
GPU = """
import os, pathlib
pathlib.Path("gpu.txt").write_text(os.environ.get("CUDA_VISIBLE_DEVICES", "unset") + "\\n")
"""
NAP = """
import os, pathlib, time
pathlib.Path("nap.pid").write_text(str(os.getpid()))
time.sleep(120)
"""
SCRIPT = """
set -u
ip link set lo up
export RAY_USAGE_STATS_ENABLED=0
RIG=("$PY" -c 'import sys; from rigml.cli import main; sys.exit(main(sys.argv[1:]))')
ADDR=127.0.0.1:{port}
# one GPU in name only: Ray hands out its id (CUDA_VISIBLE_DEVICES=0) as it would a real one
timeout 180 "$RAY" start --head --node-ip-address=127.0.0.1 --port={port} --num-cpus=2 \\
    --num-gpus=1 --include-dashboard=false --disable-usage-stats --temp-dir="$RAY_TMP" \\
    > ray-start.log 2>&1
echo $? > start.rc
cd "$PROJECT"
RAY_ARGS="--executor ray --ray-address $ADDR"
for n in 1 2; do  # the second finds everything cached
    timeout 180 "${{RIG[@]}}" run $RAY_ARGS --json prep train gpu > run$n.json 2> run$n.err
    echo $? > run$n.rc
done
timeout 180 "${{RIG[@]}}" run $RAY_ARGS big > big.out 2>&1; echo $? > big.rc
timeout 180 "${{RIG[@]}}" run $RAY_ARGS nap > nap.out 2>&1 &
PID=$!
for _ in $(seq 600); do [ -s nap.pid ] && break; sleep 0.1; done
kill -INT $PID
wait $PID; echo $? > nap.rc
sleep 1
if kill -0 "$(cat nap.pid)" 2>/dev/null; then echo alive; else echo gone; fi > nap.after
timeout 180 "${{RIG[@]}}" sweep tune -p tune.x=0.1,0.5 --sampler grid -m loss --name s \
    --jobs 2 --json $RAY_ARGS > sweep.json 2> sweep.err
echo $? > sweep.rc
timeout 180 "${{RIG[@]}}" run --executor ray --ray-address 127.0.0.1:1 > dead.out 2>&1
echo $? > dead.rc
timeout 60 "$RAY" stop --force > /dev/null 2>&1
"""


def _pipeline(project: Project) -> None:
    project.write("in.csv", "a\n")
    project.write("where.py", WHERE)
    project.write("train.py", TRAIN)
    project.write("nap.py", NAP)
    project.write("gpu.py", GPU)
    project.write("tune.py", TUNE)
    project.write("params.yaml", "tune:\n  x: 0.0\n")
    project.pipeline(
        f"""
        stages:
          prep:
            cmd: [{PY} w.py data/clean.csv prepared, {PY} where.py where.txt]
            deps: [in.csv]
            outs: [data, where.txt]
            resources: {{cpus: 1, memory: 64MiB}}
          train:
            cmd: {PY} train.py
            deps: [data/clean.csv, train.py]
            outs: [model.txt]
            resources: {{cpus: 2}}
          gpu:
            cmd: {PY} gpu.py
            outs: [gpu.txt]
            resources: {{gpus: 1}}
          big:
            cmd: {PY} w.py big.txt
            outs: [big.txt]
            resources: {{cpus: 3}}
          nap:
            cmd: {PY} nap.py
            outs: [never.txt]
          tune:
            cmd: {PY} tune.py
            deps: [tune.py]
            params: [tune]
            metrics: [out/metrics.json]
        """
    )


@pytest.fixture(scope="module")
def netns() -> None:
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)


def _run_cluster_script(project: Project) -> None:
    ray_tmp = tempfile.mkdtemp(prefix="rigray")  # short: Ray's socket paths have a length limit
    script = project.root / "cluster.sh"
    script.write_text(textwrap.dedent(SCRIPT.format(port=PORT)))
    env = {
        **os.environ,
        "PY": sys.executable,
        "RAY": str(Path(sys.executable).with_name("ray")),
        "RAY_TMP": ray_tmp,
        "PROJECT": str(project.root),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    for name in ("RAY_ADDRESS", "CUDA_VISIBLE_DEVICES"):
        env.pop(name, None)
    command = ["unshare", "--net", "--pid", "--mount-proc", "--fork", "bash", str(script)]
    try:
        subprocess.run(command, env=env, timeout=840, check=False, capture_output=True)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    start_log = (project.root / "ray-start.log").read_text()
    assert (project.root / "start.rc").read_text().strip() == "0", start_log


def _read(project: Project, name: str) -> str:
    return (project.root / name).read_text()


def test_stages_run_as_ray_tasks_with_the_driver_keeping_the_books(
    project: Project, netns: None
) -> None:
    from rigml.track import get_run, list_artifacts, list_runs

    _pipeline(project)
    _run_cluster_script(project)

    # the first run ran both stages as Ray tasks; the driver stored outs, runs and rig.lock
    assert _read(project, "run1.rc").strip() == "0", _read(project, "run1.err")
    first = json.loads(_read(project, "run1.json"))
    actions = [(s["name"], s["action"]) for s in first["stages"]]
    assert actions == [("prep", "ran"), ("train", "ran"), ("gpu", "ran")]
    assert _read(project, "where.txt") == "ray worker\n"
    assert _read(project, "model.txt") == "model\n"
    assert _read(project, "gpu.txt") == "0\n"  # the device Ray assigned reached the command
    lock = read_lock(project.root / "rig.lock")
    assert sorted(lock) == ["gpu", "prep", "train"]
    run = get_run(project.lab, lock["train"]["run"])
    assert run.status == "finished" and run.tags["rig.stage"] == "train"
    names = {a.path: a.object for a in list_artifacts(project.lab, run.id)}
    log = project.lab.objects.get_bytes(names["logs/train.log"]).decode()
    assert "epoch 0\nepoch 1\nepoch 2" in log  # the task's output streamed back to the log

    # the second found everything cached
    assert _read(project, "run2.rc").strip() == "0", _read(project, "run2.err")
    second = json.loads(_read(project, "run2.json"))
    assert {s["action"] for s in second["stages"]} == {"up to date"}

    # more CPUs than any node has: refused with a reason, not left pending forever
    assert _read(project, "big.rc").strip() == "1"
    big = _read(project, "big.out")
    assert "no node of the Ray cluster" in big and "cpus 3" in big, big

    # Ctrl-C cancelled the task, ended its command, and recorded the run as killed
    assert _read(project, "nap.rc").strip() == "130", _read(project, "nap.out")
    assert _read(project, "nap.after").strip() == "gone"
    statuses = {(r.name, r.status) for r in list_runs(project.lab)}
    assert ("nap", "killed") in statuses and ("big", "failed") in statuses
    assert "nap" not in read_lock(project.root / "rig.lock")

    # a 2-trial grid sweep: each trial a Ray task, each a finished run the driver recorded
    assert _read(project, "sweep.rc").strip() == "0", _read(project, "sweep.err")
    sweep = json.loads(_read(project, "sweep.json"))
    trials = sweep["trials"]
    assert sorted(t["params"]["tune.x"] for t in trials) == [0.1, 0.5]
    assert [t["state"] for t in trials] == ["complete", "complete"]
    for trial in trials:
        run = get_run(project.lab, trial["run_id"])
        assert run.status == "finished" and run.tags["rig.sweep"] == "s"
        assert run.metrics["ray"] == 1.0  # its command ran in a Ray worker
    assert _read(project, "params.yaml") == "tune:\n  x: 0.0\n"

    # an address where no cluster answers: a clear error in seconds, not minutes of retries
    assert _read(project, "dead.rc").strip() == "1"
    dead = _read(project, "dead.out")
    assert "cannot connect to the Ray cluster at 127.0.0.1:1" in dead and "Traceback" not in dead
