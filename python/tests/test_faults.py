"""Faults cross over cleanly: coded errors, and either side dying never hangs or leaks the ring."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import fkd
from conftest import IMAGES, PYTHON, STORE


def test_a_bad_option_is_refused_with_the_loaders_code_and_rule():
    with pytest.raises(fkd.FkdError) as refused:
        fkd.Loader(IMAGES, STORE, batch_size=4, dtype="float16")
    assert refused.value.code == "E_USAGE"
    assert "dtype" in refused.value.message


def test_an_epoch_error_arrives_with_its_code_and_the_server_goes_on():
    with fkd.Loader(IMAGES, STORE, batch_size=4, size=12, start_batch=10_000) as loader:
        with pytest.raises(fkd.FkdError) as refused:
            list(loader)
        assert refused.value.code == "E_USAGE"
        assert "startBatch in 0..18" in refused.value.message
        assert len(list(loader)) == len(loader) == 18


def test_the_wrong_dataset_is_E_DATASET_MISMATCH(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes(open(os.path.join(IMAGES, "class-a-red", "img-0.jpg"), "rb").read())
    with fkd.Loader(str(tmp_path), STORE, batch_size=4, size=12) as loader:
        with pytest.raises(fkd.FkdError) as refused:
            next(iter(loader))
    assert refused.value.code == "E_DATASET_MISMATCH"


def test_missing_node_names_both_overrides(monkeypatch):
    monkeypatch.setenv("FKD_NODE", "/nonexistent/node")
    with pytest.raises(fkd.FkdError) as refused:
        fkd.Loader(IMAGES, STORE, batch_size=4)
    assert refused.value.code == "E_NOT_FOUND"
    assert "FKD_NODE" in refused.value.message


CLIENT = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {python!r})
    import fkd
    loader = fkd.Loader({images!r}, {store!r}, batch_size=4, size=12, workers=1)
    it = iter(loader)
    next(it)
    print(loader._server.process.pid, loader._server.path, flush=True)
    time.sleep(60)
    """
)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its killed parent) counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_sigkill_of_the_client_stops_the_server_within_2s_and_removes_the_ring():
    client = subprocess.Popen([sys.executable, "-c", CLIENT.format(python=str(PYTHON), images=IMAGES, store=STORE)], stdout=subprocess.PIPE, text=True)
    pid, path = client.stdout.readline().split()
    pid = int(pid)
    assert alive(pid) and os.path.exists(path)
    client.kill()
    client.wait()
    killed = time.monotonic()
    while (alive(pid) or os.path.exists(path)) and time.monotonic() - killed < 5:
        time.sleep(0.05)
    took = time.monotonic() - killed
    assert not alive(pid), "server still running 5 s after its client was killed"
    assert not os.path.exists(path), "the ring file outlived the server"
    assert took < 2, f"the server took {took:.2f} s to exit"


def test_sigkill_of_the_server_raises_within_2s_and_removes_the_ring():
    loader = fkd.Loader(IMAGES, STORE, batch_size=2, size=12, slots=3, workers=1)
    it = iter(loader)
    next(it)
    path = loader._server.path
    loader._server.process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    with pytest.raises(fkd.FkdError) as died:
        for _ in it:
            pass
    assert died.value.code == "E_SERVER_EXITED"
    assert time.monotonic() - killed < 2
    assert not os.path.exists(path)
    loader.close()


def test_a_slow_client_holds_the_server_back():
    # With 3 slots and nothing released, the server can fill 3 slots and must then wait.
    with fkd.Loader(IMAGES, STORE, batch_size=2, size=12, slots=3, workers=1) as loader:
        server = loader._server
        server.send({"type": "epoch", "epoch": 0, "startBatch": 0})
        got = [server.receive() for _ in range(3)]
        assert [m["type"] for m in got] == ["batch"] * 3
        import select
        readable, _, _ = select.select([server.process.stdout], [], [], 1.5)
        assert readable == [], "the server filled a slot the client still holds"
        server.release(got[0]["slot"])
        assert server.receive()["type"] == "batch"
        server.send({"type": "stop"})
        while server.receive()["type"] != "stopped":
            pass


def test_ctrl_c_stops_the_client_and_its_server():
    # A terminal's Ctrl-C sends SIGINT to the whole foreground process group: client and server.
    client = subprocess.Popen([sys.executable, "-c", CLIENT.format(python=str(PYTHON), images=IMAGES, store=STORE)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    pid, path = client.stdout.readline().split()
    pid = int(pid)
    os.killpg(client.pid, signal.SIGINT)
    assert client.wait(timeout=5) != 0
    assert "KeyboardInterrupt" in client.stderr.read()
    stopped = time.monotonic()
    while (alive(pid) or os.path.exists(path)) and time.monotonic() - stopped < 5:
        time.sleep(0.05)
    assert not alive(pid)
    assert not os.path.exists(path)
