from tests.docker_fixtures import docker_client, run_code, service, service_factory, settings  # noqa: F401
