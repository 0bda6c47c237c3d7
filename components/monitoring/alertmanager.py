"""Alertmanager routing: critical alerts page, everything else notifies, the Watchdog goes nowhere."""

from __future__ import annotations

from typing import Any

from model.config import AlertingConfig


def alertmanager_config(alerting: AlertingConfig) -> dict[str, Any]:
    """Routing: critical alerts to the critical receiver, the rest to the default one."""
    default = alerting.default_receiver or "null"
    routes: list[dict[str, Any]] = [{"receiver": "null", "matchers": ['alertname="Watchdog"']}]
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
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["namespace", "service"],
            }
        ],
        "receivers": [
            {"name": "null"},
            *(
                {"name": receiver.name, "webhook_configs": [{"url": receiver.webhook_url, "send_resolved": True}]}
                for receiver in alerting.receivers
            ),
        ],
    }
