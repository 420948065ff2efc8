"""The IoT switches' select-before-operate and the reconfiguration service's safety, on the
real system without meter daemons: the simulator publishes all fourteen meters, and the test
speaks MQTT as an operator or a meter would.
"""

import time
import uuid

import pytest

from gridedge.errors import PreconditionFailedError
from gridedge.grid import from_dict, to_dict
from gridedge.meter.catalog_client import CatalogClient
from gridedge.mqtt import Connection, Sequencer, Topics
from gridedge.services.demo.distributed import DemoFault, inject, wait_ready
from gridedge.services.demo.system import System, SystemOptions
from gridedge.services.demo.timeline import Observer
from tests.catalog.conftest import brokers  # noqa: F401 (the session's brokers)

SELECT_TIMEOUT_S = 0.6
SILENT = "F1-03@SS03"


@pytest.fixture(scope="module")
def running(tmp_path_factory, brokers):  # noqa: F811
    prefix = f"switching-{uuid.uuid4().hex[:8]}/"
    options = SystemOptions(
        topic_prefix=prefix,
        hardware_meters=(),
        silent_switches=(SILENT,),
        select_timeout_s=SELECT_TIMEOUT_S,
        reconfigure={"ack_timeout_s": 2.0},
    )
    system = System(tmp_path_factory.mktemp("switching"), options, brokers)
    system.start()
    observer = Observer(system.brokers, Topics(prefix))
    try:
        wait_ready(system, observer, 60.0)
        yield system, observer
    finally:
        observer.close()
        codes = system.stop()
        logs = system.logs()
        assert all(c == 0 for c in codes.values()), (codes, logs)
        for name, text in logs.items():
            assert "Traceback" not in text, f"{name}:\n{text}"


class Operator:
    """Commands switches and reads their answers, as a control-centre operator would."""

    def __init__(self, system: System, observer: Observer, name: str) -> None:
        grid = system.brokers["grid"]
        self.topics = observer.topics
        self.observer = observer
        self.connection = Connection(grid.host, grid.port, sender=name)
        self.connection.start()
        self.sequencer = Sequencer(name)

    def seal(self, switch: str, action: str, operation: str, request: str, expiry_s: float = 5.0):
        body = {"action": action, "operation": operation, "request": request}
        return self.sequencer.seal(body, expiry_s=expiry_s)

    def send(self, switch: str, envelope) -> None:
        self.connection.send(self.topics.switch_command(switch), envelope)

    def command(self, switch: str, action: str, operation: str, request: str, **kwargs):
        """Send one command; return the switch's answer to it."""
        mark = len(self.observer.records)
        self.send(switch, self.seal(switch, action, operation, request, **kwargs))
        return self.answer(switch, request, action, after=mark)

    def answer(self, switch: str, request: str, action: str, *, after: int = 0):
        """The first answer to `action` of `request` among the records from `after` on."""
        topic = self.topics.switch_response(switch)
        found = self.observer.wait_for(
            lambda r: (
                r.topic == topic
                and r.body.get("request") == request
                and r.body.get("action") == action
            ),
            5.0,
            after=after,
        )
        return None if found is None else found.body

    def answers(self, switch: str, request: str) -> list:
        topic = self.topics.switch_response(switch)
        return [
            r.body
            for r in self.observer.select(
                lambda r: r.topic == topic and r.body.get("request") == request
            )
        ]

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def operator(running):
    system, observer = running
    made = Operator(system, observer, f"operator-{uuid.uuid4().hex[:6]}")
    yield made
    made.close()


def request_id() -> str:
    return uuid.uuid4().hex[:10]


def test_select_then_operate_moves_the_switch_and_announces_it(running, operator):
    system, observer = running
    request = request_id()
    switch = "F2-06@SS12"
    assert operator.command(switch, "select", "open", request)["result"] == "selected"
    before = time.time()
    answer = operator.command(switch, "operate", "open", request)
    assert answer["result"] == "operated"
    assert answer["closed"] is False
    assert answer["at"] >= before  # acknowledged once the switch has moved
    state = observer.wait_for(
        lambda r: r.topic == observer.topics.switch_state(switch) and r.body.get("closed") is False,
        5.0,
    )
    assert state is not None
    assert state.body["cause"] == "command"
    entries = [
        e for e in system.scenario.read().entries if getattr(e.event, "switch_id", "") == switch
    ]
    assert entries[-1].event.closed is False
    request = request_id()
    operator.command(switch, "select", "close", request)
    assert operator.command(switch, "operate", "close", request)["result"] == "operated"


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        ([("operate", "open")], "not selected"),
        ([("select", "open"), ("operate", "close")], "selected to open, not to close"),
        ([("cancel", "open")], "not selected"),
        ([("select", "sideways")], "operation 'sideways' is not one of"),
        ([("explode", "open")], "action 'explode' is not one of"),
    ],
)
def test_commands_out_of_protocol_are_refused(operator, steps, reason):
    request = request_id()
    for action, operation in steps:
        answer = operator.command("F2-05@SS11", action, operation, request)
    assert answer["result"] == "refused"
    assert reason in answer["reason"]


def test_an_expired_selection_cannot_be_operated(operator):
    request = request_id()
    assert operator.command("F2-05@SS10", "select", "open", request)["result"] == "selected"
    time.sleep(SELECT_TIMEOUT_S + 0.2)
    answer = operator.command("F2-05@SS10", "operate", "open", request)
    assert (answer["result"], answer["reason"]) == ("refused", "the selection expired")
    assert answer["closed"] is True


def test_a_switch_selected_by_another_refuses(running, operator):
    system, observer = running
    other = Operator(system, observer, "another-operator")
    try:
        mine, theirs = request_id(), request_id()
        assert operator.command("F2-04@SS09", "select", "open", mine)["result"] == "selected"
        answer = other.command("F2-04@SS09", "select", "open", theirs)
        assert (answer["result"], answer["reason"]) == (
            "refused",
            f"selected by {operator.sequencer.sender}",
        )
        assert operator.command("F2-04@SS09", "cancel", "open", mine)["result"] == "cancelled"
        retry = request_id()
        assert other.command("F2-04@SS09", "select", "open", retry)["result"] == "selected"
        assert other.command("F2-04@SS09", "cancel", "open", retry)["result"] == "cancelled"
    finally:
        other.close()


def test_unknown_and_expired_commands_are_refused(operator):
    answer = operator.command("NO-SUCH@SWITCH", "select", "open", request_id())
    assert (answer["result"], answer["reason"]) == ("refused", "unknown switch 'NO-SUCH@SWITCH'")

    request = request_id()
    stale = operator.seal("F2-03@SS08", "select", "open", request, expiry_s=0.001)
    time.sleep(0.01)
    operator.send("F2-03@SS08", stale)
    answer = operator.answer("F2-03@SS08", request, "select")
    assert (answer["result"], answer["reason"]) == (
        "refused",
        "the command expired before it arrived",
    )


def test_copies_are_dropped_and_reordered_commands_act_only_in_order(operator):
    switch = "F2-02@SS08"
    request = request_id()
    select = operator.seal(switch, "select", "open", request)
    operate = operator.seal(switch, "operate", "open", request)
    # Reordered in transit: the operate arrives first and is refused; the select after it
    # only selects; nothing moves.
    operator.send(switch, operate)
    operator.send(switch, select)
    assert operator.answer(switch, request, "select")["result"] == "selected"
    assert operator.answer(switch, request, "operate")["reason"] == "not selected"
    # The copy of the operate (same sender, session and number, as after a broker restart)
    # is dropped: still no answer to a second operate, and the switch did not move.
    operator.send(switch, operate)
    time.sleep(0.5)
    assert [a["action"] for a in operator.answers(switch, request)].count("operate") == 1
    # A new operate of the same request does act.
    again = operator.command(switch, "operate", "open", request)
    assert again["result"] == "operated"


def test_the_service_stops_safely_when_a_switch_does_not_answer(running, operator):
    system, observer = running
    topics = observer.topics
    # The fault happens in the simulation (so protection trips the feeder breaker); the test
    # plays M1 and publishes the location, twice, as a broker restart might deliver it.
    inception = inject(system, DemoFault("F1-03"), lead_s=0.3)
    time.sleep(0.8)
    meter = Connection(system.brokers["grid"].host, system.brokers["grid"].port, sender="M1")
    meter.start()
    located = Sequencer("M1").seal(
        {
            "state": "located",
            "line": "F1-03",
            "from_bus": "SS02",
            "to_bus": "SS03",
            "distance_m": 90.0,
            "ambiguous": False,
            "inception_time": inception,
        }
    )
    meter.send(topics.faults("F1"), located)
    meter.send(topics.faults("F1"), located)
    meter.close()
    report = observer.wait_for(
        lambda r: r.topic == topics.restoration("F1") and r.body.get("state") == "aborted", 20.0
    )
    assert report is not None
    body = report.body
    assert [(o["switch"], o["ok"]) for o in body["operations"]] == [
        ("F1-03@SS02", True),
        (SILENT, False),
    ]
    assert body["reason"].startswith(f"{SILENT}: no answer to select")
    # Nothing was closed after the failed isolation: not the tie, not the tripped breaker.
    commanded = {
        topics.device_of(r.topic, "switches")
        for r in observer.select(
            lambda r: r.topic.endswith("/command") and r.envelope.ts >= inception
        )
    }
    assert commanded == {"F1-03@SS02", SILENT}
    # The catalog holds what was reached: the breaker open, one isolating switch open.
    _, topology = system.request("GET", "/v1/topology")
    closed = {s["id"]: s.get("closed", True) for s in topology["switches"]}
    assert (closed["F1-01@PS1-MV"], closed["F1-03@SS02"], closed[SILENT], closed["TIE@SS06"]) == (
        False,
        False,
        True,
        False,
    )
    # The copy of the location was dropped: one plan.
    planned = observer.select(
        lambda r: r.topic == topics.restoration("F1") and r.body.get("state") == "planned"
    )
    assert len(planned) == 1


def test_a_topology_change_on_a_stale_version_is_refused(running):
    system, _ = running
    token = system.tokens["reconfiguration"]
    client = CatalogClient(system.catalog_url, "reconfiguration", token, role="services")
    version, document = client.topology()
    grid = from_dict(document)
    with pytest.raises(PreconditionFailedError, match="stale"):
        client.put_topology(to_dict(grid), version - 1)
    new, affected = client.put_topology(to_dict(grid), version)
    assert (new, affected) == (version + 1, [])
