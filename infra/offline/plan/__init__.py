"""The cost-versus-response capacity planner (``python -m infra.offline plan``).

Layers, each a small module: ``command`` (the CLI hook), ``prometheus`` (the
HTTP client), ``observe`` (the series one service is planned from),
``capacity`` (requests/s per replica at the SLO), ``solver`` (least cost
subject to the SLO, lambda when it cannot be met), ``sizing`` (CPU and
memory requests), ``service_plan`` (one service, end to end), ``evidence``
(what drove it, and the confidence), ``patch`` (the stack-file patch),
``planner`` (a whole stack) and ``report`` (JSON, text, Markdown).
"""
