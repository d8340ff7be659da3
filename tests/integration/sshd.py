"""A real OpenSSH server on 127.0.0.1 as a remediation target for tests.

    srv = Sshd(tmp_path / "sshd", ports=2).start()
    srv.client_key          # private key the action handler authenticates with
    srv.known_hosts_file    # "[127.0.0.1]:PORT ssh-ed25519 ..." for every port
    srv.target(0)           # "127.0.0.1:PORT"
    srv.stop()              # by pid

The server gets its own ed25519 host key, an authorized key, its own sshd_config and pid file, and runs in the
foreground (`sshd -D -e -f CONFIG`) as a child of the test, stopped by pid. Several ports on one server give
several distinct targets cheaply.

Who logs in: when the suite runs as root, sshd runs as root and accepts only a dedicated unprivileged user,
`reflex-target` (created once with useradd: system account, /bin/sh, home /var/lib/reflex-target, password field
"*" so that sshd without PAM does not treat it as locked). An unprivileged login is what production should use,
and it matters for tests: OpenSSH refuses "signal" channel requests for root sessions, so a timed-out command
could not be stopped; and root's shell rc files would run on every command. When the suite runs as another user,
sshd runs as that user and accepts only that user. `srv.scratch` is a directory the login user can write, for
tests to observe a command's effects on disk.
"""
import getpass
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"


TARGET_USER = "reflex-target"
TARGET_HOME = "/var/lib/reflex-target"


def login_user():
    """The user the test sshd accepts (see the module docstring); created when missing."""
    if os.geteuid() != 0:
        return getpass.getuser()
    try:
        pwd.getpwnam(TARGET_USER)
    except KeyError:
        r = subprocess.run(["useradd", "--system", "--create-home", "--home-dir", TARGET_HOME, "--shell", "/bin/sh",
                            TARGET_USER], capture_output=True, text=True)
        try:
            pwd.getpwnam(TARGET_USER)  # another test may have created it meanwhile
        except KeyError:
            raise RuntimeError(f"cannot create user {TARGET_USER}: {r.stderr}")
    with open("/etc/shadow") as f:
        locked = any(l.startswith(TARGET_USER + ":!") for l in f)
    if locked:
        subprocess.run(["usermod", "-p", "*", TARGET_USER], check=True, capture_output=True)
    return TARGET_USER


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path, comment="reflex-test"):
    """Creates an unencrypted ed25519 key pair at path (and path.pub) unless it exists; returns the public key line."""
    path = Path(path)
    if not path.exists():
        subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return (path.parent / (path.name + ".pub")).read_text().strip()


def banner(port, timeout=0.5):
    """The SSH identification line the server on port sends, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            return s.recv(64)
    except OSError:
        return None


class Sshd:
    MAX_PORTS = 16  # sshd's MAX_LISTEN_SOCKS

    def __init__(self, workdir, ports=1, client_key=None, max_startups=100):
        if ports > self.MAX_PORTS:
            raise ValueError(f"one sshd listens on at most {self.MAX_PORTS} ports; start several")
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.ports = [free_port() for _ in range(ports)]
        self.user = login_user()
        self.scratch = None
        self.shared = None  # root-owned, world-readable: sshd reads authorized_keys as the login user
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.client_key = Path(client_key) if client_key else self.dir / "id_ed25519"
        self.known_hosts_file = self.dir / "known_hosts"
        self.config = self.dir / "sshd_config"
        self.pid_file = self.dir / "sshd.pid"
        self.log = self.dir / "sshd.log"
        self.max_startups = max_startups
        self.proc = None

    @property
    def port(self):
        return self.ports[0]

    def target(self, i=0):
        return f"127.0.0.1:{self.ports[i]}"

    def host_public_key(self):
        return (self.dir / "ssh_host_ed25519_key.pub").read_text().split()[:2]

    def known_hosts_lines(self):
        kind, blob = self.host_public_key()
        return [f"[127.0.0.1]:{p} {kind} {blob}" for p in self.ports]

    def _write_config(self):
        lines = [f"ListenAddress 127.0.0.1:{p}" for p in self.ports] + [
            f"HostKey {self.host_key}",
            f"PidFile {self.pid_file}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            f"AllowUsers {self.user}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PrintMotd no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "PermitTunnel no",
            "UseDNS no",
            "LogLevel INFO",
            f"MaxStartups {self.max_startups}",
            "MaxSessions 64",
            "LoginGraceTime 30",
        ]
        self.config.write_text("\n".join(lines) + "\n")

    def _make_dirs(self):
        if self.scratch is None or not self.scratch.exists():
            self.scratch = Path(tempfile.mkdtemp(prefix="reflex-sshd-scratch-"))
            os.chmod(self.scratch, 0o755)
            if os.geteuid() == 0:
                pw = pwd.getpwnam(self.user)
                os.chown(self.scratch, pw.pw_uid, pw.pw_gid)
        if self.shared is None or not self.shared.exists():
            self.shared = Path(tempfile.mkdtemp(prefix="reflex-sshd-keys-"))
            os.chmod(self.shared, 0o755)
        self.authorized_keys = self.shared / "authorized_keys"

    def start(self, timeout=10.0):
        self._make_dirs()
        keygen(self.host_key, "reflex-test-host")
        pub = keygen(self.client_key)
        self.authorized_keys.write_text(pub + "\n")
        os.chmod(self.authorized_keys, 0o644)
        self.known_hosts_file.write_text("\n".join(self.known_hosts_lines()) + "\n")
        self._write_config()
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        pending = set(self.ports)
        while pending and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            pending = {p for p in pending if not (banner(p) or b"").startswith(b"SSH-2.0")}
            if pending:
                time.sleep(0.05)
        if pending:
            self.stop()
            raise RuntimeError(f"sshd did not answer on {sorted(pending)}: {self.log.read_text()[-2000:]}")
        return self

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # The listener's own process group: it and the connection handlers it forked, nothing else.
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        self._log.close()
        for d in (self.scratch, self.shared):
            if d:
                shutil.rmtree(d, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class SilentServer:
    """A TCP listener on 127.0.0.1 that accepts connections and never speaks: an SSH target whose handshake hangs,
    as an unreachable host does, for connect-timeout tests."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()
