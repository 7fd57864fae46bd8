"""Housing CSV uploads: what `/treinar` reads from a spreadsheet export, and how it explains a bad file."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from ml.housing import HousingDataError, infer_features, rows_from_csv, rows_hash, synthetic_housing


def to_csv(rows: list[dict[str, Any]], *, delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), delimiter=delimiter)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return synthetic_housing(500)


def test_csv_round_trip_gives_the_same_rows(rows: list[dict[str, Any]]) -> None:
    sample = rows[:500]
    parsed = rows_from_csv(to_csv(sample))
    assert parsed == sample  # 3 == 3.0, and an empty cell comes back as None
    assert all(isinstance(r["quartos"], float) and isinstance(r["bairro"], str) for r in parsed)
    assert rows_hash(parsed, target="preco") == rows_hash(sample, target="preco")
    assert infer_features(parsed, target="preco") == infer_features(sample, target="preco")


def test_csv_with_semicolons_a_bom_and_brazilian_decimals() -> None:
    data = "\ufeffarea_m2;bairro;preco\n72,5;Tatuapé;1.234.000\n80;Moema;950.000,50\n;Santana;\n".encode()
    assert rows_from_csv(data) == [
        {"area_m2": 72.5, "bairro": "Tatuapé", "preco": 1_234_000.0},
        {"area_m2": 80.0, "bairro": "Moema", "preco": 950_000.5},
        {"area_m2": None, "bairro": "Santana", "preco": None},
    ]
    assert rows_from_csv(b"a\tb\n1.5\tx\n") == [{"a": 1.5, "b": "x"}]
    row = {"area_m2": 72.0, "quartos": 2, "vagas": None, "bairro": "Pinheiros"}
    assert rows_from_csv(to_csv([row], delimiter=";")) == [row]


def test_csv_problems_are_explained() -> None:
    with pytest.raises(HousingDataError, match=r"lines 3, 5 do not have the header's 2 fields"):
        rows_from_csv(b"a,b\n1,2\n3\n4,5\n6,7,8\n")
    with pytest.raises(HousingDataError, match="header"):
        rows_from_csv(b"1,2\n3,4\n")
    with pytest.raises(HousingDataError, match="empty"):
        rows_from_csv(b"\n")
    with pytest.raises(HousingDataError, match="UTF-8"):
        rows_from_csv("area;bairro\n70;São Paulo\n".encode("latin-1"))
    with pytest.raises(HousingDataError, match="more than 2 rows"):
        rows_from_csv(b"a\n1\n2\n3\n", max_rows=2)
    with pytest.raises(HousingDataError, match="thousands") as caught:
        rows_from_csv(b"a;b\n1,500;x\n2,250;y\n")
    assert caught.value.columns == ["a"]
