"""Headers on every answer: personal data is never cached, content never sniffed, pages never
framed, and browsers keep to HTTPS once they have met the server over it.

The Content-Security-Policy is chosen by path prefix (the longest wins), so that each kind of
page says what it needs and everything else may load nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Answers here carry personal data (notes, names, tokens): no cache may keep them.
PRIVATE_PREFIX = "/api/v1/"
PUBLIC_PATHS = frozenset({"/api/v1/health"})
HSTS = "max-age=31536000"

_LOCKED_DOWN = {
    "default-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'none'",
    "frame-ancestors": "'none'",
}


def content_security_policy(**loosened: str) -> str:
    """A policy that allows nothing (no framing either), except what `loosened` lists:
    `script_src="'self' 'wasm-unsafe-eval'"`, `worker_src="'self' blob:"`, and so on."""
    directives = dict(_LOCKED_DOWN)
    directives.update({name.replace("_", "-"): value for name, value in loosened.items()})
    return "; ".join(f"{name} {value}" for name, value in directives.items())


# JSON answers and anything not listed: nothing may load, nothing may frame it.
DEFAULT_POLICIES: dict[str, str] = {"/": content_security_policy()}


class SecurityHeaders:
    """Adds the headers to every HTTP answer; `policies` maps path prefixes to their CSP."""

    def __init__(
        self, app: ASGIApp, *, policies: Mapping[str, str], behind_proxy: bool = False
    ) -> None:
        """`behind_proxy`: a trusted reverse proxy (RELAIS_TRUSTED_PROXY_COUNT) terminates
        TLS and says so in X-Forwarded-Proto; otherwise that header is ignored."""
        self.app = app
        self.behind_proxy = behind_proxy
        # Longest prefix first, so that the most specific policy wins.
        self.policies = sorted(policies.items(), key=lambda item: len(item[0]), reverse=True)

    def policy_for(self, path: str) -> str:
        for prefix, policy in self.policies:
            if path.startswith(prefix):
                return policy
        return DEFAULT_POLICIES["/"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        private = path.startswith(PRIVATE_PREFIX) and path not in PUBLIC_PATHS
        secure = scope.get("scheme") == "https" or (
            self.behind_proxy
            and dict(scope.get("headers", [])).get(b"x-forwarded-proto", b"").strip() == b"https"
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers.setdefault("Content-Security-Policy", self.policy_for(path))
                if private:
                    headers["Cache-Control"] = "no-store"
                if secure:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)
