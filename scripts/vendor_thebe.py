"""Fetch Live Code's thebe release from the npm registry and copy it where the book serves it.

thebe 0.9.3 bundles the ipywidgets 8 front end (``@jupyter-widgets/base`` 6, ``controls`` 5), the
one that speaks to the kernel's ipywidgets 8.1. (sphinx-thebe's default, thebe 0.8.2 from a CDN,
bundles the ipywidgets 7 front end and cannot show an ipywidgets 8 panel.) Its widget manager
loads RequireJS before it builds any widget, from cdnjs.cloudflare.com, and its Markdown renderer
has no parser; the book serves both itself (``require.js`` and ``marked.min.js`` next to thebe,
which ``live_code.js`` hands to thebe), so that panels also work where the page cannot reach a
CDN and Markdown outputs (tables, code listings) render.

Each tarball is fetched once with ``npm pack``, checked against the registry's sha512, and kept in
``_build/.npm/``. Copied to ``DEST``: thebe's ``lib/`` (scripts, CSS, the bundled code's licence
notices; no source maps) with thebe's licence, and the files of :data:`HELPERS` with theirs.

The book build calls :func:`vendor` (``_ext/live_code.py``), so ``make book`` needs ``npm`` once;
by hand::

    python scripts/vendor_thebe.py _build/html/_static/thebe
    # an ipywidgets 7 front end, only to show that the Live Code test fails with it:
    python scripts/vendor_thebe.py --package thebelab@0.5.1 DEST
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "_build" / ".npm"
PACKAGE = "thebe@0.9.3"
# what thebe 0.9.3 lacks or would fetch from a CDN, served next to it: {package: {file: copied as}}
HELPERS = {
    # RequireJS, which its widget manager loads before it builds any widget (thebe asks cdnjs for
    # 2.3.6; 2.3.7 and later fix CVE-2024-38999)
    "requirejs@2.3.8": {"package/require.js": "require.js"},
    # a Markdown parser: thebe's renderer has none and shows Markdown outputs as raw source
    "marked@15.0.12": {
        "package/marked.min.js": "marked.min.js",
        "package/LICENSE.md": "marked.LICENSE.md",
    },
}
# sha512 of each tarball, as the registry publishes it (`npm view <spec> dist.integrity`)
INTEGRITY = {
    "thebe@0.9.3": "sha512-Rb/7kVhtlffXra3kIe7OuIGE7awsm2/fGWxw21DiNfnWLnUQiDl9AWqYdshPwZPG/5DzLpsJRPix2xtCPtJmQQ==",  # noqa: E501
    # the ipywidgets 7 front end (base 2, controls 1.5): to show the Live Code test fails with it
    "thebelab@0.5.1": "sha512-1wYDNmMRZbO3G4wwmoBs+tdjNhwqpHobYxXLTGkXPT6Ul3jUZppdYi3PV1U+sBlohZzzKmYkiMBDivK3XbGJOw==",  # noqa: E501
    "requirejs@2.3.8": "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",  # noqa: E501
    "marked@15.0.12": "sha512-8dD6FusOQSrpv9Z1rdNMdlSgQOIP880DHqnohobOmYLElGEqAL/JvxvuxZO16r4HtjTlfPRDC1hbvxC9dPN2nA==",  # noqa: E501
}
LICENSE = Path(__file__).with_name("thebe-LICENSE.txt")  # thebe's BSD 3-Clause text
# RequireJS's package has no licence file; its MIT text, as require.js's header names it
REQUIREJS_LICENSE = Path(__file__).with_name("requirejs-LICENSE.txt")


def tarball(package=PACKAGE):
    """Path of the checked tarball of ``package`` (``name@version``); ``npm pack`` if missing."""
    if package not in INTEGRITY:
        raise ValueError(
            f"package {package!r} has no recorded integrity; known: {sorted(INTEGRITY)}"
        )
    name, version = package.rsplit("@", 1)
    path = CACHE / f"{name}-{version}.tgz"
    if not path.is_file():
        if shutil.which("npm") is None:
            raise RuntimeError(
                f"npm is needed once to fetch {package} for Live Code (Debian: apt-get install npm)"
            )
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "pack", package, "--pack-destination", str(CACHE), "--silent"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    digest = (
        "sha512-"
        + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()
    )
    if digest != INTEGRITY[package]:
        path.unlink()
        raise RuntimeError(
            f"{path.name}: sha512 does not match the registry's; removed, try again"
        )
    return path


def vendor(dest, package=PACKAGE):
    """Copy ``package``'s browser bundle (``lib/*.js``, ``*.css``, licences) and the
    :data:`HELPERS` into ``dest``."""
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(tarball(package)) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts  # package/lib/<file>
            if (
                member.isfile()
                and len(parts) == 3
                and parts[1] == "lib"
                and parts[2].endswith((".js", ".css", ".LICENSE.txt"))
            ):
                with tar.extractfile(member) as src:
                    (dest / parts[2]).write_bytes(src.read())
            elif (
                member.isfile()
                and len(parts) == 2
                and parts[1] in ("LICENSE", "LICENSE.md")
            ):
                with tar.extractfile(member) as src:
                    (dest / "LICENSE.txt").write_bytes(src.read())
    if not (dest / "index.js").is_file():
        raise RuntimeError(f"{package} has no lib/index.js")
    if not (dest / "LICENSE.txt").is_file():
        shutil.copyfile(LICENSE, dest / "LICENSE.txt")
    for helper, files in HELPERS.items():
        with tarfile.open(tarball(helper)) as tar:
            for name, copied_as in files.items():
                with tar.extractfile(name) as src:
                    (dest / copied_as).write_bytes(src.read())
    shutil.copyfile(REQUIREJS_LICENSE, dest / "require.js.LICENSE.txt")
    return dest


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--package", default=PACKAGE, choices=sorted(INTEGRITY))
    args = parser.parse_args()
    out = vendor(args.dest, args.package)
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"{args.package} -> {out} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
