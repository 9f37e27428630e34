"""A TLJH plugin implementing every hook, each with an effect the integration tests can see.

Installed in the session install with `--plugin /srv/tljh/integration-tests/plugins/tljh-example-plugin`.
"""

import json
import os
import subprocess
from pathlib import Path

from tljh.hooks import hookimpl

MARKERS = Path("/var/lib/tljh-example-plugin")
NEW_USERS_LOG = "example-plugin-new-users.jsonl"  # relative: the hub's working directory
ENV_VALUE = "set-by-tljh-example-plugin"


@hookimpl
def tljh_extra_apt_packages():
    return ["tree"]


@hookimpl
def tljh_extra_hub_pip_packages():
    return ["termcolor==3.3.0"]


@hookimpl
def tljh_extra_user_conda_packages():
    return ["tabulate"]


@hookimpl
def tljh_extra_user_conda_channels():
    return ["conda-forge"]


@hookimpl
def tljh_extra_user_pip_packages():
    return ["tabulate==0.10.0"]


@hookimpl
def tljh_custom_jupyterhub_config(c):
    c.Spawner.environment.update({"TLJH_EXAMPLE_PLUGIN": ENV_VALUE})


@hookimpl
def tljh_config_post_install(config):
    config.setdefault("services", {}).setdefault("cull", {}).setdefault("timeout", 7200)


@hookimpl
def tljh_post_install():
    hub = subprocess.run(["systemctl", "is-active", "jupyterhub"], capture_output=True, text=True).stdout.strip()
    MARKERS.mkdir(parents=True, exist_ok=True)
    with open(MARKERS / "post_install.jsonl", "a") as f:
        f.write(json.dumps({"hub": hub}) + "\n")


@hookimpl
def tljh_new_user_create(username):
    with open(NEW_USERS_LOG, "a") as f:
        f.write(json.dumps({"username": username, "cwd": os.getcwd(), "home": os.path.isdir(f"/home/{username}")}) + "\n")
