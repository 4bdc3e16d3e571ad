"""Members a run cannot serve: logged, shown in status, and a run that could place no order stopped.

Serving (``learning/serving.py``) turns a model line whose version is missing or whose artifact
fails its hash check into a :class:`DisabledMember`, and the ensemble votes with the members that
remain. That is right while enough remain; an operator must still hear of it (one log line per
member and line, naming the version and the failure), and the module's status must name every
line it is off on, not only the last one loaded. When no symbol's ensemble keeps enough members
to reach consensus, the run could only replay a flat book: it stops instead, with one line;
when only some symbols are short of it, each of those is named in a warning (it trades nothing).
The same holds for a promotion read while the run goes on (:func:`logging_swap`): a version whose
artifact fails its check is logged as it is swapped in, not only shown in the module's status.
A refused production artifact that an earlier production version replaces
(``learning/serving.py``) is logged as an error too, naming both versions, and its model shows
DEGRADED: it trades, on an older model than the registry says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from quantum_trader.domain.errors import NothingToServeError
from quantum_trader.learning.serving import LoadedMember
from quantum_trader.learning.watcher import Swap
from quantum_trader.models.ensemble.ensemble import Ensemble
from quantum_trader.models.ensemble.member import DisabledMember
from quantum_trader.observability.logging import get_logger
from quantum_trader.status.registry import ModuleHandle, ModuleState

log = get_logger(__name__)

#: disabled members named in the one-line error (the log has every one)
SHOWN = 4


@dataclass(frozen=True, slots=True)
class Unserved:
    """One configured member that does not serve one symbol, and why."""

    symbol: str
    model: str
    reason: str
    refused: int | None  # the version whose artifact failed to load (None: none to load)


def unserved(loaded: Mapping[str, Sequence[LoadedMember]]) -> list[Unserved]:
    """Every (symbol, member) that was disabled at load, in load order."""
    return [
        Unserved(
            symbol,
            m.member.name,
            m.member.reason if isinstance(m.member, DisabledMember) else "disabled",
            m.refused,
        )
        for symbol, members in loaded.items()
        for m in members
        if m.version is None
    ]


def report_unserved(
    loaded: Mapping[str, Sequence[LoadedMember]], handles: Mapping[str, ModuleHandle]
) -> list[Unserved]:
    """Log each disabled member (an artifact that failed its check as an error) and set each
    model's status to name every symbol it is off on: DISABLED where it serves none, DEGRADED
    where it serves some."""
    _report_fallbacks(loaded, handles)
    off = unserved(loaded)
    for u in off:
        if u.refused is not None:
            log.error(
                "model.artifact_refused",
                model=u.model,
                symbol=u.symbol,
                version=u.refused,
                reason=u.reason,
            )
        else:
            log.warning("model.member_disabled", model=u.model, symbol=u.symbol, reason=u.reason)
    for model in dict.fromkeys(u.model for u in off):
        handle = handles.get(model)
        if handle is None or not handle.enabled:
            continue
        mine = [u for u in off if u.model == model]
        serving = sum(1 for ms in loaded.values() for m in ms if m.member.name == model) - len(mine)
        reasons = "; ".join(f"{u.symbol}: {u.reason}" for u in mine)
        if serving:
            handle.set_state(ModuleState.DEGRADED, f"disabled on {len(mine)} symbol(s): {reasons}")
        else:
            handle.set_state(ModuleState.DISABLED, reasons)
    return off


def _report_fallbacks(
    loaded: Mapping[str, Sequence[LoadedMember]], handles: Mapping[str, ModuleHandle]
) -> None:
    """Log each refused production artifact served by an earlier version instead (an error:
    the newest production model is not the one trading) and mark its model DEGRADED, naming
    the version refused and the one serving."""
    by_model: dict[str, list[str]] = {}
    for symbol, members in loaded.items():
        for m in members:
            if not m.fallback:
                continue
            name = m.member.name
            log.error(
                "model.artifact_refused",
                model=name,
                symbol=symbol,
                version=m.refused,
                reason=m.refusal,
                serving=m.version,
            )
            by_model.setdefault(name, []).append(
                f"{symbol}: v{m.refused} refused ({m.refusal}); previous production "
                f"v{m.version} serves"
            )
    for model, lines in by_model.items():
        handle = handles.get(model)
        if handle is not None and handle.enabled:
            handle.set_state(ModuleState.DEGRADED, "; ".join(lines))


def _usable(ensemble: Ensemble) -> int:
    return sum(1 for m in ensemble.member_ids if m.version is not None)


def _warn_short(symbol: str, ensemble: Ensemble) -> None:
    log.warning(
        "ensemble.short_of_consensus",
        symbol=symbol,
        usable=_usable(ensemble),
        needs=ensemble.config.min_consensus,
        disabled=[m.name for m in ensemble.member_ids if m.version is None],
        effect="no order can be placed on this symbol",
    )


def logging_swap(inner: Swap | None = None) -> Swap:
    """The production watcher's swap (``inner``, else :meth:`Ensemble.replace`), logging what
    an operator must hear of when a promotion read during the run cannot be served: the refused
    artifact (an error naming the model, symbol, version and failure) or the member disabled,
    and a symbol left short of its consensus."""

    def swap(ensemble: Ensemble, symbol: str, loaded: LoadedMember) -> None:
        member = loaded.member
        reason = member.reason if isinstance(member, DisabledMember) else "disabled"
        if loaded.fallback:
            log.error(
                "model.artifact_refused",
                model=member.name,
                symbol=symbol,
                version=loaded.refused,
                reason=loaded.refusal,
                serving=loaded.version,
                when="swap",
            )
        elif loaded.refused is not None:
            log.error(
                "model.artifact_refused",
                model=member.name,
                symbol=symbol,
                version=loaded.refused,
                reason=reason,
                when="swap",
            )
        elif loaded.version is None:
            log.warning("model.member_disabled", model=member.name, symbol=symbol, reason=reason)
        if inner is None:
            ensemble.replace(member, loaded.version)
        else:
            inner(ensemble, symbol, loaded)
        if loaded.version is None and _usable(ensemble) < ensemble.config.min_consensus:
            _warn_short(symbol, ensemble)

    return swap


def check_servable(
    ensembles: Mapping[str, Ensemble],
    off: Sequence[Unserved],
    handle: ModuleHandle | None = None,
) -> None:
    """Raise :class:`NothingToServeError` (one line) when no symbol's ensemble keeps the members
    its consensus needs: every decision would be FLAT, no order could be placed. ``handle``
    (the ensemble module's) is set FAILED with the same text first. When some symbols keep it,
    the run goes on and each of the others is named in a warning."""
    if not ensembles:
        return
    short = {s: e for s, e in ensembles.items() if _usable(e) < e.config.min_consensus}
    if len(short) < len(ensembles):
        for symbol, ensemble in short.items():
            _warn_short(symbol, ensemble)
        return
    needed = min(e.config.min_consensus for e in ensembles.values())
    refused = [u for u in off if u.refused is not None]
    shown = refused or list(off)
    what = ", ".join(
        f"{u.model}/{u.symbol}" + (f" v{u.refused} (artifact refused)" if u.refused else "")
        for u in shown[:SHOWN]
    )
    if len(shown) > SHOWN:
        what += f" and {len(shown) - SHOWN} more"
    first = f"; first: {shown[0].reason}" if shown else ""
    error = NothingToServeError(
        f"no order can be placed: no symbol keeps the {needed} usable model(s) its consensus "
        f"needs (AI_ENGINE_MIN_CONSENSUS); disabled: {what}{first}. Retrain "
        f"(quantum-trader train, then models promote) or restore the artifacts "
        f"(quantum-trader models list shows which fail their check)"
    )
    if handle is not None:
        handle.set_state(ModuleState.FAILED, str(error))
    raise error
