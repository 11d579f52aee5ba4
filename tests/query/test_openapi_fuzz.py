"""The OpenAPI document, fuzzed with schemathesis: no request is a 5xx.

The app runs in-process (ASGI) over an embedded store holding one small
run, so generated requests reach real SQL. The live stream is left out:
it answers for up to an hour by design, and the e2e tests cover it.
"""

from __future__ import annotations

import math

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from runstream._store import open_store
from runstream._store.schema import ensure_schema
from runstream.query.api import create_app
from tests.query.test_store_chdb import _points_table

WORKSPACE = "ws"


@pytest.fixture(name="app", scope="module")
def _app(tmp_path_factory):
    """Give the query API over an embedded store with one run's points."""
    store = open_store(f"chdb://{tmp_path_factory.mktemp('fuzz')}")
    ensure_schema(store)
    values = [math.sin(i / 10) for i in range(300)] + [math.nan]
    store.insert("points", _points_table("run-1", "loss", values))
    yield create_app(store, read_wait_s=0.1)
    store.close()


@pytest.fixture(name="openapi", scope="module")
def _openapi(app):
    """Give the app's OpenAPI document, loaded for schemathesis."""
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_request_is_a_server_error(openapi):
    """Whatever the schema allows answers below 500, on every route."""
    checked = []
    for result in openapi.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/stream"):
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=10,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            response = case.call()
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: "
                f"{response.status_code} {response.text[:500]}"
            )

        check()
        checked.append(operation.path)

    assert len(checked) >= 12
