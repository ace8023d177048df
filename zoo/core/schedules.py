"""Noise schedules: how much signal and noise the state holds at each time.

One continuous-time view for every family (Kingma et al. 2021; Karras et al. 2022):
``x_t = alpha(t) * x0 + sigma(t) * eps`` with ``t`` in [0, 1], clean data at ``t = 0`` and the
noisiest level at ``t = 1``; ``logsnr(t) = log(alpha^2 / sigma^2)`` falls strictly with ``t``.

Every method takes ``t`` as a float or a tensor of any shape and returns a float64 tensor of the
same shape.  A schedule is a small frozen object, fully described by :meth:`Schedule.config`.

``t_min`` is the smallest time the network is trained on and the last level a sampling grid
evaluates it at (the grid then steps to ``t = 0``); ``t_max`` is where sampling starts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import ClassVar

import torch

__all__ = ["Schedule", "DDPM", "VP", "VE", "EDM", "RectifiedFlow", "from_config", "names"]

_F64 = torch.float64


def _as_t(t) -> torch.Tensor:
    return torch.as_tensor(t, dtype=_F64)


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (low < value < high) or math.isnan(value):
        raise ValueError(f"{name} must lie in ({low}, {high}), got {value}")


@dataclass(frozen=True, eq=False)
class Schedule:
    """Base class; subclasses define ``_alpha_sigma``, ``_derivatives`` and ``_t_of_alpha2``."""

    name: ClassVar[str] = ""
    t_min: ClassVar[float] = 0.0
    t_max: ClassVar[float] = 1.0
    default_timesteps: ClassVar[str] = "logsnr"  # the placement core.sample uses unless told

    # --- what subclasses provide -------------------------------------------------------------
    def _alpha_sigma(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _derivatives(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _t_of_logsnr(self, logsnr: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def noise_label(self, t) -> torch.Tensor:
        """The number the network is conditioned on at time ``t`` (float64, same shape as ``t``)."""
        raise NotImplementedError

    def t_of_noise_label(self, label) -> torch.Tensor:
        """Inverse of :meth:`noise_label`."""
        raise NotImplementedError

    # --- shared interface --------------------------------------------------------------------
    def alpha(self, t) -> torch.Tensor:
        """Signal scale ``alpha(t)``; 1 at ``t = 0``."""
        return self._alpha_sigma(_as_t(t))[0]

    def sigma(self, t) -> torch.Tensor:
        """Noise scale ``sigma(t)``; 0 at ``t = 0``."""
        return self._alpha_sigma(_as_t(t))[1]

    def alpha_sigma(self, t) -> tuple[torch.Tensor, torch.Tensor]:
        return self._alpha_sigma(_as_t(t))

    def derivatives(self, t) -> tuple[torch.Tensor, torch.Tensor]:
        """``(d alpha / dt, d sigma / dt)`` at ``t``."""
        return self._derivatives(_as_t(t))

    def logsnr(self, t) -> torch.Tensor:
        """``log(alpha^2 / sigma^2)``: +inf at ``t = 0``, strictly decreasing."""
        alpha, sigma = self._alpha_sigma(_as_t(t))
        return 2.0 * (torch.log(alpha) - torch.log(sigma))

    def t_of_logsnr(self, logsnr) -> torch.Tensor:
        """Inverse of :meth:`logsnr`, clamped to [0, 1] (+inf maps to 0, -inf to the top)."""
        lam = _as_t(logsnr)
        if torch.isnan(lam).any():
            raise ValueError("t_of_logsnr got NaN")
        return self._t_of_logsnr(lam).clamp(0.0, 1.0)

    def sigma_ve(self, t) -> torch.Tensor:
        """``sigma / alpha``: the noise level of the variance-exploding view of the same process."""
        alpha, sigma = self._alpha_sigma(_as_t(t))
        return sigma / alpha

    def t_of_sigma_ve(self, sigma_ve) -> torch.Tensor:
        s = _as_t(sigma_ve)
        return self.t_of_logsnr(-2.0 * torch.log(s))

    def config(self) -> dict:
        """Plain data that :func:`from_config` turns back into an equal schedule."""
        out = {"name": self.name}
        for f in fields(self):
            if f.init:
                value = getattr(self, f.name)
                out[f.name] = value.tolist() if isinstance(value, torch.Tensor) else value
        return out

    @property
    def key(self) -> str:
        """A string that identifies the schedule (its config), computed once."""
        key = self.__dict__.get("_key")
        if key is None:
            key = repr(sorted(self.config().items(), key=lambda kv: kv[0]))
            object.__setattr__(self, "_key", key)
        return key

    def __eq__(self, other) -> bool:
        return isinstance(other, Schedule) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name" and not isinstance(v, list))
        return f"{type(self).__name__}({args})"


def _from_alpha2_and_derivative(alpha, dalpha):
    """sigma and its derivative for a variance-preserving schedule (alpha^2 + sigma^2 = 1)."""
    sigma = torch.sqrt(torch.clamp(1.0 - alpha * alpha, min=0.0))
    dsigma = -alpha * dalpha / sigma
    return sigma, dsigma


# ------------------------------------------------------------------------------------------------
# Discrete DDPM tables
# ------------------------------------------------------------------------------------------------

def _beta_table(kind: str, steps: int, beta_start: float, beta_end: float, cosine_s: float, max_beta: float):
    if kind == "linear":
        return torch.linspace(beta_start, beta_end, steps, dtype=_F64)
    if kind == "scaled_linear":  # Rombach et al. 2022 (latent diffusion)
        return torch.linspace(beta_start**0.5, beta_end**0.5, steps, dtype=_F64) ** 2
    if kind == "sigmoid":  # Xu et al. 2022 (GeoDiff)
        return torch.sigmoid(torch.linspace(-6.0, 6.0, steps, dtype=_F64)) * (beta_end - beta_start) + beta_start
    if kind == "cosine":  # Nichol & Dhariwal 2021, squared cosine of alpha-bar, betas capped
        i = torch.arange(steps + 1, dtype=_F64)
        f = torch.cos((i / steps + cosine_s) / (1 + cosine_s) * math.pi / 2) ** 2
        return torch.clamp(1.0 - f[1:] / f[:-1], max=max_beta)
    raise ValueError(f"unknown beta_schedule {kind!r}; choose one of 'linear', 'scaled_linear', 'cosine', 'sigmoid'")


_BETA_DEFAULTS = {"linear": (1e-4, 0.02), "scaled_linear": (0.00085, 0.012), "sigmoid": (1e-4, 0.02), "cosine": (None, None)}


@dataclass(frozen=True, eq=False)
class DDPM(Schedule):
    """A discrete table of ``num_steps`` noise levels (Ho et al. 2020).

    Table step ``i`` (0-based, the integer timestep of DDPM and diffusers) sits at
    ``t = (i + 1) / num_steps`` and has ``alpha^2 = alphas_cumprod[i]``; ``t = 0`` is clean data.
    Between grid points ``alpha`` is linear in ``t``, so fractional steps are defined (DiffWave's
    fast sampler interpolates its noise labels the same way) and ``noise_label(t) = t * T - 1``.

    ``betas`` overrides the named table; ``zero_terminal_snr`` rescales it so the last level
    holds no signal (Lin et al. 2024), which needs ``v``, ``x0`` or ``flow`` prediction.
    """

    beta_schedule: str = "linear"
    num_steps: int = 1000
    beta_start: float | None = None
    beta_end: float | None = None
    zero_terminal_snr: bool = False
    betas: tuple | None = None
    cosine_s: float = 0.008
    max_beta: float = 0.999
    _alpha_table: torch.Tensor = field(init=False, repr=False)

    name: ClassVar[str] = "DDPM"

    def __post_init__(self):
        if self.betas is not None:
            betas = torch.as_tensor(self.betas, dtype=_F64).flatten()
            object.__setattr__(self, "betas", tuple(betas.tolist()))
            object.__setattr__(self, "num_steps", len(betas))
        else:
            if not isinstance(self.num_steps, int) or self.num_steps < 2:
                raise ValueError(f"num_steps must be an integer >= 2, got {self.num_steps!r}")
            if self.beta_schedule not in _BETA_DEFAULTS:
                raise ValueError(
                    f"unknown beta_schedule {self.beta_schedule!r}; choose one of {sorted(_BETA_DEFAULTS)}")
            start, end = _BETA_DEFAULTS[self.beta_schedule]
            object.__setattr__(self, "beta_start", start if self.beta_start is None else float(self.beta_start))
            object.__setattr__(self, "beta_end", end if self.beta_end is None else float(self.beta_end))
            betas = _beta_table(self.beta_schedule, self.num_steps, self.beta_start or 0.0, self.beta_end or 0.0,
                                self.cosine_s, self.max_beta)
        if torch.isnan(betas).any() or (betas <= 0).any() or (betas >= 1).any():
            bad = int(torch.nonzero((betas <= 0) | (betas >= 1) | torch.isnan(betas))[0])
            raise ValueError(
                f"betas must lie in (0, 1) so that the noise grows at every step; beta[{bad}] = {betas[bad].item()}")
        alpha = torch.sqrt(torch.cumprod(1.0 - betas, 0))
        if self.zero_terminal_snr:
            first, last = alpha[0].clone(), alpha[-1].clone()
            alpha = (alpha - last) * first / (first - last)
        table = torch.cat([torch.ones(1, dtype=_F64), alpha])  # alpha at t = k / T, k = 0..T
        if not (table[1:] < table[:-1]).all():
            raise ValueError("the DDPM table's alpha must fall strictly from step to step (noise must grow)")
        object.__setattr__(self, "_alpha_table", table)

    @property
    def t_min(self) -> float:  # table step 0
        return 1.0 / self.num_steps

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """``alpha^2`` at the table steps, shape (num_steps,), float64."""
        return self._alpha_table[1:] ** 2

    @property
    def table_ts(self) -> torch.Tensor:
        """The ``t`` of every table step, shape (num_steps,), ascending."""
        return torch.arange(1, self.num_steps + 1, dtype=_F64) / self.num_steps

    def _segment(self, t):
        pos = torch.clamp(t, 0.0, 1.0) * self.num_steps
        k = torch.clamp(torch.floor(pos), max=self.num_steps - 1).long()
        return k, pos - k

    def _alpha_sigma(self, t):
        k, frac = self._segment(t)
        a0, a1 = self._alpha_table[k], self._alpha_table[k + 1]
        alpha = a0 + frac * (a1 - a0)
        return alpha, torch.sqrt(torch.clamp(1.0 - alpha * alpha, min=0.0))

    def _derivatives(self, t):
        k, frac = self._segment(t)
        a0, a1 = self._alpha_table[k], self._alpha_table[k + 1]
        alpha = a0 + frac * (a1 - a0)
        dalpha = (a1 - a0) * self.num_steps
        return dalpha, _from_alpha2_and_derivative(alpha, dalpha)[1]

    def _t_of_logsnr(self, lam):
        alpha = torch.sqrt(torch.sigmoid(lam))
        desc = self._alpha_table
        # index of the segment [k, k+1] holding alpha (table is strictly decreasing)
        k = torch.searchsorted(-desc, -alpha, right=True) - 1
        k = torch.clamp(k, 0, self.num_steps - 1)
        a0, a1 = desc[k], desc[k + 1]
        return (k + (a0 - alpha) / (a0 - a1)) / self.num_steps

    def noise_label(self, t):
        return _as_t(t) * self.num_steps - 1.0

    def t_of_noise_label(self, label):
        return (_as_t(label) + 1.0) / self.num_steps

    def config(self) -> dict:
        out = super().config()
        if self.betas is None:
            out.pop("betas")
        return out


# ------------------------------------------------------------------------------------------------
# Continuous families
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class VP(Schedule):
    """Continuous variance-preserving SDE (Song et al. 2021) with a linear beta(t).

    ``alpha^2 = exp(-(beta_min t + (beta_max - beta_min) t^2 / 2))``; ``noise_label = 999 t``.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    eps: float = 1e-3

    name: ClassVar[str] = "VP"

    def __post_init__(self):
        if not (self.beta_min > 0 and self.beta_max > 0):
            raise ValueError(f"VP needs beta_min > 0 and beta_max > 0 so noise grows; got {self.beta_min}, {self.beta_max}")
        _check_range("VP eps", self.eps, 0.0, 1.0)

    @property
    def t_min(self) -> float:
        return self.eps

    def _log_alpha2(self, t):
        return -(self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t)

    def _alpha_sigma(self, t):
        log_a2 = self._log_alpha2(t)
        return torch.exp(0.5 * log_a2), torch.sqrt(-torch.expm1(log_a2))

    def _derivatives(self, t):
        alpha, _ = self._alpha_sigma(t)
        dalpha = -0.5 * (self.beta_min + (self.beta_max - self.beta_min) * t) * alpha
        return dalpha, _from_alpha2_and_derivative(alpha, dalpha)[1]

    def _t_of_logsnr(self, lam):
        c = torch.nn.functional.softplus(-lam)  # -log alpha^2
        d = self.beta_max - self.beta_min
        if abs(d) < 1e-12:
            return c / self.beta_min
        return (-self.beta_min + torch.sqrt(self.beta_min**2 + 2.0 * d * c)) / d

    def noise_label(self, t):
        return 999.0 * _as_t(t)

    def t_of_noise_label(self, label):
        return _as_t(label) / 999.0


@dataclass(frozen=True, eq=False)
class VE(Schedule):
    """Variance-exploding schedule (Song & Ermon 2019; Song et al. 2021): ``alpha = 1``.

    ``sigma`` is geometric from ``sigma_min`` at ``t_min`` to ``sigma_max`` at ``t = 1``, so a
    uniform ``t`` in [t_min, 1] is a log-uniform ``sigma``; below ``t_min`` it falls linearly to
    0 at ``t = 0`` so that ``t = 0`` is clean data as for every schedule.
    ``noise_label = log(sigma / 2)`` (Karras et al. 2022, VE preconditioning).
    """

    sigma_min: float = 0.01
    sigma_max: float = 50.0
    t_floor: float = 1e-3

    name: ClassVar[str] = "VE"

    def __post_init__(self):
        if not (0 < self.sigma_min < self.sigma_max):
            raise ValueError(f"VE needs 0 < sigma_min < sigma_max; got sigma_min={self.sigma_min}, sigma_max={self.sigma_max}")
        _check_range("VE t_floor", self.t_floor, 0.0, 1.0)

    @property
    def t_min(self) -> float:
        return self.t_floor

    @property
    def _log_ratio(self) -> float:
        return math.log(self.sigma_max / self.sigma_min)

    def _alpha_sigma(self, t):
        u = (t - self.t_floor) / (1.0 - self.t_floor)
        geometric = self.sigma_min * torch.exp(self._log_ratio * u)
        sigma = torch.where(t >= self.t_floor, geometric, self.sigma_min * t / self.t_floor)
        return torch.ones_like(sigma), sigma

    def _derivatives(self, t):
        _, sigma = self._alpha_sigma(t)
        dsigma = torch.where(t >= self.t_floor, sigma * self._log_ratio / (1.0 - self.t_floor),
                             torch.full_like(sigma, self.sigma_min / self.t_floor))
        return torch.zeros_like(sigma), dsigma

    def _t_of_logsnr(self, lam):
        sigma = torch.exp(-0.5 * lam)
        geometric = self.t_floor + (1.0 - self.t_floor) * torch.log(sigma / self.sigma_min) / self._log_ratio
        return torch.where(sigma >= self.sigma_min, geometric, sigma / self.sigma_min * self.t_floor)

    def noise_label(self, t):
        return torch.log(0.5 * self.sigma(t))

    def t_of_noise_label(self, label):
        return self.t_of_sigma_ve(2.0 * torch.exp(_as_t(label)))


@dataclass(frozen=True, eq=False)
class EDM(Schedule):
    """Karras et al. (2022): ``alpha = 1``, ``sigma = sigma_max * t``; ``noise_label = ln(sigma) / 4``.

    ``sigma_min`` sets ``t_min = sigma_min / sigma_max``, the last level a sampling grid uses.
    """

    sigma_min: float = 0.002
    sigma_max: float = 80.0

    name: ClassVar[str] = "EDM"

    def __post_init__(self):
        if not (0 < self.sigma_min < self.sigma_max):
            raise ValueError(f"EDM needs 0 < sigma_min < sigma_max; got sigma_min={self.sigma_min}, sigma_max={self.sigma_max}")

    @property
    def t_min(self) -> float:
        return self.sigma_min / self.sigma_max

    def _alpha_sigma(self, t):
        sigma = self.sigma_max * t
        return torch.ones_like(sigma), sigma

    def _derivatives(self, t):
        return torch.zeros_like(t), torch.full_like(t, self.sigma_max)

    def _t_of_logsnr(self, lam):
        return torch.exp(-0.5 * lam) / self.sigma_max

    def noise_label(self, t):
        return 0.25 * torch.log(self.sigma(t))

    def t_of_noise_label(self, label):
        return torch.exp(4.0 * _as_t(label)) / self.sigma_max


@dataclass(frozen=True, eq=False)
class RectifiedFlow(Schedule):
    """Straight paths between data and noise (Liu et al. 2023; Lipman et al. 2023):
    ``alpha = 1 - t``, ``sigma = t``; ``noise_label = 1000 t``.  ``t = 1`` is pure noise."""

    name: ClassVar[str] = "RectifiedFlow"
    default_timesteps: ClassVar[str] = "linspace"

    def _alpha_sigma(self, t):
        return 1.0 - t, t.clone()

    def _derivatives(self, t):
        return torch.full_like(t, -1.0), torch.ones_like(t)

    def _t_of_logsnr(self, lam):
        return torch.sigmoid(-0.5 * lam)

    def noise_label(self, t):
        return 1000.0 * _as_t(t)

    def t_of_noise_label(self, label):
        return _as_t(label) / 1000.0


_FAMILIES = {cls.name: cls for cls in (DDPM, VP, VE, EDM, RectifiedFlow)}


def names() -> list[str]:
    """Every schedule family :func:`from_config` knows."""
    return sorted(_FAMILIES)


def from_config(config: dict) -> Schedule:
    """Build a schedule from :meth:`Schedule.config` output (``{"name": "DDPM", ...}``)."""
    config = dict(config)
    name = config.pop("name", None)
    if name not in _FAMILIES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {names()}")
    cls = _FAMILIES[name]
    allowed = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ValueError(f"schedule {name} has no parameter(s) {unknown}; it takes {sorted(allowed)}")
    if config.get("betas") is not None:
        config["betas"] = tuple(config["betas"])
    return cls(**config)
