"""The running hub, seen from the host as a browser would, and the user server it starts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubclient import HubClient, HubClientError, http_get
from machine import Machine

if TYPE_CHECKING:
    from conftest import Installation


def test_hub_api_answers(installed: Installation, hub_url: str) -> None:
    response = http_get(f"{hub_url}/hub/api")
    assert response.status_code == 200, response.text[:500]
    assert "version" in response.json()


def test_traefik_api_needs_credentials(installed: Installation, traefik_api_url: str) -> None:
    """The proxy's API listens (on localhost) behind basic auth: 401, not refused, not open."""
    try:
        response = http_get(f"{traefik_api_url}/api/rawdata", timeout=10)
    except HubClientError as error:
        raise AssertionError(f"traefik's API should answer 401 on port 8099, but: {error}") from None
    assert response.status_code == 401, f"{response.status_code}: {response.text[:200]}"


def test_wrong_password_is_refused(
    installed: Installation, hub_url: str, admin_name: str, admin_password: str
) -> None:
    client = HubClient(hub_url)
    attempt = client.try_login(admin_name, "not-" + admin_password)
    assert not attempt.ok, attempt
    assert attempt.status_code == 403, attempt
    home = client.get("/hub/home", allow_redirects=False)
    assert home.status_code in (302, 303) and "/hub/login" in home.headers.get("Location", ""), home.status_code


def test_admin_logs_in_and_runs_code(
    installed: Installation, hub_url: str, admin_name: str, admin_password: str
) -> None:
    """Log in with the bootstrap's password, start the server, and evaluate 5*4 in a kernel."""
    client = HubClient(hub_url)
    client.login(admin_name, admin_password)
    assert client.start_server() == f"/user/{admin_name}/"
    kernel = client.create_kernel()
    assert client.execute(kernel, "5*4") == "20"


def test_user_server_runs_as_the_user(
    machine: Machine, admin_server: HubClient, admin_unit: str, admin_account: str
) -> None:
    """SystemdSpawner runs the server in unit jupyter-admin, as the system user jupyter-admin."""
    assert machine.run(["systemctl", "is-active", admin_unit], check=False).stdout.strip() == "active"
    main_pid = machine.run(["systemctl", "show", "-p", "MainPID", "--value", admin_unit]).stdout.strip()
    assert main_pid not in ("", "0"), f"no main process for {admin_unit}"
    assert machine.run(["stat", "-c", "%U", f"/proc/{main_pid}"]).stdout.strip() == admin_account


def test_user_account(machine: Machine, admin_server: HubClient, admin_account: str) -> None:
    """The admin's system account is in both hub groups and has a private home."""
    groups = machine.run(["id", "-nG", admin_account]).stdout.split()
    assert {"jupyterhub-users", "jupyterhub-admins"} <= set(groups), groups
    owner, _, mode = machine.stat(f"/home/{admin_account}")
    assert (owner, mode) == (admin_account, 0o700), f"{owner} {mode:o}"
