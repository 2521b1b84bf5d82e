"""Failures of the model, each against a real process on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from explainer_service import (
    ModelResponseError,
    ModelSettings,
    ModelTimeoutError,
    ModelUnavailableError,
    ProtocolMismatchError,
    RemoteModel,
)
from tests.helpers.support import free_port, python_server
from tests.helpers.web import HTTP

pytestmark = pytest.mark.integration

NAMES = ["x", "y"]
ROWS = [[1, "a"], [2, "b"]]


@pytest.fixture(scope="module")
def fault_server(output_dir) -> Iterator[str]:
    port = free_port()
    server = python_server(
        "tests.helpers.servers.fault_server",
        port,
        "--sleep",
        "3",
        log=output_dir / "fault-server.log",
    ).wait_ready()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def remote(url: str, **overrides) -> RemoteModel:
    options = {"retries": 2, "backoff_s": 0.05, "timeout_s": 5.0, **overrides}
    return RemoteModel(ModelSettings(url=url, protocol="kserve-v1", **options), NAMES)


def requests_to(base: str, path: str) -> int:
    return HTTP.get(base + "/requests").json().get(path, 0)


def test_working_path(fault_server: str) -> None:
    with remote(fault_server + "/ok") as model:
        assert model.predict(ROWS).tolist() == [[0.25, 0.75]] * 2


def test_server_not_started() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1/models/m:predict"
    with remote(url) as model, pytest.raises(ModelUnavailableError) as info:
        model.predict(ROWS)
    assert model.stats.calls == 3  # 1 + 2 retries, then it gives up
    assert url in str(info.value) and "after 3 attempt(s)" in str(info.value)


def test_server_slower_than_the_timeout(fault_server: str) -> None:
    with remote(fault_server + "/sleep", timeout_s=0.5) as model:
        with pytest.raises(ModelTimeoutError, match=r"within 0\.5 s") as info:
            model.predict(ROWS)
        assert model.stats.calls == 1
    assert info.value.url.endswith("/sleep")


def test_server_answering_500(fault_server: str) -> None:
    before = requests_to(fault_server, "/error500")
    with remote(fault_server + "/error500") as model, pytest.raises(ModelResponseError) as info:
        model.predict(ROWS)
    assert info.value.status == 500
    assert "HTTP 500" in str(info.value)
    assert "model exploded on column 'age'" in str(info.value)
    assert requests_to(fault_server, "/error500") - before == 1  # a 500 is not retried


def test_server_answering_html(fault_server: str) -> None:
    with remote(fault_server + "/html") as model, pytest.raises(ProtocolMismatchError) as info:
        model.predict(ROWS)
    assert "did not answer JSON" in str(info.value)
    assert "<h1>Please log in</h1>" in str(info.value)


def test_server_answering_the_wrong_shape(fault_server: str) -> None:
    with (
        remote(fault_server + "/wrong-shape") as model,
        pytest.raises(ProtocolMismatchError) as info,
    ):
        model.predict(ROWS)
    assert "missing 'predictions'" in str(info.value)
    assert '{"result": "approved"}' in str(info.value)


def test_server_answering_too_few_rows(fault_server: str) -> None:
    with (
        remote(fault_server + "/wrong-rows") as model,
        pytest.raises(ProtocolMismatchError) as info,
    ):
        model.predict(ROWS)
    assert "answered 1 rows for 2" in str(info.value)


def test_server_unavailable_is_retried_then_reported(fault_server: str) -> None:
    before = requests_to(fault_server, "/unavailable")
    with (
        remote(fault_server + "/unavailable") as model,
        pytest.raises(ModelUnavailableError) as info,
    ):
        model.predict(ROWS)
    assert info.value.status == 503 and "model is loading" in str(info.value)
    assert requests_to(fault_server, "/unavailable") - before == 3


def test_flaky_server_recovers_within_the_retries(fault_server: str) -> None:
    with remote(fault_server + "/flaky", retries=3) as model:
        assert model.predict(ROWS).tolist() == [[0.25, 0.75]] * 2
        assert (model.stats.calls, model.stats.failures) == (3, 2)


@pytest.mark.parametrize("path", ["/huge", "/huge-chunked"])
def test_an_answer_larger_than_the_limit_is_refused(fault_server: str, path: str) -> None:
    """5 MB answers, declared or chunked, against a 1 MiB limit: a 502, not a 5 MB buffer."""
    before = requests_to(fault_server, path)
    with (
        remote(fault_server + path, max_response_bytes=1024 * 1024) as model,
        pytest.raises(ModelResponseError, match="larger than 1048576 bytes") as info,
    ):
        model.predict(ROWS)
    assert info.value.status == 200
    assert requests_to(fault_server, path) - before == 1  # not retried
    # within the limit the same answer is read (the padding is JSON whitespace)
    with remote(fault_server + path) as model:
        assert model.predict(ROWS).tolist() == [[0.25, 0.75]] * 2


def test_a_server_that_drips_its_answer_times_out_after_timeout_s(fault_server: str) -> None:
    """Each byte comes well within the read timeout; the whole answer does not."""
    with (
        remote(fault_server + "/drip", timeout_s=2.0) as model,
        pytest.raises(ModelTimeoutError) as info,
    ):
        model.predict(ROWS)
    assert "did not answer within 2.0 s" in str(info.value)


def test_a_truncated_answer_is_retried_then_reported(fault_server: str) -> None:
    before = requests_to(fault_server, "/truncated")
    with remote(fault_server + "/truncated") as model, pytest.raises(ModelUnavailableError):
        model.predict(ROWS)
    assert requests_to(fault_server, "/truncated") - before == 3


def test_an_answer_declared_gzip_that_is_not_is_a_model_error_not_retried(
    fault_server: str,
) -> None:
    before = requests_to(fault_server, "/bad-gzip")
    with (
        remote(fault_server + "/bad-gzip") as model,
        pytest.raises(ModelResponseError, match="cannot be decoded") as info,
    ):
        model.predict(ROWS)
    assert "DecodingError" in str(info.value)
    assert requests_to(fault_server, "/bad-gzip") - before == 1


def test_a_server_that_resets_mid_request_is_retried_then_reported(fault_server: str) -> None:
    """Reset while the body is sent: httpcore reads on after a failed write, so what it
    raises is a read error or a closed connection; either is model_unavailable."""
    before = requests_to(fault_server, "/reset")
    with remote(fault_server + "/reset") as model, pytest.raises(ModelUnavailableError) as info:
        model.predict([[n, "x" * 1000] for n in range(2000)])
    assert "after 3 attempt(s)" in str(info.value)
    assert requests_to(fault_server, "/reset") - before == 3
