"""A custom exception hierarchy with chaining, re-raising, finally and ExceptionGroup."""


class AppError(Exception):
    """Base of the application's errors."""


class ConfigError(AppError):
    def __init__(self, key, problem):
        super().__init__(f"config key {key!r}: {problem}")
        self.key = key


class RetryableError(AppError):
    pass


def parse_port(config):
    try:
        port = int(config["port"])
    except KeyError as exc:
        raise ConfigError("port", "missing") from exc
    except ValueError as exc:
        raise ConfigError("port", f"not a number: {config['port']}") from exc
    if not 0 < port < 65536:
        raise ConfigError("port", "out of range")
    return port


for config in [{"port": "8080"}, {}, {"port": "http"}, {"port": "70000"}]:
    try:
        print("port", parse_port(config))
    except ConfigError as err:
        cause = type(err.__cause__).__name__ if err.__cause__ else None
        print(f"error: {err} (key={err.key}, cause={cause})")
    finally:
        pass

attempts = 0
while True:
    attempts += 1
    try:
        if attempts < 3:
            raise RetryableError(f"attempt {attempts} failed")
        print(f"succeeded after {attempts} attempts")
        break
    except RetryableError as err:
        print("retrying:", err)

try:
    raise ExceptionGroup("batch", [ValueError("a"), TypeError("b"), ValueError("c")])
except* ValueError as group:
    print("value errors:", [str(e) for e in group.exceptions])
except* TypeError as group:
    print("type errors:", len(group.exceptions))
