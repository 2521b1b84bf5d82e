"""One HTTP client per test process for the tests' own requests to the processes they start.

``httpx.get`` and its siblings build a client for each call, and with it an SSL context that
loads every CA certificate; the tests' polls call them thousands of times. ``HTTP`` has the
same defaults (a 5 s timeout, no redirects followed) and keeps no connection alive, so each
request opens a connection of its own as ``httpx.get`` does, and it never stores a cookie."""

from __future__ import annotations

from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

HTTP = httpx.Client(
    limits=httpx.Limits(max_keepalive_connections=0),
    cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
)
