"""What config.yaml may hold: a JSON schema per known section, plus the rules that span keys.

`problems(config)` lists every problem as one line naming the dotted key, the bad value and
what is allowed; an empty list means the configuration is valid. Unknown top-level sections
are allowed (plugins keep their settings there); `auth.<ClassName>` sections are free-form.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Iterator

AUTH_SHORT_NAMES = {
    "firstuse": "firstuseauthenticator.FirstUseAuthenticator",
    "dummy": "jupyterhub.auth.DummyAuthenticator",
    "native": "nativeauthenticator.NativeAuthenticator",
    "github": "oauthenticator.github.GitHubOAuthenticator",
    "google": "oauthenticator.google.GoogleOAuthenticator",
    "gitlab": "oauthenticator.gitlab.GitLabOAuthenticator",
    "generic-oauth": "oauthenticator.generic.GenericOAuthenticator",
    "ldap": "ldapauthenticator.LDAPAuthenticator",
    "tmp": "tmpauthenticator.TmpAuthenticator",
    "pam": "jupyterhub.auth.PAMAuthenticator",
}
# Other spellings of "generic oauth" people type; all mean GenericOAuthenticator.
AUTH_ALIASES = {"generic": "generic-oauth", "genericoauth": "generic-oauth", "generic_oauth": "generic-oauth",
                "generic oauth": "generic-oauth"}
DEFAULT_APPS = {"jupyterlab": "/lab", "classic": "/tree"}
MANAGED_GROUPS = ("jupyterhub-users", "jupyterhub-admins")

CLASS_PATH = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"
CLASS_NAME = r"^(?!type$)[A-Z][A-Za-z0-9_]*$"
URL_PATH_PART = r"[A-Za-z0-9._~!$&'()*+,;=:@%-]+"
MEMORY = r"^(?!0+(\.0+)?[KMGT]$)[0-9]+(\.[0-9]+)?[KMGT]$"
HOSTNAME = r"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"

NAMES = {
    "type": "array",
    "items": {"type": "string", "minLength": 1},
    "uniqueItems": True,
    "allowed": "a list of user names (use add-item / remove-item)",
}


def _port(what: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": 65535, "allowed": f"an integer 1-65535 ({what})"}


def _ip(what: str) -> dict[str, Any]:
    return {"type": "string", "format": "ip-or-empty", "allowed": f"an IP address ({what})"}


def _section(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False,
            "allowed": "a section (a mapping of keys)", **extra}


SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": True,
    "properties": {
        "base_url": {
            "type": "string",
            "pattern": rf"^/({URL_PATH_PART}/)*({URL_PATH_PART})?$",
            "allowed": "a URL path starting with / (e.g. /jupyter/)",
        },
        "auth": {
            "type": "object",
            "properties": {
                "type": {
                    "type": "string",
                    "anyOf": [{"enum": [*AUTH_SHORT_NAMES, *AUTH_ALIASES]}, {"pattern": CLASS_PATH}],
                    "allowed": "one of " + ", ".join(AUTH_SHORT_NAMES)
                    + ", or a full class path such as oauthenticator.github.GitHubOAuthenticator",
                },
            },
            "patternProperties": {
                CLASS_NAME: {"type": "object", "allowed": "a mapping of trait names to values"},
            },
            "additionalProperties": False,
            "allowed": "a section (a mapping of keys)",
            "known": "type, or a section named after an authenticator class (e.g. GitHubOAuthenticator)",
        },
        "users": _section({
            "allowed": NAMES,
            "banned": NAMES,
            "admin": NAMES,
            "extra_user_groups": {
                "type": "object",
                "propertyNames": {"pattern": r"^[a-z_][a-z0-9_-]{0,31}$"},
                "additionalProperties": NAMES,
                "allowed": "a mapping {unix group name: [user names]}; group names use a-z, 0-9, _ and -",
            },
        }),
        "limits": _section({
            "memory": {
                "type": ["string", "integer"],
                "anyOf": [{"type": "string", "pattern": MEMORY}, {"type": "integer", "minimum": 1048576}],
                "allowed": "a size with a unit K, M, G or T (e.g. 512M, 1G, 1.5G), or bytes (at least 1048576)",
            },
            "cpu": {"type": "number", "exclusiveMinimum": 0, "allowed": "a number of CPUs above 0 (e.g. 0.5, 2)"},
        }),
        "user_environment": _section({
            "default_app": {
                "type": "string",
                "anyOf": [{"enum": list(DEFAULT_APPS)}, {"pattern": rf"^/({URL_PATH_PART}/?)*$"}],
                "allowed": "jupyterlab, classic, or a URL path starting with / (e.g. /lab/tree/README.md)",
            },
        }),
        "services": _section({
            "cull": _section({
                "enabled": {"type": "boolean", "allowed": "true or false"},
                "timeout": {"type": "integer", "minimum": 1, "allowed": "seconds of inactivity, an integer >= 1"},
                "every": {"type": "integer", "minimum": 1, "allowed": "seconds between checks, an integer >= 1"},
                "concurrency": {"type": "integer", "minimum": 1, "maximum": 100,
                                "allowed": "an integer 1-100 (parallel requests to the hub)"},
                "max_age": {"type": "integer", "minimum": 0,
                            "allowed": "seconds, an integer >= 0 (0: no maximum age)"},
                "users": {"type": "boolean", "allowed": "true or false"},
                "remove_named_servers": {"type": "boolean", "allowed": "true or false"},
            }),
        }),
        "http": _section({"address": _ip("empty for every address"), "port": _port("the public http port")}),
        "https": _section({
            "enabled": {"type": "boolean", "allowed": "true or false"},
            "address": _ip("empty for every address"),
            "port": _port("the public https port"),
            "tls": _section({
                "cert": {"type": "string", "pattern": "^/", "allowed": "an absolute path to a PEM certificate"},
                "key": {"type": "string", "pattern": "^/", "allowed": "an absolute path to a PEM private key"},
            }),
            "letsencrypt": _section({
                "email": {"type": "string", "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
                          "allowed": "an email address"},
                "domains": {"type": "array", "items": {"type": "string", "pattern": HOSTNAME},
                            "uniqueItems": True, "allowed": "a list of domain names (use add-item)"},
                "staging": {"type": "boolean", "allowed": "true or false"},
            }),
        }),
        "traefik_api": _section({
            "ip": _ip("where traefik's API listens; keep it local"),
            "port": _port("traefik's API port"),
            "username": {"type": "string", "pattern": r"^[A-Za-z0-9._-]+$",
                         "allowed": "letters, digits, '.', '_' and '-'"},
            "password": {"type": "string", "minLength": 8, "allowed": "a string of at least 8 characters"},
        }),
    },
}


def _validator() -> Any:
    import jsonschema

    base = jsonschema.Draft202012Validator
    # YAML's 80.0 is not a port: integers are ints, and booleans are neither integers nor numbers.
    types = base.TYPE_CHECKER.redefine_many({
        "integer": lambda _, v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda _, v: isinstance(v, (int, float)) and not isinstance(v, bool),
    })
    formats = jsonschema.FormatChecker(formats=())
    formats.checks("ip-or-empty")(_is_ip_or_empty)
    cls = jsonschema.validators.extend(base, type_checker=types)  # type: ignore[no-untyped-call]
    return cls(SCHEMA, format_checker=formats)


def _is_ip_or_empty(value: object) -> bool:
    if not isinstance(value, str) or value == "":
        return True
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def problems(config: Any) -> list[str]:
    """Every way config breaks the schema or a cross-key rule, one line each ([] when valid)."""
    if not isinstance(config, dict):
        return [f"the configuration must be a mapping of settings, not {_show(config)}"]
    found = [_describe(e) for e in sorted(_validator().iter_errors(_plain(config)), key=lambda e: list(e.path))]
    found = list(dict.fromkeys(found))  # one line per problem, in key order
    return found or list(_combination_problems(config))


def _describe(error: Any) -> str:
    """One line for a jsonschema error: the dotted key, the bad value, what is allowed."""
    path = list(error.absolute_path)
    key = ".".join(str(p) for p in path if not isinstance(p, int))
    if error.validator == "additionalProperties":
        return _unknown_keys(key, error)
    schema = _leaf_schema(error)
    allowed = schema.get("allowed", "see README.md")
    hint = f" (to remove it, use: tljh-config unset {key})" if error.instance is None else ""
    what = f"the item {_show(error.instance)}" if path and isinstance(path[-1], int) else _show(error.instance)
    return f"{key}: {what} is not allowed; allowed: {allowed}{hint}"


def _leaf_schema(error: Any) -> dict[str, Any]:
    """The schema of the key the error is about (anyOf branches point back to their parent)."""
    node: dict[str, Any] = SCHEMA
    for part in error.absolute_path:
        props = node.get("properties", {})
        if isinstance(part, str) and part in props:
            node = props[part]
        elif isinstance(part, str) and any(re.match(p, part) for p in node.get("patternProperties", {})):
            node = next(s for p, s in node["patternProperties"].items() if re.match(p, part))
        elif isinstance(part, str) and isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        elif isinstance(part, int) and "items" in node:
            return node  # a list item: describe the list
    return node


def _unknown_keys(section: str, error: Any) -> str:
    schema = _leaf_schema(error)
    known = schema.get("known") or ", ".join(schema.get("properties", {}))
    extra = sorted(k for k in error.instance if k not in schema.get("properties", {})
                   and not any(re.match(p, k) for p in schema.get("patternProperties", {})))
    names = ", ".join(f"{section}.{k}" for k in extra)
    return f"{names}: unknown key{'s' if len(extra) > 1 else ''}; known keys in {section}: {known}"


def _combination_problems(config: dict[str, Any]) -> Iterator[str]:
    """Rules that span several keys: https needs a whole certificate source; ports must not collide.

    The https rules apply once https.enabled is true, so the keys can be set one at a time
    before it (certificate or Let's Encrypt first, then https.enabled).
    """
    yield from _https_problems(config.get("https") or {})
    yield from _port_collisions(config)
    groups = ((config.get("users") or {}).get("extra_user_groups") or {})
    for group in MANAGED_GROUPS:
        if group in groups:
            yield f"users.extra_user_groups.{group}: {group} is managed by TLJH; use users.admin for admins"


def _https_problems(https: dict[str, Any]) -> Iterator[str]:
    if not https.get("enabled"):
        return
    tls = https.get("tls") or {}
    acme = https.get("letsencrypt") or {}
    if bool(tls.get("cert")) != bool(tls.get("key")):
        yield "https.tls: cert and key must be set together (absolute paths to PEM files) while https is enabled"
    if acme.get("email") and not acme.get("domains"):
        yield ("https.letsencrypt: Let's Encrypt without domains; add one with: "
               "tljh-config add-item https.letsencrypt.domains DOMAIN")
    if acme.get("domains") and not acme.get("email"):
        yield "https.letsencrypt: domains without an email; set one with: tljh-config set https.letsencrypt.email EMAIL"
    if not (tls.get("cert") and tls.get("key")) and not (acme.get("email") and acme.get("domains")):
        yield ("https.enabled: true needs a certificate: set https.tls.cert and https.tls.key, or "
               "https.letsencrypt.email and https.letsencrypt.domains, first; then set https.enabled true")


def _port_collisions(config: dict[str, Any]) -> Iterator[str]:
    from tljh.paths import TRAEFIK_API_PORT

    ports = {"http.port": (config.get("http") or {}).get("port", 80),
             "traefik_api.port": (config.get("traefik_api") or {}).get("port", TRAEFIK_API_PORT)}
    if (config.get("https") or {}).get("enabled"):
        ports["https.port"] = config["https"].get("port", 443)
    seen: dict[int, str] = {}
    for key, port in ports.items():
        if port in seen:
            yield f"{key}: port {port} is already used by {seen[port]}; each listener needs its own port"
        seen.setdefault(port, key)


def expected_type(key: str) -> str | None:
    """The JSON type the schema wants at dotted key, if it is exactly one ("string", ...), else None."""
    node: dict[str, Any] | None = SCHEMA
    for part in key.split("."):
        if node is None:
            return None
        props = node.get("properties", {})
        if part in props:
            node = props[part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return None
    if node is None:
        return None
    if node.get("type") == "array":
        node = node.get("items", {})
    kind = node.get("type")
    return kind if isinstance(kind, str) else None


def _plain(value: Any) -> Any:
    """ruamel's round-trip containers as plain dicts and lists (what jsonschema expects)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if len(repr(value)) > 60 else f"the list {_plain(value)!r}"
    return repr(value)
