from pathlib import Path

from setuptools import find_packages, setup

version = {}
exec((Path(__file__).parent / "tljh" / "__init__.py").read_text(), version)

setup(
    name="the-littlest-jupyterhub",
    version=version["__version__"],
    description="Turn a fresh Debian or Ubuntu server into a JupyterHub for a small group",
    long_description=(Path(__file__).parent / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=find_packages(include=["tljh", "tljh.*"]),
    package_data={"tljh": ["install/requirements/*.txt", "install/requirements/*.lock", "install/units/*.service"]},
    install_requires=[
        "requests",
        "ruamel.yaml>=0.17",
        "pluggy>=1.0",
        "packaging",
        "tomli-w>=1.0",
        "tomli>=1.1; python_version < \"3.11\"",
        "bcrypt",
        "jupyterhub>=5,<7",
        "jupyterhub-systemdspawner>=1.0",
        "jupyterhub-firstuseauthenticator>=1.1",
        "jupyterhub-traefik-proxy>=2.0",
        "jupyterhub-idle-culler>=1.2",
        "jupyterhub-nativeauthenticator>=1.3",
        "oauthenticator>=17",
        "jupyterhub-ldapauthenticator>=2",
        "jupyterhub-tmpauthenticator>=1",
        "jsonschema>=4.18",
    ],
    entry_points={"console_scripts": ["tljh-config = tljh.cli.tljh_config:main", "tljh = tljh.cli.main:main"]},
)
