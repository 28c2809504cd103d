"""Fetch the ipywidgets embed manager and RequireJS into ``_vendor/widgets/``.

Built pages load these two files locally instead of from a CDN, so widgets render
from their embedded state even offline. The tarballs come straight from the npm
registry (no npm needed) and are checked against the registry's pinned sha512.

Usage: ``python scripts/vendor_js.py`` (idempotent; does nothing when present).
"""
import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
# (tarball path, sha512 integrity, member inside the tarball, destination name)
PACKAGES = [
    ("@jupyter-widgets/html-manager/-/html-manager-1.0.15.tgz",   # 1.x <-> ipywidgets 8
     "5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
     "package/dist/embed-amd.js", "embed-amd.js"),
    ("requirejs/-/requirejs-2.3.8.tgz",
     "7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
     "package/require.js", "require.js"),
]
DEST = Path(__file__).resolve().parents[1] / "_vendor" / "widgets"


def fetch(path, integrity, member, name):
    target = DEST / name
    if target.is_file() and target.stat().st_size > 0:
        return
    with urllib.request.urlopen(f"{REGISTRY}/{path}", timeout=120) as response:
        blob = response.read()
    digest = base64.b64encode(hashlib.sha512(blob).digest()).decode()
    if digest != integrity:
        sys.exit(f"vendor_js: integrity mismatch for {path}")
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        data = tar.extractfile(member).read()
    DEST.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


if __name__ == "__main__":
    for package in PACKAGES:
        fetch(*package)
