"""The ingress controller believes forwarded headers only from trusted proxies, sends HSTS, and bounds uploads."""

from __future__ import annotations

from typing import Any

import pytest

from components.addons.ingress_nginx import IngressNginx, IngressNginxArgs
from infra.offline.check import render
from model.config import IngressNginxConfig
from tests.conftest import StackWriter, base_config, base_service
from tests.helpers import REGISTRY_AUTH_IMAGE, assert_refused, manifest


def controller_config(**chart: Any) -> dict[str, str]:
    args = IngressNginxArgs(chart=IngressNginxConfig(version="4.11.3", **chart), environment="prod")
    config: dict[str, str] = IngressNginx.values(args)["controller"]["config"]
    return config


def test_behind_an_l4_load_balancer_forwarded_headers_are_ignored() -> None:
    """Default: clients reach the controller directly, so X-Forwarded-For is theirs to forge; ignore it."""
    config = controller_config()
    assert config["use-forwarded-headers"] == "false"
    assert "proxy-real-ip-cidr" not in config


def test_forwarded_headers_are_believed_only_from_the_trusted_proxies() -> None:
    config = controller_config(trusted_proxy_cidrs=["173.245.48.0/20", "2400:cb00::/32"])
    assert config["use-forwarded-headers"] == "true"
    # Never the controller's default 0.0.0.0/0, which would trust every client.
    assert config["proxy-real-ip-cidr"] == "173.245.48.0/20,2400:cb00::/32"


def test_hsts_is_stated_explicitly() -> None:
    config = controller_config()
    assert (config["hsts"], config["hsts-max-age"], config["hsts-include-subdomains"]) == ("true", "31536000", "true")
    assert controller_config(hsts_max_age_seconds=600)["hsts-max-age"] == "600"


@pytest.mark.parametrize(
    ("cidrs", "fragment"),
    [(["0.0.0.0/33"], "is not a network in CIDR notation"), (["10.0.0.1/8"], "is not a network in CIDR notation")],
)
def test_trusted_proxies_must_be_networks(write_stack: StackWriter, cidrs: list[str], fragment: str) -> None:
    config = base_config(addons={"ingressNginx": {"version": "4.11.3", "trustedProxyCidrs": cidrs}})
    assert_refused(write_stack(config), "addons.ingressNginx.trustedProxyCidrs[0]", fragment)


def test_the_registry_bounds_uploads(write_stack: StackWriter) -> None:
    registry = {
        "host": "images.example.com",
        "authImage": REGISTRY_AUTH_IMAGE,
        "maxUploadSize": "20g",
        "uploadTimeoutSeconds": 1800,
    }
    config = base_config(
        "prod",
        addons={"certManager": {"version": "v1.16.1", "acmeEmail": "ops@example.com"}},
        registry=registry,
        registryPassword={"secure": "v1:abc"},
        services=[base_service()],
    )
    annotations = manifest(render(write_stack(config)), "Ingress", "registry")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "20g"
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "1800"
    assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "1800"


@pytest.mark.parametrize("size", ["0", "unlimited", "10 g"])
def test_the_registry_upload_bound_cannot_be_switched_off(write_stack: StackWriter, size: str) -> None:
    """nginx reads a body size of 0 as "no limit": refused, like anything that is not a size."""
    config = base_config(
        registry={"host": "registry.example.com", "authImage": REGISTRY_AUTH_IMAGE, "maxUploadSize": size},
        registryPassword={"secure": "v1:abc"},
    )
    assert_refused(write_stack(config), "registry.maxUploadSize", "should match pattern")
