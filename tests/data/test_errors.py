"""Mistakes a user can make get a RigError that says what and where, one test per row:
unsafe dataset names, a contract naming a missing column, a lab that cannot be written,
output files and checkouts in places that cannot hold them."""

from __future__ import annotations

from pathlib import Path

import pytest

from rigml.data import (
    add,
    check,
    checkout,
    contract_from_dict,
    history,
    infer_contract,
    profile,
    resolve,
)
from rigml.data._profile_report import write_html
from rigml.errors import (
    InvalidDatasetRef,
    InvalidInput,
    LabNotWritable,
    OutputNotWritable,
)

from .conftest import write


@pytest.mark.parametrize("name", ["a/../b", "a//b", "../../etc", "a/./b", "a/", "/a", "a/.."])
def test_dataset_names_with_empty_dot_or_dotdot_parts_are_refused(lab, folder, name) -> None:
    with pytest.raises(InvalidInput, match="dataset names"):
        add(lab, folder, name=name)
    with pytest.raises(InvalidInput):
        history(lab, name)
    with pytest.raises(InvalidDatasetRef):
        resolve(lab, f"{name}@1")


def test_nested_names_still_work(lab, folder) -> None:
    assert add(lab, folder, name="images/train.v2").version.ref == "images/train.v2@1"


def test_a_contract_column_the_table_lacks_is_named_with_the_columns_it_has(lab, folder) -> None:
    add(lab, folder / "table.csv", name="t")
    report = check(lab, "t", contract_from_dict({"columns": {"age": {"type": "int"}}}))
    (failure,) = report.failures
    assert failure.check == "age: type int" and failure.column == "age"
    assert failure.detail == "the column 'age' is missing; the table has id, x, label"


def test_adding_into_a_lab_whose_cache_cannot_be_written_says_so(lab, folder) -> None:
    """The stat cache (``cache/stat.db``) is the first thing an add writes. Tests run as
    root, so a read-only folder is not read-only to them: a file where the cache folder
    belongs is the real condition tested here (SQLite said "unable to open database file")."""
    (lab.path / "cache").mkdir(exist_ok=True)
    for child in (lab.path / "cache").iterdir():
        child.unlink()
    (lab.path / "cache").rmdir()
    (lab.path / "cache").write_text("not a folder")
    with pytest.raises(LabNotWritable, match="is a file, not a folder") as info:
        add(lab, folder, name="ds")
    assert str(lab.path) in info.value.message and "sqlite" not in str(info.value).lower()


def test_adding_into_a_lab_whose_objects_cannot_be_written_says_so(lab, folder) -> None:
    lab.objects.root.mkdir(parents=True, exist_ok=True)
    tmp = lab.objects.root / "tmp"
    if tmp.is_dir():
        tmp.rmdir()
    tmp.write_text("not a folder")
    with pytest.raises(LabNotWritable, match="is a file, not a folder"):
        add(lab, folder, name="ds")


@pytest.fixture
def unwritable(tmp_path: Path) -> dict[str, Path]:
    """Places no file can go: a kernel folder, below a file, a missing folder."""
    blocker = write(tmp_path / "a-file", "x")
    return {
        "proc": Path("/proc/rig-test-output"),
        "below a file": blocker / "out",
        "missing folder": tmp_path / "missing" / "out",
    }


@pytest.mark.parametrize("where", ["proc", "below a file", "missing folder"])
def test_profile_html_and_contract_outputs_refuse_unwritable_places(
    lab, folder, unwritable, where
) -> None:
    from rigml._output import write_output
    from rigml.data import contract_to_yaml

    add(lab, folder / "table.csv", name="t")
    dest = unwritable[where]
    with pytest.raises(OutputNotWritable, match="cannot write"):
        write_html(profile(lab, "t"), dest.with_suffix(".html"))
    with pytest.raises(OutputNotWritable):  # what `rig data contract infer --out` calls
        write_output(dest.with_suffix(".yaml"), contract_to_yaml(infer_contract(lab, "t")))
    assert not (unwritable["missing folder"].parent).exists()  # no parent made


@pytest.mark.parametrize("kind", ["folder", "file"])
@pytest.mark.parametrize("where", ["proc", "below a file"])
def test_checkout_to_an_unwritable_place_is_a_clear_error(
    lab, folder, unwritable, kind, where
) -> None:
    src = folder if kind == "folder" else folder / "table.csv"
    add(lab, src, name="ds")
    with pytest.raises(OutputNotWritable, match="cannot write") as info:
        checkout(lab, "ds", unwritable[where])
    assert "does not accept new files" in info.value.message or "not a folder" in (
        info.value.message
    )
