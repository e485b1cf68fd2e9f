"""Configuration handling: deepcopy vs shallow copy, recursive merge, and __deepcopy__."""

import copy

DEFAULTS = {
    "server": {"host": "127.0.0.1", "port": 8000, "tls": {"enabled": False, "ciphers": ["AES"]}},
    "features": ["search"],
    "retries": 3,
}


def merge(base, override):
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class Cache:
    def __init__(self):
        self.data = {}
        self.hits = 0

    def __deepcopy__(self, memo):
        clone = Cache()
        clone.data = copy.deepcopy(self.data, memo)
        return clone


config = merge(DEFAULTS, {"server": {"port": 9000, "tls": {"enabled": True}}, "features": ["search", "export"]})
print(config["server"], config["features"])
print(DEFAULTS["server"]["port"], DEFAULTS["server"]["tls"]["enabled"])

shallow = copy.copy(DEFAULTS)
shallow["server"]["host"] = "0.0.0.0"
print("shallow copy leaks:", DEFAULTS["server"]["host"])
deep = copy.deepcopy(config)
deep["server"]["tls"]["ciphers"].append("CHACHA20")
print("deep copy isolated:", config["server"]["tls"]["ciphers"])

cache = Cache()
cache.data["k"], cache.hits = [1, 2], 5
clone = copy.deepcopy(cache)
print(clone.data, clone.hits, clone.data["k"] is not cache.data["k"])
