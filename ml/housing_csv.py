"""Reading housing data from a CSV upload (pure): header, delimiter, decimal commas."""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections import Counter
from typing import Any

from ml.housing_data import HousingDataError, which_rows

DELIMITERS = (",", ";", "\t")
_SNIFF_RECORDS = 50

_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# Brazilian spreadsheets: "." groups thousands and "," is the decimal mark ("1.234,5").
_BR_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?")
# "1,500" alone is 1.5 in Brazil and 1500 in the US; guessing wrong is a silent 1000x error.
_AMBIGUOUS_COMMA = re.compile(r"[+-]?[1-9]\d{0,2},\d{3}")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HousingDataError([f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                                "save it as 'CSV UTF-8'"]) from None


def _sniff_delimiter(text: str) -> str:
    def score(delimiter: str) -> tuple[int, int]:
        """(header fields, leading records with that many fields): a ragged file still splits its header best."""
        try:
            counts = [len(r) for r in itertools.islice(csv.reader(io.StringIO(text, newline=""),
                                                                  delimiter=delimiter), _SNIFF_RECORDS) if r]
        except csv.Error:
            return 0, 0
        return (counts[0], counts.count(counts[0])) if counts else (0, 0)

    return max(DELIMITERS, key=score)  # max() keeps the first (",") on ties


def _column_values(name: str, cells: list[str]) -> list[Any]:
    """A CSV column's cells as float / str / None; decimal commas only when the whole column uses them."""
    filled = [c for c in cells if c]
    brazilian = (any(not _PLAIN_NUMBER.fullmatch(c) for c in filled) and bool(filled)
                 and all(_BR_NUMBER.fullmatch(c) for c in filled))
    if brazilian:
        commas = [c for c in filled if "," in c]
        if not any("." in c for c in filled) and all(_AMBIGUOUS_COMMA.fullmatch(c) for c in commas):
            raise HousingDataError([f"column {name!r}: a value such as {commas[0]!r} could be a decimal or a thousands "
                                    "separator; write numbers without thousands separators"], [name])
        return [float(c.replace(".", "").replace(",", ".")) if c else None for c in cells]
    return [None if not c else float(c) if _PLAIN_NUMBER.fullmatch(c) else c for c in cells]


def duplicate_names(header: list[str]) -> list[str]:
    """The non-empty names that appear more than once, sorted; one pass (`header.count` per name is quadratic:
    a 40,000-column header took 15 s)."""
    return sorted(name for name, count in Counter(header).items() if name and count > 1)


def rows_from_csv(data: bytes, *, max_rows: int = 200_000, max_columns: int | None = None) -> list[dict[str, Any]]:
    """Rows of a CSV with a header (`,`, `;` or tab, sniffed): numbers as float, empty cells as None, else str.

    A header of more than `max_columns` names is refused before any record is read.

    A column of plain numbers is read with "." as the decimal mark ("1.234" is 1.234); a column where some value only
    reads as a Brazilian number ("1.234,5") is read the Brazilian way throughout.
    """
    text = _decode(data)
    if not text.strip():
        raise HousingDataError(["the file is empty; a header row with the column names is required"])
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[list[str]] = []
    ragged: list[int] = []
    try:
        header = [name.strip() for name in next(r for r in reader if r)]
        if max_columns is not None and len(header) > max_columns:
            raise HousingDataError([f"the header has {len(header)} columns; at most {max_columns} are accepted"])
        for record in reader:
            if not record:
                continue  # blank line
            if len(record) != len(header):
                ragged.append(reader.line_num)
                continue
            if len(records) == max_rows:
                raise HousingDataError([f"the file has more than {max_rows} rows"])
            records.append([cell.strip() for cell in record])
    except csv.Error as exc:
        raise HousingDataError([f"line {reader.line_num} is not valid CSV: {exc}"]) from None
    if all(_PLAIN_NUMBER.fullmatch(name) for name in header):
        raise HousingDataError(["the first row holds numbers, not column names; a header row is required"])
    problems = [f"column {i + 1} of the header has no name" for i, name in enumerate(header) if not name]
    duplicates = duplicate_names(header)
    problems += [f"column {name!r} appears more than once in the header" for name in duplicates]
    if ragged:
        problems.append(f"{which_rows('line', ragged, ('does', 'do'))} not have the header's {len(header)} fields "
                        f"(delimiter {delimiter!r})")
    if problems:
        raise HousingDataError(problems, duplicates)
    columns = [_column_values(name, [r[j] for r in records]) for j, name in enumerate(header)]
    return [dict(zip(header, values, strict=True)) for values in zip(*columns, strict=True)]
