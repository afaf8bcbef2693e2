"""The supervisor's restart policy (a pure function) and the watchdog's decisions against a stand-in manager."""

from __future__ import annotations

from types import SimpleNamespace

from coachbox.roots.supervision import RestartPolicy, Watchdog, restart_delay


def test_the_delay_doubles_with_each_death_in_the_window_and_is_capped():
    policy = RestartPolicy(first_delay=1.0, max_delay=5.0, give_up_after=10, window_seconds=300.0)
    deaths: list[float] = []
    delays = []
    for now in (0.0, 10.0, 20.0, 30.0, 40.0):
        deaths.append(now)
        delays.append(restart_delay(deaths, now, policy))
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_deaths_outside_the_window_are_forgotten():
    policy = RestartPolicy(window_seconds=300.0)
    assert restart_delay([0.0, 100.0, 1000.0], 1000.0, policy) == 1.0
    assert restart_delay([900.0, 1000.0], 1000.0, policy) == 2.0


def test_it_gives_up_after_five_deaths_in_five_minutes():
    policy = RestartPolicy()
    assert restart_delay([0.0, 10.0, 20.0, 30.0], 30.0, policy) == 8.0
    assert restart_delay([0.0, 10.0, 20.0, 30.0, 40.0], 40.0, policy) is None
    assert restart_delay([0.0, 10.0, 20.0, 30.0, 301.0], 301.0, policy) == 8.0  # the first left the window


class _Process:
    def __init__(self, name: str, pid: int) -> None:
        self.name, self.pid, self.alive, self.exitcode = name, pid, True, None
        self.state = SimpleNamespace(name="ACKED")

    def is_alive(self) -> bool:
        return self.alive

    def die(self) -> None:
        self.alive, self.exitcode = False, -9


class _Manager:
    def __init__(self, *processes: _Process) -> None:
        self.processes = list(processes)
        self.sent: list[object] = []
        self.monitor_publisher = SimpleNamespace(send=self.sent.append)
        self._shutting_down = False
        self.shut_down = False

    def shutdown(self) -> None:
        self.shut_down = True


def test_the_watchdog_restarts_a_dead_child_after_its_back_off():
    now = [0.0]
    web = _Process("Sanic-Server-0-0", 100)
    manager = _Manager(web)
    dog = Watchdog(manager, monotonic=lambda: now[0])
    dog.check()
    assert manager.sent == []
    web.die()
    dog.check()
    assert manager.sent == []  # waits the first back-off
    now[0] = 1.0
    dog.check()
    assert manager.sent == ["Sanic-Server-0-0"]  # Sanic's monitor restarts a process named in a message
    dog.check()
    assert manager.sent == ["Sanic-Server-0-0"]  # once per death
    web.pid, web.alive, web.exitcode = 101, True, None  # Sanic started it again
    now[0] = 2.0
    web.die()
    dog.check()
    now[0] = 3.0
    dog.check()
    assert manager.sent == ["Sanic-Server-0-0"]  # second death: 2 s
    now[0] = 4.0
    dog.check()
    assert manager.sent == ["Sanic-Server-0-0"] * 2


def test_the_watchdog_leaves_children_stopped_on_purpose_alone():
    worker = _Process("Sanic-HueyConsumer-0", 200)
    manager = _Manager(worker)
    dog = Watchdog(manager, monotonic=lambda: 50.0)
    worker.die()
    worker.state = SimpleNamespace(name="TERMINATED")
    dog.check()
    assert manager.sent == [] and dog._due == {}


def test_the_watchdog_stops_the_box_when_a_child_keeps_dying():
    now = [0.0]
    worker = _Process("Sanic-HueyConsumer-0", 300)
    manager = _Manager(worker)
    dog = Watchdog(manager, monotonic=lambda: now[0])
    for death in range(5):
        worker.pid, worker.alive, worker.exitcode = 300 + death, True, None
        worker.die()
        dog.check()
        now[0] += 20.0
        dog.check()
    assert dog.gave_up == "Sanic-HueyConsumer-0"
    assert manager.sent == ["Sanic-HueyConsumer-0"] * 4 + [None]  # None stops Sanic's monitor loop
    assert manager.shut_down
