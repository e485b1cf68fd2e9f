"""Docker SDK and transport errors become the service's errors in one place; which are transient matters."""

from __future__ import annotations

import docker.errors
import pytest
import requests
import requests.exceptions

from sandbox.engine.docker import NOT_RETRIED, TRANSIENT, map_docker_errors, translate
from sandbox.errors import DockerFailing, DockerTimeout, DockerUnavailable, EngineError


def api_error(code: int, text: str = "boom") -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = code
    return docker.errors.APIError(text, response=response, explanation=text)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (requests.exceptions.ConnectionError("refused"), DockerUnavailable),
        (ConnectionRefusedError("refused"), DockerUnavailable),
        (FileNotFoundError("/var/run/docker.sock"), DockerUnavailable),
        (requests.exceptions.ReadTimeout("read timed out"), DockerTimeout),
        (api_error(503, "the engine is restarting"), DockerFailing),
        (api_error(502), DockerFailing),
        (api_error(500, "OCI runtime create failed"), EngineError),  # may be the request's own limits
        (api_error(400, "Minimum memory limit allowed is 6MB"), EngineError),
        (docker.errors.ImageNotFound("no such image"), EngineError),
        (docker.errors.DockerException("Error while fetching server API version"), DockerUnavailable),
    ],
)
def test_translation(exc: Exception, expected: type) -> None:
    error = translate("create a container", exc)
    assert type(error) is expected
    assert error is not None and error.message.startswith("create a container: ")
    assert isinstance(error, TRANSIENT) == (expected in (DockerUnavailable, DockerFailing, DockerTimeout))
    assert isinstance(error, NOT_RETRIED) == (expected is DockerTimeout)


def test_a_bug_is_not_translated() -> None:
    assert translate("x", KeyError("bug")) is None
    with pytest.raises(KeyError), map_docker_errors("x"):
        raise KeyError("bug")


def test_the_translated_error_chains_the_original() -> None:
    with pytest.raises(DockerUnavailable) as raised, map_docker_errors("ping the Docker engine"):
        raise requests.exceptions.ConnectionError("refused")
    assert isinstance(raised.value.__cause__, requests.exceptions.ConnectionError)
