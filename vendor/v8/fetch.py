#!/usr/bin/env python3
"""Obtain the prebuilt V8 that ivmhost builds against, for the machine this runs on.

V8 comes from the distribution's libnode package (pinned in vendor/v8/pin.toml). This script:

1. picks the pin section for this Debian release (/etc/os-release);
2. downloads the pinned packages with `apt-get download` and unpacks them with `dpkg-deb -x`
   (a plain `apt-get install libnode108` conflicts with the nodejs package these machines carry);
3. checks the V8 version in the unpacked headers against the pin;
4. lays out vendor/v8/dist/{include,lib} and records what it used in vendor/v8/dist/BUILD-INFO.json;
5. installs libnode's runtime libraries with apt-get.

It is idempotent: when dist/ already matches the pin and the runtime libraries are installed it
returns in a few milliseconds. With IVMHOST_V8_HOME set it only checks that folder.

Usage: python3 vendor/v8/fetch.py [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
PIN = HERE / "pin.toml"
DIST = HERE / "dist"
INFO = DIST / "BUILD-INFO.json"
# Package names libnode depends on that carry only JavaScript for the node binary: not needed to
# embed V8, and they conflict with the nodesource nodejs package.
_JS_ONLY_DEPENDENCY = re.compile(r"^node-")


class FetchError(Exception):
    """A problem the user must fix; the message names the fix."""


def log(msg: str) -> None:
    print(f"[vendor/v8] {msg}", flush=True)


def os_release() -> dict[str, str]:
    fields: dict[str, str] = {}
    try:
        text = Path("/etc/os-release").read_text()
    except OSError as exc:
        raise FetchError(
            "cannot read /etc/os-release to tell which Debian release this is; "
            "set IVMHOST_V8_HOME to a folder with V8's include/ and lib/ instead"
        ) from exc
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key] = value.strip().strip('"')
    return fields


def pin_for_this_machine() -> tuple[str, dict]:
    pins = tomllib.loads(PIN.read_text())["debian"]
    rel = os_release()
    version = rel.get("VERSION_ID", "")
    if rel.get("ID") != "debian" or version not in pins:
        known = ", ".join(f"Debian {v}" for v in sorted(pins))
        raise FetchError(
            f"this machine runs {rel.get('PRETTY_NAME', 'an unknown system')}; vendor/v8/pin.toml "
            f"knows {known}. Add a [debian.N] section to vendor/v8/pin.toml, or set "
            "IVMHOST_V8_HOME to a folder with V8's include/ and lib/ (see README.md)"
        )
    return version, pins[version]


def header_v8_version(include: Path) -> str:
    text = (include / "v8-version.h").read_text()
    parts = [
        re.search(rf"#define V8_{name}\s+(\d+)", text).group(1)  # type: ignore[union-attr]
        for name in ("MAJOR_VERSION", "MINOR_VERSION", "BUILD_NUMBER", "PATCH_LEVEL")
    ]
    return ".".join(parts)


def run(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise FetchError(f"`{cmd[0]}` is not installed; this script needs Debian's apt and dpkg") from exc
    if proc.returncode != 0:
        raise FetchError(f"`{' '.join(cmd)}` failed:\n{proc.stderr.strip()}")
    return proc.stdout


def runtime_packages(pin: dict, debs: list[Path]) -> list[str]:
    """What the library package's Depends names (minus node-*); the pin's list if that is empty.

    The .deb's own Depends is authoritative (names move between releases: libssl3 -> libssl3t64);
    the pin's list documents them and is the fallback.
    """
    names: list[str] = []
    for deb in debs:
        if not re.match(r"libnode\d+_", deb.name):
            continue
        depends = run(["dpkg-deb", "-f", str(deb), "Depends"])
        for alternative in depends.split(","):
            name = alternative.split("|")[0].split("(")[0].strip().split(":")[0]
            if name and not _JS_ONLY_DEPENDENCY.match(name) and name not in names:
                names.append(name)
    return names or list(pin["runtime"])


def missing_packages(names: list[str]) -> list[str]:
    # dpkg-query exits non-zero when any name is unknown, but still lists the ones it knows.
    cmd = ["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n", *names]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    installed = {line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["ii"]}
    return [n for n in names if n not in installed]


def install_runtime(names: list[str]) -> None:
    missing = missing_packages(names)
    if not missing:
        return
    if os.geteuid() != 0:
        raise FetchError(
            f"libnode's runtime libraries are missing: {' '.join(missing)}. Run as root, or: "
            f"sudo apt-get install -y {' '.join(missing)}"
        )
    log(f"installing runtime libraries: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(cmd, env=env, capture_output=True, check=False).returncode != 0:
        run(["apt-get", "update"])
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise FetchError(f"`{' '.join(cmd)}` failed:\n{proc.stderr.strip()}")


def download(packages: list[str], into: Path) -> list[Path]:
    cmd = ["apt-get", "download", *packages]
    proc = subprocess.run(cmd, cwd=into, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        # A fresh machine may have no package lists yet, or stale ones after a security upload.
        if os.geteuid() != 0:
            raise FetchError(
                f"`apt-get download {' '.join(packages)}` failed ({proc.stderr.strip()}); "
                "run `sudo apt-get update` and try again"
            )
        log("apt-get download failed; running apt-get update and retrying")
        run(["apt-get", "update"])
        run(cmd, cwd=into)
    names = {p.split("=")[0] for p in packages}
    debs = [d for d in sorted(into.glob("*.deb")) if d.name.split("_")[0] in names]
    if len(debs) != len(packages):
        raise FetchError(f"expected {len(packages)} .deb files from apt-get download, got {debs}")
    return debs


def download_pair(pin: dict, release: str, into: Path) -> list[Path]:
    """The library package and libnode-dev of the very same version (one source package).

    The library's current version is taken; libnode-dev is then asked for at that exact version,
    so a newer libnode-dev from another repository (nodesource's) can never pair with it.
    """
    lib_name, dev_name = pin["packages"]
    log(f"downloading {lib_name} (Debian {release})")
    (lib,) = download([lib_name], into)
    version = run(["dpkg-deb", "-f", str(lib), "Version"]).strip()
    log(f"downloading {dev_name}={version}")
    download([f"{dev_name}={version}"], into)
    return sorted(into.glob("*.deb"))


def up_to_date(pin: dict) -> bool:
    if not INFO.exists():
        return False
    try:
        info = json.loads(INFO.read_text())
    except ValueError:
        return False
    return (
        info.get("packages_requested") == pin["packages"]
        and info.get("v8_expected") == pin["v8"]
        and (DIST / "lib" / info.get("library", pin["library"])).exists()
        and (DIST / "include" / "v8-version.h").exists()
    )


def fetch(pin: dict, release: str) -> None:
    with tempfile.TemporaryDirectory(prefix="ivmhost-v8-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "debs").mkdir()
        debs = download_pair(pin, release, tmp / "debs")
        root = tmp / "root"
        for deb in debs:
            run(["dpkg-deb", "-x", str(deb), str(root)])
        include = root / pin["include_dir"]
        if not (include / "v8-version.h").exists():
            raise FetchError(f"{pin['include_dir']}/v8-version.h is not in {[d.name for d in debs]}")
        v8_version = header_v8_version(include)
        if not v8_version.startswith(pin["v8"] + "."):
            raise FetchError(
                f"the headers in {[d.name for d in debs]} are V8 {v8_version}, the pin expects "
                f"{pin['v8']}; update [debian.{release}] in vendor/v8/pin.toml"
            )
        libs = [p for p in root.glob("usr/lib/*/libnode.so.*") if not p.is_symlink()]
        if len(libs) != 1:
            raise FetchError(f"no single libnode.so.N in {[d.name for d in debs]}: {libs}")
        library = libs[0].name
        if library != pin["library"]:
            log(f"note: the package carries {library}, the pin names {pin['library']}; using {library}")
        runtime = runtime_packages(pin, debs)

        staging = HERE / "dist.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "lib").mkdir(parents=True)
        shutil.copytree(include, staging / "include")
        shutil.copy2(libs[0], staging / "lib" / library)
        (staging / "lib" / "libnode.so").symlink_to(library)
        info = {
            "debian": release,
            "packages_requested": pin["packages"],
            "debs": {
                d.name: {
                    "version": run(["dpkg-deb", "-f", str(d), "Version"]).strip(),
                    "sha256": hashlib.sha256(d.read_bytes()).hexdigest(),
                }
                for d in debs
            },
            "v8_expected": pin["v8"],
            "v8_version": v8_version,
            "library": library,
            "defines": pin["defines"],
            "runtime_packages": runtime,
        }
        (staging / "BUILD-INFO.json").write_text(json.dumps(info, indent=2) + "\n")
        shutil.rmtree(DIST, ignore_errors=True)
        staging.rename(DIST)
    log(f"V8 {v8_version} from {', '.join(info['debs'])} -> {DIST.relative_to(HERE.parent.parent)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether dist/ is ready")
    args = parser.parse_args(argv)
    try:
        home = os.environ.get("IVMHOST_V8_HOME")
        if home:
            if not (Path(home) / "include" / "v8-version.h").exists():
                raise FetchError(f"IVMHOST_V8_HOME={home} has no include/v8-version.h")
            log(f"using IVMHOST_V8_HOME={home} (V8 {header_v8_version(Path(home) / 'include')})")
            return 0
        release, pin = pin_for_this_machine()
        if args.check:
            ok = up_to_date(pin)
            log("ready" if ok else "not ready: run `python3 vendor/v8/fetch.py`")
            return 0 if ok else 1
        if not up_to_date(pin):
            fetch(pin, release)
        info = json.loads(INFO.read_text())
        install_runtime(info["runtime_packages"])
        return 0
    except FetchError as exc:
        print(f"[vendor/v8] error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
