"""CURVE keys of a cloud: the security dir, making keys, and admitting only authorized ones (ZAP).

A security dir (``--security-dir DIR``) holds::

    DIR/cloud.key                  the cloud's public key: clients check that the node they reach holds its pair
    DIR/private/NAME.key_secret    key pairs (mode 0600); nodes serve with "cloud", and connect with --identity
    DIR/authorized/NAME.key        public keys admitted by the nodes; delete one to revoke it (new connections)
    DIR/token                      the bearer token for the REST API (mode 0600), printed by ``tools.admin token``

``make_security_dir(DIR)`` (``python -m tools.admin keygen DIR``) makes all of it with one identity,
``cloud``, already authorized: every node and client given the same DIR can talk. ``add_identity(DIR, NAME)``
(``keygen DIR --name NAME``) adds a key pair for one user or machine; hand its holder ``cloud.key`` and
``private/NAME.key_secret``, not the cloud's own secret. Files are ZeroMQ certificates (readable with
``zmq.auth.load_certificate``). See ``docs/security.md`` for what this protects and what it does not.

>>> import tempfile, os
>>> d = make_security_dir(os.path.join(tempfile.mkdtemp(), "sec"))
>>> keys = load_keys(d, server=True)
>>> keys.identity, len(keys.public), oct(os.stat(os.path.join(d, "private", "cloud.key_secret")).st_mode & 0o777)
('cloud', 40, '0o600')
>>> AuthorizedKeys(d).name_of(keys.public)
'cloud'
"""
from __future__ import annotations

import datetime
import logging
import os
import secrets
from dataclasses import dataclass

import zmq
import zmq.auth

log = logging.getLogger("aquifer.security")

CLOUD_IDENTITY = "cloud"
ZAP_DOMAIN = "aquifer"
_PRIVATE, _AUTHORIZED, _SERVER_KEY, _TOKEN = "private", "authorized", "cloud.key", "token"


def _valid_name(name: str) -> str:
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise ValueError(f"an identity name is letters, digits, '-', '_' and '.', not starting with '.': {name!r}")
    return name


def _write_cert(path: str, public: bytes, secret: bytes | None = None) -> None:
    """A ZeroMQ certificate file; a secret one is created 0600 and never overwritten."""
    kind = "Secret" if secret else "Public"
    text = (f"#   ****  Generated on {datetime.datetime.now()} by aquifer  ****\n"
            f"#   ZeroMQ CURVE {kind} Certificate\n\n"
            f"metadata\ncurve\n    public-key = \"{public.decode()}\"\n")
    if secret:
        text += f"    secret-key = \"{secret.decode()}\"\n"
    mode = 0o600 if secret else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def make_security_dir(directory: str) -> str:
    """A new security dir with the cloud's key pair (already authorized) and a REST token; returns its path.
    Refuses a directory that already holds keys (a new key would lock out every holder of the old one)."""
    directory = os.path.abspath(directory)
    if os.path.exists(os.path.join(directory, _SERVER_KEY)):
        raise ValueError(f"{directory} already is a security dir (it has {_SERVER_KEY}); add an identity with "
                         f"--name NAME, or choose a new directory")
    os.makedirs(os.path.join(directory, _PRIVATE), mode=0o700, exist_ok=True)
    os.makedirs(os.path.join(directory, _AUTHORIZED), mode=0o755, exist_ok=True)
    os.chmod(directory, 0o700)
    public, secret = zmq.curve_keypair()
    _write_cert(os.path.join(directory, _PRIVATE, f"{CLOUD_IDENTITY}.key_secret"), public, secret)
    _write_cert(os.path.join(directory, _AUTHORIZED, f"{CLOUD_IDENTITY}.key"), public)
    _write_cert(os.path.join(directory, _SERVER_KEY), public)
    fd = os.open(os.path.join(directory, _TOKEN), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(32) + "\n")
    return directory


def add_identity(directory: str, name: str) -> str:
    """Add key pair ``name`` to a security dir and authorize it; returns the secret file's path."""
    _valid_name(name)
    directory = os.path.abspath(directory)
    if not os.path.exists(os.path.join(directory, _SERVER_KEY)):
        raise ValueError(f"{directory} is not a security dir (no {_SERVER_KEY}); make one with: "
                         f"python -m tools.admin keygen {directory}")
    if not os.path.isdir(os.path.join(directory, _AUTHORIZED)):
        raise ValueError(f"{directory} has no {_AUTHORIZED}/ folder: it is a user's key folder, not the nodes' "
                         f"security dir; add identities in the security dir the nodes start with, then give the user "
                         f"its {_PRIVATE}/{name}.key_secret (docs/security.md)")
    secret_path = os.path.join(directory, _PRIVATE, f"{name}.key_secret")
    public_path = os.path.join(directory, _AUTHORIZED, f"{name}.key")
    if os.path.exists(secret_path) or os.path.exists(public_path):
        raise ValueError(f"identity {name!r} already exists in {directory}")
    os.makedirs(os.path.join(directory, _PRIVATE), mode=0o700, exist_ok=True)
    public, secret = zmq.curve_keypair()
    _write_cert(secret_path, public, secret)
    try:
        _write_cert(public_path, public)
    except BaseException:                # both files or neither: a half-made identity blocks a retry
        os.remove(secret_path)
        raise
    return secret_path


def read_token(directory: str) -> str:
    """The REST API's bearer token of a security dir."""
    try:
        with open(os.path.join(directory, _TOKEN), encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError as exc:
        raise ValueError(f"no token in security dir {directory}: {exc.strerror}") from None


@dataclass(frozen=True)
class Keys:
    """What a socket needs: this process's key pair, the cloud's public key, and where authorized keys live."""
    directory: str
    identity: str
    public: bytes
    secret: bytes
    server_public: bytes          # the cloud's public key: a node serves with its pair, clients check it
    server_secret: bytes | None   # the cloud's secret key (nodes only)


def load_keys(directory: str, identity: str | None = None, *, server: bool) -> Keys:
    """Read the keys a node (``server=True``: it needs the cloud's secret) or a client uses, with errors that
    say which file is missing. ``identity`` defaults to ``cloud``, or to the only key pair the dir holds."""
    directory = os.path.abspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(f"security dir {directory} does not exist (make one with: python -m tools.admin keygen "
                         f"{directory})")
    private = os.path.join(directory, _PRIVATE)
    names = sorted(f[:-len(".key_secret")] for f in (os.listdir(private) if os.path.isdir(private) else [])
                   if f.endswith(".key_secret"))
    if identity is None:
        identity = CLOUD_IDENTITY if CLOUD_IDENTITY in names or len(names) != 1 else names[0]
    if identity not in names:
        raise ValueError(f"security dir {directory} has no key pair {identity!r} in private/ (it has: "
                         f"{', '.join(names) or 'none'}); add one with: python -m tools.admin keygen {directory} "
                         f"--name NAME")
    public, secret = _load(os.path.join(private, f"{identity}.key_secret"))
    server_public, _ = _load(os.path.join(directory, _SERVER_KEY))
    server_secret = None
    if server:
        if CLOUD_IDENTITY not in names:
            raise ValueError(f"a node needs the cloud's key pair {os.path.join(private, CLOUD_IDENTITY)}.key_secret "
                             f"(clients need only cloud.key and a key pair of their own)")
        cloud_public, server_secret = _load(os.path.join(private, f"{CLOUD_IDENTITY}.key_secret"))
        if cloud_public != server_public:
            raise ValueError(f"{_SERVER_KEY} in {directory} is not the public half of private/cloud.key_secret")
    _check_private(os.path.join(private, f"{identity}.key_secret"))
    return Keys(directory, identity, public, secret, server_public, server_secret)


def _load(path: str) -> tuple[bytes, bytes | None]:
    try:
        return zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read key file {path}: {exc}") from None


def _check_private(path: str) -> None:
    mode = os.stat(path).st_mode & 0o777
    if mode & 0o077:
        raise ValueError(f"secret key file {path} is readable by others (mode {oct(mode)}): chmod 600 it")


class AuthorizedKeys:
    """The public keys in ``DIR/authorized``, re-read when the directory changes (a deleted key stops being
    admitted for new connections without a restart). ``callback`` is pyzmq's ZAP credentials hook."""

    def __init__(self, directory: str, on_refused=None):
        self.path = os.path.join(os.path.abspath(directory), _AUTHORIZED)
        self.on_refused = on_refused or (lambda name, why: None)
        self._stamp: tuple | None = None
        self._names: dict[bytes, str] = {}

    def _reload(self) -> None:
        try:
            entries = sorted(os.scandir(self.path), key=lambda e: e.name)
        except OSError:
            entries = []
        stamp = tuple((e.name, e.stat().st_mtime_ns) for e in entries)
        if stamp == self._stamp:
            return
        names: dict[bytes, str] = {}
        for e in entries:
            if e.name.endswith(".key"):
                try:
                    public, _ = zmq.auth.load_certificate(e.path)
                except (OSError, ValueError) as exc:
                    log.error("skipping unreadable authorized key %s: %s", e.path, exc)
                    continue
                names[public] = e.name[:-len(".key")]
        self._names, self._stamp = names, stamp

    def name_of(self, z85_public: bytes) -> str | None:
        """The identity name of an authorized public key, or None."""
        self._reload()
        return self._names.get(z85_public)

    def callback(self, domain: str, key: bytes) -> bool:
        name = self.name_of(key)
        if name is None:
            self.on_refused(key.decode(errors="replace"), "its public key is not in " + self.path)
        return name is not None
