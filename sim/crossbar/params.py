"""Parameters of the crossbar model: device, array and ADC, as frozen validated dataclasses.

Every non-ideality has its own switch, and its "off" value is the default of the dataclass,
so ``DeviceParams()``, ``ArrayParams()`` and ``AdcParams()`` describe the ideal crossbar.
Named presets (:data:`PRESETS`, :func:`preset`) bundle device and array values that cite
their source. Bad values raise :class:`~spikefab.rtl.params.ParamError` naming the
parameter, the value and what is allowed (SPEC §3.7; docs/crossbar.md).

Units are SI: siemens, ohms, volts, seconds.
"""

import math
from dataclasses import dataclass, fields, replace

from spikefab.rtl.params import ParamError


__all__ = ["DeviceParams", "ArrayParams", "AdcParams", "PRESETS", "preset"]


def _real(name, value, lo=None, hi=None, lo_open=False, allow_inf=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ParamError(f"{name} must be a real number, not {value!r}")
    if math.isinf(value) and not allow_inf:
        raise ParamError(f"{name} = {value} is out of range: allowed a finite number")
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"<= {hi:g}")
    low = lo is not None and (value <= lo if lo_open else value < lo)
    if low or (hi is not None and value > hi):
        raise ParamError(f"{name} = {value!r} is out of range: allowed {' and '.join(parts)}")


def _int(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamError(f"{name} must be an integer in {lo}..{hi}, not {value!r}")
    if not lo <= value <= hi:
        raise ParamError(f"{name} = {value} is out of range: allowed {lo}..{hi}")


@dataclass(frozen=True)
class DeviceParams:
    """One memristive device and its non-idealities (each 0 / ``None`` = off).

    Parameters
    ----------
    g_min, g_max : float
        Conductance range in S; ``0 <= g_min < g_max``. Default 1-25 µS (aihwkit
        ``PCMLikeNoiseModel`` g_max = 25 µS; CrossSim ``PCMJoshi``).
    levels : int
        Number of programmable conductance levels, 2..65536 (default 64). The level grid is
        also the pulse grid of the update law: ``levels - 1`` pulses span the range.
    d2d_range : float
        Device-to-device log-normal σ of each device's g_min and g_max (0 = off;
        anchors note §9.3: 0.1).
    prog_noise : bool
        Cycle-to-cycle programming noise on every direct write, aihwkit PCM polynomial
        ``σ = max(0.26348 + 1.9650 g - 1.1731 g², 0) · g_max / 25 µS`` µS with
        ``g = g_T / g_max`` (aihwkit ``PCMLikeNoiseModel``; Nandakumar et al., ICECS 2019).
    prog_noise_scale : float
        Multiplier on that σ (default 1).
    read_noise : float
        Relative σ of the multiplicative read noise ``G (1 + σ ξ)`` drawn afresh on every
        read (0 = off; NeuroSim ``MeasuredDevice`` 0.0289, aihwkit ReRAM suggestion 0.01).
    drift_t : float or None
        Age in s of every device at read time; ``None`` = no drift. Power law
        ``G (t / t0)^(-ν)`` with ``ν ~ |N(μ_ν(g), σ_ν(g))|`` per device, the aihwkit PCM
        clip formulas (``PCMLikeNoiseModel``).
    drift_t0 : float
        Reference time t0 (default 20 s, aihwkit).
    p_stuck_low, p_stuck_high : float
        Probabilities that a device is stuck at g_min / g_max (MemTorch ``DeviceFaults``).
        A stuck device ignores every write.
    nl_set, nl_reset : float or None
        Update non-linearity: the NeuroSim exponential law's ``A`` for SET (potentiation) and
        RESET (depression) pulses, in units of the pulse range ``P_max = levels - 1``
        (``A = nl · P_max``). ``None`` = linear update (each pulse moves one level).
    d2d_nl : float
        Device-to-device log-normal σ of ``A`` (NeuroSim ``sigmaDtoD``; 0 = off).
    c2c_update : float
        Cycle-to-cycle update noise ``ΔG += N(0, c2c · (g_max - g_min)) · sqrt(|pulses|)``
        (NeuroSim ``sigmaCtoC``, default there 0.035; 0 = off).
    """

    g_min: float = 1e-6
    g_max: float = 25e-6
    levels: int = 64
    d2d_range: float = 0.0
    prog_noise: bool = False
    prog_noise_scale: float = 1.0
    read_noise: float = 0.0
    drift_t: "float | None" = None
    drift_t0: float = 20.0
    p_stuck_low: float = 0.0
    p_stuck_high: float = 0.0
    nl_set: "float | None" = None
    nl_reset: "float | None" = None
    d2d_nl: float = 0.0
    c2c_update: float = 0.0

    def __post_init__(self):
        _real("g_min", self.g_min, 0.0)
        _real("g_max", self.g_max, 0.0, lo_open=True)
        if not self.g_min < self.g_max:
            raise ParamError(f"g_max = {self.g_max!r} is out of range: allowed > g_min "
                             f"= {self.g_min!r}")
        _int("levels", self.levels, 2, 65536)
        _real("d2d_range", self.d2d_range, 0.0, 1.0)
        if not isinstance(self.prog_noise, bool):
            raise ParamError(f"prog_noise must be True or False, not {self.prog_noise!r}")
        _real("prog_noise_scale", self.prog_noise_scale, 0.0)
        _real("read_noise", self.read_noise, 0.0, 0.5)
        if self.drift_t is not None:
            _real("drift_t", self.drift_t, 0.0, lo_open=True)
        _real("drift_t0", self.drift_t0, 0.0, lo_open=True)
        _real("p_stuck_low", self.p_stuck_low, 0.0, 1.0)
        _real("p_stuck_high", self.p_stuck_high, 0.0, 1.0)
        if self.p_stuck_low + self.p_stuck_high > 1.0:
            raise ParamError(f"p_stuck_low + p_stuck_high = "
                             f"{self.p_stuck_low + self.p_stuck_high!r} is out of range: "
                             f"allowed <= 1")
        for name in ("nl_set", "nl_reset"):
            v = getattr(self, name)
            if v is not None:
                _real(name, v, 0.0, lo_open=True)
        _real("d2d_nl", self.d2d_nl, 0.0, 1.0)
        _real("c2c_update", self.c2c_update, 0.0, 1.0)

    @property
    def ideal(self):
        """True when no effect of this device is switched on (finite levels aside)."""
        return (self.d2d_range == 0 and not self.prog_noise and self.read_noise == 0
                and self.drift_t is None and self.p_stuck_low == 0
                and self.p_stuck_high == 0 and self.nl_set is None
                and self.nl_reset is None and self.c2c_update == 0)


@dataclass(frozen=True)
class ArrayParams:
    """The array as a circuit.

    Parameters
    ----------
    r_row, r_col : float
        Wire resistance in Ω of one segment between neighbouring cells on a row / a column
        (>= 0; 0 = ideal wire). aihwkit ``IOParametersIRDropT`` uses 0.15 Ω, the anchors
        note §7 0.35-1 Ω.
    r_driver : float
        Series resistance of each row driver, Ω (>= 0).
    r_sense : float
        Resistance from each column's last node to the sense amplifier's virtual ground, Ω.
    idle_rows : str
        ``"grounded"`` (a row without a spike is driven at 0 V) or ``"floating"`` (its
        driver is disconnected; sneak paths through it). Changes the IR-drop error.
    v_read : float
        Read voltage of one spike, V (default 0.2 V; anchors note §9.1). An axon hit c
        times is read in c successive read phases whose charges the ADC sums.
    sinh_a : float or None
        Non-linear cell ``I = (G / a) sinh(a V)`` with ``a`` in 1/V (anchors note §7,
        a = 5); ``None`` = linear (ohmic) cells. Solved by Newton iteration.
    """

    r_row: float = 0.0
    r_col: float = 0.0
    r_driver: float = 0.0
    r_sense: float = 0.0
    idle_rows: str = "grounded"
    v_read: float = 0.2
    sinh_a: "float | None" = None

    def __post_init__(self):
        for name in ("r_row", "r_col", "r_driver", "r_sense"):
            _real(name, getattr(self, name), 0.0)
        if self.idle_rows not in ("grounded", "floating"):
            raise ParamError(f"idle_rows = {self.idle_rows!r} is not allowed: expected "
                             f"'grounded' or 'floating'")
        _real("v_read", self.v_read, 0.0, 10.0, lo_open=True)
        if self.sinh_a is not None:
            _real("sinh_a", self.sinh_a, 0.0, 100.0, lo_open=True)

    @property
    def ideal_wires(self):
        """True when every resistance is 0 and the cells are linear: I = Gᵀ V exactly."""
        return (self.r_row == 0 and self.r_col == 0 and self.r_driver == 0
                and self.r_sense == 0 and self.sinh_a is None)


@dataclass(frozen=True)
class AdcParams:
    """The ADC of one column pair (one neuron): differential current to a signed code.

    Parameters
    ----------
    bits : int
        Resolution, 2..32 (signed codes ``-2^(bits-1) .. 2^(bits-1) - 1``).
    full_scale : float or None
        Current in A of the code ``2^(bits-1)``. ``None`` = matched: one LSB is the current
        of one weight unit ``2^-w_exp`` at ``v_read``, so that an ideal crossbar's code is
        the digital sum ``Σ w << w_exp`` exactly.
    clip : bool
        Saturate at the code range (True) or raise on overflow (False).
    """

    bits: int = 24
    full_scale: "float | None" = None
    clip: bool = True

    def __post_init__(self):
        _int("bits", self.bits, 2, 32)
        if self.full_scale is not None:
            _real("full_scale", self.full_scale, 0.0, lo_open=True)
        if not isinstance(self.clip, bool):
            raise ParamError(f"clip must be True or False, not {self.clip!r}")


#: Named presets: ``name -> (DeviceParams, ArrayParams, source)``.
PRESETS = {
    "ideal": (DeviceParams(), ArrayParams(),
              "no non-ideality: the digital synapse memory's arithmetic"),
    "pcm_aihwkit": (
        DeviceParams(g_min=1e-6, g_max=25e-6, levels=64, prog_noise=True, read_noise=0.0175,
                     drift_t=3600.0, d2d_range=0.05, p_stuck_low=0.001,
                     p_stuck_high=0.001, nl_set=0.5, nl_reset=None, c2c_update=0.01),
        ArrayParams(r_row=0.35, r_col=0.35, v_read=0.2),
        "IBM aihwkit PCMLikeNoiseModel (programming-noise polynomial and drift, g_max = "
        "25 µS, t0 = 20 s; Nandakumar et al. ICECS 2019, Joshi et al. Nat. Commun. 2020), "
        "StandardHWATrainingPreset w_noise 0.0175 (Rasch et al. 2023) as read noise, "
        "ir_drop_g_ratio 1/(0.35 Ω · 5 µS) as wire segment; PCM one-directional SET "
        "(PCMPresetDevice) as a mild SET non-linearity"),
    "rram_neurosim": (
        DeviceParams(g_min=1e-6, g_max=25e-6, levels=97, read_noise=0.0289,
                     d2d_range=0.1, d2d_nl=0.1, nl_set=0.3, nl_reset=0.15,
                     c2c_update=0.035),
        ArrayParams(r_row=1.0, r_col=1.0, v_read=0.2),
        "NeuroSim MLP_NeuroSim_V3.0 RealDevice/MeasuredDevice (Ag:a-Si): 97 levels, "
        "exponential LTP/LTD law with LTD the more non-linear (NL_LTP 2.4, NL_LTD -4.88; "
        "A/P_max = 0.3 / 0.15 is our choice, NeuroSim's NL-to-A table is not reproduced), "
        "sigmaCtoC "
        "0.035, read noise 2.89 %; D2D 10 % (anchors note §9.3); 1 Ω wire segments"),
}


def preset(name, **overrides):
    """``(DeviceParams, ArrayParams)`` of the named preset, with device fields overridden.

    Raises :class:`ParamError` for an unknown name, listing the known ones.
    """
    if name not in PRESETS:
        raise ParamError(f"preset {name!r} does not exist: expected one of "
                         f"{', '.join(sorted(PRESETS))}")
    dev, arr, _ = PRESETS[name]
    dnames = {f.name for f in fields(DeviceParams)}
    anames = {f.name for f in fields(ArrayParams)}
    unknown = [k for k in overrides if k not in dnames | anames]
    if unknown:
        raise ParamError(f"{unknown[0]} is not a known parameter: expected one of "
                         f"{', '.join(sorted(dnames | anames))}")
    dev = replace(dev, **{k: v for k, v in overrides.items() if k in dnames})
    arr = replace(arr, **{k: v for k, v in overrides.items() if k in anames})
    return dev, arr
