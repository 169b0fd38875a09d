"""``societas dashboard``: serve the browser dashboard of a run, a folder of runs or an
experiment, read-only, on 127.0.0.1 unless ``--host`` says otherwise."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

__all__ = ["dashboard_command", "serve"]

_err = Console(stderr=True, soft_wrap=True)


async def serve(target: Path, host: str, port: int, *, poll_s: float = 1.0) -> None:
    """Serve until cancelled; prints the address (with the port the OS chose for port 0)."""
    from aiohttp import web

    from societas.web.app import create_app

    loopback = host in ("127.0.0.1", "localhost", "::1")
    app = create_app(target, poll_s=poll_s, hosts=None if loopback else set())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # aiohttp keeps the bound sockets here
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    shown = f"[{host}]" if ":" in host else host
    _err.print(
        Text(f"dashboard of {target} at http://{shown}:{bound}/ (Ctrl-C stops)"), highlight=False
    )
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def dashboard_command(
    target: Annotated[
        Path,
        typer.Argument(help="Run directory, folder of runs, or experiment directory."),
    ] = Path("runs"),
    port: Annotated[int, typer.Option("--port", "-p", help="Port (0: any free port).")] = 8765,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (default: this machine only).")
    ] = "127.0.0.1",
    poll: Annotated[
        float, typer.Option("--poll", help="Seconds between checks of a live run's store.")
    ] = 1.0,
) -> None:
    """Watch, replay and inspect runs and experiments in the browser (reads stores only)."""
    from societas.cli.main import errors
    from societas.web.stores import Catalog

    with errors():
        Catalog.at(target)  # a clear error before the server starts
        if host not in ("127.0.0.1", "localhost", "::1"):
            _err.print(
                Text(f"warning: serving on {host}: anyone who can reach it can read these runs"),
                highlight=False,
            )
        asyncio.run(serve(target, host, port, poll_s=poll))
