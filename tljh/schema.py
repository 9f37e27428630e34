"""What config.yaml may hold: a JSON schema per known section, plus the rules that span keys.

`problems(config)` lists every problem of a whole configuration (as reload and the installer
need it) as one line naming the dotted key, the bad value and what is allowed; an empty list
means the configuration is valid. `edit_problems(config)` is what one `tljh-config` edit may
not leave behind: the same, except the rules that need several keys (https needs a whole
certificate source), so keys can be set in any order, as upstream's guides set them.

Every string anywhere is free of control and invisible formatting characters (a trailing newline
from `$'1G\n'` is refused everywhere). Unknown top-level keys are refused with a "did you mean"
hint, except `plugins` (free-form: `plugins.NAME.KEY` is where plugins keep settings) and a
section named after an installed plugin (an entry point of the group `tljh`).
`auth.<ClassName>` sections are free-form (trait names are identifiers).
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
import unicodedata
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
# Unix groups whose members are root, or can become root or read every secret, by another name.
PRIVILEGED_GROUPS = frozenset({
    "root", "sudo", "admin", "wheel", "adm", "docker", "disk", "shadow", "lxd", "incus", "incus-admin",
    "libvirt", "kvm", "kmem", "sys", "staff", "systemd-journal", "systemd-network", "tty", "utmp", "lpadmin",
    "netdev", "operator", "dip", "src",
})
FREE_FORM_SECTION = "plugins"
MAX_STRING = 4096
MAX_NAME = 255
MAX_MEMORY_BYTES = 2**63 - 1
MIN_MEMORY_BYTES = 1024**2
MIN_CPU, MAX_CPU = 0.01, 1024  # CPUQuota is a whole percentage: 0.01 CPU = 1%
MAX_SECONDS = 10**9
# Cc control, Cf invisible formatting (bidi overrides, zero-width), Cs/Co/Cn, line/paragraph separators.
BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

CLASS_PATH = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+\Z"
CLASS_NAME = r"^(?!type\Z)[A-Z][A-Za-z0-9_]*\Z"
TRAIT_NAME = r"^[A-Za-z][A-Za-z0-9_]*\Z"
URL_PATH_PART = r"(?!\.\.?/|\.\.?\Z)[A-Za-z0-9._~!$&'()*+,;=:@%-]+"
BASE_URL_PART = r"(?!\.\.?/|\.\.?\Z)[A-Za-z0-9._~+@-]+"
MEMORY = r"^[0-9]{1,30}(\.[0-9]{1,30})?[KMGT]\Z"
HOSTNAME = r"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\Z"
# A hub user name: no whitespace, no '/' or '\\', not '.' or '..' (control characters are refused everywhere).
USER_NAME = r"^(?!\.\.?\Z)[^\s/\\]+\Z"

NAMES = {
    "type": "array",
    "items": {"type": "string", "pattern": USER_NAME, "minLength": 1, "maxLength": MAX_NAME},
    "uniqueItems": True,
    "allowed": f"a list of user names (1-{MAX_NAME} characters, no spaces, '/' or '\\', not '.' or '..'; "
               "use add-item / remove-item)",
}


def _port(what: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": 65535, "allowed": f"an integer 1-65535 ({what})"}


def _ip(what: str) -> dict[str, Any]:
    return {"type": "string", "format": "ip-or-empty", "allowed": f"an IP address ({what})"}


def _seconds(minimum: int, what: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": MAX_SECONDS,
            "allowed": f"an integer {minimum}-{MAX_SECONDS} ({what})"}


def _path(what: str) -> dict[str, Any]:
    return {"type": "string", "pattern": r"^/", "maxLength": MAX_STRING, "allowed": what}


def _section(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False,
            "allowed": "a section (a mapping of keys)", **extra}


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "base_url": {
            "type": "string",
            "maxLength": MAX_NAME,
            "pattern": rf"^/({BASE_URL_PART}/)*({BASE_URL_PART})?\Z",
            "allowed": "a URL path starting with / (e.g. /jupyter/): letters, digits, '.', '_', '-', '~', '+', '@'; "
                       "no '.' or '..' parts",
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
                CLASS_NAME: {"type": "object", "propertyNames": {"pattern": TRAIT_NAME},
                             "allowed": "a mapping of trait names (identifiers) to values"},
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
                "propertyNames": {"pattern": r"^[a-z_][a-z0-9_-]{0,31}\Z"},
                "additionalProperties": NAMES,
                "allowed": "a mapping {unix group name: [user names]}; group names use a-z, 0-9, _ and -",
            },
        }),
        "limits": _section({
            "memory": {
                "type": ["string", "integer"],
                "anyOf": [{"type": "string", "pattern": MEMORY, "format": "memory"},
                          {"type": "integer", "minimum": MIN_MEMORY_BYTES, "maximum": MAX_MEMORY_BYTES}],
                "allowed": "a size with a unit K, M, G or T (e.g. 512M, 1G, 1.5G), or bytes; from 1M to 2^63-1 bytes",
            },
            "cpu": {"type": "number", "minimum": MIN_CPU, "maximum": MAX_CPU,
                    "allowed": f"a number of CPUs from {MIN_CPU} to {MAX_CPU} (e.g. 0.5, 2)"},
        }),
        "user_environment": _section({
            "default_app": {
                "type": "string",
                "maxLength": MAX_STRING,
                "anyOf": [{"enum": list(DEFAULT_APPS)}, {"pattern": rf"^/({URL_PATH_PART}/?)*\Z"}],
                "allowed": "jupyterlab, classic, or a URL path starting with / (e.g. /lab/tree/README.md)",
            },
        }),
        "spawner": _section({
            "concurrent_starts": {"type": "integer", "minimum": 0, "maximum": 1000,
                                  "allowed": "an integer 1-1000 (servers starting at once), or 0 for two per CPU core"},
            "start_timeout": {"type": "integer", "minimum": 10,
                              "allowed": "seconds, an integer >= 10 (the wait in line included)"},
            "http_timeout": {"type": "integer", "minimum": 10,
                             "allowed": "seconds, an integer >= 10 (from the start until the server answers)"},
        }),
        "services": _section({
            "cull": _section({
                "enabled": {"type": "boolean", "allowed": "true or false"},
                "timeout": _seconds(1, "seconds of inactivity"),
                "every": _seconds(1, "seconds between checks"),
                "concurrency": {"type": "integer", "minimum": 1, "maximum": 100,
                                "allowed": "an integer 1-100 (parallel requests to the hub)"},
                "max_age": _seconds(0, "seconds; 0: no maximum age"),
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
                "cert": _path("an absolute path to a PEM certificate"),
                "key": _path("an absolute path to a PEM private key"),
            }),
            "letsencrypt": _section({
                "email": {"type": "string", "maxLength": MAX_NAME, "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z",
                          "allowed": "an email address"},
                "domains": {"type": "array", "items": {"type": "string", "pattern": HOSTNAME},
                            "uniqueItems": True, "allowed": "a list of domain names (use add-item)"},
                "staging": {"type": "boolean", "allowed": "true or false"},
            }),
        }),
        "traefik_api": _section({
            "ip": {"type": "string", "format": "loopback",
                   "allowed": "a loopback address (127.0.0.1, ::1): traefik's API must not be reachable from other machines"},
            "port": _port("traefik's API port"),
            "username": {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,64}\Z",
                         "allowed": "1-64 letters, digits, '.', '_' and '-'"},
            "password": {"type": "string", "pattern": r"^[!-~]{8,64}\Z",
                         "allowed": "8-64 printable ASCII characters without spaces"},
        }),
    },
}


def _validator() -> Any:
    import jsonschema

    base = jsonschema.Draft202012Validator
    # YAML's 80.0 is not a port: integers are ints, booleans are neither integers nor numbers,
    # and .nan / .inf are not numbers.
    types = base.TYPE_CHECKER.redefine_many({
        "integer": lambda _, v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda _, v: (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and math.isfinite(v)),
    })
    formats = jsonschema.FormatChecker(formats=())
    formats.checks("ip-or-empty")(_is_ip_or_empty)
    formats.checks("loopback")(_is_loopback)
    formats.checks("memory")(_is_memory_in_range)
    cls = jsonschema.validators.extend(base, type_checker=types)  # type: ignore[no-untyped-call]
    return cls(SCHEMA, format_checker=formats)


def _is_loopback(value: object) -> bool:
    try:
        return not isinstance(value, str) or ipaddress.ip_address(value).is_loopback
    except ValueError:
        return False


def memory_bytes(value: str | int) -> int:
    """The bytes a limits.memory value means, computed as the hub's ByteSpecification does."""
    if isinstance(value, int):
        return value
    number = float(value[:-1]) * 1024 ** ("KMGT".index(value[-1]) + 1)
    return int(number) if math.isfinite(number) else MAX_MEMORY_BYTES + 1


def _is_memory_in_range(value: object) -> bool:
    if not isinstance(value, str) or not re.match(MEMORY, value):
        return True
    return MIN_MEMORY_BYTES <= memory_bytes(value) <= MAX_MEMORY_BYTES


def _is_ip_or_empty(value: object) -> bool:
    if not isinstance(value, str) or value == "":
        return True
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def problems(config: Any) -> list[str]:
    """Every way a whole configuration breaks the schema or a cross-key rule, one line each ([] when valid).

    This is what must hold where the configuration takes effect (reload, install).
    """
    return edit_problems(config) or list(_https_problems(config.get("https") or {}))


def edit_problems(config: Any) -> list[str]:
    """What one edit may not leave behind: problems() except the rules that need several keys set."""
    if not isinstance(config, dict):
        return [f"the configuration must be a mapping of settings, not {_show(config)}"]
    found = list(_structure_problems(config, ""))
    if found:
        return found[:20]
    plain = _plain(config)
    found = list(_top_level_problems(plain))
    found += [_describe(e) for e in sorted(_validator().iter_errors(plain), key=lambda e: list(e.path))]
    found = list(dict.fromkeys(found))  # one line per problem, in key order
    return found or list(_combination_problems(plain))


MAX_VALUES = 10000


def _structure_problems(value: Any, key: str, seen: set[int] | None = None) -> Iterator[str]:
    """What YAML can hold but a configuration may not: aliases, tags, odd types, control characters."""
    seen = set() if seen is None else seen
    where = shown_key(key) or "the configuration"
    if getattr(getattr(value, "anchor", None), "value", None):
        yield f"{where}: YAML anchors and aliases (&name / *name) are not allowed in config.yaml; write the value out"
        return
    if isinstance(value, (dict, list)):
        if id(value) in seen:
            yield f"{where}: YAML anchors and aliases (&name / *name) are not allowed in config.yaml; write the value out"
            return
        seen.add(id(value))
        if len(seen) > MAX_VALUES:
            yield f"{where}: more than {MAX_VALUES} sections and lists; config.yaml is not meant to be this large"
            return
    if getattr(value, "tag", None) is not None and getattr(value.tag, "value", None):
        yield f"{where}: YAML tags ({value.tag.value}) are not allowed in config.yaml"
    elif isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                yield f"{where}: the key {_show(k)} is not allowed; keys are names (text)"
                continue
            yield from text_problems(k, f"{key}.{k}" if key else k, "key")
            yield from _structure_problems(v, f"{key}.{k}" if key else k, seen)
    elif isinstance(value, list):
        for item in value:
            yield from _structure_problems(item, key, seen)
    elif isinstance(value, str):
        yield from text_problems(value, where, "value")
    elif value is not None and not isinstance(value, (bool, int, float)):
        yield f"{where}: {type(value).__name__} values are not allowed; use text, numbers, true/false or lists"


def shown_key(key: str) -> str:
    """A dotted key as it can be printed on one line (escaped when it holds odd characters)."""
    return key if key.isprintable() else ascii(key)


def text_problems(text: str, key: str, what: str) -> Iterator[str]:
    """The text is of a sane length and holds no control or invisible characters."""
    key = shown_key(key)
    if len(text) > MAX_STRING * 16:
        yield f"{key}: the {what} is {len(text)} characters long; at most {MAX_STRING * 16} are allowed"
        return
    bad = next((c for c in text if unicodedata.category(c) in BAD_CATEGORIES), None)
    if bad is not None:
        trailing = " (a trailing newline?)" if text.endswith(("\n", "\r")) else ""
        yield (f"{key}: the {what} {text[:60]!r} holds the control or invisible character "
               f"U+{ord(bad):04X}{trailing}; not allowed")


def _top_level_problems(config: dict[str, Any]) -> Iterator[str]:
    """Unknown top-level keys (typos such as limit.memory or base-url), with a hint."""
    known = [*SCHEMA["properties"], FREE_FORM_SECTION]
    plugins = installed_plugin_names()
    for key in config:
        if key in known or key in plugins:
            continue
        close = difflib.get_close_matches(key.replace("-", "_").lower(), known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        yield (f"{key}: unknown key; {hint}known keys: {', '.join(SCHEMA['properties'])} "
               f"(plugins keep their settings under {FREE_FORM_SECTION}.NAME)")


def installed_plugin_names() -> set[str]:
    """The names of installed plugins (entry points of the group tljh, and their distributions)."""
    from importlib.metadata import entry_points

    names = set()
    for ep in entry_points(group="tljh"):
        names.add(ep.name)
        if ep.dist is not None:
            names.update({ep.dist.name, ep.dist.name.replace("-", "_")})
    return names


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
    """Rules that span keys and hold after every edit: ports must not collide; groups that are root."""
    yield from _port_collisions(config)
    groups = ((config.get("users") or {}).get("extra_user_groups") or {})
    for group in groups:
        if group in MANAGED_GROUPS:
            yield f"users.extra_user_groups.{group}: {group} is managed by TLJH; use users.admin for admins"
        elif group in PRIVILEGED_GROUPS:
            yield (f"users.extra_user_groups.{group}: members of {group} are root (or read every secret) by "
                   "another name; TLJH does not hand it out (use users.admin for admins, or usermod -aG by hand)")


def _https_problems(https: dict[str, Any]) -> Iterator[str]:
    """With https enabled, a whole certificate source (checked where it takes effect, not per edit)."""
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
               "https.letsencrypt.email and https.letsencrypt.domains (tljh-config set ...)")


def _port_collisions(config: dict[str, Any]) -> Iterator[str]:
    from tljh.paths import HUB_PORT, TRAEFIK_API_PORT

    ports = {"the hub's own port (127.0.0.1)": HUB_PORT,
             "http.port": (config.get("http") or {}).get("port", 80),
             "traefik_api.port": (config.get("traefik_api") or {}).get("port", TRAEFIK_API_PORT)}
    if (config.get("https") or {}).get("enabled"):
        ports["https.port"] = config["https"].get("port", 443)
    seen: dict[int, str] = {}
    for key, port in ports.items():
        if port in seen:
            yield f"{key}: port {port} is already used by {seen[port]}; each listener needs its own port"
        seen.setdefault(port, key)


def known_key(key: str) -> bool:
    """Whether dotted key is one the schema describes (not a free-form auth trait or plugin setting)."""
    node: dict[str, Any] = SCHEMA
    for part in key.split("."):
        if part in node.get("properties", {}):
            node = node["properties"][part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return False
    return True


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
