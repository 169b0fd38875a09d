"""Start, resume and finish runs: wires scenario, model stack, store and simulation together."""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import signal
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
from pydantic import BaseModel

from societas import __version__
from societas.engine.health import check_model_servers, preflight_record, server_key
from societas.engine.options import RunOptions
from societas.engine.settings import (
    Budget,
    Execution,
    MindSettings,
    ModelSettings,
    Schedule,
    Spending,
    Storage,
)
from societas.engine.simulation import Progress, RunInterrupted, Simulation
from societas.llm import BackendOptions, Gateway, ResponseCache, build_stack, create_backend
from societas.llm.budget import (
    BudgetLimits,
    BudgetMonitor,
    Price,
    price_table,
    spend_from_rows,
)
from societas.llm.human import HUMAN_MODEL_ID
from societas.llm.openai import redact_url
from societas.llm.preflight import PreflightResult
from societas.llm.registry import parse_spec
from societas.llm.routing import RoutedModel, replay_spec_for
from societas.llm.wrappers import OutageMonitor
from societas.mind import Mind
from societas.mind.generative import mind_factory, scenario_mind_config
from societas.population import Executor, build_executor
from societas.store import DirectoryLock, RunStore, lock_directory
from societas.store.check import check_store
from societas.store.lock import LOCK_NAME
from societas.typing import (
    ConfigError,
    LanguageModel,
    Persona,
    Sampling,
    SocietasError,
    StoreError,
)
from societas.typing.events import PROCESS_EVENT_KINDS
from societas.typing.scenario import Scenario, ScriptedPolicy, World

__all__ = [
    "Assembly",
    "RunHandle",
    "api_key_from",
    "assemble",
    "budget_monitor",
    "prepare_resume",
    "prepare_run",
    "probe_interventions",
    "run_sync",
    "stored_settings",
]

API_KEY_ENV = ("SOCIETAS_API_KEY", "OPENAI_API_KEY")


_HELD: list[signal.Signals] = []


def hold_stop_signals() -> None:
    """Until a run installs its own handlers (``RunHandle.run``), hold a first Ctrl-C or
    SIGTERM and act on it as a stop request when the run starts (status ``interrupted``, not a
    process killed with its store left ``running``); a second one stops at once
    (``KeyboardInterrupt``). For the command's own process only: it replaces the handlers."""
    if threading.current_thread() is not threading.main_thread():
        return

    def held(signum: int, _frame: object) -> None:
        if _HELD:
            raise KeyboardInterrupt
        _HELD.append(signal.Signals(signum))

    _HELD.clear()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, held)


@dataclass
class RunHandle:
    """A simulation ready to run, plus what must be closed after it."""

    simulation: Simulation
    store: RunStore
    backend: LanguageModel
    cache: ResponseCache
    start_tick: int
    resumed: bool
    out: Path
    executor: Executor | None = None
    lock: DirectoryLock | None = None
    # What the probe before tick 0 found for each OpenAI-compatible model (none for others).
    preflight: dict[str, PreflightResult] = field(default_factory=dict)

    async def run(
        self, *, handle_sigint: bool = False, notify: Callable[[str], None] | None = None
    ) -> dict[str, float]:
        """Run to the end. With ``handle_sigint``, Ctrl-C or SIGTERM stops after the current
        tick (status ``interrupted``, resumable; ``notify`` is told so); a second one stops at
        once: the open tick is dropped, nothing else, and ``RunInterrupted`` is raised."""
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        main = asyncio.current_task()
        stopped_now = False

        def _on_signal(sig: signal.Signals) -> None:
            nonlocal stopped_now
            if self.simulation.stop_requested:
                if main is not None and not stopped_now:
                    stopped_now = True
                    main.cancel()
                return
            self.simulation.request_stop()
            if notify is not None:
                word = "Ctrl-C" if sig == signal.SIGINT else sig.name
                notify(f"{word}: stopping after this tick (Ctrl-C again to stop now)")

        if handle_sigint and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, _on_signal, sig)
                installed.append(sig)
            while _HELD:  # a stop request that came while the run was being prepared
                _on_signal(_HELD.pop(0))
        try:
            return await self.simulation.run(self.start_tick, resumed=self.resumed)
        except asyncio.CancelledError:
            if not stopped_now or main is None:
                raise
            main.uncancel()
            done = int(self.store.run_info()["ticks_completed"])
            raise RunInterrupted(done) from None
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self.backend.aclose()

    def close(self) -> None:
        try:
            if self.executor is not None:
                self.executor.close()
            self.store.close()
            self.cache.close()
        finally:
            lock, self.lock = self.lock, None  # closing twice releases once
            if lock is not None:
                lock.release()


def api_key_from(explicit: str | None) -> str | None:
    """The API key: the one given, else ``SOCIETAS_API_KEY``, else ``OPENAI_API_KEY``."""
    if explicit:
        return explicit
    for name in API_KEY_ENV:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _build_gateway(
    policy: Callable[[], ScriptedPolicy | None],
    out: Path,
    api_key: str | None,
    *,
    models: ModelSettings,
    execution: Execution,
    storage: Storage,
    spending: Spending,
    formats: dict[str, PreflightResult] | None = None,
    outage: OutageMonitor | None = None,
    budget: BudgetMonitor | None = None,
) -> tuple[Gateway, LanguageModel, ResponseCache]:
    """The run's model stack and gateway: who is answered by which model (``ModelSettings``),
    how calls are sent (``Execution``), where answers are cached (``Storage``) and what they
    cost (``Spending``); ``policy`` makes each backend's scripted policy."""
    cache_path = Path(storage.cache) if storage.cache else out / "cache.db"
    cache_existed = _exists(cache_path)
    cache = ResponseCache(cache_path)
    is_replay = parse_spec(models.model)[0] == "replay"

    def stack_for(spec: str, base_url: str | None) -> tuple[LanguageModel, LanguageModel]:
        backend = create_backend(
            spec,
            BackendOptions(
                base_url=base_url,
                api_key=api_key_from(api_key),
                scripted_policy=policy(),
                cache=cache,
                n_ctx=models.n_ctx,
                request_timeout_s=execution.request_timeout_s,
                response_format=_format_for(formats, spec, base_url),
                run_dir=out,
            ),
        )
        person = parse_spec(spec)[0] == "human"
        stack = build_stack(
            backend,
            cache=None if parse_spec(spec)[0] == "replay" else cache,
            max_concurrency=execution.max_concurrency,
            # A person is not a server: no request timeout (the phase deadline still holds),
            # no retries, no circuit breaker, no outage.
            timeout_s=None if person else execution.request_timeout_s,
            max_attempts=1 if person else execution.max_attempts,
            base_delay_s=execution.retry_base_delay_s,
            breaker_threshold=None if person else (execution.breaker_threshold or None),
            breaker_cooldown_s=execution.breaker_cooldown_s,
            outage=None if person else outage,
            # A replayed answer or a person's costs nothing: no budget.
            budget=None if person or parse_spec(spec)[0] == "replay" else budget,
        )
        return backend, stack

    routes_spec = models.routes()
    main_spec = models.model
    if is_replay and routes_spec and parse_spec(main_spec)[1] is None:
        # The cache holds every route's answers; the default model is the one no route names.
        named = {
            replay_spec_for(r.model, f"run.models[{i}].model").partition(":")[2]
            for i, r in enumerate(routes_spec)
        }
        rest = [m for m in cache.models() if m not in named]
        if len(rest) == 1:
            main_spec = f"replay:{rest[0]}"
    backend, stack = stack_for(main_spec, models.base_url)
    if routes_spec:
        # A replayed run replays every route too, each impersonating the model it named.
        routes = []
        backends = []
        for i, route in enumerate(routes_spec):
            spec = (
                replay_spec_for(route.model, f"run.models[{i}].model") if is_replay else route.model
            )
            route_backend, route_stack = stack_for(spec, route.base_url or models.base_url)
            routes.append((route.agents, route_stack))
            backends.append((route.agents, route_backend))
        stack = RoutedModel(stack, routes)
        backend = RoutedModel(backend, backends)
    gateway = Gateway(stack, repair=models.repair, price_per_1k_tokens=spending.price_per_1k_tokens)
    if spending.budget.cost is not None:
        ids = [stack.default.model_id] if isinstance(stack, RoutedModel) else [stack.model_id]
        if isinstance(stack, RoutedModel):
            ids += [route.model_id for _, route in stack.routes]
        unpriced = [m for m in ids if m not in spending.prices and m != HUMAN_MODEL_ID]
        if unpriced and spending.price_per_1k_tokens <= 0:
            cache.close()
            if not cache_existed:  # the run does not start: leave nothing behind
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{cache_path}{suffix}").unlink(missing_ok=True)
            raise ConfigError(
                "run.prices",
                f"prices.{unpriced[0]}",
                "a price for every model the run uses when run.budget.cost is set "
                "(run.prices.MODEL.prompt and .completion per 1M tokens, or "
                "run.price_per_1k_tokens)",
                "none",
            )
    return gateway, backend, cache


def budget_monitor(
    spending: Spending, spent: Sequence[tuple[str, int, int, int]] = ()
) -> BudgetMonitor:
    """The run's budget and spend; ``spent`` is what its store recorded (a resumed run),
    whose calls answered by a person at a seat cost nothing."""
    spent = [row for row in spent if row[0] != HUMAN_MODEL_ID]
    price = price_table(
        {m: Price(p.prompt, p.completion) for m, p in spending.prices.items()},
        spending.price_per_1k_tokens,
    )
    b = spending.budget
    return BudgetMonitor(
        BudgetLimits(calls=b.calls, tokens=b.tokens, cost=b.cost),
        price=price,
        spent=spend_from_rows(spent, price),
    )


def _format_for(
    formats: dict[str, PreflightResult] | None, spec: str, base_url: str | None
) -> str | None:
    found = (formats or {}).get(server_key(spec, base_url))
    return found.response_format if found is not None else None


@dataclass(frozen=True)
class Assembly:
    """A run's world, agents and how their minds are built: what run, resume, sweep and
    interviews all build the one way (``assemble``)."""

    world: World
    personas: list[Persona]
    # Builds an agent's mind (also those of agents added by interventions, and rebuilt on
    # resume or for an interview).
    make_mind: Callable[[Persona], Mind]
    sampling: Sampling
    rng: np.random.Generator  # the simulation's one RNG, after the world was built


def assemble(
    scenario: Scenario,
    config: BaseModel,
    options: RunOptions,
    personas_override: Sequence[Persona] = (),
) -> Assembly:
    """Build the world and the agents of a run from its settings (the seed's RNG first)."""
    rng = np.random.default_rng(options.seed)
    world, personas = scenario.build(config, rng, personas_override)
    sampling = options.part(ModelSettings).sampling
    minds = options.part(MindSettings)
    # A scenario whose ``mind_config(config)`` gives a MindConfig gets generative minds.
    mind_config = scenario_mind_config(scenario, config)
    make_mind = mind_factory(
        sampling=sampling,
        mind_config=mind_config,
        memory_top_k=minds.memory_top_k,
        memory_tokens=minds.memory_tokens,
        scripted_policy=(
            scenario.scripted_policy(config)
            if mind_config is not None and mind_config.fast_policy
            else None
        ),
    )
    return Assembly(world, list(personas), make_mind, sampling, rng)


def stored_settings(
    scenario: Scenario, info: Mapping[str, Any]
) -> tuple[BaseModel, RunOptions, list[Persona]]:
    """A stored run's scenario config, run options and personas (``RunStore.run_info()``)."""
    config = scenario.config_model.model_validate(info["config"]["scenario"])
    options = RunOptions.model_validate(info["config"]["run"])
    personas = [Persona.model_validate(p) for p in info["config"].get("personas", [])]
    return config, options, personas


def _build_simulation(
    scenario: Scenario,
    config: BaseModel,
    options: RunOptions,
    store: RunStore,
    gateway: Gateway,
    on_progress: Callable[[Progress], None] | None,
    personas_override: Sequence[Persona] = (),
    outage: OutageMonitor | None = None,
    budget: BudgetMonitor | None = None,
) -> Simulation:
    built = assemble(scenario, config, options, personas_override)
    execution = options.part(Execution)
    schedule = options.part(Schedule)
    return Simulation(
        scenario=scenario,
        config=config,
        world=built.world,
        minds={p.id: built.make_mind(p) for p in built.personas},
        gateway=gateway,
        store=store,
        seed=options.seed,
        rng=built.rng,
        deadline_s=execution.deadline_s,
        on_progress=on_progress,
        interventions=list(schedule.interventions),
        surveys=list(schedule.surveys),
        mind_factory=built.make_mind,
        sampling=built.sampling,
        outage=outage,
        budget=budget,
        max_fallback_rate=execution.max_fallback_rate,
    )


def _check_runner(world: World, execution: Execution) -> None:
    if not world.uses_executor and (
        execution.runner != "local" or execution.shards not in (None, 1)
    ):
        raise ConfigError(
            "run.runner",
            "runner",
            "'local' with 1 shard for a scenario without population arrays",
            f"{execution.runner} with {execution.shards or 'default'} shards",
        )


def _attach_executor(
    world: World, store: RunStore, execution: Execution, storage: Storage
) -> Executor | None:
    """Hand a population world its executor (``run.runner``) and apply snapshot retention."""
    keep = storage.keep_snapshots
    store.keep_snapshots = keep if keep is not None else world.keep_snapshots
    _check_runner(world, execution)
    if not world.uses_executor:
        return None
    executor = build_executor(
        execution.runner, shards=execution.shards, address=execution.ray_address
    )
    try:
        world.use_executor(executor)
    except BaseException:
        executor.close()
        raise
    return executor


def stored_config(
    config: BaseModel, options: RunOptions, personas: Sequence[Persona] = ()
) -> dict[str, Any]:
    """What the store keeps of a run's settings: a password in a base URL never (``***``)."""
    run = options.model_dump(mode="json")
    if run.get("base_url"):
        run["base_url"] = redact_url(run["base_url"])
    for route in run.get("models", []):
        if route.get("base_url"):
            route["base_url"] = redact_url(route["base_url"])
    stored: dict[str, Any] = {"scenario": config.model_dump(mode="json"), "run": run}
    if personas:
        stored["personas"] = [p.model_dump(mode="json") for p in personas]
    return stored


def make_directory(out: Path) -> None:
    """Create ``out`` (and its parents); a ``ConfigError`` if a file is in the way."""
    try:
        for path in (out, *out.parents):
            if path.exists() and not path.is_dir():
                raise ConfigError("--out", "out", "a directory (this is a file)", str(path))
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            "--out", "out", f"a directory that can be created ({exc.strerror})", str(out)
        ) from exc


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long for the file system: make_directory says so
        return True


def _remove_if_empty(created: list[Path], out: Path) -> None:
    """A run that could not start (a server that cannot serve, a bad intervention) leaves no
    half-made directory: the folders this command created go again if they hold nothing but
    the lock file."""
    lock_file = out / LOCK_NAME
    if lock_file.exists() and [p.name for p in out.iterdir()] == [LOCK_NAME]:
        lock_file.unlink(missing_ok=True)
    for path in created:  # deepest first
        try:
            path.rmdir()
        except OSError:
            return  # not empty: something else is there


_Prepare = TypeVar("_Prepare", bound=Callable[..., RunHandle])


def _writer(what: str) -> Callable[[_Prepare], _Prepare]:
    """Hold the run directory's write lock (``societas.store.lock``) from before the store is
    looked at until the handle is closed: one writer per run, across processes."""

    def wrap(prepare: _Prepare) -> _Prepare:
        signature = inspect.signature(prepare)

        @functools.wraps(prepare)
        def locked(*args: Any, **kwargs: Any) -> RunHandle:
            out = Path(signature.bind_partial(*args, **kwargs).arguments["out"])
            created = [p for p in (out, *out.parents) if not _exists(p)]
            if what == "run":
                make_directory(out)
            elif not out.is_dir():
                RunStore.open(out, readonly=True).close()  # the clear "no run store here"
            lock = lock_directory(out if out.is_dir() else out.parent, what)
            try:
                handle = prepare(*args, **kwargs)
            except BaseException:
                lock.release()
                _remove_if_empty(created, out)
                raise
            handle.lock = lock
            return handle

        return cast("_Prepare", locked)

    return wrap


def _restore_password(options: RunOptions) -> RunOptions:
    """A resumed run whose stored base URL had its password redacted takes the URL (with the
    password) from SOCIETAS_OPENAI_BASE_URL or OPENAI_BASE_URL, which must name the same
    server."""
    url = options.base_url
    if not url or (":***@" not in url and "//***@" not in url):
        return options
    for name in ("SOCIETAS_OPENAI_BASE_URL", "OPENAI_BASE_URL"):
        given = os.environ.get(name, "").rstrip("/")
        if given and redact_url(given) == url.rstrip("/"):
            return options.model_copy(update={"base_url": given})
    raise ConfigError(
        "run.base_url",
        "base_url",
        "the server URL with its password in SOCIETAS_OPENAI_BASE_URL (passwords are never stored)",
        url,
    )


def probe_interventions(
    scenario: Scenario,
    config: BaseModel,
    options: RunOptions,
    personas: Sequence[Persona] = (),
) -> World:
    """A probe world (never run) that tells the number of ticks and tries the interventions'
    setting and population changes in tick order, as the run will, and checks that every
    ``run.human`` seat names an agent, so a bad one is a ``ConfigError`` before anything is
    recorded."""
    probe_world, probe_personas = scenario.build(
        config, np.random.default_rng(options.seed), personas
    )
    known = {p.id for p in probe_personas}
    for intervention in sorted(options.part(Schedule).interventions, key=lambda i: i.tick):
        if intervention.set:
            probe_world.apply_settings(intervention.set)
        if intervention.remove:
            probe_world.remove_agents(intervention.remove)
        if intervention.add:
            taken = sorted(known & {p.id for p in intervention.add})
            if taken:
                raise ConfigError("run.interventions", "add.id", "an id no agent has yet", taken[0])
            probe_world.add_agents(intervention.add)
            known |= {p.id for p in intervention.add}
    seatless = [agent for agent in options.part(ModelSettings).human if agent not in known]
    if seatless:
        raise ConfigError(
            "run.human",
            "human",
            f"ids of the run's agents (e.g. {', '.join(sorted(known)[:3])})",
            seatless[0],
        )
    return probe_world


@dataclass
class _Models:
    """What a run talks to its models through, made the same way by run and resume."""

    checked: dict[str, PreflightResult]
    outage: OutageMonitor
    budget: BudgetMonitor
    gateway: Gateway
    backend: LanguageModel
    cache: ResponseCache


def _connect(
    scenario: Scenario,
    config: BaseModel,
    options: RunOptions,
    out: Path,
    api_key: str | None,
    *,
    recorded: Mapping[str, Any] | None = None,
    spent: Sequence[tuple[str, int, int, int]] = (),
) -> _Models:
    """Probe the run's model servers (``recorded``: the formats a resumed run started with),
    then build its outage and budget monitors (``spent``: what the store recorded) and its
    gateway. A server that cannot serve raises before anything is written."""
    models, execution = options.part(ModelSettings), options.part(Execution)
    spending = options.part(Spending)
    checked = check_model_servers(models, execution, api_key_from(api_key), recorded)
    outage = OutageMonitor(execution.max_outage_s)
    budget = budget_monitor(spending, spent)
    gateway, backend, cache = _build_gateway(
        lambda: scenario.scripted_policy(config),
        out,
        api_key,
        models=models,
        execution=execution,
        storage=options.part(Storage),
        spending=spending,
        formats=checked,
        outage=outage,
        budget=budget,
    )
    return _Models(checked, outage, budget, gateway, backend, cache)


@_writer("run")
def prepare_run(
    scenario: Scenario,
    config: BaseModel,
    options: RunOptions,
    out: Path,
    *,
    api_key: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    personas: Sequence[Persona] = (),
) -> RunHandle:
    """Create the run directory and store, record ``run_started``; nothing is sent yet.
    ``personas`` (a scenario file's ``personas:``) override the scenario's by id and add
    agents."""
    if (out / "run.db").exists():
        raise ConfigError(
            "--out",
            "out",
            f"a directory without a run (it holds one; continue it with 'societas resume {out}')",
            str(out),
        )
    # Model servers first: one that cannot serve stops the command before anything is written.
    m = _connect(scenario, config, options, out, api_key)
    checked = m.checked
    probe_world = probe_interventions(scenario, config, options, personas)
    _check_runner(probe_world, options.part(Execution))
    store = RunStore.create(
        out,
        run_id=uuid.uuid4().hex[:12],
        scenario=scenario.name,
        seed=options.seed,
        model=options.model,
        config=(
            {**stored_config(config, options, personas), "preflight": preflight_record(checked)}
            if checked
            else stored_config(config, options, personas)
        ),
        num_ticks=probe_world.num_ticks(),
        version=__version__,
    )
    sim = _build_simulation(
        scenario, config, options, store, m.gateway, on_progress, personas, m.outage, m.budget
    )
    executor = _attach_executor(sim.world, store, options.part(Execution), options.part(Storage))
    try:
        sim.record_start(f"{options.model} ({m.gateway.model_id})")
    except BaseException:
        if executor is not None:
            executor.close()
        raise
    return RunHandle(sim, store, m.backend, m.cache, 0, False, out, executor, preflight=checked)


@_writer("resume")
def prepare_resume(
    out: Path,
    scenario: Scenario,
    *,
    model: str | None = None,
    api_key: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    budget: Budget | None = None,
) -> RunHandle:
    """Reopen a run at the tick after its last committed snapshot; a damaged store (any
    problem ``societas check`` finds, or a snapshot that does not restore) is a
    ``StoreError`` before anything is written. ``budget`` replaces the run's ``run.budget``
    (kept in its config for later resumes); the spend so far is read from the store."""
    problems = check_store(out)
    if problems:
        raise StoreError(
            f"{out}: the store is damaged, nothing was resumed ({len(problems)} problem(s), "
            f"the first: {problems[0]}); 'societas check {out}' lists them"
        )
    store = RunStore.open(out)
    info = store.run_info()
    config, options, personas = stored_settings(scenario, info)
    if model is not None:
        options = options.model_copy(update={"model": model})
    options = _restore_password(options)
    snap = store.latest_snapshot()
    if snap is None:
        raise StoreError(f"{store.path}: no snapshot to resume from; start the run again")
    last_tick, next_seq, state = snap
    if info["status"] == "completed":
        raise ConfigError(str(out), "status", "a run that has not completed", "completed")
    if store.kinds_from(next_seq) - PROCESS_EVENT_KINDS:
        raise StoreError(
            f"{store.path}: simulation events after the last snapshot (seq {next_seq}); the "
            "store is inconsistent, run 'societas check' on it"
        )
    new_budget = budget is not None and budget != options.budget
    if budget is not None:
        options = options.model_copy(update={"budget": budget})
    recorded = info["config"].get("preflight")
    m = _connect(
        scenario,
        config,
        options,
        out,
        api_key,
        recorded=recorded if isinstance(recorded, dict) else None,
        spent=store.spend_by_model(),
    )
    if new_budget:  # accepted (priced, servers up): later resumes keep it
        stored = dict(info["config"])
        stored["run"] = {**stored["run"], "budget": options.budget.model_dump(mode="json")}
        store.set_config(stored)
    sim = _build_simulation(
        scenario, config, options, store, m.gateway, on_progress, personas, m.outage, m.budget
    )
    executor = _attach_executor(sim.world, store, options.part(Execution), options.part(Storage))
    try:
        sim.restore(state)
    except BaseException as exc:
        if executor is not None:
            executor.close()
        if isinstance(exc, Exception) and not isinstance(exc, SocietasError):
            store.close()
            m.cache.close()
            raise StoreError(
                f"{store.path}: the snapshot of tick {last_tick} does not restore "
                f"({type(exc).__name__}: {exc}); the store is damaged, nothing was resumed"
            ) from exc
        raise
    return RunHandle(
        sim, store, m.backend, m.cache, last_tick + 1, True, out, executor, preflight=m.checked
    )


def run_sync(
    handle: RunHandle,
    *,
    handle_sigint: bool = False,
    notify: Callable[[str], None] | None = None,
) -> dict[str, float]:
    try:
        return asyncio.run(handle.run(handle_sigint=handle_sigint, notify=notify))
    finally:
        handle.close()
