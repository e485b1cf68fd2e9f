# The service's own image: the REST API and MCP server, talking to the host's Docker engine.
#
#   ./scripts/build-service-image      (wheels built on the host into build/wheels, then docker build)
#   docker run -d -p 8080:8080 -v /var/run/docker.sock:/var/run/docker.sock \
#       -v sandbox-state:/var/lib/sandbox sandbox-service
#
# The socket gives this container root-equivalent power over the host, as the service needs to
# create sandboxes: it is never given to a sandbox, and the runtime images must exist on the engine
# (`sandbox images build` on the host, or from this image with the socket mounted).
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY build/wheels /tmp/wheels
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-index --find-links /tmp/wheels "sandbox[server,postgres]" \
 && rm -rf /tmp/wheels
COPY images ./images
COPY policies ./policies
ENV SANDBOX_HOST=0.0.0.0 \
    SANDBOX_STATE_DIR=/var/lib/sandbox \
    SANDBOX_IMAGES_DIR=/app/images \
    SANDBOX_POLICIES_DIR=/app/policies \
    PATH=/opt/venv/bin:$PATH
VOLUME /var/lib/sandbox
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
CMD ["sandbox", "serve"]
