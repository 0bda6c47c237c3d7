"""Cost: what the stack reserves stays within the environment's monthly budget."""

from __future__ import annotations

from decimal import Decimal

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from ai_platform_policies.cost import GPU, Prices, Resource, estimate
from ai_platform_policies.kube import (
    AUTOSCALER_TYPES,
    Field,
    MalformedFieldError,
    autoscaler,
    containers,
    name,
    namespace,
    pod_spec,
    replicas,
)
from ai_platform_policies.rule import Config, judging, props, stack_rule

_PRICED_WORKLOADS = frozenset({"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"})


def _requests(requests: Field) -> None:
    for resource, quantity in requests.entries():
        if resource in ("cpu", "memory", GPU) and quantity.quantity() is None:
            raise MalformedFieldError(quantity.path, "a Kubernetes quantity", None)


def check_priced_fields(resource: PolicyResource) -> None:
    """Read, with their types, the fields the estimate prices; raises ``MalformedFieldError`` naming a bad one."""
    fields = props(resource)
    for part in fields["footprint"].objects():
        _requests(part["requests"])
        part["gpuType"].string()
        part["replicas"].integer()
        part["maxReplicas"].integer()
        for volume in part["storage"].objects():
            if volume["size"].quantity() is None:
                raise MalformedFieldError(volume["size"].path, "a Kubernetes quantity", None)
            volume["storageClass"].string()
    if resource.resource_type in _PRICED_WORKLOADS:
        namespace(fields)
        name(fields, resource.name)
        replicas(fields)
        fields.at("spec", "template", "metadata", "labels").string_map()
        for _, container in containers(pod_spec(resource.resource_type, fields), include_init=False):
            _requests(container.at("resources", "requests"))
    elif resource.resource_type in AUTOSCALER_TYPES:
        autoscaler(resource.resource_type, fields)
    elif resource.resource_type == "kubernetes:core/v1:PersistentVolumeClaim":
        fields.at("spec", "resources", "requests", "storage").quantity()
        fields.at("spec", "storageClassName").string()


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
    readable = []
    for resource in args.resources:
        # A malformed resource is reported and left out, so the others are still priced.
        with judging(resource, report):
            check_priced_fields(resource)
            readable.append(resource)
    result = estimate(
        (Resource(r.resource_type, r.urn, r.name, r.parent.urn if r.parent else None, r.props) for r in readable),
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
