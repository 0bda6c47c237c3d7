"""Helm add-ons, one per module, on the ``HelmAddon`` base (``base.py``); ``ClusterAddons`` composes the cluster's."""
