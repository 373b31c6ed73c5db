"""The exact circuit solver of a crossbar array: sparse nodal analysis (SPEC §3.7).

Topology (the anchors note §7, and An Chen, IEEE TED 60(4) 2013 for the nodal form of a
passive array). An array of M rows by K columns; cell (a, k) joins row node R(a, k) to column
node C(a, k) with conductance ``G[a, k]``. Row a is driven at its left end, through
``r_driver``, into R(a, 0); ``r_row`` joins R(a, k) to R(a, k+1). Column k runs from C(0, k)
down to C(M-1, k) through ``r_col`` per segment and ends through ``r_sense`` in the sense
amplifier's virtual ground (0 V); the column current is the current into that ground. A
row with no spike is either driven at 0 V (``idle_rows = "grounded"``) or disconnected
(``"floating"``). A zero resistance merges its two nodes (or fixes the node at the source's
voltage), so the ideal limit is exact rather than ill-conditioned.

:class:`NodalSolver` factors the reduced conductance matrix once per weight change with
``scipy.sparse.linalg.splu`` and re-solves per input vector: with grounded idle rows every
row is driven, so the matrix never changes; with floating idle rows the array with every
row open is factored and the driven rows are treated as ports (their responses computed once
each, then a dense solve of the spiking set per input).
Non-linear cells ``I = (G/a) sinh(a V)`` are solved by Newton iteration from the linear
solution (one factorisation per iteration).
"""

from collections import OrderedDict

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from .params import ArrayParams


__all__ = ["NodalSolver", "ideal_currents"]


def ideal_currents(g, v_rows):
    """The ideal column currents ``Gᵀ V`` (A) of conductances ``g`` [M, K] at ``v_rows``."""
    return np.asarray(v_rows, float) @ np.asarray(g, float)


class _Topology:
    """Node numbering, fixed (source) nodes and edges of one array for one driven set."""

    def __init__(self, m, k, arr, driven):
        self.m, self.k = m, k
        nxt = 0
        if arr.r_row > 0:
            self.rid = np.arange(m * k).reshape(m, k)
        else:
            self.rid = np.repeat(np.arange(m)[:, None], k, axis=1)
        nxt = int(self.rid.max()) + 1
        if arr.r_col > 0:
            self.cid = nxt + np.arange(m * k).reshape(m, k)
        else:
            self.cid = nxt + np.repeat(np.arange(k)[None, :], m, axis=0)
        nxt = int(self.cid.max()) + 1
        wa, wb, wg = [], [], []
        fixed_nodes, fixed_row = [], []         # fixed_row: driving row index, -1 for 0 V
        if arr.r_row > 0:
            wa.append(self.rid[:, :-1].ravel()); wb.append(self.rid[:, 1:].ravel())
            wg.append(np.full(m * (k - 1), 1.0 / arr.r_row))
        if arr.r_col > 0:
            wa.append(self.cid[:-1, :].ravel()); wb.append(self.cid[1:, :].ravel())
            wg.append(np.full((m - 1) * k, 1.0 / arr.r_col))
        rows = np.flatnonzero(driven)
        if arr.r_driver > 0:
            src = nxt + np.arange(rows.size)
            nxt += rows.size
            wa.append(src); wb.append(self.rid[rows, 0])
            wg.append(np.full(rows.size, 1.0 / arr.r_driver))
            fixed_nodes.append(src); fixed_row.append(rows)
        else:
            fixed_nodes.append(self.rid[rows, 0]); fixed_row.append(rows)
        if arr.r_sense > 0:
            self.sense = nxt + np.arange(k)
            nxt += k
            wa.append(self.cid[m - 1, :]); wb.append(self.sense)
            wg.append(np.full(k, 1.0 / arr.r_sense))
        else:
            self.sense = self.cid[m - 1, :].copy()
        fixed_nodes.append(self.sense); fixed_row.append(np.full(k, -1))
        self.n = nxt
        self.wire = (np.concatenate(wa).astype(np.int64) if wa else np.zeros(0, np.int64),
                     np.concatenate(wb).astype(np.int64) if wb else np.zeros(0, np.int64),
                     np.concatenate(wg) if wg else np.zeros(0))
        fn = np.concatenate(fixed_nodes).astype(np.int64)
        fr = np.concatenate(fixed_row).astype(np.int64)
        fixed = np.zeros(self.n, bool)
        fixed[fn] = True
        if np.unique(fn).size != fn.size:
            raise ValueError("a node is fixed twice: a zero-resistance path joins a driver "
                             "to the virtual ground (give r_row, r_col, r_driver or "
                             "r_sense a positive value)")
        self.fixed_nodes, self.fixed_row = fn, fr
        self.free = np.flatnonzero(~fixed)
        self.pos = np.full(self.n, -1)
        self.pos[self.free] = np.arange(self.free.size)

    def laplacian(self, g_cell):
        """The full nodal conductance matrix (CSC) for cell conductances ``g_cell``."""
        a = np.concatenate([self.wire[0], self.rid.ravel()])
        b = np.concatenate([self.wire[1], self.cid.ravel()])
        g = np.concatenate([self.wire[2], np.asarray(g_cell, float).ravel()])
        keep = a != b                       # a merged cell (both ends one node) carries nothing
        a, b, g = a[keep], b[keep], g[keep]
        i = np.concatenate([a, b, a, b])
        j = np.concatenate([a, b, b, a])
        v = np.concatenate([g, g, -g, -g])
        return sp.csc_matrix((v, (i, j)), shape=(self.n, self.n))

    def fixed_values(self, v_rows):
        vr = np.asarray(v_rows, float)
        return np.where(self.fixed_row >= 0, vr[np.maximum(self.fixed_row, 0)], 0.0)


class NodalSolver:
    """Solves one array (conductances fixed) for any number of input vectors.

    Parameters
    ----------
    g : float array [M, K]
        Cell conductances (S), > 0 where a floating row must stay connected.
    array : ArrayParams
        Wire, driver and sense resistances, idle-row convention, cell non-linearity.
    cache : int
        How many factorisations (one per distinct driven-row set) are kept.

    ``solve(v_rows, driven)`` returns the column currents (A) [K] and the cell voltages
    [M, K] (row node minus column node). Cost, linear cells: one sparse LU of ``~2 M K``
    unknowns per weight change (the solver object is built per weight change), then per
    call one pair of triangular solves (grounded idle rows), or, with floating idle rows,
    one solve per row the first time it is driven and a dense solve of the driven set's
    size (:meth:`_solve_ports`). Non-linear cells: a Newton iteration, one factorisation
    per iteration, from a linear solve factored per driven set (LRU ``cache``).
    """

    def __init__(self, g, array=ArrayParams(), cache=8):
        self.g = np.array(g, float)
        if self.g.ndim != 2 or min(self.g.shape) < 1:
            raise ValueError(f"g must have shape [M, K], got {self.g.shape}")
        if (self.g < 0).any():
            raise ValueError("g must not be negative")
        self.array = array
        self.m, self.k = self.g.shape
        self._cache = OrderedDict()
        self._cache_size = cache
        self._port_model = None

    def _prepared(self, driven):
        key = driven.tobytes()
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        topo = _Topology(self.m, self.k, self.array, driven)
        y = topo.laplacian(self.g)
        yuu = y[topo.free][:, topo.free].tocsc()
        yuf = y[topo.free][:, topo.fixed_nodes].tocsr()
        ys = y[topo.sense].tocsr()
        lu = splu(yuu, permc_spec="MMD_AT_PLUS_A") if topo.free.size else None
        hit = (topo, lu, yuf, ys)
        self._cache[key] = hit
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return hit

    def _driven(self, v_rows, driven):
        if driven is None:
            driven = np.ones(self.m, bool)
        driven = np.asarray(driven, bool)
        if self.array.idle_rows == "grounded":
            driven = np.ones(self.m, bool)
        if driven.shape != (self.m,) or np.asarray(v_rows).shape != (self.m,):
            raise ValueError(f"v_rows and driven must have shape ({self.m},)")
        return driven

    def solve(self, v_rows, driven=None, cell_voltages=True):
        """Column currents [K] and cell voltages [M, K] for row voltages ``v_rows`` [M].

        ``driven`` [M] bool marks the rows that carry a spike; with floating idle rows the
        others are disconnected, with grounded idle rows they are driven at ``v_rows``
        (normally 0). Default: every row driven. With ``cell_voltages=False`` the second
        result is ``None`` (saves a solve with floating rows).
        """
        driven = self._driven(v_rows, driven)
        if self.array.idle_rows == "floating" and self.array.sinh_a is None:
            return self._solve_ports(np.asarray(v_rows, float), driven, cell_voltages)
        topo, lu, yuf, ys = self._prepared(driven)
        vf = topo.fixed_values(v_rows)
        v = np.zeros(topo.n)
        v[topo.fixed_nodes] = vf
        if lu is not None:
            v[topo.free] = lu.solve(-(yuf @ vf))
        if self.array.sinh_a is not None:
            v = self._newton(topo, v)
            vc = v[topo.rid] - v[topo.cid]
            a = self.array.sinh_a
            cur = self._sense_current(topo, v, self.g / a * np.sinh(a * vc))
            return cur, vc
        return -(ys @ v), (v[topo.rid] - v[topo.cid]) if cell_voltages else None

    def _ports(self):
        """The array with every row open, factored once; its port responses are computed
        per row when first needed (``z``: port voltages, ``h``: sense currents, per unit
        current injected at a row's driver end)."""
        if self._port_model is None:
            topo = _Topology(self.m, self.k, self.array, np.zeros(self.m, bool))
            y = topo.laplacian(self.g)
            lu = splu(y[topo.free][:, topo.free].tocsc(), permc_spec="MMD_AT_PLUS_A")
            self._port_model = {
                "topo": topo, "lu": lu,
                "ys": y[topo.sense][:, topo.free].tocsr(), "port": topo.pos[topo.rid[:, 0]],
                "z": np.zeros((self.m, self.m)), "h": np.zeros((self.k, self.m)),
                "known": np.zeros(self.m, bool)}
        return self._port_model

    def _solve_ports(self, v_rows, driven, cell_voltages):
        """Floating idle rows: the driven rows are ports of the open-row network. With port
        currents J, the port voltages are ``Z J`` and each driven row obeys
        ``V_a = v_port + r_driver J_a``, so ``(Z_SS + r_driver I) J = V_S``; the column
        currents are ``H_S J``. One factorisation per weight change, one sparse solve per
        row the first time it is driven, then dense algebra of the driven set's size."""
        pm = self._ports()
        rows = np.flatnonzero(driven)
        if rows.size == 0:
            return np.zeros(self.k), (np.zeros((self.m, self.k)) if cell_voltages else None)
        new = rows[~pm["known"][rows]]
        if new.size:
            rhs = np.zeros((pm["lu"].shape[0], new.size))
            rhs[pm["port"][new], np.arange(new.size)] = 1.0
            x = pm["lu"].solve(rhs)
            pm["z"][:, new] = x[pm["port"]]
            pm["h"][:, new] = -(pm["ys"] @ x)
            pm["known"][new] = True
        zss = pm["z"][np.ix_(rows, rows)] + self.array.r_driver * np.eye(rows.size)
        j = np.linalg.solve(zss, v_rows[rows])
        cur = pm["h"][:, rows] @ j
        if not cell_voltages:
            return cur, None
        topo = pm["topo"]
        rhs = np.zeros(pm["lu"].shape[0])
        rhs[pm["port"][rows]] = j
        v = np.zeros(topo.n)
        v[topo.free] = pm["lu"].solve(rhs)
        return cur, v[topo.rid] - v[topo.cid]

    def _sense_current(self, topo, v, i_cell):
        """Current into each sense node: wires by their conductance, cells by ``i_cell``."""
        y_w = topo.laplacian(np.zeros_like(self.g))
        cur = -(y_w[topo.sense] @ v)
        where = np.full(topo.n, -1)
        where[topo.sense] = np.arange(topo.k)
        col = where[topo.cid]                 # a cell whose column end is a sense node
        hit = col >= 0
        np.add.at(cur, col[hit], i_cell[hit])
        return cur

    def _newton(self, topo, v, tol=1e-15, max_iter=60):
        """Newton iteration of KCL with sinh cells, from the linear solution ``v``."""
        a = self.array.sinh_a
        y_w = topo.laplacian(np.zeros_like(self.g))
        free = topo.free
        rid, cid = topo.rid.ravel(), topo.cid.ravel()
        gc = self.g.ravel()
        for _ in range(max_iter):
            vc = v[rid] - v[cid]
            i_cell = gc / a * np.sinh(a * vc)
            f = y_w @ v
            np.add.at(f, rid, i_cell)
            np.subtract.at(f, cid, i_cell)
            jac = topo.laplacian((gc * np.cosh(a * vc)).reshape(self.g.shape))
            jff = jac[free][:, free].tocsc()
            dv = splu(jff, permc_spec="MMD_AT_PLUS_A").solve(-f[free])
            v = v.copy()
            v[free] += dv
            if np.max(np.abs(dv)) <= tol * max(1.0, np.max(np.abs(v))):
                return v
        raise RuntimeError(f"Newton iteration did not converge in {max_iter} iterations")
