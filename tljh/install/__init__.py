"""What runs once, as root, to install or upgrade: the driver, the hub's own settings, the user
environment and the progress reporting. Nothing here runs inside the hub."""
