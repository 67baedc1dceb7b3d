"""Say clearly, before the tests run, whether the services the suite needs are reachable."""

import os
import socket
import sys

SERVICES = {
    "PostgreSQL": (os.environ.get("KNM_TEST_PG_HOST", "127.0.0.1"), 5432,
                   "start it with: pg_ctlcluster --skip-systemctl-redirect "
                   "$(ls /etc/postgresql) main start"),
    "Redis": (os.environ.get("KNM_TEST_REDIS_HOST", "127.0.0.1"), 6379,
              "start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 "
              "--save '' --appendonly no"),
}

missing = []
for name, (host, port, hint) in SERVICES.items():
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        missing.append(f"  - {name} is not reachable at {host}:{port} ({exc}); {hint}")
if missing:
    print("make test needs these services, which are not running:", *missing, sep="\n",
          file=sys.stderr)
    sys.exit(2)
print("services: PostgreSQL and Redis reachable")
