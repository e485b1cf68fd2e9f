"""The rules `deploy/` must keep, as functions from parsed YAML to a list of problems.

A list rather than asserts, so that `test_deploy.py` can show a clean manifest has none and each
broken copy has the one it should: a rule that cannot report is no check at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from sandbox.config import Settings

#: `scripts/build-service-image`'s tag: the only image our own processes run.
SERVICE_IMAGE = "sandbox-service:latest"
#: The third-party images compose may run, pinned to a major version.
PINNED_IMAGES = frozenset({"postgres:15", "redis:7"})
#: `sandbox ...` commands a deployment may run (checked against the CLI in test_deploy.py).
COMMANDS = (("serve",), ("worker",), ("db", "upgrade"), ("images", "build", "--all"))
#: The one other command: an init container copying the KEK from its Secret volume (mode 0440 with an
#: fsGroup, which the key file check refuses) to a 0400 file of the pod's user.
KEK_COPY = re.compile(r"install -m 0400 (\S+) (\S+)")
DOCKER_SOCKET = "/var/run/docker.sock"
NAMESPACE = "sandbox"
#: uvicorn cuts requests still open 5 s past the grace (sandbox/cli.py `serve`): the orchestrator must wait longer.
STREAM_CUT_S = 5
POD_KINDS = frozenset({"Deployment", "DaemonSet", "StatefulSet", "Job"})

Doc = dict[str, Any]


def setting_problems(env: dict[str, Any], where: str) -> list[str]:
    """Every SANDBOX_* name must be a Settings field, and its literal value a valid one."""
    problems = []
    literal: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith("SANDBOX_"):
            continue
        field = name.removeprefix("SANDBOX_").lower()
        if field not in Settings.model_fields:
            problems.append(f"{where}: {name} is not a setting")
        elif field == "secrets_kek":
            problems.append(f"{where}: SANDBOX_SECRETS_KEK in the environment; mount a file (SANDBOX_SECRETS_KEK_FILE)")
        elif isinstance(value, str) and "${" not in value:
            literal[field] = value
    if literal and not problems:
        try:
            Settings(**literal)
        except ValueError as exc:
            problems.append(f"{where}: invalid settings: {exc}")
    return problems


def command_problem(command: Any, where: str) -> str | None:
    """None if ``command`` is one of ours (or the KEK copy), else what is wrong."""
    if not isinstance(command, list) or not command:
        return f"{where}: command {command!r} is not an argv list"
    if command[0] == "sandbox" and tuple(command[1:]) in COMMANDS:
        return None
    if KEK_COPY.fullmatch(" ".join(map(str, command))):
        return None
    return f"{where}: command {command!r} is none of the deployment's commands"


def role(command: Any) -> str:
    """'api', 'worker', 'migrate', 'images', 'kek' or '' for one container's command."""
    if isinstance(command, list) and command[:1] == ["sandbox"]:
        return {"serve": "api", "worker": "worker", "db": "migrate", "images": "images"}.get(command[1], "")
    return "kek" if isinstance(command, list) and command[:1] == ["install"] else ""


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every (path, key, value) pair in a parsed document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")


def anywhere_problems(doc: Any, where: str) -> list[str]:
    """What no document may hold anywhere: privileged mode, the host's network, pid or ipc namespace."""
    problems = []
    for path, key, value in walk(doc):
        if key == "privileged" and value is True:
            problems.append(f"{where}{path}: privileged: true")
        if key in ("hostNetwork", "hostPID", "hostIPC") and value is True:
            problems.append(f"{where}{path}: {key}: true")
        if key in ("network_mode", "pid", "ipc") and value == "host":
            problems.append(f"{where}{path}: {key}: host")
    return problems


def grace_problem(grace_s: Any, shutdown_grace_s: Any, where: str) -> str | None:
    """The orchestrator's wait must cover SANDBOX_SHUTDOWN_GRACE_S and uvicorn's cut of open streams."""
    if shutdown_grace_s is None:
        return f"{where}: SANDBOX_SHUTDOWN_GRACE_S is not set"
    if grace_s is None or float(grace_s) < float(shutdown_grace_s) + STREAM_CUT_S:
        return f"{where}: stop grace {grace_s} is under SANDBOX_SHUTDOWN_GRACE_S={shutdown_grace_s} + {STREAM_CUT_S}"
    return None


def _compose_env(service: Doc) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the `- NAME=value` form
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


def _seconds(text: Any) -> float | None:
    """A compose duration such as ``45s`` or ``1m30s``, in seconds."""
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(text or ""))
    if not parts or not any(parts.groups()):
        return None
    minutes, seconds = (int(group or 0) for group in parts.groups())
    return minutes * 60.0 + seconds


def compose_problems(compose: Doc) -> list[str]:
    """The rules for deploy/compose.yaml (README "Scaling out")."""
    problems = anywhere_problems(compose, "compose")
    services: dict[str, Doc] = compose.get("services") or {}
    networks: dict[str, Doc] = compose.get("networks") or {}
    secrets: dict[str, Doc] = compose.get("secrets") or {}
    roles = {name: role(service.get("command")) for name, service in services.items()}
    for name, service in services.items():
        where = f"compose service {name}"
        image, env = service.get("image"), _compose_env(service)
        problems += setting_problems(env, where)
        if not service.get("networks"):
            problems.append(f"{where}: no explicit networks (the default one is shared)")
        mounts = [str(volume).split(":")[0] for volume in service.get("volumes") or []]
        if any(mount.startswith("/") for mount in mounts) and roles[name] != "worker":
            problems.append(f"{where}: a host path is mounted ({mounts}); only the worker mounts the Docker socket")
        if roles[name] == "worker" and DOCKER_SOCKET not in mounts:
            problems.append(f"{where}: the worker has no Docker socket")
        if image in PINNED_IMAGES:
            if "healthcheck" not in service or not service.get("volumes"):
                problems.append(f"{where}: {image} needs a healthcheck and a volume")
            continue
        if image != SERVICE_IMAGE:
            problems.append(f"{where}: image {image!r} is neither the service image nor a pinned one")
            continue
        problem = command_problem(service.get("command"), where)
        problems += [problem] if problem else []
        problems += _compose_hardening(service, where)
        kek_names = service.get("secrets") or []
        if not kek_names or env.get("SANDBOX_SECRETS_KEK_FILE") != f"/run/secrets/{kek_names[0]}":
            problems.append(f"{where}: SANDBOX_SECRETS_KEK_FILE is not the mounted secret /run/secrets/<name>")
        elif "file" not in secrets.get(kek_names[0], {}):
            problems.append(f"{where}: the KEK secret {kek_names[0]} is not read from a file")
        problem = grace_problem(_seconds(service.get("stop_grace_period")), env.get("SANDBOX_SHUTDOWN_GRACE_S"), where)
        problems += [problem] if problem else []
        if roles[name] in ("api", "worker"):
            problems += _compose_service_problems(name, service, env, roles, networks)
    return problems


def _compose_hardening(service: Doc, where: str) -> list[str]:
    problems = []
    if service.get("read_only") is not True:
        problems.append(f"{where}: read_only is not true")
    if service.get("cap_drop") != ["ALL"]:
        problems.append(f"{where}: cap_drop is not [ALL]")
    if service.get("cap_add"):
        problems.append(f"{where}: cap_add {service['cap_add']}")
    if "no-new-privileges:true" not in (service.get("security_opt") or []):
        problems.append(f"{where}: no security_opt no-new-privileges:true")
    user = str(service.get("user", "root")).split(":")[0]
    if user in ("", "root") or (user.isdigit() and int(user) == 0):
        problems.append(f"{where}: runs as root (user {service.get('user')!r})")
    return problems


def _compose_service_problems(
    name: str, service: Doc, env: dict[str, Any], roles: dict[str, str], networks: dict[str, Doc]
) -> list[str]:
    """An API replica or worker: its address, health check, resources, order and networks."""
    where = f"compose service {name}"
    problems = []
    host_var, port_var = (
        ("SANDBOX_HOST", "SANDBOX_PORT") if roles[name] == "api" else ("SANDBOX_WORKER_HOST", "SANDBOX_WORKER_PORT")
    )
    if env.get(host_var) != "0.0.0.0":
        problems.append(f"{where}: {host_var} is not 0.0.0.0 (nothing outside the container could reach it)")
    test = " ".join(map(str, (service.get("healthcheck") or {}).get("test") or []))
    if not re.search(rf"127\.0\.0\.1:{env.get(port_var)}/(readyz|healthz)\b", test):
        problems.append(f"{where}: the healthcheck does not ask /readyz or /healthz on {port_var}={env.get(port_var)}")
    limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    if not {"cpus", "memory"} <= set(limits):
        problems.append(f"{where}: no cpu and memory limits")
    after = service.get("depends_on") or {}
    migrations = [other for other, kind in roles.items() if kind == "migrate"]
    if not migrations or (after.get(migrations[0]) or {}).get("condition") != "service_completed_successfully":
        problems.append(f"{where}: does not wait for the migration to complete")
    if roles[name] == "worker":
        public = [net for net in service.get("networks") or [] if not (networks.get(net) or {}).get("internal")]
        if public:
            problems.append(f"{where}: on networks that reach out: {public}")
    return problems


def _by_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc.get("kind") == kind}


def _container_env(container: Doc, configmaps: dict[str, Doc], secrets: dict[str, Doc]) -> dict[str, Any]:
    """The container's environment as the kubelet builds it: envFrom first, then env (values or refs)."""
    env: dict[str, Any] = {}
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            env.update((configmaps.get(source["configMapRef"]["name"]) or {}).get("data") or {})
        if "secretRef" in source:
            secret = secrets.get(source["secretRef"]["name"]) or {}
            env.update({name: None for name in {**(secret.get("data") or {}), **(secret.get("stringData") or {})}})
    for item in container.get("env") or []:
        env[item["name"]] = item.get("value", item.get("valueFrom"))
    return env


def k8s_problems(docs: list[Doc]) -> list[str]:
    """The rules for deploy/k8s/*.yaml (README "Scaling out")."""
    problems: list[str] = []
    configmaps, secrets = _by_kind(docs, "ConfigMap"), _by_kind(docs, "Secret")
    for doc in docs:
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        problems += anywhere_problems(doc, where)
        if doc.get("kind") != "Namespace" and doc.get("metadata", {}).get("namespace") != NAMESPACE:
            problems.append(f"{where}: not in namespace {NAMESPACE}")
        if doc.get("kind") == "ConfigMap":
            problems += setting_problems(doc.get("data") or {}, where)
        if doc.get("kind") == "Secret":
            problems += setting_problems({**(doc.get("data") or {}), **(doc.get("stringData") or {})}, where)
        if doc.get("kind") in POD_KINDS:
            problems += _pod_problems(doc, where, configmaps, secrets)
    problems += _api_exposure_problems(docs)
    return problems


def _pod_problems(doc: Doc, where: str, configmaps: dict[str, Doc], secrets: dict[str, Doc]) -> list[str]:
    spec = doc["spec"]["template"]["spec"]
    context = spec.get("securityContext") or {}
    problems = []
    if context.get("runAsNonRoot") is not True or not context.get("runAsUser"):
        problems.append(f"{where}: the pod does not run as a non-root user")
    if (context.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: seccomp is not RuntimeDefault")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: a service account token is mounted (nothing here talks to the API server)")
    volumes = {volume["name"]: volume for volume in spec.get("volumes") or []}
    containers = (spec.get("initContainers") or []) + spec["containers"]
    roles = {role(container.get("command")) for container in spec["containers"]}
    for volume in volumes.values():
        host_path = (volume.get("hostPath") or {}).get("path")
        if host_path is not None and (roles != {"worker"} or host_path != DOCKER_SOCKET):
            problems.append(f"{where}: hostPath {host_path} (only the worker mounts, and only the Docker socket)")
    if "worker" in roles and not any((v.get("hostPath") or {}).get("path") == DOCKER_SOCKET for v in volumes.values()):
        problems.append(f"{where}: the worker has no Docker socket")
    for container in containers:
        env = _container_env(container, configmaps, secrets)
        cwhere = f"{where} container {container['name']}"
        problems += _container_problems(container, env, cwhere)
        problems += _kek_problems(container, env, volumes, containers, cwhere)
        kind = role(container.get("command"))
        if kind in ("api", "worker"):
            problems += _served_problems(container, env, kind, cwhere)
            problem = grace_problem(
                spec.get("terminationGracePeriodSeconds"), env.get("SANDBOX_SHUTDOWN_GRACE_S"), cwhere
            )
            problems += [problem] if problem else []
        if kind == "worker":
            if "fieldRef" not in (env.get("SANDBOX_WORKER_NAME") or {}):
                problems.append(f"{cwhere}: SANDBOX_WORKER_NAME is not from the downward API (unique per worker)")
            if not spec.get("nodeSelector"):
                problems.append(f"{where}: the worker has no nodeSelector for the Docker hosts")
    return problems


def _container_problems(container: Doc, env: dict[str, Any], where: str) -> list[str]:
    problems = setting_problems(env, where)
    if container.get("image") != SERVICE_IMAGE:
        problems.append(f"{where}: image {container.get('image')!r} is not the service image")
    problem = command_problem(container.get("command"), where)
    problems += [problem] if problem else []
    context = container.get("securityContext") or {}
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: allowPrivilegeEscalation is not false")
    if context.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{where}: readOnlyRootFilesystem is not true")
    capabilities = context.get("capabilities") or {}
    if capabilities.get("drop") != ["ALL"] or capabilities.get("add"):
        problems.append(f"{where}: capabilities are not drop [ALL], add none")
    resources = container.get("resources") or {}
    for part in ("requests", "limits"):
        if not {"cpu", "memory"} <= set(resources.get(part) or {}):
            problems.append(f"{where}: no cpu and memory {part}")
    return problems


def _kek_problems(
    container: Doc, env: dict[str, Any], volumes: dict[str, Doc], containers: list[Doc], where: str
) -> list[str]:
    """SANDBOX_SECRETS_KEK_FILE names a file in a Secret volume, or in the memory volume the KEK copy
    fills from one; a KEK copy reads a Secret volume and writes a memory volume."""
    path = env.get("SANDBOX_SECRETS_KEK_FILE")
    if role(container.get("command")) in ("api", "worker", "migrate") and not isinstance(path, str):
        return [f"{where}: SANDBOX_SECRETS_KEK_FILE is not set"]
    copy = KEK_COPY.fullmatch(" ".join(map(str, container.get("command") or [])))
    wanted: list[tuple[str, tuple[str, ...]]] = [(path, ("secret", "copy"))] if isinstance(path, str) else []
    if copy:
        wanted = [(copy.group(1), ("secret",)), (copy.group(2), ("memory",))]
    problems = []
    for file, kinds in wanted:
        mounts = [m for m in container.get("volumeMounts") or [] if file.startswith(m["mountPath"].rstrip("/") + "/")]
        volume = volumes.get(mounts[0]["name"]) if mounts else None
        if volume is None:
            problems.append(f"{where}: {file} is on no volume")
        elif "secret" in volume:
            if "secret" not in kinds:
                problems.append(f"{where}: {file} is on a Secret volume")
        elif (volume.get("emptyDir") or {}).get("medium") != "Memory":
            problems.append(f"{where}: {file} is neither on a Secret volume nor in memory")
        elif "copy" in kinds and not any(
            (m := KEK_COPY.fullmatch(" ".join(map(str, c.get("command") or [])))) and m.group(2) == file
            for c in containers
        ):
            problems.append(f"{where}: no init container copies the KEK to {file}")
    return problems


def _served_problems(container: Doc, env: dict[str, Any], kind: str, where: str) -> list[str]:
    """An API replica's or worker's address, and probes of /healthz and /readyz on the port it serves."""
    host_var, port_var = (
        ("SANDBOX_HOST", "SANDBOX_PORT") if kind == "api" else ("SANDBOX_WORKER_HOST", "SANDBOX_WORKER_PORT")
    )
    problems = []
    if env.get(host_var) != "0.0.0.0":
        problems.append(f"{where}: {host_var} is not 0.0.0.0 (the probes could not reach it)")
    ports = {port.get("name"): port["containerPort"] for port in container.get("ports") or []}
    served = str(env.get(port_var))
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (container.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != path or str(ports.get(get.get("port"), get.get("port"))) != served:
            problems.append(f"{where}: {probe} is not GET {path} on {port_var}={served}")
    return problems


def _api_exposure_problems(docs: list[Doc]) -> list[str]:
    """Each API Deployment has a Service on its port and a PodDisruptionBudget selecting its pods."""
    problems = []
    for name, deployment in _by_kind(docs, "Deployment").items():
        template = deployment["spec"]["template"]
        if not any(role(c.get("command")) == "api" for c in template["spec"]["containers"]):
            continue
        labels = template["metadata"]["labels"]
        selects = [  # Service selectors, PDB matchLabels: a subset of the pod's labels
            doc
            for doc in docs
            if doc.get("kind") in ("Service", "PodDisruptionBudget")
            and (sel := doc["spec"]["selector"])
            and (sel.get("matchLabels", sel)).items() <= labels.items()
        ]
        if not any(doc["kind"] == "Service" for doc in selects):
            problems.append(f"Deployment/{name}: no Service selects its pods")
        if not any(doc["kind"] == "PodDisruptionBudget" for doc in selects):
            problems.append(f"Deployment/{name}: no PodDisruptionBudget selects its pods")
        names = {p.get("name") for c in template["spec"]["containers"] for p in c.get("ports") or []}
        for service in (doc for doc in selects if doc["kind"] == "Service"):
            if any(port.get("targetPort") not in names for port in service["spec"]["ports"]):
                problems.append(f"Service/{service['metadata']['name']}: a targetPort is not the API's port")
    return problems
