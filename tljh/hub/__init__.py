"""What runs inside the hub process (jupyterhub.service, as root): config.yaml applied to the
traitlets, and the spawner that makes each user's unix account. Reads config and state; writes
only user accounts and the hub's own state."""
