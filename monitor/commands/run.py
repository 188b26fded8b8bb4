"""``sdo-monitor run -c FILE``: the daemon, as systemd runs it."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from monitor.app import Daemon
from monitor.config import Config, ConfigError, load_config
from monitor.logs import get_logger, setup_logging
from monitor.publish.local_broker import LocalBroker

__all__ = ["add_subparser", "run_daemon", "serve"]

log = get_logger(__name__)


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "run", help="run the monitoring daemon",
        description="Run the daemon with a YAML config until SIGTERM/SIGINT. With no "
                    "kafka.bootstrap_servers the bundled local broker is started (for "
                    "development only: it keeps messages in memory).")
    parser.add_argument("-c", "--config", type=Path, required=True, help="YAML config file")
    parser.set_defaults(func=run_daemon)


def serve(config: Config, on_ready: Callable[[Daemon], None] | None = None,
          stop: asyncio.Event | None = None,
          on_stopped: Callable[[], None] | None = None) -> int:
    """Start the local broker if needed and run a daemon until SIGTERM/SIGINT.

    ``on_ready`` runs on the event loop once the daemon serves; ``on_stopped``
    after the daemon returned and before the local broker stops.
    """
    with ExitStack() as stack:
        bootstrap = None
        if config.kafka.uses_local_broker:
            log.warning("no kafka.bootstrap_servers: starting the bundled local broker "
                        "(in-memory, for development and the demo)")
            # relay: Debian's kcat (librdkafka 2.0) can read this broker's topics too
            broker = stack.enter_context(LocalBroker(config.kafka.local.port,
                                                     config.kafka.local.start_timeout_s,
                                                     relay=True))
            bootstrap = [broker.bootstrap]
        try:
            return asyncio.run(_main(config, bootstrap, on_ready, stop))
        finally:
            if on_stopped is not None:
                on_stopped()


async def _main(config: Config, bootstrap: list[str] | None,
                on_ready: Callable[[Daemon], None] | None, stop: asyncio.Event | None) -> int:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    daemon = Daemon(config, bootstrap)
    # systemctl reload: load the configured model package again (docs/operations.md)
    loop.add_signal_handler(signal.SIGHUP, daemon.reload)
    if on_ready is not None:
        async def notify() -> None:
            await daemon.wait_ready()
            on_ready(daemon)
        asyncio.get_running_loop().create_task(notify())
    return await daemon.run(stop)


def run_daemon(args: argparse.Namespace) -> int:
    from monitor.preflight import config_warnings, file_problems

    config = load_config(args.config)
    missing = file_problems(config)
    if missing:  # a missing CA file would surface only as endless connection warnings
        raise ConfigError(missing, str(args.config))
    setup_logging(config.logging.level, args.log_format or config.logging.format, args.verbose)
    for issue in config_warnings(config):
        log.warning("config", where=issue.path, warning=issue.message)
    return serve(config)
