"""`relais app build`: the static PWA site, built from field_app + shared_models with no
internet beyond the package index.

- The Flutter web client, CanvasKit and Pyodide come from the installed `flet-web` package.
- The browser's wheels (field_app/pwa/requirements.txt, pinned with hashes) come through pip
  and are unpacked into the app archive; the project's own code is packed beside them.
- Every file is written reproducibly and precompressed (brotli and gzip); the site's version
  is a hash of its content, and the folder is named by a hash of its inputs, so an unchanged
  project is never built twice.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import brotli
import flet_web

from shared_models.vocabulary import Language
from sync_server.settings import Settings
from sync_server.webapp.site import BASE, Site

BUILDER_VERSION = "1"  # bump when the build's output changes for the same inputs
FLET_WEB = Path(flet_web.__file__).parent / "web"


def _package_folder(name: str) -> Path:
    """Where a package of the project lives, without importing it: the server never
    imports the field app, it only packs its files."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"package {name} is not installed")
    return Path(spec.origin).parent


FIELD_APP = _package_folder("field_app")
SHARED_MODELS = _package_folder("shared_models")
SHELL = FIELD_APP / "pwa" / "shell"
REQUIREMENTS = FIELD_APP / "pwa" / "requirements.txt"

# From flet-web, what the app needs (the CanvasKit renderer, full variant, on every browser;
# the Pyodide runtime and standard library). The rest (other renderers, debug symbols,
# Flutter's own self-unregistering service worker, Pyodide's CLI) stays out, and the shell
# (field_app/pwa/shell) brings its own Python worker, started with the page.
FLET_WEB_FILES = [
    "flutter.js",
    "flutter_bootstrap.js",
    "main.dart.js",
    "canvaskit/canvaskit.js",
    "canvaskit/canvaskit.wasm",
    "pyodide/pyodide.mjs",
    "pyodide/pyodide.asm.mjs",
    "pyodide/pyodide.asm.wasm",
    "pyodide/python_stdlib.zip",
    "pyodide/pyodide-lock.json",
]
FLET_WEB_ASSETS = "assets"
# Assets that only other Flet controls use, fetched lazily if ever: not worth the download.
SKIPPED_ASSETS = (
    "assets/NOTICES",
    "assets/packages/media_kit/",
    "assets/packages/flutter_math_fork/",
)
# Python files of the browser's wheels the app never imports at run time.
SKIPPED_IN_WHEELS = (".dist-info/RECORD", ".pyi", "/py.typed", "/tests/", "/__pycache__/")
KEEP_BUILDS = 4
APP_HOME = "/home/pyodide"  # where the worker unpacks the app (shell/python-worker.js)
BROTLI_QUALITY = 10  # 11 saves 2 % more and takes twice as long to build
COMPRESSIBLE = (
    ".tar",
    ".js",
    ".mjs",
    ".wasm",
    ".json",
    ".html",
    ".css",
    ".otf",
    ".ttf",
    ".bin",
    ".frag",
)
MANIFEST_TEXTS: dict[str, tuple[str, str]] = {
    Language.FR: ("Relais", "Notes de terrain transmises au bon conseiller, même sans réseau."),
    Language.EN: ("Relais", "Worksite notes passed to the right counsellor, even with no network."),
    Language.IT: ("Relais", "Note dal cantiere passate al consulente giusto, anche senza rete."),
    Language.NL: ("Relais", "Werfnotities naar de juiste begeleider, ook zonder netwerk."),
}


class BuildFailed(Exception):
    """The site could not be built; the message says what to do."""


def _hash_files(paths: Iterable[Path], root: Path, digest: hashlib._Hash) -> None:
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())


def _app_sources() -> Iterator[tuple[Path, str]]:
    """(file, name in the archive) of the project's own code the browser runs."""
    for package, root in (("field_app", FIELD_APP), ("shared_models", SHARED_MODELS)):
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if "__pycache__" in relative.parts or "shell" in relative.parts or not path.is_file():
                continue
            if path.suffix in (".py", ".json") or "assets" in relative.parts:
                yield path, f"{package}/{relative}"


def inputs_hash() -> str:
    """Everything the site is made of: a change in any of them means a new build."""
    digest = hashlib.sha256(BUILDER_VERSION.encode())
    digest.update(flet_web.__file__.encode())
    _hash_files([p for p, _ in _app_sources()], FIELD_APP.parent, digest)
    _hash_files([p for p in SHELL.rglob("*") if p.is_file()], SHELL, digest)
    digest.update(REQUIREMENTS.read_bytes())
    digest.update((FLET_WEB / "version.json").read_bytes())
    digest.update(Path(__file__).read_bytes())
    digest.update(b"precompiled" if _node() else b"")
    return digest.hexdigest()[:16]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "relais"


def pyodide_platform() -> tuple[str, str]:
    """(pip platform tag, python version) of the Pyodide that flet-web ships."""
    lock = json.loads((FLET_WEB / "pyodide" / "pyodide-lock.json").read_text())
    info = lock["info"]
    python = ".".join(info["python"].split(".")[:2])
    return f"pyemscripten_{info['abi_version']}_{info['arch']}", python


def download_wheels(cache: Path, say: Callable[[str], None]) -> list[Path]:
    """The pinned browser wheels, from the package index through pip (checked by hash)."""
    folder = cache / "wheels" / hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    done = folder / ".complete"
    if not done.exists():
        say("downloading the app's Python packages for the browser…")
        folder.mkdir(parents=True, exist_ok=True)
        platform, python = pyodide_platform()
        abi = "cp" + python.replace(".", "")
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--require-hashes", "--only-binary=:all:",
            "--platform", platform, "--platform", "any",
            "--python-version", python, "--implementation", "cp", "--abi", abi, "--abi", "none",
            "--dest", str(folder), "-r", str(REQUIREMENTS),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode:
            raise BuildFailed(
                "could not download the app's packages (is the package index reachable?)\n"
                + result.stderr[-2000:]
            )
        done.write_text("ok")
    return sorted(folder.glob("*.whl"))


def _tar_add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def _node() -> str | None:
    return shutil.which("node")


def _precompiled(entries: dict[str, bytes], say: Callable[[str], None]) -> dict[str, bytes]:
    """The bytecode of every module, compiled by the browser's own Python (Pyodide, run by
    Node.js): the app then imports without compiling, a second or two less at each start.
    Without Node.js the app still works; it compiles as it imports."""
    if _node() is None:
        say("Node.js not found: the app's Python is not precompiled (slower starts)")
        return {}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for name, data in entries.items():
            if name.endswith(".py"):
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_bytes(data)
        command = [
            "bash", str(FLET_WEB / "pyodide" / "python"), "-m", "compileall", "-q",
            "--invalidation-mode", "unchecked-hash",
            "-d", APP_HOME,  # where the files are in the browser: tracebacks, and the same
            str(root),       # bytes whatever scratch folder compiled them
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, cwd=root)
        if result.returncode:
            say(f"precompiling failed, the app compiles as it imports: {result.stderr[-500:]}")
            return {}
        return {
            str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*.pyc"))
        }


def app_archive(wheels: list[Path], say: Callable[[str], None] = print) -> bytes:
    """app.tar: the project's code and the unpacked wheels (in __pypackages__, which the
    worker puts on sys.path), with their bytecode, byte for byte the same for the same
    inputs. Served brotli-compressed like every file: the browser decodes it, so Python in
    the browser only unpacks a plain tar."""
    entries: dict[str, bytes] = {}
    for path, name in _app_sources():
        entries[name] = path.read_bytes()
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as content:
            for item in content.infolist():
                name = "/" + item.filename
                if item.is_dir() or any(skip in name for skip in SKIPPED_IN_WHEELS):
                    continue
                entries[f"__pypackages__/{item.filename}"] = content.read(item)
    entries.update(_precompiled(entries, say))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name in sorted(entries):
            _tar_add(archive, name, entries[name])
    return raw.getvalue()


def _patch_bootstrap(text: str) -> str:
    """Flutter's loader: no service worker of its own (ours precaches), the full CanvasKit on
    every browser (one file set to cache), and the loading screen stays until Python is up."""
    start = text.index("serviceWorkerSettings: {", text.index("_flutter.loader.load({"))
    end = text.index("},", start) + 2
    text = text[:start] + text[end:]
    text = text.replace(
        "document.getElementById('loading')?.remove();",
        "window.relaisFirstFrame && window.relaisFirstFrame();",
    )
    return text.replace(
        "var flutterConfig = {", 'var flutterConfig = {\n    canvasKitVariant: "full",', 1
    )


def _patch_main_dart(text: str) -> str:
    """Rive's runtime is fetched from a CDN at start; the app uses no Rive: keep it local."""
    return text.replace(
        "https://cdn.jsdelivr.net/npm/@rive-app/flutter-native-wasm@44.0.0/", f"{BASE}rive/"
    )


def _font_manifest(text: str) -> str:
    """Flutter loads every font listed here at start: list only those the site carries, and
    Flet's Roboto."""
    manifest = [
        family
        for family in json.loads(text)
        if not any(f"assets/{font['asset']}".startswith(SKIPPED_ASSETS) for font in family["fonts"])
    ]
    manifest.append({"family": "Roboto", "fonts": [{"asset": "fonts/roboto.woff2"}]})
    return json.dumps(manifest)


def _manifest(language: str) -> str:
    name, description = MANIFEST_TEXTS[language]
    icons = [
        {"src": f"icons/icon-{size}.png", "sizes": f"{size}x{size}", "type": "image/png"}
        for size in (192, 512)
    ] + [
        {
            "src": f"icons/icon-maskable-{size}.png",
            "sizes": f"{size}x{size}",
            "type": "image/png",
            "purpose": "maskable",
        }
        for size in (192, 512)
    ]
    manifest = {
        "id": BASE,
        "name": name,
        "short_name": name,
        "description": description,
        "lang": language,
        "start_url": BASE,
        "scope": BASE,
        "display": "standalone",
        "orientation": "any",
        "background_color": "#FFFFFF",
        "theme_color": "#00695C",
        "icons": icons,
    }
    return json.dumps(manifest, ensure_ascii=False, indent=1)


def _site_files(wheels: list[Path], say: Callable[[str], None]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name in FLET_WEB_FILES:
        files[name] = (FLET_WEB / name).read_bytes()
    for path in sorted((FLET_WEB / FLET_WEB_ASSETS).rglob("*")):
        name = str(path.relative_to(FLET_WEB))
        if path.is_file() and not name.startswith(SKIPPED_ASSETS):
            files[name] = path.read_bytes()
    files["flutter_bootstrap.js"] = _patch_bootstrap(
        files["flutter_bootstrap.js"].decode()
    ).encode()
    files["main.dart.js"] = _patch_main_dart(files["main.dart.js"].decode()).encode()
    files["assets/FontManifest.json"] = _font_manifest(
        files["assets/FontManifest.json"].decode()
    ).encode()
    for path in sorted(SHELL.rglob("*")):
        if path.is_file():
            files[str(path.relative_to(SHELL))] = path.read_bytes()
    for language in MANIFEST_TEXTS:
        files[f"manifest.{language}.json"] = _manifest(language).encode()
    files["app.tar"] = app_archive(wheels, say)
    return files


def _version(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()[:12]


def _fill(text: bytes, values: dict[str, str]) -> bytes:
    out = text.decode()
    for key, value in values.items():
        out = out.replace(key, value)
    return out.encode()


def _compressed(data: bytes, cache: Path) -> tuple[bytes, bytes]:
    """(brotli, gzip) forms, kept by content: the runtime's big files compress once."""
    key = hashlib.sha256(data).hexdigest()
    br, gz = cache / f"{key}.br", cache / f"{key}.gz"
    if not (br.exists() and gz.exists()):
        cache.mkdir(parents=True, exist_ok=True)
        gz.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
        br.write_bytes(brotli.compress(data, quality=BROTLI_QUALITY))
    return br.read_bytes(), gz.read_bytes()


def _write(folder: Path, name: str, data: bytes, cache: Path) -> int:
    """Write a file and its precompressed forms; returns the bytes a browser downloads."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if not name.endswith(COMPRESSIBLE) or len(data) < 1024:
        return len(data)
    br, gz = _compressed(data, cache)
    Path(f"{path}.br").write_bytes(br)
    Path(f"{path}.gz").write_bytes(gz)
    return len(br)


def build(
    cache: Path | None = None, *, force: bool = False, say: Callable[[str], None] = print
) -> Site:
    """Build the site (or reuse the one built from the same inputs) under `cache`/app/."""
    cache = cache or default_cache_dir()
    target = cache / "app" / inputs_hash()
    if (target / "site.json").exists() and not force:
        return Site(target, json.loads((target / "site.json").read_text())["version"])
    wheels = download_wheels(cache, say)
    say("building the app…")
    files = _site_files(wheels, say)
    version = _version(files)
    values = {"__VERSION__": version, "__BASE__": BASE}
    for name in ("relais.js", "index.html"):
        files[name] = _fill(files[name], values)
    precache = ["", *sorted(n for n in files if n not in ("index.html", "sw.js"))]
    files["sw.js"] = _fill(files["sw.js"], {**values, "__PRECACHE__": json.dumps(precache)})
    scratch = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    compressed = cache / "compressed"
    sizes = {
        name: (len(data), _write(scratch, name, data, compressed)) for name, data in files.items()
    }
    (scratch / "site.json").write_text(
        json.dumps(
            {
                "version": version,
                "files": {name: size for name, (size, _) in sizes.items()},
                "compressed": {name: size for name, (_, size) in sizes.items()},
                "wheels": [w.name for w in wheels],
            },
            indent=1,
        )
    )
    used = {hashlib.sha256(data).hexdigest() for data in files.values()}
    week_ago = time.time() - 7 * 86400
    for stale in compressed.glob("*"):  # forms of files no site has used for a week
        if stale.stem in used:
            os.utime(stale)
        elif stale.stat().st_mtime < week_ago:
            stale.unlink(missing_ok=True)
    if (target / "site.json").exists():  # another process built the same inputs meanwhile
        shutil.rmtree(scratch)
    else:
        shutil.rmtree(target, ignore_errors=True)
        scratch.rename(target)
    builds = sorted(
        (p for p in target.parent.iterdir() if p.is_dir() and ".partial" not in p.name),
        key=lambda p: p.stat().st_mtime,
    )
    for old in builds[:-KEEP_BUILDS]:  # other checkouts may still serve a recent one
        shutil.rmtree(old, ignore_errors=True)
    total = sum(size for size, _ in sizes.values())
    wire = sum(size for _, size in sizes.values())
    say(f"app {version} built: {total / 1e6:.1f} MB, {wire / 1e6:.1f} MB compressed")
    return Site(target, version)


def site_for(
    settings: Settings, *, say: Callable[[str], None], warn: Callable[[str], None]
) -> Site | None:
    """The site `relais serve` serves (built if the project changed), or None when it is
    switched off or cannot be built: the API still serves phones that have the app."""
    if not settings.serve_app:
        return None
    try:
        return build(settings.app_cache_dir, say=say)
    except BuildFailed as exc:
        warn(f"the field app is not served: {exc}")
        return None
