"""Security: the restricted Pod Security Standard and what common auditors check."""

from __future__ import annotations

import re

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from ai_platform_policies.kube import (
    HELM_RELEASE_TYPES,
    Field,
    LabelSelector,
    containers,
    describe,
    is_cluster_scoped,
    is_workload,
    name,
    namespace,
    pod_labels,
    pod_spec,
)
from ai_platform_policies.rule import Config, judging, props, resource_rule, stack_rule


def _effective(spec: Field, container: Field, field: str) -> Field:
    """A security setting as Kubernetes applies it: the container's, else the pod's."""
    own = container.at("securityContext", field)
    return spec.at("securityContext", field) if own.absent else own


def _effective_boolean(spec: Field, container: Field, field: str) -> bool | None:
    """Both levels are read, so a malformed pod default is reported even where containers override it."""
    pod = spec.at("securityContext", field).boolean()
    own = container.at("securityContext", field).boolean()
    return pod if own is None else own


def _effective_integer(spec: Field, container: Field, field: str) -> int | None:
    pod = spec.at("securityContext", field).integer()
    own = container.at("securityContext", field).integer()
    return pod if own is None else own


def _pod_containers(args: ResourceValidationArgs) -> tuple[Field, list[tuple[str, Field]]]:
    spec = pod_spec(args.resource_type, props(args))
    return spec or Field(None), list(containers(spec))


@resource_rule(
    "no-privileged-containers",
    "No container runs privileged.",
    severity="critical",
    remediation="Remove `securityContext.privileged: true`.",
)
def no_privileged_containers(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    for label, container in _pod_containers(args)[1]:
        if container.at("securityContext", "privileged").boolean() is True:
            report(f"{describe(label, container)} is privileged.", None)


@resource_rule(
    "no-privilege-escalation",
    "Every container sets allowPrivilegeEscalation: false.",
    severity="high",
    remediation="Set `securityContext.allowPrivilegeEscalation: false` on each container.",
)
def no_privilege_escalation(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    for label, container in _pod_containers(args)[1]:
        if container.at("securityContext", "allowPrivilegeEscalation").boolean() is not False:
            report(f"{describe(label, container)} does not set allowPrivilegeEscalation: false.", None)


@resource_rule(
    "run-as-non-root",
    "Containers run as a non-root user with a high UID.",
    severity="high",
    remediation="Set `runAsNonRoot: true` and `runAsUser` at or above `minimumUid` in the pod or container "
    "securityContext.",
    thresholds={"minimumUid": {"type": "integer", "minimum": 1, "default": 10000}},
)
def run_as_non_root(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    spec, pod_containers = _pod_containers(args)
    for label, container in pod_containers:
        if _effective_boolean(spec, container, "runAsNonRoot") is not True:
            report(f"{describe(label, container)} does not set runAsNonRoot: true.", None)
        uid = _effective_integer(spec, container, "runAsUser")
        if uid is None:
            report(f"{describe(label, container)} sets no runAsUser (the image decides the user).", None)
        elif uid < config["minimumUid"]:
            report(f"{describe(label, container)} runs as UID {uid} (at least {config['minimumUid']}).", None)


@resource_rule(
    "capabilities-restricted",
    "Containers drop ALL capabilities and add none beyond the allowed ones.",
    severity="high",
    remediation="Set `capabilities: {drop: [ALL]}` and add only NET_BIND_SERVICE where a low port is needed.",
    thresholds={"allowedCapabilities": {"type": "array", "items": {"type": "string"}, "default": ["NET_BIND_SERVICE"]}},
)
def capabilities_restricted(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    allowed = set(config["allowedCapabilities"])
    for label, container in _pod_containers(args)[1]:
        capabilities = container.at("securityContext", "capabilities")
        if "ALL" not in capabilities["drop"].strings():
            report(f"{describe(label, container)} does not drop ALL capabilities.", None)
        added = sorted(set(capabilities["add"].strings()) - allowed)
        if added:
            report(f"{describe(label, container)} adds capabilities {', '.join(added)}.", None)


@resource_rule(
    "seccomp-restricted",
    "Containers run with the RuntimeDefault or a Localhost seccomp profile.",
    severity="medium",
    remediation="Set `securityContext.seccompProfile.type: RuntimeDefault` on the pod.",
)
def seccomp_restricted(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    spec, pod_containers = _pod_containers(args)
    for label, container in pod_containers:
        profile = _effective(spec, container, "seccompProfile")["type"].string()
        if profile not in ("RuntimeDefault", "Localhost"):
            report(f"{describe(label, container)} runs with seccomp profile {profile or 'unset'}.", None)


@resource_rule(
    "read-only-root-filesystem",
    "Containers mount their root filesystem read-only.",
    severity="medium",
    remediation="Set `readOnlyRootFilesystem: true` and mount an emptyDir where the process must write.",
)
def read_only_root_filesystem(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    for label, container in _pod_containers(args)[1]:
        if label == "ephemeral container":
            continue
        if container.at("securityContext", "readOnlyRootFilesystem").boolean() is not True:
            report(f"{describe(label, container)} has a writable root filesystem.", None)


@resource_rule(
    "no-host-namespaces",
    "Pods do not share the host's network, PID or IPC namespace.",
    severity="critical",
    remediation="Remove hostNetwork, hostPID and hostIPC.",
)
def no_host_namespaces(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, props(args)) or Field(None)
    shared = [field for field in ("hostNetwork", "hostPID", "hostIPC") if spec[field].boolean() is True]
    if shared:
        report(f"the pod sets {', '.join(shared)}.", None)


@resource_rule(
    "no-host-path-volumes",
    "Pods mount no hostPath volumes.",
    severity="high",
    remediation="Use a PersistentVolumeClaim, emptyDir, ConfigMap or Secret instead of hostPath.",
)
def no_host_path_volumes(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, props(args)) or Field(None)
    for volume in spec["volumes"].objects():
        if not volume["hostPath"].absent:
            path = volume.at("hostPath", "path").value
            report(f"volume '{volume['name'].value}' mounts host path {path}.", None)


@resource_rule(
    "no-host-ports",
    "Containers bind no host ports.",
    severity="high",
    remediation="Remove `hostPort`; expose the pod through a Service.",
)
def no_host_ports(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    for label, container in _pod_containers(args)[1]:
        for port in container["ports"].objects():
            host_port = port["hostPort"].integer()
            if host_port:
                report(f"{describe(label, container)} binds host port {host_port}.", None)


@resource_rule(
    "service-account-token-not-automounted",
    "Pods and ServiceAccounts do not automount the Kubernetes API token.",
    severity="medium",
    remediation="Set `automountServiceAccountToken: false` on the pod spec and the ServiceAccount.",
)
def service_account_token_not_automounted(
    args: ResourceValidationArgs, config: Config, report: ReportViolation
) -> None:
    fields = props(args)
    if args.resource_type == "kubernetes:core/v1:ServiceAccount":
        if fields["automountServiceAccountToken"].boolean() is not False:
            report("the ServiceAccount automounts its token into every pod that uses it.", None)
        return
    spec = pod_spec(args.resource_type, fields)
    if spec is not None and spec["automountServiceAccountToken"].boolean() is not False:
        report("the pod automounts a Kubernetes API token it does not need.", None)


@resource_rule(
    "no-default-namespace",
    "Nothing is deployed to the `default` namespace.",
    severity="medium",
    remediation="Set `metadata.namespace` (or the Helm release's `namespace`) to a dedicated namespace.",
)
def no_default_namespace(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    kind, fields = args.resource_type, props(args)
    if kind in HELM_RELEASE_TYPES:
        target = fields["namespace"].string() or "default"
    elif kind.startswith("kubernetes:") and not is_cluster_scoped(kind) and "metadata" in args.props:
        target = namespace(fields)
    else:
        return
    if target == "default":
        report("it lands in the 'default' namespace.", None)


@resource_rule(
    "probes-required",
    "Long-running containers have liveness and readiness probes.",
    severity="medium",
    remediation="Add `livenessProbe` and `readinessProbe` (HTTP health paths for AI services).",
)
def probes_required(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    if args.resource_type in ("kubernetes:batch/v1:Job", "kubernetes:batch/v1:CronJob"):
        return
    for label, container in containers(pod_spec(args.resource_type, props(args)), include_init=False):
        missing = [probe for probe in ("livenessProbe", "readinessProbe") if not container[probe].object()]
        if missing:
            report(f"{describe(label, container)} has no {' or '.join(missing)}.", None)


@resource_rule(
    "no-external-services",
    "No Service of type LoadBalancer or NodePort outside the ingress controller's namespace.",
    severity="high",
    remediation="Use a ClusterIP Service and expose it through an Ingress.",
    thresholds={"allowedNamespaces": {"type": "array", "items": {"type": "string"}, "default": ["ingress-nginx"]}},
)
def no_external_services(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    if args.resource_type != "kubernetes:core/v1:Service":
        return
    fields = props(args)
    service_type = fields.at("spec", "type").string() or "ClusterIP"
    ns = namespace(fields)
    if service_type in ("LoadBalancer", "NodePort") and ns not in config["allowedNamespaces"]:
        report(f"a {service_type} Service in '{ns}' is reachable from outside the cluster.", None)


@stack_rule(
    "network-policy-coverage",
    "A NetworkPolicy selects the pods of every workload.",
    severity="high",
    remediation="Declare a NetworkPolicy in the workload's namespace whose podSelector matches its pod labels.",
)
def network_policy_coverage(args: StackValidationArgs, config: Config, report: ReportViolation) -> None:
    # Per namespace: a workload is compared with its namespace's policies only.
    selectors: dict[str, list[LabelSelector]] = {}
    for resource in args.resources:
        if resource.resource_type == "kubernetes:networking.k8s.io/v1:NetworkPolicy":
            with judging(resource, report):
                fields = props(resource)
                selector = LabelSelector(fields.at("spec", "podSelector"))
                # An empty podSelector selects every pod in the namespace; a missing one is invalid.
                selector.selects({})
                selectors.setdefault(namespace(fields), []).append(selector)
    for resource in args.resources:
        if not is_workload(resource.resource_type):
            continue
        with judging(resource, report):
            fields = props(resource)
            ns = namespace(fields)
            labels = pod_labels(resource.resource_type, fields)
            if not any(selector.selects(labels) for selector in selectors.get(ns, [])):
                kind = resource.resource_type.rsplit(":", 1)[-1]
                report(f"no NetworkPolicy selects the pods of {kind} {ns}/{name(fields, resource.name)}.", resource.urn)


_SECRET_WORDS = {"TOKEN", "PASSWORD", "PASSWD", "SECRET", "KEY", "APIKEY", "CREDENTIALS", "PRIVATE"}
_REFERENCE_SUFFIXES = {"FILE", "PATH", "DIR", "ID", "NAME"}


def looks_secret(name: str) -> bool:
    """``API_TOKEN`` or ``db-password`` yes; ``API_TOKEN_FILE`` (a path) and ``MAX_TOKENS`` no."""
    parts = [part for part in re.split(r"[^A-Za-z0-9]+", name.upper()) if part]
    if not parts or parts[-1] in _REFERENCE_SUFFIXES:
        return False
    return any(part in _SECRET_WORDS for part in parts)


@resource_rule(
    "no-literal-secret-env",
    "No secret-looking environment variable or ConfigMap key carries a literal value.",
    severity="high",
    remediation="Keep secrets in a Secret (the AiService `secretEnv` key mounts them as files) and reference it.",
)
def no_literal_secret_env(args: ResourceValidationArgs, config: Config, report: ReportViolation) -> None:
    fields = props(args)
    if args.resource_type == "kubernetes:core/v1:ConfigMap":
        for key, _ in fields["data"].entries():
            if looks_secret(key):
                report(
                    f"ConfigMap key '{key}' looks like a secret; ConfigMaps are not encrypted or access-limited.", None
                )
        return
    for label, container in containers(pod_spec(args.resource_type, fields)):
        for variable in container["env"].objects():
            variable_name, value = variable["name"].string() or "", variable["value"].string()
            if looks_secret(variable_name) and value:
                report(f"{describe(label, container)} sets {variable_name} to a literal value.", None)
