"""The model layer: validated stack configuration, imported by everything above it, importing no Pulumi SDK."""
