"""The PostgreSQL host: an instance of its own (initdb into the run's temporary directory), never the machine's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from taskplatform.dev.embedded import port_open
from taskplatform.dev.processes import Supervisor, wait_until
from tests.hosts.network import SUBNET, Network


def postgres_bin() -> Path | None:
    """Debian's newest server binaries (/usr/lib/postgresql/<version>/bin), else whatever is on PATH."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def postgres_missing() -> str | None:
    if postgres_bin() is None:
        return "PostgreSQL's server binaries (initdb, postgres) are not installed"
    if shutil.which("runuser") is None or shutil.which("setpriv") is None:
        return "runuser/setpriv (util-linux) are missing"
    try:
        import pwd
        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no postgres user to run the server as (PostgreSQL refuses root)"
    return None


def start_postgres(network: Network, supervisor: Supervisor, *, host: str, data: Path) -> str:
    """initdb as the postgres user, then the server in `host`'s namespace on its address; return the database
    URL of a `taskplatform` database. Trust authentication: only the hosts on the private bridge reach it."""
    binaries = postgres_bin()
    assert binaries is not None
    address = network.hosts[host]
    data.mkdir(parents=True)
    shutil.chown(data, "postgres", "postgres")
    data.chmod(0o700)
    subprocess.run(["runuser", "-u", "postgres", "--", str(binaries / "initdb"), "-D", str(data), "-A", "trust",
                    "-U", "postgres", "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write(f"host all all {SUBNET} trust\n")
    # setpriv execs postgres itself (runuser would stay as its parent), so the supervisor's signals reach it.
    argv = network.run_in(host, ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
                                 str(binaries / "postgres"), "-D", str(data), "-c", f"listen_addresses={address}",
                                 "-c", f"unix_socket_directories={data}", "-c", "max_connections=200",
                                 "-c", "shared_buffers=128MB",
                                 # A client cut off mid-transaction (a worker host's link down) holds its row
                                 # locks until its backend notices: in ~11 s with these, not the kernel's 2 h.
                                 # README, "From one machine to a cluster".
                                 "-c", "tcp_keepalives_idle=5", "-c", "tcp_keepalives_interval=2",
                                 "-c", "tcp_keepalives_count=3", "-c", "tcp_user_timeout=10000"])
    supervisor.start("postgres", argv, cwd=data, stop_timeout=20)
    wait_until(lambda: port_open(5432, address), timeout=60, interval=0.3, what=f"PostgreSQL on {address}:5432")
    subprocess.run(network.run_in(host, ["runuser", "-u", "postgres", "--", str(binaries / "psql"), "-h", address,
                                         "-d", "postgres", "-c", "CREATE DATABASE taskplatform"]),
                   check=True, capture_output=True)
    return f"postgresql+psycopg://postgres@{address}:5432/taskplatform"
