"""Entry point the Pulumi engine runs: `python -u -m pulumi.policy <engine> .` from this folder.

The rules live in importable modules (``ai_platform_policies``); this file only
serves them. ``PolicyPack(...)`` starts a gRPC server and never returns. The
folder stands alone: it needs only ``requirements.txt`` beside it.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from ai_platform_policies import PACK_NAME
from ai_platform_policies.pack import ALL_POLICIES

PolicyPack(
    name=PACK_NAME,
    policies=ALL_POLICIES,
    # Per-environment levels come from config/<env>.json ("all" plus overrides).
    enforcement_level=EnforcementLevel.ADVISORY,
    description="Replica, resource, security, supply-chain, data-safety and cost rules for the AI platform.",
)
