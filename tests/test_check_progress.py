"""What a long ``check`` tells a terminal, phase by phase: resources declared, judged by the pack, manifests
validated, the whole stack judged."""

from __future__ import annotations

import threading

from infra.offline.check import check_stack, stack_path


def test_check_reports_every_phase_and_the_pack_judges_every_declared_resource() -> None:
    heard: list[tuple[str, int, int | None]] = []
    lock = threading.Lock()

    def progress(phase: str, done: int, total: int | None) -> None:
        with lock:  # the pack's answers are counted on gRPC threads
            heard.append((phase, done, total))

    report = check_stack(stack_path("prod"), progress=progress)
    resources = len(report.rendered.resources)
    phases = list(dict.fromkeys(phase for phase, _, _ in heard))
    assert set(phases) == {
        "declaring resources",
        "judging resources (policy pack)",
        "validating manifests",
        "judging the whole stack (policy pack)",
    }
    assert phases.index("declaring resources") < phases.index("validating manifests")
    assert phases[-1] == "judging the whole stack (policy pack)"
    assert ("declaring resources", resources, resources) in heard
    judged = [done for phase, done, _ in heard if phase == "judging resources (policy pack)"]
    assert sorted(judged) == list(range(1, resources + 1))
    assert ("validating manifests", len(report.rendered.manifests), len(report.rendered.manifests)) in heard
