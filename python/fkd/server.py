"""One ``fkd serve`` process: starting it, the JSON-lines control channel, and the mapped ring."""

import json
import mmap
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from .errors import FkdError

PROTOCOL = 1
# How long a server that was asked to close, or whose output ended, gets to exit before it is killed.
EXIT_GRACE_S = 2.0


def find_fkd():
    """The node executable and fkd's CLI script: $FKD_NODE / $FKD_CLI, else node on PATH and this checkout's bin/fkd.js (or fkd on PATH)."""
    node = os.environ.get("FKD_NODE") or shutil.which("node")
    cli = os.environ.get("FKD_CLI")
    if not cli:
        checkout = Path(__file__).resolve().parents[2] / "bin" / "fkd.js"
        cli = str(checkout) if checkout.is_file() else shutil.which("fkd")
    missing = []
    if not node or not os.path.isfile(node):
        missing.append(f"node (found {node!r}; put Node >= 20 on PATH or set FKD_NODE to its path)")
    if not cli or not os.path.isfile(cli):
        missing.append(f"the fkd CLI (found {cli!r}; set FKD_CLI to bin/fkd.js of a built fkd checkout, or install fkd with npm so `fkd` is on PATH)")
    elif Path(cli).name == "fkd.js" and not (Path(cli).resolve().parents[1] / "dist" / "cli" / "main.js").is_file():
        missing.append(f"fkd's build next to {cli} (run `npm run build` in that checkout)")
    if missing:
        raise FkdError("E_NOT_FOUND", "Cannot start fkd serve: missing " + "; ".join(missing) + ".")
    return node, cli


class Server:
    """A running ``fkd serve`` for one loader: ``open`` sent, ``ready`` received, ring mapped."""

    def __init__(self, options, slots, shm_dir=None):
        node, cli = find_fkd()
        command = [node, cli, "serve"] + (["--shm-dir", shm_dir] if shm_dir else [])
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.path = None
        self.map = None
        try:
            self.send({"type": "open", "version": PROTOCOL, "options": options, "slots": slots})
            ready = self.receive()
            if ready.get("type") == "error":
                raise FkdError(ready.get("code", "E_PROTOCOL"), ready.get("message", ""))
            if ready.get("type") != "ready" or ready.get("version") != PROTOCOL:
                raise FkdError("E_PROTOCOL", f"Expected a version {PROTOCOL} ready message but received {ready!r}")
            self.ready = ready
            self.path = ready["path"]
            with open(self.path, "r+b") as file:
                self.map = mmap.mmap(file.fileno(), ready["slots"] * ready["slotBytes"], access=mmap.ACCESS_WRITE)
            self.sections = {section["name"]: section for section in ready["sections"]}
        except BaseException:
            self.close()
            raise

    def send(self, message):
        try:
            self.process.stdin.write((json.dumps(message) + "\n").encode())
        except (BrokenPipeError, OSError, ValueError):
            self._exited()

    def receive(self):
        """The next message; raises when the server has exited (its output ended), never waits on a dead one."""
        line = self.process.stdout.readline()
        if not line:
            self._exited()
        try:
            return json.loads(line)
        except ValueError:
            raise FkdError("E_PROTOCOL", f"fkd serve sent a line that is not JSON: {line[:200]!r}") from None

    def _exited(self):
        try:
            code = self.process.wait(timeout=EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._remove_ring()
        raise FkdError("E_SERVER_EXITED", f"fkd serve exited (status {code}) before the loader was done; its error, if any, is on stderr above")

    def view(self, slot, name, count):
        """``count`` samples' values of section ``name`` in ``slot``: a flat numpy view of the ring, no copy."""
        section = self.sections[name]
        offset = slot * self.ready["slotBytes"] + section["offset"]
        return np.frombuffer(self.map, dtype=section["type"], count=count * section["perSample"], offset=offset)

    def release(self, slot):
        self.send({"type": "release", "slot": slot})

    def _remove_ring(self):
        # A server killed by SIGKILL cannot remove its ring file; its client does.
        if self.path:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def close(self):
        """Asks the server to exit, kills it if it has not within the grace, and lets go of the ring."""
        if self.process.poll() is None:
            try:
                self.process.stdin.write(b'{"type":"close"}\n')
                self.process.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                pass
            try:
                self.process.wait(timeout=EXIT_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        self._remove_ring()
        if self.map is not None:
            try:
                self.map.close()
            except BufferError:
                # Views of it are still alive (a batch kept past close); the map goes with the last of them.
                pass
            self.map = None
