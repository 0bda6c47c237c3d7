"""The ai-platform Pulumi program: load the stack's config, declare the platform.

The Python language host runs this file with ``runpy.run_path`` and ``infra/``
as the working directory, so only ``infra/`` is on ``sys.path``. The project
root is added here so that ``components`` and ``infra`` import as packages,
under the engine exactly as under tests and the offline tool.
"""

import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import pulumi  # noqa: E402

from components.platform import Platform  # noqa: E402
from infra.stack_config import ConfigError, load_stack_config  # noqa: E402

try:
    config = load_stack_config()
except ConfigError as error:
    # RunError is reported by the engine as a plain message, without a traceback.
    raise pulumi.RunError(str(error)) from None

platform = Platform("ai-platform", config)

pulumi.export("environment", config.environment)
pulumi.export("serviceUrls", {name: service.url for name, service in platform.services.items()})
pulumi.export("externalUrls", {name: service.external_url for name, service in platform.services.items()})
