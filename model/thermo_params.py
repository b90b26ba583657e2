"""Parameters of the thermodynamics experiment (SPEC 5.6): the ``thermo`` section and its checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator

from .section import Section

if TYPE_CHECKING:
    from .params import Params

MAX_BATCH_BYTES = 4 * 2**30  # the batch of trajectories must fit comfortably in memory


class ThermoParams(Section):
    """SPEC 5.6: switching the phase coupling K forward and back, many trajectories at once."""

    enabled: bool = Field(False, description="run the switching experiment (the `thermodynamics` scenario)")
    K_from: float = Field(1.0, ge=0.0, le=100.0, description="coupling K at the start of a forward switch")
    K_to: float = Field(2.0, ge=0.0, le=100.0, description="coupling K at the end of a forward switch")
    switch_ticks: int = Field(50, le=1_000_000, description="fast ticks (equal steps of K) a switch lasts")
    trajectories: int = Field(1000, le=10_000_000, description="forward trajectories (and as many reverse)")
    burn_in: int = Field(200, ge=0, le=1_000_000, description="ticks of dynamics before a switch (graphs with loops)")
    ti_points: int = Field(6, ge=1, le=64, description="K nodes of the thermodynamic integration (Gauss–Legendre)")
    ti_replicas: int = Field(16, ge=2, le=100_000, description="equilibrium replicas per TI node")

    @field_validator("switch_ticks")
    @classmethod
    def _switch_ticks(cls, v: int) -> int:
        if v < 1:
            raise ValueError(
                "a switch moves the coupling in equal steps, one per fast tick, so it needs at least one "
                "tick: use an integer ≥ 1 (large values switch slowly and dissipate little work)"
            )
        return v

    @field_validator("trajectories")
    @classmethod
    def _trajectories(cls, v: int) -> int:
        if v < 2:
            raise ValueError(
                "the estimators average over trajectories and their standard errors resample them, "
                "so at least 2 are needed (hundreds to thousands give converged estimates)"
            )
        return v

    @model_validator(mode="after")
    def _distinct(self) -> ThermoParams:
        if self.K_from == self.K_to:
            raise ValueError(
                f"thermo.K_from and thermo.K_to are both {self.K_from:g}: a switch must change the "
                "coupling, so give them different values (forward goes K_from → K_to, reverse back)"
            )
        return self


def rows_bytes(n: int, columns: int) -> int:
    """Rough peak memory of a batch of ``columns`` trajectories on ``n`` nodes (about a dozen float arrays)."""
    return 12 * 8 * n * columns


def graph_size(p: Params) -> int:
    """Number of nodes the graph parameters build (SPEC 2.1)."""
    g = p.graph
    b = 1 if g.kind == "chain" else g.branching
    full = g.depth + 1 if b == 1 else (b ** (g.depth + 1) - 1) // (b - 1)
    return min(full, g.n_nodes) if g.n_nodes > 0 else full


def check_thermo(p: Params) -> None:
    """Cross-section checks of an enabled experiment (raise ValueError with the reason)."""
    t = p.thermo
    if not t.enabled:
        return
    if not p.phase.enabled:
        raise ValueError(
            "thermo.enabled = true switches the coupling of the phase dynamics, so it needs phase.enabled = true "
            "(the thermodynamics scenario turns it on; do not set it to false there)"
        )
    if p.phase.T <= 0:
        raise ValueError(
            f"the thermodynamics experiment needs a temperature phase.T > 0 (got {p.phase.T:g}): the "
            "estimators weigh trajectories by e^(-W/T)"
        )
    if p.phase.omega_sd > 0:
        raise ValueError(
            f"the thermodynamics experiment needs phase.omega_sd = 0 (got {p.phase.omega_sd:g}): natural "
            "frequencies drive the phases out of equilibrium, and Jarzynski and Crooks start from equilibrium"
        )
    columns = 2 * t.trajectories + t.ti_points * t.ti_replicas
    n = graph_size(p)
    need = rows_bytes(n, columns)
    if need > MAX_BATCH_BYTES:
        raise ValueError(
            f"{columns} trajectories and replicas on {n} nodes would need about {need / 2**30:.1f} GiB for the batch "
            f"(limit {MAX_BATCH_BYTES / 2**30:.0f} GiB): lower thermo.trajectories or the graph size"
        )
