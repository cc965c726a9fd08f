"""rig.toml is validated as a whole: every mistake is one located message and exit code 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rigml.config import TEMPLATE
from rigml.errors import InvalidConfig
from rigml.lab import init_lab, open_lab


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    lab, _ = init_lab(tmp_path / "lab")
    lab.close()
    return tmp_path / "lab" / "rig.toml"


def _fails(rig: Any, cfg: Path, text: str, *needles: str) -> str:
    cfg.write_text(text)
    result = rig("--lab", str(cfg.parent), "runs", "list")
    assert result.exit_code == 2, result
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr
    assert result.stdout == ""
    for needle in (str(cfg), *needles):
        assert needle in result.err, result.err
    return str(result.err)


def test_a_wrong_type_names_the_file_section_and_key(rig: Any, cfg: Path) -> None:
    _fails(rig, cfg, "[store]\nurl = 42\n", "[store] url: expected a string, got 42")
    _fails(
        rig, cfg, "[tracking]\ncapture_git = 1\n", "[tracking] capture_git: expected true or false"
    )
    _fails(
        rig, cfg, "[tracking]\nflush_interval = -1\n", "flush_interval: expected a positive number"
    )
    _fails(rig, cfg, "store = 3\n", "[store]: expected a table, got 3")


def test_an_unsupported_store_scheme_lists_the_supported_ones(rig: Any, cfg: Path) -> None:
    err = _fails(rig, cfg, '[store]\nurl = "mysql://root:secret@db/rig"\n', "'mysql://'", "sqlite")
    assert "postgresql+psycopg" in err and "secret" not in err  # no password echoed
    _fails(rig, cfg, '[store]\nurl = "postgresql+asyncpg://u@h/db"\n', "write postgresql+psycopg")


def test_an_unsupported_objects_protocol_lists_what_works(rig: Any, cfg: Path) -> None:
    _fails(rig, cfg, '[objects]\nurl = "nosuch://bucket"\n', "'nosuch://'", "s3://", "memory://")
    _fails(rig, cfg, '[objects]\nendpoint_url = "127.0.0.1:9000"\n', "[objects] endpoint_url")


def test_unknown_sections_and_keys_suggest_the_near_miss(rig: Any, cfg: Path) -> None:
    _fails(rig, cfg, "[trackng]\ncapture_git = true\n", "[trackng]: unknown section", "[tracking]?")
    _fails(
        rig, cfg, "[tracking]\ncapture_gti = true\n", "capture_gti: unknown setting", "capture_git?"
    )


def test_every_problem_is_reported_at_once(rig: Any, cfg: Path) -> None:
    _fails(rig, cfg, '[store]\nurl = 1\n[objects]\nur = "x"\n', "[store] url", "[objects] ur")


def test_environment_overrides_are_validated_the_same_way(
    rig: Any, cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIG_STORE_URL", "mysql://h/db")
    result = rig("--lab", str(cfg.parent), "runs", "list")
    assert result.exit_code == 2 and "RIG_STORE_URL" in result.err and "sqlite" in result.err
    monkeypatch.delenv("RIG_STORE_URL")
    monkeypatch.setenv("RIG_OBJECTS_URL", "nosuch://x")
    with pytest.raises(InvalidConfig, match="RIG_OBJECTS_URL"):
        open_lab(cfg.parent)


def test_the_template_and_good_values_are_accepted(
    cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg.write_text(
        TEMPLATE.replace('# url = "s3', 'url = "s3', 1).replace("# endpoint_url", "endpoint_url")
    )
    lab = open_lab(cfg.parent)
    assert lab.config.objects_url == "s3://bucket/rigml-objects"
    assert lab.config.storage_options() == {
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}
    }
    monkeypatch.setenv("RIG_OBJECTS_ENDPOINT", "https://minio.example:9000")
    assert open_lab(cfg.parent).config.objects_endpoint == "https://minio.example:9000"
    cfg.write_text("[tracking]\nflush_interval = 2\n")  # an integer where a float is expected
    assert open_lab(cfg.parent).config.tracking.flush_interval == 2.0


def test_the_pipeline_section_names_the_executor_and_the_ray_address(cfg: Path) -> None:
    assert open_lab(cfg.parent).config.pipeline.executor == "local"  # the template's default
    assert open_lab(cfg.parent).config.pipeline.address is None
    cfg.write_text('[pipeline]\nexecutor = "ray"\naddress = "ray://head:10001"\n')
    pipeline = open_lab(cfg.parent).config.pipeline
    assert (pipeline.executor, pipeline.address) == ("ray", "ray://head:10001")
    uncommented = TEMPLATE.replace("# executor =", "executor =").replace("# address =", "address =")
    cfg.write_text(uncommented)
    assert open_lab(cfg.parent).config.pipeline.executor == "ray"


def test_a_pipeline_section_mistake_suggests_the_near_miss(rig: Any, cfg: Path) -> None:
    _fails(
        rig,
        cfg,
        '[pipeline]\nexecutor = "rey"\n',
        '[pipeline] executor: expected "local" or "ray", got "rey"; did you mean ray?',
    )
    _fails(rig, cfg, '[pipeline]\nadress = "x"\n', "adress: unknown setting", "address?")
    _fails(rig, cfg, "[pipelin]\n", "[pipelin]: unknown section", "[pipeline]?")
    _fails(rig, cfg, "[pipeline]\naddress = 10001\n", "[pipeline] address: expected a string")
