"""Cost: what the stack reserves stays within the environment's monthly budget."""

from __future__ import annotations

from decimal import Decimal

from pulumi_policy import ReportViolation, StackValidationArgs

from ai_platform_policies.cost import Prices, Resource, estimate
from ai_platform_policies.rule import Config, stack_rule


@stack_rule(
    "monthly-budget",
    "The stack's estimated monthly cost at maximum replicas stays within the environment's budget.",
    severity="high",
    remediation="Lower replicas, requests or GPU counts, or raise `budget` in the policy config with approval.",
    thresholds={
        "budget": {"type": "number", "minimum": 0, "description": "Monthly budget in the pricing currency."},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "prices": {
            "type": "object",
            "description": "Prices that gate, per environment (cost.DEFAULT_PRICES keys; unset keys take "
            "the defaults). Never read from the stack file, which the same pull request can edit.",
            "default": {},
        },
    },
)
def monthly_budget(args: StackValidationArgs, config: Config, report: ReportViolation) -> None:
    if "budget" not in config:
        args.not_applicable("no budget configured")
    # The same estimate as `python -m infra.offline cost`, at the prices this pack's config sets.
    prices = Prices.from_mapping(config["prices"])
    if config.get("currency") and config["currency"] != prices.currency:
        report(f"the budget is in {config['currency']} but the stack is priced in {prices.currency}.", None)
        return
    result = estimate(
        (Resource(r.resource_type, r.urn, r.name, r.parent.urn if r.parent else None, r.props) for r in args.resources),
        prices,
    )
    budget = Decimal(str(config["budget"]))
    if result.max > budget:
        biggest = max(result.items, key=lambda item: item.max)
        report(
            f"estimated {prices.currency} {result.max:,.2f}/month at maximum replicas exceeds the budget of "
            f"{budget:,.2f} (largest: {biggest.name}, {biggest.max:,.2f}).",
            None,
        )
    if result.unknown:
        report(f"cost unknown for: {'; '.join(result.unknown)}", None)
