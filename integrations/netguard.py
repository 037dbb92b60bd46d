"""Webhook targets must be public addresses: no requests into LeadBridge's own network.

An integrator chooses the URL LeadBridge POSTs to, so without a guard a webhook
could reach the database, the cache, a cloud metadata service or an admin page
on the server's network (server-side request forgery). Two checks:

* when a subscription is saved, a URL whose host is a private, loopback,
  link-local or otherwise non-public IP literal, or a localhost name, is
  refused with a field error (a name is not resolved then: it may be fine now
  and point elsewhere later);
* when a delivery connects, the address the socket actually reached is checked
  before a byte is sent (also TLS), so a name that resolves — or is re-pointed —
  to such an address gets nothing either.

LEADBRIDGE_WEBHOOK_PRIVATE_TARGETS=true lifts both, for integrations on an
intranet and for tests with a receiver on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class PrivateAddressError(OSError):
    """The delivery's connection reached a non-public address; nothing was sent."""


def private_targets_allowed() -> bool:
    return settings.LEADBRIDGE_WEBHOOK_PRIVATE_TARGETS


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def validate_public_url(value: str) -> None:
    """A field validator: refuse URLs that name a non-public host outright."""
    if private_targets_allowed():
        return
    host = (urlsplit(value).hostname or "").rstrip(".").lower()
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        public = False
    else:
        try:
            public = is_public(host)
        except ValueError:
            return  # a name: checked against what it resolves to when a delivery connects
    if not public:
        raise ValidationError(
            _(
                "Webhooks can only be sent to public addresses, not to %(host)s "
                "(a private, loopback or link-local address)."
            ),
            code="private_address",
            params={"host": host},
        )


def _create_public_connection(address, *args, **kwargs) -> socket.socket:
    sock = socket.create_connection(address, *args, **kwargs)
    peer = sock.getpeername()[0]
    if not is_public(peer):
        sock.close()
        raise PrivateAddressError(f"{address[0]} is {peer}, not a public address: not sent")
    return sock


class _PublicHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _create_public_connection


class _PublicHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _create_public_connection


class PublicHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        if private_targets_allowed():
            return super().http_open(req)
        return self.do_open(_PublicHTTPConnection, req)


class PublicHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        if private_targets_allowed():
            return super().https_open(req)
        return self.do_open(_PublicHTTPSConnection, req, context=self._context)
