"""Every rule of the pack, in the order the engine lists them; importable without starting a server."""

from pulumi_policy import Policy

from ai_platform_policies import availability, budget, data_safety, resources, security, supply_chain

ALL_POLICIES: list[Policy] = [
    # replicas and availability
    availability.workload_minimum_replicas,
    availability.hpa_minimum_replicas,
    availability.hpa_bounds_and_target,
    availability.pdb_covers_multi_replica_workloads,
    availability.multi_replica_spread,
    availability.rolling_update_keeps_capacity,
    # resources
    resources.container_resources_required,
    resources.limit_request_ratio,
    resources.gpu_whole_and_guaranteed,
    resources.gpu_placement,
    resources.ai_namespace_quota,
    resources.ai_service_priority_class,
    # security
    security.no_privileged_containers,
    security.no_privilege_escalation,
    security.run_as_non_root,
    security.capabilities_restricted,
    security.seccomp_restricted,
    security.read_only_root_filesystem,
    security.no_host_namespaces,
    security.no_host_path_volumes,
    security.no_host_ports,
    security.service_account_token_not_automounted,
    security.no_default_namespace,
    security.probes_required,
    security.no_external_services,
    security.network_policy_coverage,
    security.no_literal_secret_env,
    # supply chain
    supply_chain.approved_registries,
    supply_chain.image_tag_pinned,
    supply_chain.helm_chart_version_pinned,
    # data safety
    data_safety.stateful_resources_protected,
    # cost
    budget.monthly_budget,
]
