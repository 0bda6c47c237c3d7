"""The ai-platform Pulumi program: read the stack's config, declare the platform, export its URLs.

The Python language host runs this file with ``runpy.run_path`` from
``infra/``; the project is installed into the virtualenv (``make setup`` or
``pulumi install``), so ``model`` and ``components`` import like any package.
"""

import pulumi

from components.platform import Platform
from infra.sdk import engine_config
from model.stack_config import STACK_CONFIG_DIR, ConfigError, parse_platform_config

values, secret_keys = engine_config()
try:
    config = parse_platform_config(values, f"{STACK_CONFIG_DIR}/Pulumi.{pulumi.get_stack()}.yaml", secret_keys)
except ConfigError as error:
    # RunError is reported by the engine as a plain message, without a traceback.
    raise pulumi.RunError(str(error)) from None

platform = Platform("ai-platform", config)

pulumi.export("environment", config.environment)
pulumi.export("serviceUrls", {name: service.url for name, service in platform.services.items()})
pulumi.export("externalUrls", {name: service.external_url for name, service in platform.services.items()})
