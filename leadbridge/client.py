"""Who is calling: the client's address, the one rule for every limit keyed by address.

The public web form's rate limit, the API's password-login throttle and the log-in
lockout (django-axes, AXES_CLIENT_IP_CALLABLE) all count per address; they must agree
on it, and none may take it from a header a client can set.
"""

from django.conf import settings


def client_ip(request) -> str:
    """REMOTE_ADDR, or the address the nearest trusted proxy saw.

    Behind LEADBRIDGE_TRUSTED_PROXIES reverse proxies, each appends the address it
    was called from to X-Forwarded-For, so the entry that many hops from the end is
    the one the outermost trusted proxy wrote; what stands before it the client
    wrote itself. With 0 (the default) the header is ignored.
    """
    hops = settings.LEADBRIDGE_TRUSTED_PROXIES
    if hops:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "")
