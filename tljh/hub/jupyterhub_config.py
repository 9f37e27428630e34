"""The file jupyterhub.service starts the hub with (`jupyterhub -f` this file).

Order: config.yaml (through tljh.hub.traits), then plugins' tljh_custom_jupyterhub_config,
then every jupyterhub_config.d/*.py in name order. Then, before the hub serves, the users'
unix accounts are brought in line with the admins (tljh.hub.users.prepare_at_hub_start).
"""

import sys

from tljh.hub.traits import configure
from tljh.hub.users import prepare_at_hub_start
from tljh.paths import Paths
from tljh.run import CommandError

c = get_config()  # type: ignore[name-defined]  # noqa: F821
configure(c)
_paths = Paths.from_env()
try:
    for _account in prepare_at_hub_start(_paths.unix_accounts, _paths.hub_db, c.Authenticator.admin_users):
        print(f"tljh: {_account} is no longer an admin's account: removed from jupyterhub-admins", file=sys.stderr)
except CommandError as _error:  # the spawner still takes the account out of the group at its next spawn
    print(f"tljh: ERROR: could not bring jupyterhub-admins in line with users.admin: {_error}", file=sys.stderr)
