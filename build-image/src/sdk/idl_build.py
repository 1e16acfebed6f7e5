"""The SDK's Python build backend (PEP 517), standard library only.

``pip install DIR`` (even ``--no-index``, offline) builds the package
with this module instead of fetching setuptools and wheel: the package is
pure Python, so a wheel is a zip of its files plus the ``.dist-info``
metadata. Written by ``build-image sdk``; see ``docs/sdk.md``.
"""

import base64
import hashlib
import io
import os
import tarfile
import tomllib
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAG = "py3-none-any"


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as file:
        config = tomllib.load(file)
    project = config["project"]
    packages = config["tool"]["idl-build"]["packages"]
    return project, packages


def _dist(project):
    return project["name"].replace("-", "_"), project["version"]


def _metadata(project):
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project.get('description', '')}",
        f"Requires-Python: {project.get('requires-python', '>=3')}",
        f"License: {project.get('license', {}).get('text', '')}",
    ]
    readme = os.path.join(ROOT, project.get("readme", "README.md"))
    body = ""
    if os.path.isfile(readme):
        lines.append("Description-Content-Type: text/markdown")
        with open(readme, encoding="utf-8") as file:
            body = file.read()
    return "\n".join(lines) + "\n\n" + body


def _files(packages):
    for package in packages:
        for directory, _, names in os.walk(os.path.join(ROOT, package)):
            for name in sorted(names):
                if name.endswith(".py") or name.endswith(".typed"):
                    path = os.path.join(directory, name)
                    yield path, os.path.relpath(path, ROOT).replace(os.sep, "/")


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project, packages = _project()
    dist, version = _dist(project)
    info = f"{dist}-{version}.dist-info"
    wheel_name = f"{dist}-{version}-{TAG}.whl"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w", zipfile.ZIP_DEFLATED) as wheel:
        def add(name, data):
            wheel.writestr(name, data)
            record.append(_record_line(name, data))

        for path, name in _files(packages):
            with open(path, "rb") as file:
                add(name, file.read())
        add(f"{info}/METADATA", _metadata(project).encode())
        add(
            f"{info}/WHEEL",
            f"Wheel-Version: 1.0\nGenerator: idl_build\nRoot-Is-Purelib: true\nTag: {TAG}\n".encode(),
        )
        record.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel_name


def build_sdist(sdist_directory, config_settings=None):
    project, packages = _project()
    dist, version = _dist(project)
    base = f"{dist}-{version}"
    name = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as sdist:
        for extra in ["pyproject.toml", "README.md", "_build/idl_build.py"]:
            path = os.path.join(ROOT, extra)
            if os.path.isfile(path):
                sdist.add(path, f"{base}/{extra}")
        for path, rel in _files(packages):
            sdist.add(path, f"{base}/{rel}")
        data = _metadata(project).encode()
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size = len(data)
        sdist.addfile(info, io.BytesIO(data))
    return name
