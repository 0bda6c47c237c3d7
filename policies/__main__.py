"""Entry point the Pulumi engine runs: `python -u -m pulumi.policy <engine> .` from this folder.

The rules live in importable modules (``ai_platform_policies``); this file only
serves them. ``PolicyPack(...)`` starts a gRPC server and never returns.
"""

import sys
from pathlib import Path

# The pack lives in the ai-platform repository and shares its Kubernetes
# quantity parser with the program (infra/quantity.py).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.append(str(PROJECT_ROOT))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from ai_platform_policies import ALL_POLICIES, PACK_NAME  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    policies=ALL_POLICIES,
    # Per-environment levels come from config/<env>.json ("all" plus overrides).
    enforcement_level=EnforcementLevel.ADVISORY,
    description="Replica, resource, security, supply-chain and data-safety rules for the AI platform.",
)
