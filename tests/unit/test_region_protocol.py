"""The region protocol on real FIFOs, without perf: the Python helper
(workloads/lseprof_region.py) and lseprof's relay (lseprof.capture.control), each
against the other and against a stand-in that answers as perf does ("ack\\n" and
a NUL). The same protocol with perf itself: tests/e2e/test_region.py."""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from lseprof.capture.control import (
    ACK_ENV,
    CTL_ENV,
    MARKERS,
    PerfControl,
    RegionPlan,
    RegionRelay,
    make_fifos,
)
from tests.helpers import REPO


def _helper() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "lseprof_region", REPO / "workloads" / "lseprof_region.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


region = _helper()


class FakePerf:
    """Answers commands on a control FIFO pair the way perf record does, and keeps them."""

    def __init__(self, ctl: Path, ack: Path, answer: bytes = b"ack\n\0") -> None:
        self.ctl, self.ack, self.answer = ctl, ack, answer
        self.commands: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        # perf opens its command FIFO without blocking and then its answer FIFO.
        fd = os.open(self.ctl, os.O_RDWR)
        with open(fd, "rb", buffering=0) as commands, open(self.ack, "wb", buffering=0) as out:
            for line in commands:
                if line.strip() == b"stop":
                    return
                self.commands.append(line.strip())
                out.write(self.answer)

    def stop(self) -> None:
        with open(self.ctl, "wb", buffering=0) as out:
            out.write(b"stop\n")
        self.thread.join(5)


@pytest.fixture()
def fifos(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


def test_the_helper_without_a_profiler_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CTL_ENV, raising=False)
    monkeypatch.delenv(ACK_ENV, raising=False)
    r = region.Region.from_env()
    assert not r.active
    with r:
        pass


def test_the_helper_speaks_perfs_protocol(fifos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctl, ack = make_fifos(fifos, "perf")
    perf = FakePerf(ctl, ack)  # answers "ack\n" and a NUL, as perf does
    monkeypatch.setenv(CTL_ENV, str(ctl))
    monkeypatch.setenv(ACK_ENV, str(ack))
    r = region.Region.from_env()
    with r:
        pass
    r.enable()
    r.disable()
    perf.stop()
    assert perf.commands == [b"enable", b"disable", b"enable", b"disable"]


def test_the_helper_refuses_bad_fifos_and_answers(
    fifos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CTL_ENV, str(fifos / "missing.ctl"))
    monkeypatch.setenv(ACK_ENV, str(fifos / "missing.ack"))
    with pytest.raises(
        region.RegionError, match=r"cannot open the region FIFO .*missing\.ctl \(No such file"
    ):
        region.Region.from_env()
    assert not (fifos / "missing.ctl").exists()  # no file made where a FIFO should be
    ctl, ack = make_fifos(fifos, "odd")
    perf = FakePerf(ctl, ack, answer=b"nope\n")
    monkeypatch.setenv(CTL_ENV, str(ctl))
    monkeypatch.setenv(ACK_ENV, str(ack))
    r = region.Region.from_env()
    with pytest.raises(region.RegionError, match="answered b'nope', not b'ack'"):
        r.enable()
    perf.stop()


def test_the_relay_passes_commands_on_and_times_them(fifos: Path) -> None:
    perf_fifos = make_fifos(fifos, "perf")
    perf = FakePerf(*perf_fifos)
    workload = make_fifos(fifos, "region")
    relay = RegionRelay(RegionPlan(MARKERS), [PerfControl(*perf_fifos)], workload)
    env = relay.env()
    assert env == {CTL_ENV: str(workload[0]), ACK_ENV: str(workload[1])}
    relay.start()
    os.environ.update(env)
    try:
        r = region.Region.from_env()
        time.sleep(0.05)
        r.enable()
        time.sleep(0.2)
        r.disable()
        r._out.write(b"flush\n")  # not a command: noted, still answered
        assert r._in.readline().strip() == b"ack"
        r.close()
    finally:
        for key in env:
            del os.environ[key]
    got = relay.stop(1.0)
    perf.stop()
    assert perf.commands == [b"enable", b"disable"]
    assert got.mode == MARKERS and got.signals == 2
    assert got.start_s is not None and got.end_s is not None
    assert 0.15 < got.end_s - got.start_s < 1.0 and got.enabled_s == pytest.approx(
        got.end_s - got.start_s
    )
    assert any("'flush', not enable or disable" in n for n in got.notes)


def test_a_relay_whose_workload_never_signals_says_so(fifos: Path) -> None:
    perf_fifos = make_fifos(fifos, "perf")
    perf = FakePerf(*perf_fifos)
    relay = RegionRelay(
        RegionPlan(MARKERS), [PerfControl(*perf_fifos)], make_fifos(fifos, "region")
    )
    relay.start()
    time.sleep(0.1)
    got = relay.stop(0.1)  # must not hang on the FIFO nobody opened
    perf.stop()
    assert perf.commands == [] and got.start_s is None
    assert "never signalled its region" in got.notes[-1]


def test_a_perf_that_never_opens_its_fifos_is_noted(fifos: Path) -> None:
    perf_fifos = make_fifos(fifos, "perf")
    control = PerfControl(*perf_fifos)
    assert not control.connect(timeout=0.2)
    assert not control.send(b"enable")
