"""`exchange serve` as a subprocess on an ephemeral port: started, read, signalled, waited for
(the crash and poison tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from web.support import ADMIN_TOKEN


class ServerProcess:
    """Starts `python <program> serve ...` and waits until it listens (`url`). `program`
    defaults to `-m exchange`; a test's own script may plant a bug first. `port` 0 is any
    free one; a given port lets a restarted server answer where its clients reconnect."""

    def __init__(self, database_url: str, program: list[str] | None = None,
                 port: int = 0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *(program or ["-m", "exchange"]), "serve", "--port", str(port),
             "--database-url", database_url, "--admin-token", ADMIN_TOKEN],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "EXCHANGE_RATE_LIMIT": "0"},
        )
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if "listening on" in line:
                self.started_line = line
                self.url = line.split("listening on ")[1].split()[0]
                return
            if not line and self.proc.poll() is not None:
                break
        self.stop(signal.SIGKILL)
        raise AssertionError("the server did not start")

    def stop(self, signum: int) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        return self.exit(timeout=30)[0]

    def exit(self, timeout: float) -> tuple[int, str]:
        """Waits for the process to end by itself; its exit code and what it wrote to stderr
        after it started listening. Raises `subprocess.TimeoutExpired` if it does not."""
        code = self.proc.wait(timeout=timeout)
        assert self.proc.stderr is not None
        rest = self.proc.stderr.read()
        self.proc.stderr.close()
        return code, rest
