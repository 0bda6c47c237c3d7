"""Typed, validated stack configuration.

Everything under the ``ai-platform:`` namespace of a stack file is parsed into
these frozen pydantic models before a single resource is declared. Components
receive these objects; they never read Pulumi config themselves. See
``model.stack_config`` for how raw Pulumi config becomes a ``PlatformConfig``
and how errors are reported.
"""

from model.config.base import (
    PROJECT,
    SUPPORTED_KUBERNETES_MINORS,
    CrossFieldError,
    Environment,
)
from model.config.platform import (
    AddonsConfig,
    AlertingConfig,
    CertManagerConfig,
    ClusterConfig,
    HelmChartConfig,
    IngressNginxConfig,
    JenkinsConfig,
    MonitoringConfig,
    PlatformConfig,
    PricingConfig,
    RegistryConfig,
)
from model.config.services import (
    AutoscalingConfig,
    HealthConfig,
    ImageConfig,
    IngressConfig,
    ResourcesConfig,
    ServiceConfig,
    SloConfig,
)

__all__ = [
    "PROJECT",
    "SUPPORTED_KUBERNETES_MINORS",
    "AddonsConfig",
    "AlertingConfig",
    "AutoscalingConfig",
    "CertManagerConfig",
    "ClusterConfig",
    "CrossFieldError",
    "Environment",
    "HealthConfig",
    "HelmChartConfig",
    "ImageConfig",
    "IngressConfig",
    "IngressNginxConfig",
    "JenkinsConfig",
    "MonitoringConfig",
    "PlatformConfig",
    "PricingConfig",
    "RegistryConfig",
    "ResourcesConfig",
    "ServiceConfig",
    "SloConfig",
]
