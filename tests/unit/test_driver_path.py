"""The ledger's driver-level SQL is the same SQL as its SQLAlchemy form, with psycopg's parameter style."""

from __future__ import annotations

import re

from taskplatform.ledger import driver_path
from taskplatform.ledger.one_statement import CREATE, FINISH


def test_named_parameters_become_psycopg_ones_and_nothing_else_changes() -> None:
    assert driver_path._driver_style("VALUES (:id, :now) WHERE a = 'x:y'") == "VALUES (%(id)s, %(now)s) WHERE a = 'x:y'"
    for sql, converted in ((CREATE, driver_path._CREATE_SQL), (FINISH, driver_path._FINISH_SQL)):
        assert "::" not in sql  # a cast would be mangled by the conversion
        names = set(re.findall(r"(?<![:\w]):(\w+)", sql))
        assert names and set(re.findall(r"%\((\w+)\)s", converted)) == names
        assert not re.search(r"(?<![:\w]):\w", converted)


def test_the_finish_write_binds_every_parameter_it_names() -> None:
    names = set(re.findall(r"%\((\w+)\)s", driver_path._FINISH_SQL))
    assert names == {"id", "name", "queue", "now", "started_at", "runtime_s", "result", "started_detail"}
