"""Idempotency keys: the request hash (what counts as the same request) and the scope of a credential."""

from __future__ import annotations

from taskplatform.ledger.idempotency import ANONYMOUS, idempotency_scope, request_hash


def _hash(*, method: str = "POST", path: str = "/checkin/batch", query: list[tuple[str, str]] | None = None,
          content_type: str | None = "application/json", body: bytes = b'[{"aluno_id": 1}]') -> str:
    return request_hash(method=method, path=path, query=query or [], content_type=content_type, body=body)


def test_the_same_request_has_the_same_hash_whatever_the_order_of_its_query() -> None:
    first = _hash(query=[("data", "2026-11-21"), ("assincrono", "true")])
    assert first == _hash(query=[("assincrono", "true"), ("data", "2026-11-21")])
    assert len(first) == 64 and int(first, 16) >= 0


def test_body_query_path_and_method_each_change_the_hash() -> None:
    """Breach caught: a key reused for another body, date or route taken for a retry of the first request."""
    base = _hash()
    assert _hash(body=b'[{"aluno_id": 2}]') != base
    assert _hash(query=[("data", "2026-11-20")]) != _hash(query=[("data", "2026-11-21")])
    assert _hash(query=[("assincrono", "true")]) != base
    assert _hash(path="/devices/health") != base
    assert _hash(method="PUT") != base


def test_parts_cannot_be_shifted_between_query_and_body() -> None:
    assert _hash(query=[("a", "1")], body=b"") != _hash(query=[], body=b"a=1")


def test_a_multipart_upload_retried_with_a_new_boundary_is_the_same_request() -> None:
    def upload(boundary: str, csv: bytes) -> str:
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"arquivo\"; filename=\"a.csv\"\r\n"
                f"Content-Type: text/csv\r\n\r\n").encode() + csv + f"\r\n--{boundary}--\r\n".encode()
        return _hash(path="/treinar", content_type=f"multipart/form-data; boundary={boundary}", body=body)

    assert upload("abc123", b"preco,area\n1,2\n") == upload("zzz999", b"preco,area\n1,2\n")
    assert upload("abc123", b"preco,area\n1,2\n") != upload("abc123", b"preco,area\n1,3\n")


def test_scope_is_the_credential_id_or_anonymous_and_long_ids_are_hashed() -> None:
    assert idempotency_scope(None) == ANONYMOUS
    assert idempotency_scope("") == ANONYMOUS
    assert idempotency_scope("key:3f2a") == "key:3f2a"
    long_scope = idempotency_scope("jwt:" + "x" * 300)
    assert long_scope.startswith("sha256:") and len(long_scope) <= 200
    assert long_scope != idempotency_scope("jwt:" + "x" * 299 + "y")
