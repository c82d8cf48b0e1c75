"""Keep credentials out of the worker's log.

A Slack incoming-webhook URL is a credential (its path grants posting), as are tokens in
query strings and ``user:password@`` in a URL. httpx logs every request line at INFO
(``HTTP Request: POST https://hooks.slack.com/services/T…/B…/SECRET "HTTP/1.1 200 OK"``)
and httpcore logs headers at DEBUG. :func:`redact_http_logs` puts a filter on those loggers
that keeps only a URL's scheme, host and port and drops header lists.

>>> RedactCredentials.redact('POST https://u:pw@hooks.example/services/T1/B2/s3cr3t?k=v "200"')
'POST https://hooks.example/<redacted> "200"'
"""

from __future__ import annotations

import logging
import re

__all__ = ["HTTP_LOGGERS", "RedactCredentials", "redact_http_logs"]

#: httpx and every httpcore logger (a filter on a parent logger does not see its children's
#: records, so each is named).
HTTP_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)

_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)(?:[^@/\s\"'<>]*@)?([^/\s\"'<>?#]+)[^\s\"'<>]*")
_HEADERS = re.compile(r"\[\(b'.*\)\]", re.S)


class RedactCredentials(logging.Filter):
    """Rewrite a record's message with URLs cut to scheme://host[:port] and no headers."""

    @staticmethod
    def redact(text: str) -> str:
        text = _URL.sub(r"\1\2/<redacted>", text)
        return _HEADERS.sub("[<headers redacted>]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: show nothing of its arguments
            message = str(record.msg)
        record.msg, record.args = self.redact(message), ()
        return True


def redact_http_logs() -> None:
    """Install :class:`RedactCredentials` on the httpx and httpcore loggers (idempotent)."""
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactCredentials) for f in logger.filters):
            logger.addFilter(RedactCredentials())
