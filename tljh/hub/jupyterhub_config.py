"""The file jupyterhub.service starts the hub with (`jupyterhub -f` this file).

Order: config.yaml (through tljh.hub.traits), then plugins' tljh_custom_jupyterhub_config,
then every jupyterhub_config.d/*.py in name order.
"""

from tljh.hub.traits import configure

configure(get_config())  # type: ignore[name-defined]  # noqa: F821
