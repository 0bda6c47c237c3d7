"""What a stateful release leaves behind when it is deleted: its volumes, and in prod the release itself.

``protect`` stops ``pulumi destroy`` (and a replacement) with an error;
``retain_on_delete`` additionally makes a deliberate delete (after
``pulumi state unprotect``) drop the release from the stack without
uninstalling it from the cluster. PVCs a chart creates itself carry
``helm.sh/resource-policy: keep`` where the chart lets us annotate them, so
even a Helm uninstall leaves the data. README.md ("What `pulumi destroy`
leaves behind") says how to delete it on purpose.
"""

from __future__ import annotations

import pulumi

#: Helm leaves a resource with this annotation in place on uninstall (helm ``pkg/action/resource_policy.go``).
KEEP_ON_UNINSTALL = {"helm.sh/resource-policy": "keep"}
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"


def _retain_release(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
    if args.type_ != RELEASE_TYPE:
        return None
    opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(retain_on_delete=True))
    return pulumi.ResourceTransformationResult(args.props, opts)


def retained(stateful: bool) -> pulumi.ResourceOptions:
    """Options for an add-on component whose Helm release keeps data: its release is retained on delete.

    ``HelmAddon`` passes ``protect`` to its release; ``retain_on_delete`` is not
    inherited from a parent, so a transformation (inherited by every child)
    sets it on the one child of the add-on that is a Release.
    """
    return pulumi.ResourceOptions(transformations=[_retain_release]) if stateful else pulumi.ResourceOptions()
