"""The live layer: WebSockets for conversations and waiting rooms over a bus port, wired into the app."""

from hub.live.wiring import mount_live

__all__ = ["mount_live"]
