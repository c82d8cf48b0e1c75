"""The stream layer: the only package that knows Kafka (faust on aiokafka).

Reading order: ``settings.py`` (every ``INFERSIGHT_*`` variable), ``topics.py`` (every topic,
once), ``agents.py`` (one agent per hop: score_events, evaluate_rules, notify_alerts,
deliver_alerts; ``hops.py`` is what they share, ``score.py`` the ingest hop), ``metrics.py`` and
``stages.py`` (``/metrics``: counters, gauges, per-stage timing), ``otel.py`` (score_spans: OTel
GenAI spans through the same hop), ``feedback.py`` (store_feedback), ``app.py`` (builds the
faust app from settings; health, bounded shutdown), ``logsafety.py`` (no credentials in HTTP
client logs), ``cli.py`` (the ``infersight`` command, with ``cli_analyst.py``, ``cli_alerts.py``
and ``cli_dataset.py``), ``summary.py`` (the demo's closing summary), ``publish.py`` (the
publisher helper for services), ``broker.py`` and ``demo.py`` (the embedded default). The store
while the worker runs: ``owner.py`` (one owner per embedded directory, ``worker.json``),
``serve.py`` (what is served: the SELECT gate, limits, formats), ``api.py`` (its HTTP
endpoints), ``live/`` (the live page), ``remote.py`` (the command line through the worker).
"""

__all__: list[str] = []
