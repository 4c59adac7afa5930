"""Set up and find the shipped agents: pyre, zyre.js and zyre (C) (spec/conformance.md#agents).

    zre-conformance setup pyre       # a private venv with pyzmq + zeromq-pyre
    zre-conformance setup zyre.js    # npm zyre.js 1.3.0, its addon built against the system libzmq
    zre-conformance setup zyre       # the zyre C agent, built against the prebuilt libzyre 2.0.1

Everything goes into a per-user cache, ``$ZRE_CONFORMANCE_CACHE`` or
``${XDG_CACHE_HOME:-~/.cache}/zre-conformance/<agent>``. `zre-conformance run --agent NAME` finds
it there (or, for pyre, in the running interpreter; for zyre.js, where the agent itself looks).
A missing prerequisite is one :class:`Missing` line: what is missing and the command that fixes it.

This file is also a script (stdlib only, no package imports), so that tests/interop/setup-*.sh
run the same code before the package is installed::

    python3 conformance/agent_setup.py zyre.js --dest .interop-js
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Where the agents and expectations files live (this file's folder: the zre_conformance package)
HERE = Path(__file__).resolve().parent

#: Canonical names, and the other spellings `--agent` accepts
AGENTS = ("pyre", "zyre.js", "zyre")
ALIASES = {"pyre": "pyre", "zyre.js": "zyre.js", "zyre-js": "zyre.js", "zyre": "zyre",
           "zyre-c": "zyre"}

#: pyre's packages (the versions the expectations file was written against)
PYRE_PACKAGES = ("pyzmq>=22", "zeromq-pyre==0.3.4")
#: zyre.js version the agent and its expectations file are written for
ZYRE_JS_PACKAGE = "zyre.js@1.3.0"
#: The prebuilt libzyre.so (zyre 2.0.1, x86-64 Linux) inside this PyPI wheel, pinned by sha256
ZYRE_WHEEL = "pyzyre-0.0a28-py27-none-any.whl"
ZYRE_WHEEL_REQ = "pyzyre==0.0a28"
ZYRE_WHEEL_SHA256 = "f4f88eeb6a0a3c9d70507cfa518bba9be2c56136d8e72d84232296dfec20d439"
#: The libczmq function the zyre agent interposes (its key-pair shim, spec/zre.md#curve-mode-zyre)
KEY_SHIM_SYMBOL = "zcert_new_from"
#: Written into a pyre venv once pyzmq and pyre import there (a half-made venv is not used)
READY = "ready"
#: Seconds a smoke test of a built agent may take
SMOKE_TIMEOUT = 10.0


class Missing(Exception):
    """A prerequisite is missing: ``what`` is missing, ``fix`` is the command that fixes it."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}; fix: {fix}")
        self.what = what
        self.fix = fix


@dataclass(frozen=True)
class ShippedAgent:
    """How to start a shipped agent that is set up: argv, label, expectations, netns need."""

    name: str
    argv: list[str]
    label: str
    expectations: str
    #: the agent picks its own beacon interface, so it runs in lo-only namespaces (--netns)
    needs_netns: bool
    #: where it was found (shown to the user)
    where: str


def canonical(name: str) -> str | None:
    """The canonical name of a shipped agent, or None."""
    return ALIASES.get(name)


def cache_root() -> Path:
    """``$ZRE_CONFORMANCE_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/zre-conformance``."""
    own = os.environ.get("ZRE_CONFORMANCE_CACHE")
    if own:
        return Path(own)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "zre-conformance"


def cache_dir(name: str) -> Path:
    return cache_root() / name


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _run(cmd: Sequence[str], *, what: str, fix: str, env: dict[str, str] | None = None,
         timeout: float = 900.0) -> None:
    """Run a setup step; a failure becomes :class:`Missing` with the step's last output line."""
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, env=env, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Missing(f"{what} failed ({exc})", fix) from None
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or [""]
        raise Missing(f"{what} failed (exit {proc.returncode}: {tail[0][:200]})", fix)


def _apt_install(packages: Sequence[str], why: str) -> None:
    """Install Debian packages when root; otherwise say which command would."""
    fix = "sudo apt-get install -y " + " ".join(packages)
    if not _is_root() or shutil.which("apt-get") is None:
        raise Missing(f"{why} needs {' '.join(packages)}", fix)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    try:
        _run(cmd, what="apt-get install", fix=fix, env=env)
    except Missing:  # stale package lists: update once, then try again
        _run(["apt-get", "update", "-q"], what="apt-get update", fix=fix, env=env)
        _run(cmd, what="apt-get install", fix=fix, env=env)


def _start_afresh_unless(ok: bool, what: str, dest: Path, name: str) -> None:
    """A finished setup that does not work: the fix is to remove it and set up again."""
    if not ok:
        raise Missing(what, f"rm -rf {dest} && zre-conformance setup {name}")


def _pkg_config(name: str) -> bool:
    return shutil.which("pkg-config") is not None and subprocess.run(
        ["pkg-config", "--exists", name], capture_output=True).returncode == 0


# -- pyre -------------------------------------------------------------------------------------
def _has_modules(*names: str) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(n) is not None for n in names)


def venv_python(dest: Path) -> Path:
    """The python of the venv that :func:`setup_pyre` makes under ``dest``."""
    return dest / "venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def setup_pyre(dest: Path) -> Path:
    """A private venv with pyzmq + zeromq-pyre; returns its python."""
    py = venv_python(dest)
    if not py.exists():
        try:
            venv.EnvBuilder(with_pip=True, clear=True).create(dest / "venv")
        except (OSError, subprocess.CalledProcessError) as exc:
            raise Missing(f"cannot create a venv with pip ({exc})",
                          "sudo apt-get install -y python3-venv") from None
    _run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          *PYRE_PACKAGES], what="pip install pyzmq zeromq-pyre",
         fix=f"check network access to PyPI, then: zre-conformance setup pyre (venv: {dest})")
    _run([str(py), "-c", "import zmq, pyre"], what="importing pyre in the venv",
         fix=f"rm -rf {dest} && zre-conformance setup pyre")
    (dest / READY).write_text("pyzmq and zeromq-pyre import\n")
    return py


def find_pyre() -> ShippedAgent:
    expectations = str(HERE / "expectations" / "pyre.txt")
    py = venv_python(cache_dir("pyre"))
    if py.exists() and (cache_dir("pyre") / READY).exists():  # a setup that went all the way
        return ShippedAgent("pyre", [str(py), str(HERE / "agents" / "pyre_agent.py")], "pyre",
                            expectations, True, str(py.parent.parent))
    if _has_modules("zmq", "pyre"):
        return ShippedAgent("pyre", [sys.executable, "-m", "zre_conformance.agents.pyre_agent"],
                            "pyre", expectations, True, sys.executable)
    raise Missing("the pyre agent needs pyzmq and zeromq-pyre (not in this Python, no cached venv)",
                  "zre-conformance setup pyre")


# -- zyre.js ----------------------------------------------------------------------------------
def _node_env() -> dict[str, str]:
    env = dict(os.environ)
    # behind a TLS-inspecting proxy Node needs the system CA bundle (npm's cafile is not enough)
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    if not env.get("NODE_EXTRA_CA_CERTS") and os.path.exists(bundle):
        env["NODE_EXTRA_CA_CERTS"] = bundle
    return env


def _zyre_js_loads(module_dir: Path) -> bool:
    if shutil.which("node") is None or not (module_dir / "package.json").exists():
        return False
    return subprocess.run(["node", "-e", f"require({str(module_dir)!r})"], capture_output=True,
                          env=_node_env(), timeout=60).returncode == 0


def setup_zyre_js(dest: Path) -> Path:
    """npm zyre.js into ``dest``; zeromq.js's addon is built against the system libzmq.

    zeromq.js 5.3.1 (under zyre.js 1.3.0) has no prebuilt addon for Node >= 20 and its fallback
    downloads libzmq from GitHub; ``npm_config_zmq_external=true`` makes it link libzmq3-dev's.
    """
    module = dest / "node_modules" / "zyre.js"
    if _zyre_js_loads(module):
        return module
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise Missing(f"{tool} is not installed", "sudo apt-get install -y nodejs npm")
    if not _pkg_config("libzmq") and not os.path.exists("/usr/include/zmq.h"):
        _apt_install(["libzmq3-dev"], "building zyre.js's addon")
    if shutil.which("make") is None or shutil.which("c++") is None:
        _apt_install(["make", "g++"], "building zyre.js's addon")
    dest.mkdir(parents=True, exist_ok=True)
    if not (dest / "package.json").exists():
        (dest / "package.json").write_text('{"name":"zre-conformance-zyre-js","private":true}\n')
    env = {**_node_env(), "npm_config_zmq_external": "true"}
    _run(["npm", "install", "--prefix", str(dest), "--no-audit", "--no-fund", "--loglevel=error",
          "--fetch-retries=2", "--fetch-timeout=60000", ZYRE_JS_PACKAGE],
         what=f"npm install {ZYRE_JS_PACKAGE}", env=env,
         fix="check network access to the npm registry, then: zre-conformance setup zyre.js")
    _start_afresh_unless(_zyre_js_loads(module), f"zyre.js installed in {dest} but does not load",
                         dest, "zyre.js")
    return module


def find_zyre_js() -> ShippedAgent:
    if shutil.which("node") is None:
        raise Missing("the zyre.js agent needs Node.js (node is not on PATH)",
                      "sudo apt-get install -y nodejs npm && zre-conformance setup zyre.js")
    agent = str(HERE / "agents" / "zyre_js_agent.js")
    expectations = str(HERE / "expectations" / "zyre-js.txt")
    cached = cache_dir("zyre.js") / "node_modules" / "zyre.js"
    # where the agent looks by itself: $ZYRE_JS_PATH, ./node_modules, ./.interop-js/node_modules
    own = [Path(p) for p in (os.environ.get("ZYRE_JS_PATH", ""),) if p] + [
        Path.cwd() / "node_modules" / "zyre.js", Path.cwd() / ".interop-js" / "node_modules" / "zyre.js"]
    for found in own:
        if (found / "package.json").exists():
            return ShippedAgent("zyre.js", ["node", agent], "zyre.js", expectations, False,
                                str(found))
    if (cached / "package.json").exists():
        return ShippedAgent("zyre.js", ["env", f"ZYRE_JS_PATH={cached}", "node", agent],
                            "zyre.js", expectations, False, str(cached))
    raise Missing("the zyre.js agent needs npm zyre.js (not in ./node_modules, $ZYRE_JS_PATH or "
                  "the cache)", "zre-conformance setup zyre.js")


# -- zyre (C) ---------------------------------------------------------------------------------
def _zyre_agent_answers(exe: Path) -> bool:
    try:
        proc = subprocess.run([str(exe)], input='{"id":1,"cmd":"hello"}\n', capture_output=True,
                              text=True, timeout=SMOKE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return '"ok":true' in proc.stdout.replace(" ", "")


def setup_zyre(dest: Path) -> Path:
    """Build conformance/agents/zyre_agent.c against the prebuilt libzyre.so; returns the agent.

    Debian has no libzyre package: the library under test is the libzyre.so (zyre 2.0.x, x86-64
    Linux, no headers) inside the PyPI wheel pyzyre 0.0a28, pinned by sha256, run against the
    distribution's libczmq and libzmq (the wheel's own are Python-2 extension builds, unused).
    """
    source = HERE / "agents" / "zyre_agent.c"
    exe = dest / "zyre_agent"
    if exe.exists() and exe.stat().st_mtime >= source.stat().st_mtime and _zyre_agent_answers(exe):
        return exe
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        raise Missing("the prebuilt libzyre.so is x86-64 Linux only",
                      "build zyre yourself and pass --agent ./zyre_agent (conformance/agents/README.md)")
    need = [pkg for lib, pkg in (("libczmq", "libczmq-dev"), ("libzmq", "libzmq3-dev"),
                                 ("jansson", "libjansson-dev")) if not _pkg_config(lib)]
    if shutil.which("pkg-config") is None:
        need.append("pkg-config")
    if shutil.which("cc") is None:
        need += ["gcc", "libc6-dev"]
    if need:
        _apt_install(need, "building the zyre agent")
    wheel = dest / "dl" / ZYRE_WHEEL
    if not wheel.exists():
        # the wheel is tagged py27: --python-version lets pip fetch it without installing it
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary",
              ":all:", "--python-version", "2.7", ZYRE_WHEEL_REQ, "-d", str(dest / "dl")],
             what=f"pip download {ZYRE_WHEEL_REQ}",
             fix="check network access to PyPI, then: zre-conformance setup zyre")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != ZYRE_WHEEL_SHA256:
        wheel.unlink()
        raise Missing(f"{ZYRE_WHEEL} has sha256 {digest}, expected {ZYRE_WHEEL_SHA256}",
                      "zre-conformance setup zyre (downloads it again)")
    (dest / "lib").mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        (dest / "lib" / "libzyre.so").write_bytes(zf.read("zyre/libzyre.so"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libczmq", "libzmq", "jansson"],
                           capture_output=True, text=True).stdout.split()
    # libzyre.so leaves Py_InitModule4_64 (its unused Python-2 module init) undefined: allow that
    # at link time; nothing calls it, and lazy binding never resolves it. The agent's
    # zcert_new_from (the key-pair shim for this NDEBUG build, spec/zre.md#curve-mode-zyre) is
    # exported so that libzyre's PLT call binds to it ahead of libczmq's.
    _run(["cc", "-std=gnu11", "-O2", "-Wall", "-o", str(exe), str(source), f"-L{dest / 'lib'}",
          "-lzyre", *flags, "-ldl", f"-Wl,-rpath,{dest / 'lib'}", "-Wl,--allow-shlib-undefined",
          "-Wl,-z,lazy", f"-Wl,--export-dynamic-symbol={KEY_SHIM_SYMBOL}"],
         what="compiling zyre_agent.c",
         fix="install libczmq-dev libzmq3-dev libjansson-dev pkg-config gcc")
    _start_afresh_unless(_zyre_agent_answers(exe), f"the built agent {exe} does not answer hello",
                         dest, "zyre")
    return exe


def find_zyre() -> ShippedAgent:
    expectations = str(HERE / "expectations" / "zyre-c.txt")
    for exe in (cache_dir("zyre") / "zyre_agent", Path.cwd() / ".interop-zyre" / "zyre_agent"):
        if os.access(exe, os.X_OK):
            return ShippedAgent("zyre", [str(exe)], "zyre", expectations, True, str(exe))
    raise Missing("the zyre (C) agent is not built", "zre-conformance setup zyre")


# -- entry points -----------------------------------------------------------------------------
SETUPS = {"pyre": setup_pyre, "zyre.js": setup_zyre_js, "zyre": setup_zyre}
FINDERS = {"pyre": find_pyre, "zyre.js": find_zyre_js, "zyre": find_zyre}


def find(name: str) -> ShippedAgent:
    """The shipped agent ``name`` as set up on this machine; raises :class:`Missing`."""
    key = canonical(name)
    if key is None:
        raise Missing(f"no shipped agent named {name!r}", f"one of: {', '.join(AGENTS)}")
    return FINDERS[key]()


def setup(name: str, dest: Path | None = None) -> Path:
    """Install or build what agent ``name`` needs into ``dest`` (default: the cache)."""
    key = canonical(name)
    if key is None:
        raise Missing(f"no shipped agent named {name!r}", f"one of: {', '.join(AGENTS)}")
    return SETUPS[key]((dest or cache_dir(key)).resolve())


def add_setup_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `zre-conformance setup` (called from conformance/cli.py)."""
    p = sub.add_parser("setup", help="install or build a shipped agent into the per-user cache")
    p.add_argument("agent", choices=sorted(ALIASES), help="pyre, zyre.js or zyre")
    p.add_argument("--dest", type=Path, help="folder to set up in (default: the per-user cache)")
    p.set_defaults(func=cmd_setup)


def cmd_setup(args: argparse.Namespace) -> int:
    try:
        where = setup(args.agent, args.dest)
    except Missing as exc:
        print(f"zre-conformance setup: {exc}", file=sys.stderr)
        return 2
    print(f"{canonical(args.agent)}: ready in {where}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agent_setup.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_setup_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["setup", *(argv if argv is not None else sys.argv[1:])])
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
