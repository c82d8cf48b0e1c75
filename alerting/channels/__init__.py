"""The channels an alert reaches a human through, one module each.

Reading order: ``base.py`` (the ``Notifier`` contract, ``DeliveryError``, ``MemoryNotifier``,
the shared HTTP retries), then ``webhook.py`` (signed JSON), ``slack.py`` (a message per
group), ``pagerduty.py`` (an incident per episode), ``alertmanager.py`` (a request per group).

Secrets (a webhook's HMAC key, a Slack webhook URL, a PagerDuty routing key) are kept out of
``repr`` and of every error message and log line.
"""

from alerting.channels.alertmanager import AlertmanagerNotifier
from alerting.channels.base import AlertGroup, DeliveryError, MemoryNotifier, Notifier
from alerting.channels.pagerduty import PagerDutyNotifier
from alerting.channels.slack import SlackNotifier
from alerting.channels.webhook import WebhookNotifier

__all__ = [
    "AlertGroup",
    "AlertmanagerNotifier",
    "DeliveryError",
    "MemoryNotifier",
    "Notifier",
    "PagerDutyNotifier",
    "SlackNotifier",
    "WebhookNotifier",
]
