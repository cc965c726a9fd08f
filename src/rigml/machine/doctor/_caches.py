"""Find the ML caches (Hugging Face, torch, pip, uv, conda) and size them within a budget."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from rigml.machine.doctor._facts import CacheFacts, FolderSize

if TYPE_CHECKING:
    from rigml.machine.doctor._context import DoctorContext


def measure_folder(path: str, *, budget_s: float, budget_entries: int) -> FolderSize:
    """Add up file sizes under ``path`` with ``os.scandir``, within a time and entry budget.

    Symbolic links are not followed (a Hugging Face snapshot links to its blobs, which are
    counted once). When the budget ends first, the size is a lower bound and ``complete`` is
    False, so a 500 GB cache costs no more than the budget.
    """
    deadline = time.monotonic() + budget_s
    stack = [path]
    total = files = entries = unreadable = 0
    while stack:
        folder = stack.pop()
        try:
            it = os.scandir(folder)
        except OSError:
            unreadable += 1
            continue
        with it:
            for entry in it:
                entries += 1
                if entries > budget_entries or (entries % 512 == 0 and time.monotonic() > deadline):
                    return FolderSize(total, files, False, entries - 1, unreadable)
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                        files += 1
                except OSError:
                    unreadable += 1
    return FolderSize(total, files, True, entries, unreadable)


def cache_locations(environ: Mapping[str, str], home: str) -> list[tuple[str, str, str]]:
    """Where the ML caches live: ``(name, path, set_by)``, following each tool's own rules.

    ``set_by`` names the environment variable that chose the path, or ``"default"``. A path
    inside one listed earlier is left out, so nothing is counted twice.
    """

    def env(name: str) -> str | None:
        value = environ.get(name)
        return os.path.expanduser(value) if value else None

    xdg = env("XDG_CACHE_HOME")
    cache_root, root_by = (xdg, "XDG_CACHE_HOME") if xdg else (os.path.join(home, ".cache"), "")

    def under_cache(sub: str) -> tuple[str, str]:
        return os.path.join(cache_root, sub), root_by or "default"

    out: list[tuple[str, str, str]] = []
    hf_home = env("HF_HOME")
    out.append(("huggingface", *((hf_home, "HF_HOME") if hf_home else under_cache("huggingface"))))
    for var, name in (
        ("HF_HUB_CACHE", "huggingface hub"),
        ("HUGGINGFACE_HUB_CACHE", "huggingface hub"),
        ("HF_DATASETS_CACHE", "huggingface datasets"),
        ("TRANSFORMERS_CACHE", "transformers"),
    ):
        if value := env(var):
            out.append((name, value, var))
    torch_home = env("TORCH_HOME")
    out.append(("torch", *((torch_home, "TORCH_HOME") if torch_home else under_cache("torch"))))
    pip_dir = env("PIP_CACHE_DIR")
    out.append(("pip", *((pip_dir, "PIP_CACHE_DIR") if pip_dir else under_cache("pip"))))
    uv_dir = env("UV_CACHE_DIR")
    out.append(("uv", *((uv_dir, "UV_CACHE_DIR") if uv_dir else under_cache("uv"))))
    if pkgs := environ.get("CONDA_PKGS_DIRS"):
        for i, p in enumerate(x.strip() for x in pkgs.split(",")):
            if p:
                out.append((f"conda pkgs {i + 1}" if i else "conda pkgs", p, "CONDA_PKGS_DIRS"))
    else:
        roots = [os.path.join(home, d) for d in ("miniconda3", "anaconda3", "miniforge3")]
        if conda_exe := environ.get("CONDA_EXE"):
            roots.insert(0, os.path.dirname(os.path.dirname(conda_exe)))
        out.append(("conda pkgs", os.path.join(home, ".conda", "pkgs"), "default"))
        out += [("conda pkgs", os.path.join(r, "pkgs"), "default") for r in roots]

    kept: list[tuple[str, str, str]] = []
    for name, path, by in out:
        real = os.path.realpath(path)
        if any(real == k or real.startswith(k.rstrip(os.sep) + os.sep) for _, k, _ in kept):
            continue
        kept.append((name, real, by))
    return kept


def _read_caches(ctx: DoctorContext) -> list[CacheFacts]:
    root_device = ctx.get_disks()[0].device
    t = ctx.thresholds
    located = cache_locations(ctx.environ, ctx.home)
    existing = [(n, p, by) for n, p, by in located if os.path.isdir(p)]

    def size(path: str) -> FolderSize:
        return measure_folder(
            path, budget_s=t.cache_budget_s, budget_entries=t.cache_budget_entries
        )

    with ThreadPoolExecutor(max_workers=max(1, min(4, len(existing)))) as pool:
        paths = [p for _, p, _ in existing]
        sizes = dict(zip(paths, pool.map(size, paths), strict=True))
    facts = []
    for name, path, by in located:
        if path not in sizes:
            if by != "default":  # a cache the user pointed somewhere that does not exist
                facts.append(CacheFacts(name, path, by, exists=False))
            continue
        try:
            on_system = root_device is not None and os.stat(path).st_dev == root_device
        except OSError:
            on_system = None
        facts.append(CacheFacts(name, path, by, True, on_system, sizes[path]))
    return facts
