"""The Ray executor: each stage's commands as one Ray task, with the stage's ``resources``.

Only the commands run on the cluster; the stage's bookkeeping (its tracked run, ``rig.lock``,
the cache of outs) stays in the driver, the ``rig run`` process. The task streams its output
back in batches, so the log artifact and a failure's tail read as with local processes.

Reachability is checked before anything connects: a cluster on other machines cannot
write a SQLite file or a local folder of objects here, so such a lab is refused
(:class:`~rigml.errors.LabNotShared`) rather than losing what the workers record.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rigml.errors import ExecutorUnavailable, InvalidInput, LabNotShared, MissingExtra
from rigml.pipeline._executor import GRACE_S, Job, Outcome

if TYPE_CHECKING:
    from rigml.lab import Lab

# addresses that mean "a Ray on this machine"; None defers to RAY_ADDRESS, then a local Ray
_LOCAL_WORDS = ("", "auto", "local", "localhost")
PROBE_S = 5.0  # to open a TCP connection to the cluster's address
CANCEL_MARGIN_S = 5.0  # after the grace period, force-cancel what is still running


def effective_address(address: str | None) -> str | None:
    """The address ``ray.init`` will use: the given one, else ``RAY_ADDRESS``, else None."""
    return address or os.environ.get("RAY_ADDRESS") or None


def is_local_address(address: str | None) -> bool:
    """Whether ``address`` names a Ray on this machine. Nothing is resolved or connected.

    ``None``, ``auto``, ``local``, a loopback host (``127.0.0.1:6379``, ``ray://localhost:
    10001``) and this machine's own hostname are local; any other host is taken as remote.
    """
    if address is None or address.strip().lower() in _LOCAL_WORDS:
        return True
    host = _host(address)
    return _is_loopback(host) or host.lower() == socket.gethostname().lower()


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host(address: str) -> str:
    rest = address.strip().split("://", 1)[-1].split("/", 1)[0]
    if rest.startswith("["):  # [::1]:6379
        return rest[1:].split("]", 1)[0]
    return rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest


def check_lab_reachable(lab: Lab, address: str | None) -> None:
    """Refuse a remote cluster when the lab's store or objects live only on this machine.

    Raises:
        LabNotShared: the address is remote and the store is SQLite, or the object store a
            local folder (or ``memory://``), which the cluster's workers cannot reach.
    """
    address = effective_address(address)
    if is_local_address(address):
        return
    assert address is not None
    if lab.store_url.startswith("sqlite"):
        raise LabNotShared(address, "SQLite store", lab.store_url.split("///", 1)[-1])
    objects = lab.config.objects_url
    if objects is None or "://" not in objects or objects.startswith(("file:", "local:")):
        raise LabNotShared(address, "object store", objects or str(lab.path / "objects"))
    if objects.startswith("memory:"):
        raise LabNotShared(address, "object store", objects)


def task_options(resources: Mapping[str, Any] | None) -> dict[str, Any]:
    """Ray task options from a stage's ``resources``: ``num_cpus``, ``num_gpus``, ``memory``.

    Raises:
        InvalidInput: ``memory`` is not a size (``16GiB``, ``512MB``, a number of bytes).
    """
    options: dict[str, Any] = {"num_cpus": 1}
    resources = resources or {}
    if resources.get("cpus") is not None:
        options["num_cpus"] = resources["cpus"]
    if resources.get("gpus") is not None:
        options["num_gpus"] = resources["gpus"]
    if resources.get("memory") is not None:
        options["memory"] = memory_bytes(resources["memory"])
    return options


def memory_bytes(value: str | int | float) -> int:
    """``16GiB``, ``1.5 GB``, ``512M`` or a number of bytes, as bytes (above 0).

    One rule for sizes: :func:`rigml._units.parse_bytes` (``16G`` is 16 GiB, ``16GB`` decimal).
    """
    from rigml._units import parse_bytes

    try:
        size = parse_bytes(value)
    except ValueError:
        size = 0
    if size <= 0:
        raise InvalidInput(
            f"resources.memory: expected a size such as 16GiB, 512MB or a number of bytes, "
            f"got {value!r}",
            hint="fix the stage's resources in rig.yaml",
        )
    return size


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingExtra("ray", module="ray") from exc
    return ray


class RayExecutor:
    """Each job a Ray task on a local Ray or a cluster; many at once from many threads."""

    name = "ray"

    def __init__(self, address: str | None = None, *, grace_s: float = GRACE_S) -> None:
        self.address = effective_address(address)
        self.remote = not is_local_address(self.address)
        self.grace_s = grace_s
        self._ray = _import_ray()
        self._owns = self._connect()
        self._task = self._remote_task()
        self._running: dict[int, Any] = {}  # id(job) -> its task's ObjectRefGenerator
        self._active: set[int] = set()  # id(job) of every job in run()
        self._cancelled: set[int] = set()  # of those, the ones cancel() was called for
        self._lock = threading.Condition()
        self._stopped = threading.Event()

    def _connect(self) -> bool:
        ray = self._ray
        if ray.is_initialized():
            return False
        self._probe()
        options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        if self.address in (None, "local"):
            options["include_dashboard"] = False  # a Ray started for this run
        try:
            ray.init(address=self.address, **options)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            hint = None
            if "ray[client]" in str(exc):  # ray:// is Ray Client, an extra of Ray's own
                hint = "pip install 'ray[client]', or give the head's HOST:6379 instead"
            where = self.address or "a local Ray"
            raise ExecutorUnavailable(where, _first_line(exc), hint=hint) from exc
        return True

    def _probe(self) -> None:
        """Fail in seconds on an address where nothing listens (``ray.init`` retries minutes)."""
        address = self.address
        if address is None or address.strip().lower() in _LOCAL_WORDS:
            return
        host, _, port = address.split("://", 1)[-1].rpartition(":")
        if not port.isdigit():
            return
        try:
            socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), PROBE_S).close()
        except OSError as exc:
            raise ExecutorUnavailable(address, f"nothing answers there ({exc})") from exc

    def _remote_task(self) -> Any:
        from rigml.pipeline import _ray_task

        # by value: the cluster's workers need Python and Ray, not rigml
        self._ray.cloudpickle.register_pickle_by_value(_ray_task)
        return self._ray.remote(max_retries=0)(_ray_task.run_commands)

    def run(self, job: Job) -> Outcome:
        with self._lock:
            self._active.add(id(job))
        try:
            return self._run(job)
        finally:
            with self._lock:
                self._active.discard(id(job))
                self._cancelled.discard(id(job))

    def _run(self, job: Job) -> Outcome:
        options = task_options(job.resources)  # a generator task: its results stream
        problem = self._infeasible(options)
        if problem:
            job.on_line(f"rig: {problem}")
            return Outcome(1, False)
        env = self._env(job.env)
        with self._lock:  # submitted and registered at once: stop() sees every task
            if self._halted(job):
                return Outcome(130, True)
            stream = self._task.options(**options).remote(
                list(job.cmds), str(job.cwd), env, self.remote, self.grace_s
            )
            self._running[id(job)] = stream
        try:
            return self._follow(job, stream)
        finally:
            with self._lock:
                self._running.pop(id(job), None)
                self._lock.notify_all()

    def _halted(self, job: Job) -> bool:
        return self._stopped.is_set() or id(job) in self._cancelled

    def _infeasible(self, options: dict[str, Any]) -> str | None:
        """Why no node of the cluster can ever run the task, or None (Ray would wait forever)."""
        from rigml.pipeline._resources import describe, fits

        need = {
            "CPU": float(options.get("num_cpus") or 0),
            "GPU": float(options.get("num_gpus") or 0),
            "memory": float(options.get("memory") or 0),
        }
        nodes: list[dict[str, float]] = [
            n.get("Resources", {}) for n in self._ray.nodes() if n.get("Alive")
        ]
        if any(fits(need, node) for node in nodes):
            return None
        empty: dict[str, float] = {}
        largest = max(nodes, key=lambda n: (n.get("GPU", 0.0), n.get("CPU", 0.0)), default=empty)
        return (
            f"no node of the Ray cluster has {describe(need)} for this stage "
            f"(the largest has {describe(largest)}); lower the stage's resources in "
            "rig.yaml or add a node that has them"
        )

    def _env(self, env: dict[str, str]) -> dict[str, str]:
        """The whole environment for a local Ray; for a cluster, what differs from ours."""
        if not self.remote:
            return env
        ours = os.environ
        return {k: v for k, v in env.items() if ours.get(k) != v or k.startswith("RIG_")}

    def _follow(self, job: Job, stream: Any) -> Outcome:
        """Hand the task's lines to the job as they come; its exit code at the end."""
        code: int | None = None
        try:
            for ref in stream:
                kind, value = self._ray.get(ref)
                if kind == "lines":
                    for line in value:
                        job.on_line(line)
                else:
                    code = int(value)
        except self._ray.exceptions.RayError as exc:
            if self._halted(job):
                return Outcome(130, True)
            job.on_line(f"rig: the Ray task failed: {_first_line(exc)}")
            return Outcome(1, False)
        if self._halted(job):
            return Outcome(code or 130, True)
        return Outcome(1 if code is None else code, False)

    def stop(self) -> None:
        """Cancel every task: its commands get SIGTERM and a grace period, then force."""
        self._stopped.set()
        with self._lock:
            streams = list(self._running.values())
        for stream in streams:
            self._cancel(stream, force=False)
        with self._lock:
            self._lock.wait_for(lambda: not self._running, timeout=self.grace_s + CANCEL_MARGIN_S)
            left = list(self._running.values())
        for stream in left:
            self._cancel(stream, force=True)

    def cancel(self, job: Job) -> None:
        """Cancel ``job``'s task alone, as :meth:`stop` does all; others run on."""
        key = id(job)
        with self._lock:
            if key not in self._active:
                return  # not running (any more): nothing to cancel
            self._cancelled.add(key)
            stream = self._running.get(key)
        if stream is None:
            return  # not submitted yet: run() sees it cancelled and submits nothing
        self._cancel(stream, force=False)
        with self._lock:
            gone = self._lock.wait_for(
                lambda: key not in self._running, timeout=self.grace_s + CANCEL_MARGIN_S
            )
        if not gone:
            self._cancel(stream, force=True)

    def _cancel(self, stream: Any, *, force: bool) -> None:
        try:
            self._ray.cancel(stream, force=force)
        except Exception:  # the task may have ended meanwhile: nothing to stop
            logging.getLogger(__name__).debug("ray.cancel failed", exc_info=True)

    def close(self) -> None:
        """Disconnect from Ray (and stop the local Ray this executor started)."""
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
            self._owns = False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
