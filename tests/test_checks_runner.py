import threading
import time

from kiosk.checks.result import CheckResult, Status
from kiosk.checks.runner import CheckRunner, CheckSpec
from waiting import wait_for


def sleeper(seconds, result=None):
    def run():
        time.sleep(seconds)
        return result or CheckResult.passed("fine")
    return run


def test_runner_runs_checks_concurrently():
    specs = [CheckSpec(f"c{i}", f"C{i}", sleeper(0.3)) for i in range(5)]
    cycle = CheckRunner(specs, timeout_s=5).run()
    assert cycle.ready
    assert cycle.duration_s < 0.9  # five 0.3 s checks in parallel, not 1.5 s in sequence
    assert list(cycle.results) == [f"c{i}" for i in range(5)]


def test_runner_hanging_check_fails_with_reason_and_others_finish():
    release = threading.Event()

    def hang():
        release.wait(30)
        return CheckResult.passed("late")

    specs = [CheckSpec("camera", "Camera", hang), CheckSpec("clock", "Clock", sleeper(0.01))]
    runner = CheckRunner(specs, timeout_s=0.5)
    t0 = time.monotonic()
    cycle = runner.run()
    assert time.monotonic() - t0 < 1.5
    assert cycle.results["camera"].status is Status.FAIL
    assert "did not finish within 0.5 s" in cycle.results["camera"].reason
    assert cycle.results["clock"].status is Status.PASS
    assert not cycle.ready
    # Still stuck at the next cycle: reported at once, no second thread piled on.
    threads_before = threading.active_count()
    again = runner.run()
    assert "still stuck" in again.results["camera"].reason
    assert threading.active_count() <= threads_before + 1
    release.set()
    # Recovers by itself once the stuck thread has finished (until then a cycle says "still stuck").
    assert wait_for(lambda: runner.run().results["camera"].status is Status.PASS, timeout=5)


def test_runner_check_that_raises_becomes_fail():
    def broken():
        raise OSError("device vanished")

    cycle = CheckRunner([CheckSpec("microphone", "Microphone", broken)], timeout_s=2).run()
    result = cycle.results["microphone"]
    assert result.status is Status.FAIL
    assert result.reason == "Microphone check could not run: device vanished"


def test_runner_check_returning_wrong_type_becomes_fail():
    cycle = CheckRunner([CheckSpec("x", "X", lambda: "ok")], timeout_s=2).run()
    assert cycle.results["x"].status is Status.FAIL and "not a CheckResult" in cycle.results["x"].reason


def test_runner_optional_check_can_only_warn():
    fail = CheckResult.failed("Host broker:1883 did not answer")
    specs = [CheckSpec("network", "Network", lambda: fail, required=False),
             CheckSpec("camera", "Camera", lambda: CheckResult.passed("ok"))]
    cycle = CheckRunner(specs, timeout_s=2).run()
    assert cycle.results["network"].status is Status.WARN
    assert cycle.results["network"].reason.startswith("Host broker:1883 did not answer")
    assert cycle.ready


def test_runner_chain_runs_in_order_and_stuck_link_blocks_the_next():
    order = []

    def first():
        order.append("microphone")
        time.sleep(0.1)
        return CheckResult.passed("ok")

    def second():
        order.append("speaker")
        return CheckResult.passed("ok")

    specs = [CheckSpec("microphone", "Microphone", first, chain="audio"),
             CheckSpec("speaker", "Speaker", second, chain="audio")]
    cycle = CheckRunner(specs, timeout_s=2).run()
    assert order == ["microphone", "speaker"] and cycle.ready

    stuck = threading.Event()
    specs = [CheckSpec("microphone", "Microphone", lambda: stuck.wait(5) and CheckResult.passed("x"), chain="a"),
             CheckSpec("speaker", "Speaker", second, chain="a")]
    cycle = CheckRunner(specs, timeout_s=0.3).run()
    assert "did not finish" in cycle.results["microphone"].reason
    assert "waits for a check that is stuck" in cycle.results["speaker"].reason
    stuck.set()


def test_runner_json_document_shape():
    cycle = CheckRunner([CheckSpec("camera", "Camera", lambda: CheckResult.passed("ok", width=1280))], 2).run()
    doc = cycle.to_dict("suite-1")
    assert doc["room"] == "suite-1" and doc["ready"] is True
    assert doc["checks"]["camera"] == {"status": "pass", "reason": "ok", "metrics": {"width": 1280}}
    assert "T" in doc["checked_at"]
