"""Monitoring as kube-prometheus organises it: each concern in its own module.

``contract`` (the metrics every AI service exposes and the recorded series),
``rules`` (recording and alert rules, each alert with a runbook),
``alertmanager`` (routing), ``dashboards`` (Grafana dashboards from
grafana-foundation-sdk's typed builders), and ``component`` (``Monitoring``,
which declares them). All but ``component`` are pure functions of the
validated config, so the same documents are fed to ``promtool``, ``amtool``
and a real Prometheus by the integration tests.
"""
