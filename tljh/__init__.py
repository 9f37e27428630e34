"""The Littlest JupyterHub style installer: a JupyterHub for a small group on one server."""

__version__ = "0.1.0"
