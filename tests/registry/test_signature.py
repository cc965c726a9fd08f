"""Signatures: inferred from each kind of example, and inputs conformed to them or refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rigml.errors import SignatureMismatch
from rigml.registry._signature import (
    ColumnSpec,
    Signature,
    TensorSpec,
    check_input,
    conform,
    infer_signature,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": np.array([31, 45, 27], dtype=np.int64),
            "income": [52.5, 61.0, 38.25],
            "city": ["Oslo", "Bergen", "Oslo"],
            "member": [True, False, True],
        }
    )


def _columns(sig: Signature) -> list[tuple[str, str]]:
    return [(c.name, c.dtype) for c in sig.columns]


def test_a_dataframe_gives_its_columns_and_dtypes(frame: pd.DataFrame) -> None:
    sig = infer_signature(frame)
    assert sig.format == "dataframe"
    assert sig.tensor is None
    assert _columns(sig) == [
        ("age", "int64"),
        ("income", "float64"),
        ("city", "str"),
        ("member", "bool"),
    ]


def test_an_array_gives_its_dtype_and_shape_with_a_free_batch_dimension() -> None:
    sig = infer_signature(np.zeros((10, 4, 2), dtype=np.float32))
    assert sig.format == "ndarray"
    assert sig.tensor == TensorSpec("float32", (-1, 4, 2))
    assert sig.columns == ()


def test_a_list_of_lists_is_an_array() -> None:
    assert infer_signature([[1.0, 2.0], [3.0, 4.0]]).tensor == TensorSpec("float64", (-1, 2))


def test_a_dict_of_lists_gives_columns() -> None:
    sig = infer_signature({"x": [1, 2], "label": ["a", "b"], "gap": [1.5, None]})
    assert sig.format == "dict"
    assert _columns(sig) == [("x", "int64"), ("label", "str"), ("gap", "float64")]


def test_json_records_give_columns_in_first_seen_order() -> None:
    records = [{"b": 1.5, "a": 2}, {"a": 3, "b": 0.5, "c": "late"}]
    sig = infer_signature(records)
    assert sig.format == "records"
    assert _columns(sig) == [("b", "float64"), ("a", "int64"), ("c", "str")]


def test_outputs_are_inferred_from_what_predict_returned() -> None:
    labels = infer_signature(np.zeros((3, 2)), output=np.array([0, 1, 1])).outputs
    assert labels == (TensorSpec("int64", (-1,)),)
    named = infer_signature(np.zeros((3, 2)), output={"p": np.zeros((3, 2), np.float32)})
    assert named.outputs == (TensorSpec("float32", (-1, 2), "p"),)
    series = infer_signature(np.zeros((3, 2)), output=pd.Series([1.0, 2.0, 3.0], name="price"))
    assert series.outputs == (TensorSpec("float64", (-1,), "price"),)


def test_a_signature_survives_json(frame: pd.DataFrame) -> None:
    for sig in (
        infer_signature(frame, output=np.array([1, 0, 1])),
        infer_signature(np.ones((2, 3), np.float32), output=np.ones((2, 1))),
    ):
        assert Signature.from_json(json.loads(json.dumps(sig.to_json()))) == sig


def test_a_dataframe_in_order_passes_through_without_a_copy(frame: pd.DataFrame) -> None:
    sig = infer_signature(frame)
    assert conform(sig, frame) is frame


def test_columns_are_reordered_and_extra_ones_dropped(frame: pd.DataFrame) -> None:
    sig = infer_signature(frame)
    shuffled = frame[["member", "city", "income", "age"]].assign(note="ignored")
    out = conform(sig, shuffled)
    assert list(out.columns) == ["age", "income", "city", "member"]
    pd.testing.assert_frame_equal(out, frame, check_dtype=False)


def test_json_records_become_a_typed_dataframe(frame: pd.DataFrame) -> None:
    sig = infer_signature(frame)
    records = [
        {"member": 1, "city": "Oslo", "income": 50, "age": 30.0},
        {"member": 0, "city": "Bergen", "income": 40.5, "age": 41},
    ]
    out = conform(sig, records)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["age", "income", "city", "member"]
    assert out["age"].dtype == np.int64 and out["age"].tolist() == [30, 41]
    assert out["income"].dtype == np.float64
    assert out["member"].dtype == bool and out["member"].tolist() == [True, False]
    assert out["city"].tolist() == ["Oslo", "Bergen"]


def test_a_dict_of_lists_becomes_an_array_for_a_tensor_model_in_column_order() -> None:
    sig = Signature("dict", columns=(ColumnSpec("a", "float32"), ColumnSpec("b", "float32")))
    out = conform(sig, {"b": [2, 4], "a": [1, 3]}, to="ndarray")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1, 2], [3, 4]])


def test_rows_of_values_fill_named_columns_by_position(frame: pd.DataFrame) -> None:
    sig = infer_signature(frame[["age", "income"]])
    out = conform(sig, [[30, 1.5], [40, 2.5]])
    assert out["age"].tolist() == [30, 40] and out["income"].tolist() == [1.5, 2.5]


def test_an_array_is_cast_to_the_signature_dtype() -> None:
    sig = infer_signature(np.zeros((2, 3), dtype=np.float32))
    out = conform(sig, [[1, 2, 3]])
    assert out.dtype == np.float32 and out.shape == (1, 3)


def test_a_missing_column_is_named_with_a_hint(frame: pd.DataFrame) -> None:
    sig = infer_signature(frame)
    with pytest.raises(SignatureMismatch, match=r"lacks column.*income") as err:
        check_input(sig, frame.rename(columns={"income": "salary"}))
    assert err.value.hint is not None and "salary" in err.value.hint


def test_a_record_missing_a_key_is_located(frame: pd.DataFrame) -> None:
    sig = infer_signature(frame)
    records = [
        {"age": 1, "income": 2.0, "city": "x", "member": True},
        {"age": 1, "city": "x", "member": True},
    ]
    with pytest.raises(SignatureMismatch, match=r"record 1 lacks column.*income"):
        check_input(sig, records)


def test_text_that_is_not_a_number_is_refused(frame: pd.DataFrame) -> None:
    sig = infer_signature(frame)
    bad = frame.assign(income=["a lot", "some", "none"])
    with pytest.raises(SignatureMismatch, match=r"column 'income' holds text.*float64"):
        check_input(sig, bad)


def test_a_fraction_is_refused_for_an_integer_column(frame: pd.DataFrame) -> None:
    sig = infer_signature(frame)
    with pytest.raises(SignatureMismatch, match=r"'age'.*int64"):
        check_input(sig, frame.assign(age=[31.5, 45.0, 27.0]))
    check_input(sig, frame.assign(age=[31.0, 45.0, 27.0]))  # whole numbers are fine


def test_numbers_are_refused_for_a_text_column(frame: pd.DataFrame) -> None:
    with pytest.raises(SignatureMismatch, match=r"'city'.*str"):
        check_input(infer_signature(frame), frame.assign(city=[1, 2, 3]))


def test_a_null_in_an_integer_column_is_refused(frame: pd.DataFrame) -> None:
    sig = infer_signature(frame)
    records = [{"age": None, "income": 1.0, "city": "x", "member": True}]
    with pytest.raises(SignatureMismatch, match="'age'"):
        check_input(sig, records)


def test_a_wrong_feature_count_says_how_many(frame: pd.DataFrame) -> None:
    sig = infer_signature(np.zeros((5, 4)))
    with pytest.raises(SignatureMismatch, match=r"expected shape \(n, 4\), got \(2, 3\)") as err:
        check_input(sig, np.zeros((2, 3)))
    assert err.value.hint is not None and "4 features" in err.value.hint
    with pytest.raises(SignatureMismatch, match="batch dimension"):
        check_input(sig, [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(SignatureMismatch, match=r"shape \(2, 2\) for 4 named columns"):
        check_input(infer_signature(frame), np.zeros((2, 2)))


def test_named_columns_are_refused_for_a_tensor_signature() -> None:
    sig = infer_signature(np.zeros((5, 2)))
    with pytest.raises(SignatureMismatch, match="not named columns"):
        check_input(sig, [{"a": 1, "b": 2}])


def test_ragged_rows_and_unequal_columns_are_refused() -> None:
    with pytest.raises(SignatureMismatch, match="same number of values"):
        check_input(infer_signature(np.zeros((5, 2))), [[1, 2], [3]])
    sig = infer_signature({"a": [1, 2], "b": [3, 4]})
    with pytest.raises(SignatureMismatch, match="different lengths"):
        check_input(sig, {"a": [1, 2], "b": [3]})
    with pytest.raises(SignatureMismatch, match="one value"):
        check_input(sig, {"a": 1, "b": 3})


def test_an_unreadable_input_is_refused() -> None:
    with pytest.raises(SignatureMismatch, match="cannot read a int"):
        check_input(infer_signature(np.zeros((5, 2))), 7)


def test_without_a_signature_only_the_container_changes() -> None:
    records = [{"a": 1, "b": 2.5}]
    assert conform(None, records) is records  # a model that takes what it is sent
    out = conform(None, records, to="dataframe")
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["a", "b"]
    array = conform(None, pd.DataFrame({"a": [1, 2]}), to="ndarray")
    assert isinstance(array, np.ndarray) and array.shape == (2, 1)
    assert isinstance(conform(None, [[1, 2]], to="ndarray"), np.ndarray)
