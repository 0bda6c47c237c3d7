"""The ai-platform policy pack: replica, resource, security, supply-chain, data-safety and cost rules.

The pack is a product of its own: ``pulumi policy publish`` ships only the
``policies/`` folder, so nothing here imports the program. The pure modules
(``quantity``, ``kube``, ``cost``) import nothing beyond the standard library,
so the program's model layer reuses them instead of keeping second copies.
The rules and the ``PolicyPack`` list live in ``pack``; importing this
package alone starts nothing and needs no Pulumi SDK.
"""

PACK_NAME = "ai-platform-policies"
