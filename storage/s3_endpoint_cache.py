"""Let botocore's cache of resolved S3 endpoints hit: the object key out of the endpoint parameters.

botocore resolves every request's endpoint by evaluating the service's rule set, and caches the answer keyed by
the rule set's parameters. S3's rule set declares `Key`, `Prefix` and `CopySource` as parameters although no rule
reads them, so the cache key holds the object key: every upload of a new object misses and re-evaluates the whole
rule tree (about a fifth of a sessions consumer's CPU). boto/botocore#3528; botocore fixed it in 1.42
(boto/botocore#3692, `S3_UNREFERENCED_PARAMS`), newer than the 1.40 that aioboto3 15.5 allows. This does what that
fix does, for a client made by an older botocore, and nothing on a fixed one.

A parameter is dropped only when the rule set does not reference it: a rule set that starts reading one keeps it.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import botocore.endpoint_provider
import botocore.loaders

#: The S3 rule-set parameters botocore itself stops passing (the same set as its fix).
UNREFERENCED_S3_PARAMS = frozenset({"Key", "Prefix", "CopySource"})


def referenced_names(node: Any) -> Iterator[str]:
    """Every `{"ref": name}` in a rule-set document, and every `{name}` template in its strings."""
    if isinstance(node, dict):
        if isinstance(node.get("ref"), str):
            yield node["ref"]
        for value in node.values():
            yield from referenced_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from referenced_names(value)
    elif isinstance(node, str) and "{" in node:
        for part in node.split("{")[1:]:
            yield part.split("}")[0].split("#")[0]


def droppable(ruleset: dict[str, Any]) -> frozenset[str]:
    """The parameters of UNREFERENCED_S3_PARAMS that a rule-set document's rules never read."""
    return UNREFERENCED_S3_PARAMS - set(referenced_names(ruleset["rules"]))


@lru_cache(maxsize=1)
def droppable_from_s3() -> frozenset[str]:
    """`droppable` for the S3 rule set this botocore ships (read once per process: ~30 ms)."""
    return droppable(botocore.loaders.create_loader().load_service_model("s3", "endpoint-rule-set-1"))


def fixed_upstream() -> bool:
    return hasattr(botocore.endpoint_provider, "S3_UNREFERENCED_PARAMS")


def cache_endpoints_by_bucket(client: Any) -> None:
    """Drop the unread per-object parameters from `client`'s endpoint resolution (an S3 client of botocore < 1.42);
    a no-op for any other client, or where botocore already does it."""
    resolver = getattr(client, "_ruleset_resolver", None)
    if fixed_upstream() or resolver is None or client.meta.service_model.service_name != "s3":
        return
    # Private to botocore, hence the guards: without these attributes nothing is changed.
    definitions = getattr(resolver, "_param_definitions", None)
    if not isinstance(definitions, dict):
        return
    unread = droppable_from_s3()
    resolver._param_definitions = {name: value for name, value in definitions.items() if name not in unread}
