"""The models one daemon runs, opened at start: the serving package (the champion, and the
switcher that replaces it) and the shadow packages beside it.

The serving package is loaded and verified, put on its backend and warmed up
(with its saliency explainer) before anything reads files: a package that
cannot serve refuses the start. Each ``inference.shadow`` package is then
opened on the same backend machinery; one that cannot run is logged and left
out with its reason (:attr:`Lineup.refused`, listed by ``/api/v1/models``),
because a candidate never keeps the serving package from starting. Everything
opened here is closed, in reverse, when the block ends or a later open fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.goes.scores import SkillRow
from monitor.inference import InferenceSettings
from monitor.logs import get_logger
from monitor.models import ModelPackage, default_package_path, load_package
from monitor.observe.metrics import Metrics
from monitor.observe.sdnotify import SystemdNotifier
from monitor.pipeline.gauges import BatchGauges
from monitor.pipeline.roster import ModelRoster
from monitor.pipeline.serving import Champion, open_serving
from monitor.pipeline.shadow import ShadowModel, open_shadow
from monitor.pipeline.switch import ModelSwitcher, show_model
from monitor.saliency import SaliencySettings

__all__ = ["Lineup", "open_lineup"]

log = get_logger(__name__)

#: What model verification, backend load and warm-up may take, asked of systemd
#: (a slow box outlasts the unit's TimeoutStartSec otherwise).
START_TIMEOUT_S = 300


@dataclass(frozen=True)
class Lineup:
    """The opened models.

    Attributes
    ----------
    champion : Champion
        The serving model (it owns every model it serves, and closes them).
    switcher : ModelSwitcher
        Replaces the champion on ``SIGHUP`` or a new package on disk; its
        :meth:`~ModelSwitcher.run` is the daemon's to start.
    shadows : list of ShadowModel
        The shadow packages that run.
    refused : dict
        Shadow package paths that could not start, with the reason.
    """

    champion: Champion
    switcher: ModelSwitcher
    shadows: list[ShadowModel]
    refused: dict[str, str]

    def roster(self, scores: Callable[[], list[SkillRow]] | None) -> ModelRoster:
        """The packages as the API lists them, with ``scores`` from GOES when it runs."""
        return ModelRoster(lambda: self.champion.current().package, self.shadows,
                           self.refused, scores)


@contextlib.asynccontextmanager
async def open_lineup(settings: InferenceSettings, saliency: SaliencySettings, cache_dir: Path,
                      *, metrics: Metrics, notifier: SystemdNotifier,
                      requests: asyncio.Event,
                      more_coming: Callable[[], bool]) -> AsyncIterator[Lineup]:
    """Open the serving package and the shadows (see the module docstring).

    ``requests`` is the event ``SIGHUP`` sets to reload the serving package;
    ``more_coming`` tells the serving batcher that frames wait, so it does not
    hold a batch open for them.
    """
    path = Path(settings.model_package or default_package_path())
    notifier.extend_timeout(START_TIMEOUT_S)
    notifier.status("loading model package")
    package = await asyncio.to_thread(load_package, path, settings.verify_package)
    show_model(metrics, package.identity)
    # a package that replaces a serving one has its engine built first
    open_model = functools.partial(
        open_serving, settings=settings, saliency=saliency, cache_dir=cache_dir,
        observers=[BatchGauges(metrics)], more_coming=more_coming, finish_build=True)
    async with contextlib.AsyncExitStack() as stack:
        notifier.status("warming up the inference backend and the saliency explainer")
        champion = Champion(await open_model(package, finish_build=False))
        stack.push_async_callback(champion.close)
        switcher = ModelSwitcher(
            champion=champion, path=path, verify=settings.verify_package,
            open_model=open_model, requests=requests, watch_s=settings.package_watch_s,
            metrics=metrics, on_switched=functools.partial(show_model, metrics))
        refused: dict[str, str] = {}
        shadows = await _open_shadows(stack, package, settings, cache_dir, notifier, refused)
        yield Lineup(champion, switcher, shadows, refused)


async def _open_shadows(stack: contextlib.AsyncExitStack, serving: ModelPackage,
                        settings: InferenceSettings, cache_dir: Path,
                        notifier: SystemdNotifier, refused: dict[str, str]) -> list[ShadowModel]:
    """Each ``inference.shadow`` package that runs; the others go to ``refused``."""
    models: list[ShadowModel] = []
    labels = {serving.identity.label}
    for path in settings.shadow:
        notifier.status(f"starting shadow package {path}")
        try:
            model = await open_shadow(path, serving, settings, cache_dir)
        except Exception as exc:  # noqa: BLE001 - any refusal: say why, serve without it
            _refuse(refused, path, f"{type(exc).__name__}: {exc}")
            continue
        stack.push_async_callback(model.close)
        if model.label in labels:
            _refuse(refused, path, f"another package already runs as {model.label} "
                                   "(name:version)")
            continue
        labels.add(model.label)
        models.append(model)
        log.info("shadow package started", package=model.label, sha256=model.package.sha256,
                 provenance=model.identity.provenance.describe(), backend=model.backend)
    return models


def _refuse(refused: dict[str, str], path: Path, reason: str) -> None:
    refused[str(path)] = reason
    log.error("shadow package refused", path=str(path), error=reason)
