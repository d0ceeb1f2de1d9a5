"""SysMedic packaging: ``pip install .`` gives the ``sysmedic`` command."""

import re

from setuptools import find_packages, setup

with open("sysmedic/__init__.py", encoding="utf-8") as handle:
    VERSION = re.search(r'^__version__ = "([^"]+)"', handle.read(), re.M).group(1)

with open("README.md", encoding="utf-8") as handle:
    LONG_DESCRIPTION = handle.read()

setup(
    name="sysmedic",
    version=VERSION,
    description="Lightweight Linux monitoring daemon with per-user accounting and a WebSocket API",
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.8",  # 3.8 to 3.15 are tested (make test; 3.14 and 3.15 in a Debian sid root)
    packages=find_packages(include=["sysmedic", "sysmedic.*"]),
    package_data={"sysmedic": ["storage/*.sql", "web/*"]},
    install_requires=[
        "simple-websocket>=1.0",
        "psutil>=5.9",
        "docopt-ng>=0.9",
        # wsproto 1.3 needs Python 3.10; 1.2 with h11 0.16 runs on 3.8-3.15 (DESIGN.md).
        "wsproto>=1.2,<1.3; python_version<'3.10'",
    ],
    entry_points={"console_scripts": ["sysmedic = sysmedic.cli:main_exit"]},
    scripts=[],
    classifiers=[
        "Environment :: No Input/Output (Daemon)",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.8",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Programming Language :: Python :: 3.14",
        "Programming Language :: Python :: 3.15",
        "Topic :: System :: Monitoring",
    ],
)
