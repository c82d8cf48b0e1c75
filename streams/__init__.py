"""The stream layer: the only package that knows Kafka (faust on aiokafka).

Reading order: ``settings.py`` (every ``INFERSIGHT_*`` variable), ``topics.py`` (every topic,
once), ``agents.py`` (one agent per hop: score_events, evaluate_rules, notify_alerts),
``otel.py`` (score_spans: OTel GenAI spans through the same hop), ``feedback.py``
(store_feedback), ``app.py`` (builds the faust app from settings), ``cli.py`` (the
``infersight`` command, with ``cli_analyst.py``, ``cli_alerts.py`` and ``cli_dataset.py``),
``summary.py`` (the demo's closing summary), ``publish.py`` (the publisher helper for
services), ``broker.py`` and ``demo.py`` (the embedded default).
"""

__all__: list[str] = []
