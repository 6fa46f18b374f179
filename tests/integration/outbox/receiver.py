"""A tiny HTTP receiver for the outbox tests, run as its own process.

It records every request (method, path, Idempotency-Key, signature, body) and answers 200,
or as told through `/_control`: fail the next N requests with a status, or hold each answer for
a while (so a test can kill a worker mid-delivery). `GET /_received` returns what it saw.
Run: python -m tests.integration.outbox.receiver PORT
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from aiohttp import web


def make_app() -> web.Application:
    received: list[dict[str, Any]] = []
    control: dict[str, Any] = {"fail": 0, "status": 503, "delay": 0.0}

    async def record(request: web.Request) -> web.Response:
        body = await request.read()
        entry = {
            "method": request.method, "path": request.path, "key": request.headers.get("Idempotency-Key"),
            "signature": request.headers.get("X-Ingang-Signature"),
            "authorization": request.headers.get("Authorization"),
            "content_type": request.headers.get("Content-Type"),
            "body": body.decode() if body else "", "at": time.time(),
        }
        # Recorded on arrival (answered: None), so a test sees a request the sender never got an answer to.
        entry["answered"] = None
        received.append(entry)
        if control["delay"]:
            await asyncio.sleep(control["delay"])
        if control["fail"] > 0:
            control["fail"] -= 1
            entry["answered"] = control["status"]
            return web.Response(status=control["status"], text="told to fail")
        entry["answered"] = 200
        return web.Response(status=200, text="ok")

    async def show(_request: web.Request) -> web.Response:
        return web.json_response(received)

    async def set_control(request: web.Request) -> web.Response:
        control.update(await request.json())
        return web.json_response(control)

    async def reset(_request: web.Request) -> web.Response:
        received.clear()
        control.update(fail=0, status=503, delay=0.0)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/_received", show)
    app.router.add_post("/_control", set_control)
    app.router.add_post("/_reset", reset)
    app.router.add_route("*", "/{tail:.*}", record)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
