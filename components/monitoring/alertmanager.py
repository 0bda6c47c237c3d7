"""Alertmanager routing: critical alerts page, everything else notifies, the Watchdog goes nowhere."""

from __future__ import annotations

from typing import Any

from model.config import AlertingConfig

#: kube-prometheus-stack's own inhibit rules, verbatim (chart 65.0.0, values.yaml L307-346,
#: ``alertmanager.config.inhibit_rules``). Helm replaces lists rather than merging them, so
#: setting ours would drop these; they are restated here. They silence info alerts while a
#: warning or critical alert of the same name fires in the namespace, and info alerts while the
#: chart's ``InfoInhibitor`` fires.
CHART_INHIBIT_RULES: tuple[dict[str, Any], ...] = (
    {
        "source_matchers": ["severity = critical"],
        "target_matchers": ["severity =~ warning|info"],
        "equal": ["namespace", "alertname"],
    },
    {
        "source_matchers": ["severity = warning"],
        "target_matchers": ["severity = info"],
        "equal": ["namespace", "alertname"],
    },
    {
        "source_matchers": ["alertname = InfoInhibitor"],
        "target_matchers": ["severity = info"],
        "equal": ["namespace"],
    },
    {"target_matchers": ["alertname = InfoInhibitor"]},
)
#: A critical alert of an AI service silences its warnings. The source must carry a ``service``
#: label: Alertmanager treats a label missing on both alerts as equal, so without it a critical
#: cluster alert with no namespace or service would silence every such warning.
SERVICE_INHIBIT_RULE: dict[str, Any] = {
    "source_matchers": ['severity="critical"', 'service=~".+"'],
    "target_matchers": ['severity="warning"'],
    "equal": ["namespace", "service"],
}


def alertmanager_config(alerting: AlertingConfig) -> dict[str, Any]:
    """Routing: critical alerts to the critical receiver, the rest to the default one."""
    default = alerting.default_receiver or "null"
    routes: list[dict[str, Any]] = [
        {"receiver": "null", "matchers": ['alertname="Watchdog"']},
        # The chart's InfoInhibitor only exists to inhibit info alerts (above); it notifies nobody.
        {"receiver": "null", "matchers": ['alertname="InfoInhibitor"']},
    ]
    if alerting.critical_receiver:
        routes.append({"receiver": alerting.critical_receiver, "matchers": ['severity="critical"']})
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": default,
            "group_by": ["alertname", "namespace", "service"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": [*(dict(rule) for rule in CHART_INHIBIT_RULES), dict(SERVICE_INHIBIT_RULE)],
        "receivers": [
            {"name": "null"},
            *(
                {"name": receiver.name, "webhook_configs": [{"url": receiver.webhook_url, "send_resolved": True}]}
                for receiver in alerting.receivers
            ),
        ],
    }
