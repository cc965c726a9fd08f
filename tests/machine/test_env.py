"""Environment lock: secret redaction, capture of this venv, torch's CUDA build, diffs."""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from rigml.machine.env import (
    SECRET_PATTERN,
    EnvChange,
    capture_environment,
    diff_environments,
    installed_packages,
    parse_torch_version_file,
    redact_environ,
    redact_url_credentials,
)

# --------------------------------------------------------------------------- redaction

SECRET_NAMES = [
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SESSION_TOKEN",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "OPENAI_API_KEY",
    "WANDB_API_KEY",
    "GITHUB_TOKEN",
    "GITLABTOKEN",
    "PGPASSWORD",
    "MYSQL_PWD",
    "DB_PWD",
    "db_password",
    "SMTP_PASSWD",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "SSH_PRIVATE_KEY",
    "GPG_PASSPHRASE",
    "NPM_AUTH",
    "HTTP_AUTHORIZATION",
    "SESSION_COOKIE",
    "WEBHOOK_SIGNATURE",
    "TLS_CERT",
    "SENTRY_DSN",
    "KAGGLE_KEY",
    "STRIPE_APIKEY",
    "vault.token",
]

PLAIN_NAMES = [
    "PWD",
    "OLDPWD",
    "PATH",
    "HOME",
    "KEYBOARD",
    "KEYBOARD_LAYOUT",
    "MONKEY",
    "MONKEY_PATCH",
    "TOKENIZERS_PARALLELISM",
    "MAX_TOKENS",
    "DATABASE_URL",
    "CUDA_VISIBLE_DEVICES",
    "PYTHONPATH",
    "GIT_AUTHOR_NAME",
    "AUTHOR",
    "BYPASS_CACHE",
    "PASSAGE_COUNT",
    "COMPASS_DIR",
    "OMP_NUM_THREADS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "LANG",
    "HOTKEYS",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names_match(name: str) -> None:
    assert SECRET_PATTERN.match(name), name
    assert redact_environ({name: "hunter2"}) == {name: "***"}


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_plain_names_do_not_match(name: str) -> None:
    assert not SECRET_PATTERN.match(name), name
    assert redact_environ({name: "/some/value"}) == {name: "/some/value"}


@pytest.mark.parametrize(
    ("value", "redacted"),
    [
        (
            "postgresql+psycopg://ml:s3cr3t@db.internal:5432/lab",
            "postgresql+psycopg://ml:***@db.internal:5432/lab",
        ),
        ("https://user:ghp_abc123@github.com/o/r.git", "https://user:***@github.com/o/r.git"),
        ("redis://:only-a-password@cache:6379/0", "redis://:***@cache:6379/0"),
        (
            "https://a:1@x.org/simple https://b:2@y.org/simple",
            "https://a:***@x.org/simple https://b:***@y.org/simple",
        ),
        ("https://pypi.org/simple", "https://pypi.org/simple"),
        ("http://localhost:8080/path", "http://localhost:8080/path"),
        ("/plain/path:with:colons", "/plain/path:with:colons"),
    ],
)
def test_url_passwords_are_redacted_and_nothing_else(value: str, redacted: str) -> None:
    assert redact_url_credentials(value) == redacted


def test_redact_environ_keeps_names_and_redacts_url_credentials() -> None:
    env = {
        "DATABASE_URL": "postgresql://me:pw@db/prod",
        "HF_TOKEN": "hf_abcdef",
        "PWD": "/home/me/project",
    }
    assert redact_environ(env) == {
        "DATABASE_URL": "postgresql://me:***@db/prod",
        "HF_TOKEN": "***",
        "PWD": "/home/me/project",
    }


# --------------------------------------------------------------------------- capture


def test_capture_records_this_virtualenv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIG_TEST_API_KEY", "sk-do-not-store")
    monkeypatch.setenv("RIG_TEST_DB_URL", "postgresql://me:pw@db/x")
    monkeypatch.setenv("LS_COLORS", "di=01;34")
    env = capture_environment()
    assert json.loads(json.dumps(env)) == env
    assert env["schema_version"] == 1
    py = env["python"]
    assert py["version"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    assert py["executable"] == sys.executable
    assert py["in_virtualenv"] is (sys.prefix != sys.base_prefix or "CONDA_PREFIX" in os.environ)
    assert env["platform"]["system"]

    by_name = {p["name"]: p for p in env["packages"]}
    assert by_name["pytest"]["version"] == version("pytest")
    assert by_name["pytest"]["source"]
    names = [p["name"] for p in env["packages"]]
    assert names == sorted(names) and len(names) == len(set(names))
    assert env["frameworks"]["numpy"] == version("numpy")

    assert env["env_vars"]["RIG_TEST_API_KEY"] == "***"
    assert env["env_vars"]["RIG_TEST_DB_URL"] == "postgresql://me:***@db/x"
    assert "LS_COLORS" not in env["env_vars"]
    assert "sk-do-not-store" not in json.dumps(env)

    assert set(env["cuda"]) >= {"driver_version", "cuda_driver_version", "visible_devices"}
    assert "env_vars" not in capture_environment(include_env_vars=False)


def test_capture_reads_cuda_from_a_recording(monkeypatch: pytest.MonkeyPatch) -> None:
    recording = Path(__file__).parent / "recorded" / "a100_throttling.json"
    monkeypatch.setenv("RIG_GPU_RECORDING", str(recording))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    cuda = capture_environment(include_env_vars=False)["cuda"]
    assert cuda["driver_version"] == "535.154.05"
    assert cuda["cuda_driver_version"] == "12.2"
    assert cuda["visible_devices"] == "0"


def test_package_listing_is_fast() -> None:
    installed_packages()  # warm the filesystem cache
    start = time.perf_counter()
    packages = installed_packages()
    elapsed = time.perf_counter() - start
    # target: < 150 ms for ~200 packages
    assert elapsed < 0.15 * max(1.0, len(packages) / 200) + 0.05


def _dist_info(site: Path, name: str, ver: str, direct_url: dict[str, Any] | None) -> None:
    info = site / f"{name.replace('-', '_')}-{ver}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {ver}\n\nName: not-this\n"
    )
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))


def test_package_sources_come_from_direct_url_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    _dist_info(
        site,
        "Rig_Demo.Editable",
        "0.1.0",
        {"url": "file:///home/me/my%20project", "dir_info": {"editable": True}},
    )
    _dist_info(
        site,
        "rig-demo-vcs",
        "1.0",
        {
            "url": "https://github.com/o/r.git",
            "vcs_info": {"vcs": "git", "commit_id": "0123abcd", "requested_revision": "main"},
        },
    )
    _dist_info(
        site,
        "rig-demo-wheel",
        "2.0",
        {"url": "file:///tmp/wheels/rig_demo_wheel-2.0-py3-none-any.whl", "archive_info": {}},
    )
    _dist_info(
        site,
        "rig-demo-remote",
        "3.0",
        {"url": "https://example.org/rig_demo_remote-3.0.tar.gz", "archive_info": {}},
    )
    _dist_info(site, "rig-demo-index", "4.0", None)
    monkeypatch.syspath_prepend(str(site))

    by_name = {p["name"]: p for p in installed_packages()}
    assert by_name["rig-demo-editable"] == {
        "name": "rig-demo-editable",
        "version": "0.1.0",
        "source": "editable:/home/me/my project",
    }
    assert by_name["rig-demo-vcs"]["source"] == "vcs:https://github.com/o/r.git@0123abcd"
    assert by_name["rig-demo-wheel"]["source"] == (
        "file:/tmp/wheels/rig_demo_wheel-2.0-py3-none-any.whl"
    )
    assert by_name["rig-demo-remote"]["source"] == (
        "url:https://example.org/rig_demo_remote-3.0.tar.gz"
    )
    assert by_name["rig-demo-index"]["source"] == "index"
    assert "not-this" not in by_name


# --------------------------------------------------------------------------- torch

TORCH_VERSION_PY = """\
from typing import Optional

__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip', 'xpu']
__version__ = '2.5.1+cu121'
debug = False
cuda: Optional[str] = '12.1'
git_version = 'a8d6afb511a69687bbb2b7e88a3cf67917e1697e'
hip: Optional[str] = None
xpu: Optional[str] = None
"""

OLD_TORCH_VERSION_PY = """\
__version__ = '1.13.1+cpu'
debug = False
cuda = None
git_version = '49444c3e546bf240bed24a101e747422d1f8a0ee'
hip = None
"""


def test_torch_version_file_is_parsed_not_executed() -> None:
    assert parse_torch_version_file(TORCH_VERSION_PY) == {
        "version": "2.5.1+cu121",
        "cuda": "12.1",
        "hip": None,
        "git": "a8d6afb511a69687bbb2b7e88a3cf67917e1697e",
    }
    old = parse_torch_version_file(OLD_TORCH_VERSION_PY)
    assert old["version"] == "1.13.1+cpu" and old["cuda"] is None
    assert parse_torch_version_file("import os\nos.system('false')\n")["version"] is None
    assert parse_torch_version_file("this is not python (")["cuda"] is None


def test_capture_finds_torch_cuda_without_importing_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "fake_site" / "torch"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('torch must not be imported')\n")
    (pkg / "version.py").write_text(TORCH_VERSION_PY)
    monkeypatch.syspath_prepend(str(pkg.parent))
    monkeypatch.delitem(sys.modules, "torch", raising=False)

    torch = capture_environment(include_env_vars=False)["frameworks"]["torch"]
    assert torch == {"version": "2.5.1+cu121", "cuda": "12.1", "hip": None}
    assert "torch" not in sys.modules


# --------------------------------------------------------------------------- diff


def _env() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "python": {"version": "3.11.7", "implementation": "CPython", "executable": "/v/bin/py"},
        "platform": {"system": "Linux", "release": "6.8.0", "machine": "x86_64"},
        "packages": [
            {"name": "numpy", "version": "1.26.4", "source": "index"},
            {"name": "pytest", "version": "8.2.0", "source": "index"},
            {"name": "torch", "version": "2.3.0", "source": "index"},
        ],
        "frameworks": {
            "torch": {"version": "2.3.0", "cuda": "12.1", "hip": None},
            "numpy": "1.26.4",
            "jax": None,
            "tensorflow": None,
        },
        "cuda": {
            "driver_version": "550.54.14",
            "cuda_driver_version": "12.4",
            "visible_devices": None,
        },
        "env_vars": {"OMP_NUM_THREADS": "8"},
    }


def _package(env: dict[str, Any], name: str) -> dict[str, str]:
    return next(p for p in env["packages"] if p["name"] == name)


def _only(changes: list[EnvChange], section: str, name: str) -> EnvChange:
    (change,) = [c for c in changes if c.section == section and c.name == name]
    return change


def test_identical_environments_have_no_changes() -> None:
    assert diff_environments(_env(), _env()) == []
    real = capture_environment()
    assert diff_environments(real, copy.deepcopy(real)) == []


def test_python_minor_is_breaking_and_a_patch_is_not() -> None:
    b = _env()
    b["python"]["version"] = "3.12.1"
    change = _only(diff_environments(_env(), b), "python", "version")
    assert change.breaking and change.why and (change.a, change.b) == ("3.11.7", "3.12.1")
    b["python"]["version"] = "3.11.9"
    assert not _only(diff_environments(_env(), b), "python", "version").breaking


def test_numpy_major_is_breaking_and_a_minor_is_not() -> None:
    b = _env()
    _package(b, "numpy")["version"] = "2.0.1"
    assert _only(diff_environments(_env(), b), "packages", "numpy").breaking
    _package(b, "numpy")["version"] = "1.26.5"
    assert not _only(diff_environments(_env(), b), "packages", "numpy").breaking


def test_torch_cuda_build_and_torch_version_are_breaking() -> None:
    b = _env()
    b["frameworks"]["torch"]["cuda"] = "11.8"
    change = _only(diff_environments(_env(), b), "frameworks", "torch.cuda")
    assert change.breaking and (change.a, change.b) == ("12.1", "11.8")
    b = _env()
    _package(b, "torch")["version"] = "2.4.0"
    assert _only(diff_environments(_env(), b), "packages", "torch").breaking


def test_driver_major_and_cuda_driver_are_breaking() -> None:
    b = _env()
    b["cuda"]["driver_version"] = "550.107.02"
    assert not _only(diff_environments(_env(), b), "cuda", "driver_version").breaking
    b["cuda"]["driver_version"] = "560.35.03"
    b["cuda"]["cuda_driver_version"] = "12.6"
    changes = diff_environments(_env(), b)
    assert _only(changes, "cuda", "driver_version").breaking
    assert _only(changes, "cuda", "cuda_driver_version").breaking


def test_plain_package_and_env_var_changes_are_not_breaking() -> None:
    b = _env()
    _package(b, "pytest")["version"] = "8.3.0"
    b["packages"].append({"name": "rich", "version": "13.7.1", "source": "index"})
    b["packages"] = [p for p in b["packages"] if p["name"] != "numpy"] + [
        {"name": "numpy", "version": "1.26.4", "source": "editable:/src/numpy"}
    ]
    b["env_vars"]["OMP_NUM_THREADS"] = "16"
    b["env_vars"]["TOKENIZERS_PARALLELISM"] = "false"
    changes = diff_environments(_env(), b)
    assert not any(c.breaking for c in changes)
    assert _only(changes, "packages", "pytest") == EnvChange("packages", "pytest", "8.2.0", "8.3.0")
    assert _only(changes, "packages", "rich").a is None
    assert _only(changes, "packages", "numpy (source)").b == "editable:/src/numpy"
    assert _only(changes, "env_vars", "OMP_NUM_THREADS").b == "16"
    assert _only(changes, "env_vars", "TOKENIZERS_PARALLELISM").a is None


def test_removed_package_and_missing_sections_are_handled() -> None:
    b = _env()
    b["packages"] = [p for p in b["packages"] if p["name"] != "pytest"]
    del b["env_vars"], b["cuda"]
    changes = diff_environments(_env(), b)
    removed = _only(changes, "packages", "pytest")
    assert (removed.a, removed.b) == ("8.2.0", None)
    assert _only(changes, "env_vars", "OMP_NUM_THREADS").b is None
    assert _only(changes, "cuda", "cuda_driver_version").breaking
