"""Parameters changed while a model runs (SPEC 3–6, 9.4): which may change, and how a change acts.

``model.set_param``, a scenario's ``set`` stimulus and the app's Apply all come here, so a
live change means the same thing everywhere: it is validated with every other parameter,
refused with the reason if the key is restart-only, and then acts from the next tick on.

Most parameters act by themselves, because the tick reads ``model.params`` afresh. The few
whose value was copied into the state or into a clock at build are listed here once:

- **Pushed into the state** by :func:`apply`: ``decay.delta_E`` (the tick decays E at the
  state's δ_E, which the controller moves; a live change sets it, and the controller, if on,
  continues from there), ``controller.delta_min``/``delta_max`` (the current δ_E is clipped
  into the new bounds at once when the controller is on), ``resistance.enabled`` (r is
  computed at once when switched on, reset to 1 when switched off). After a change to the
  fast-tick operator (α, δ_E, resistance) ρ is re-converged, as after a slow tick (SPEC 4.6).
- **Restart-only** (``model.params.RESTART_ONLY``, the one list): each is used once, at build, and the reason says
  where; a live change is refused with that reason (the app restarts the run instead).
  While the thermodynamics experiment runs, ``phase.*``, ``spread.*`` and ``learning.*`` are
  restart-only too (``model.params.THERMO_FIXED``): its batch reads them once, at its start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .keys import parameter_keys, resolve, to_dotted, unknown_key_message
from .mechanisms import resistance
from .params import RESTART_ONLY, ParameterError, Params, restart_reason

__all__ = ["RESTART_ONLY", "apply", "check_live", "live_keys", "restart_reason"]

if TYPE_CHECKING:
    from .model import CoherenceModel

# changes after which the fast-tick operator A = diag(ret)·(I + α·Wᵀ) has jumped
_OPERATOR = ("spread.alpha", "decay.delta_E", "resistance.enabled", "controller.delta_min", "controller.delta_max")


def live_keys() -> list[str]:
    """Every parameter that may change in a running model."""
    return [k for k in parameter_keys() if restart_reason(k) is None]


def check_live(changes: dict[str, Any], params: Params | None = None) -> None:
    """Refuse unknown and restart-only keys (for the running ``params``), naming the key and the reason."""
    valid = set(parameter_keys())
    for key in changes:
        if key not in valid:
            raise ParameterError(unknown_key_message(key))
        why = restart_reason(key, params)
        if why:
            raise ParameterError(f"parameter '{key}' cannot change in a running model: {why}; restart to change it")


def apply(model: CoherenceModel, changes: dict[str, Any]) -> None:
    """Change parameters of a running model; they act from the next tick on.

    Raises:
        ParameterError: an unknown or restart-only key, or a value the validation refuses
            (naming the key, the value and what is allowed). Nothing changes then.
    """
    check_live(changes, model.params)
    old = model.params
    new = resolve(to_dotted(old), changes)
    model.params = new
    st = model.state
    if "decay.delta_E" in changes:
        st.delta_E = new.decay.delta_E
    c = new.controller
    if c.enabled:
        st.delta_E = min(max(st.delta_E, c.delta_min), c.delta_max)
    if new.resistance.enabled != old.resistance.enabled:
        if new.resistance.enabled:
            resistance.update(model.graph, st)
        else:
            st.r_res[:] = 1.0
    if any(k in changes for k in _OPERATOR):
        model.reconverge_rho()
