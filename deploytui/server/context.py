"""The server context: what every operation handler may use, one per server.

Its own module so the handlers (operations.py, deploy_op.py, lifecycle_ops.py) and the app that
dispatches to them both import it, and none of them imports another in a circle. The handler
registry stays with the app (server/app.py): here it would close that circle again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from .auth import Authenticator
from .config import ServerConfig
from .engine import Engine
from .lifecycle import ServerLife
from .recorder import EventHub
from .store import Store

log = logging.getLogger(__name__)


@dataclass
class ServerContext:
    """What every operation handler may use; one per server."""

    config: ServerConfig
    store: Store
    hub: EventHub
    engine: Engine
    auth: Authenticator
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    life: ServerLife = field(default_factory=ServerLife)

    def start_task(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a deploy independently of the request that started it, keeping a reference."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Deploy failures are recorded by the engine; this only makes sure nothing is silent.
            log.debug("deploy task ended with %r", task.exception())
