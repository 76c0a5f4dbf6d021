"""The chapter-2 graders must fail on broken implementations (and pass on other correct ones).

Each broken variant replaces one function of the reference module; the grader of that exercise must
raise AssertionError (or the variant's own error), the others are not run.
"""
import math

import pytest
import torch

from molpractice.mutation import GraderSuite
from solutions import ch02_equivariance as ref

SUITE = GraderSuite("ch02_equivariance")
graders = SUITE.graders
_impl = SUITE.implementation
_graders_of = SUITE.graders_of


def _failures(impl, exercise_id):
    """Messages of the graders of the exercise that reject ``impl`` (empty: accepted)."""
    messages = []
    for grader in _graders_of(exercise_id):
        try:
            grader(impl)
        except (AssertionError, RuntimeError, ValueError, TypeError, IndexError) as err:
            messages.append(f"{type(err).__name__}: {err}")
    return messages


def _fails(impl, exercise_id):
    """True if at least one grader of the exercise rejects ``impl``."""
    return bool(_failures(impl, exercise_id))


# ------------------------------------------------------------------------------- rotations (2.1)
def _rz(t):
    c, s = math.cos(t), math.sin(t)
    return torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=torch.float64)


def _ry(t):
    c, s = math.cos(t), math.sin(t)
    return torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=torch.float64)


def _rx(t):
    c, s = math.cos(t), math.sin(t)
    return torch.tensor([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=torch.float64)


def rot_euler_zyz(generator=None, dtype=torch.float64):
    a, b, c = (torch.rand(3, generator=generator, dtype=torch.float64)
               * torch.tensor([2 * math.pi, math.pi, 2 * math.pi], dtype=torch.float64)).tolist()
    return (_rz(a) @ _ry(b) @ _rz(c)).to(dtype)


def rot_euler_xyz(generator=None, dtype=torch.float64):
    a, b, c = ((torch.rand(3, generator=generator, dtype=torch.float64) * 2 - 1) * math.pi).tolist()
    return (_rz(a) @ _ry(b) @ _rx(c)).to(dtype)


def rot_qr_no_sign_fix(generator=None, dtype=torch.float64):
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    if torch.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.to(dtype)


def rot_qr_may_reflect(generator=None, dtype=torch.float64):
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).to(dtype)


def rot_ignores_generator(generator=None, dtype=torch.float64):
    return ref.random_rotation(None, dtype=dtype)


def rot_qr_correct(generator=None, dtype=torch.float64):
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.to(dtype)


def rot_quaternion_from_cube(generator=None, dtype=torch.float64):
    """A quaternion drawn uniformly from the cube [-1, 1]^4, then normalised: not uniform on the sphere."""
    q = torch.rand(4, generator=generator, dtype=torch.float64) * 2 - 1
    w, x, y, z = q / q.norm()
    R = torch.stack([torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)]),
                     torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)]),
                     torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)])])
    return R.to(dtype)


def rot_uniform_angle_about_random_axis(generator=None, dtype=torch.float64):
    a = torch.randn(3, generator=generator, dtype=torch.float64)
    a = a / a.norm()
    theta = float(torch.rand(1, generator=generator, dtype=torch.float64)) * math.pi
    K = torch.tensor([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]], dtype=torch.float64)
    return (torch.eye(3, dtype=torch.float64) + math.sin(theta) * K + (1 - math.cos(theta)) * K @ K).to(dtype)


def rot_float32_draw(generator=None, dtype=torch.float64):
    """Draws in float32 whatever dtype is asked for: float64 rotations are orthogonal only to ~1e-7."""
    return ref.random_rotation(generator, dtype=torch.float32).to(dtype)


@pytest.mark.parametrize("broken", [rot_euler_zyz, rot_euler_xyz, rot_qr_no_sign_fix, rot_qr_may_reflect,
                                    rot_ignores_generator, rot_quaternion_from_cube,
                                    rot_uniform_angle_about_random_axis, rot_float32_draw])
def test_rotation_graders_reject(broken):
    failures = _failures(_impl(random_rotation=broken), "2.1")
    assert failures, f"graders of 2.1 accepted {broken.__name__}"
    if broken in (rot_quaternion_from_cube, rot_uniform_angle_about_random_axis):
        assert any("132.3°" in f for f in failures), failures


def test_rotation_graders_accept_qr_with_sign_fix():
    impl = _impl(random_rotation=rot_qr_correct)
    for grader in _graders_of("2.1"):
        grader(impl)


# ------------------------------------------------------------------------------- checkers (2.2, 2.3)
def _variant_checker(rotate=True, translate=True, z_axis_only=False, permute_args=True, reflect=True,
                     compare_untransformed=False, cast64=False, fixed_mirror=False, argsort_perm=False,
                     seed_offset=None):
    """An invariance/equivariance checker with one switchable mistake (or none).

    ``argsort_perm``: draw permutations as ``argsort`` of Gaussian noise (correct, but a different random
    stream from the reference); ``seed_offset``: ignore the given generator's seed and use this one (to run the
    graders against many random streams).
    """

    def randperm(n, gen):
        if argsort_perm:
            return torch.argsort(torch.randn(n, generator=gen))
        return torch.randperm(n, generator=gen)

    def transform(pos, gen, kw):
        dtype = torch.float64 if cast64 else pos.dtype
        pos = pos.to(dtype)
        if fixed_mirror and kw.get("reflections"):
            return torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=dtype)), torch.randn(3, generator=gen, dtype=dtype)
        if z_axis_only:
            t = float(torch.rand(1, generator=gen)) * 2 * math.pi
            R = _rz(t).to(dtype)
        elif rotate:
            R = ref.random_rotation(gen, dtype=dtype)
        else:
            R = torch.eye(3, dtype=dtype)
        if kw.get("reflections") and reflect:
            R = -R
        t = torch.randn(3, generator=gen, dtype=dtype) if translate else torch.zeros(3, dtype=dtype)
        return R, t

    def invariance_error(fn, pos, *args, n_trials=8, translations=True, reflections=False,
                         permutations=False, generator=None):
        kw = {"reflections": reflections}
        if seed_offset is not None:
            generator = torch.Generator().manual_seed(seed_offset)
        y = fn(pos, *args).detach()
        worst = 0.0
        for _ in range(n_trials):
            R, t = transform(pos, generator, kw)
            new = pos.to(R.dtype) @ R.T + (t if translations else 0)
            new_args, expected = list(args), y
            if permutations:
                perm = randperm(pos.shape[0], generator)
                new = new[perm]
                if permute_args:
                    new_args = ref._permute_args(args, perm, pos.shape[0])
                if y.ndim and y.shape[0] == pos.shape[0]:
                    expected = y[perm]
            out = fn(new, *new_args).detach()
            worst = max(worst, float((out - expected).norm() / expected.norm().clamp_min(1e-30)))
        return worst

    def equivariance_error(fn, pos, *args, n_trials=8, translations=True, reflections=False,
                           permutations=False, generator=None):
        kw = {"reflections": reflections}
        if seed_offset is not None:
            generator = torch.Generator().manual_seed(seed_offset)
        y = fn(pos, *args).detach()
        scale = max(float((y - y.mean(0)).norm()), float((pos - pos.mean(0)).norm()))
        worst = 0.0
        for _ in range(n_trials):
            R, t = transform(pos, generator, kw)
            t = t if translations else 0
            new = pos.to(R.dtype) @ R.T + t
            expected = y if compare_untransformed else y @ R.T + t
            new_args = list(args)
            if permutations:
                perm = randperm(pos.shape[0], generator)
                new = new[perm]
                new_args = ref._permute_args(args, perm, pos.shape[0]) if permute_args else new_args
                expected = expected[perm] if expected.shape[0] == pos.shape[0] else expected
            out = fn(new, *new_args).detach()
            worst = max(worst, float((out - expected).norm()) / scale)
        return worst

    return invariance_error, equivariance_error


def test_checker_graders_reject_in_place_changes_of_pos():
    def inv(fn, pos, *args, **kw):
        pos -= pos.mean(0)  # "centre first", on the caller's tensor
        return ref.invariance_error(fn, pos, *args, **kw)

    def eq(fn, pos, *args, **kw):
        pos -= pos.mean(0)
        return ref.equivariance_error(fn, pos, *args, **kw)

    for exercise_id, impl in (("2.2", _impl(invariance_error=inv)), ("2.3", _impl(equivariance_error=eq))):
        failures = _failures(impl, exercise_id)
        assert any("in place" in f for f in failures), failures


INVARIANCE_MISTAKES = [dict(rotate=False), dict(translate=False), dict(z_axis_only=True), dict(permute_args=False),
                       dict(reflect=False), dict(cast64=True), dict(fixed_mirror=True)]
EQUIVARIANCE_MISTAKES = [dict(rotate=False), dict(translate=False), dict(z_axis_only=True), dict(permute_args=False),
                         dict(reflect=False), dict(compare_untransformed=True), dict(cast64=True),
                         dict(fixed_mirror=True)]


@pytest.mark.parametrize("mistake", INVARIANCE_MISTAKES, ids=lambda d: next(iter(d)))
def test_invariance_checker_graders_reject(mistake):
    inv, _ = _variant_checker(**mistake)
    failures = _failures(_impl(invariance_error=inv), "2.2")
    assert failures, f"graders of 2.2 accepted {mistake}"
    if "fixed_mirror" in mistake:
        assert any("fixed" in f and "mirror" in f for f in failures), failures


@pytest.mark.parametrize("mistake", EQUIVARIANCE_MISTAKES, ids=lambda d: next(iter(d)))
def test_equivariance_checker_graders_reject(mistake):
    _, eq = _variant_checker(**mistake)
    assert _fails(_impl(equivariance_error=eq), "2.3"), f"graders of 2.3 accepted {mistake}"


def test_checker_graders_accept_an_independent_correct_checker():
    inv, eq = _variant_checker()
    impl = _impl(invariance_error=inv, equivariance_error=eq)
    for grader in _graders_of("2.2") + _graders_of("2.3"):
        grader(impl)


def test_checker_graders_accept_argsort_permutations_for_every_stream():
    """A correct checker that draws permutations as argsort of noise passes the graders for 40 random streams."""
    for seed in range(40):
        inv, eq = _variant_checker(argsort_perm=True, seed_offset=1000 + seed)
        impl = _impl(invariance_error=inv, equivariance_error=eq)
        for grader in _graders_of("2.2") + _graders_of("2.3"):
            grader(impl)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_broken_cases_fail_by_ten_times_the_threshold_for_every_seed(dtype):
    """Over 200 seeds, the reference checker and the argsort variant report ≥ 10 × BROKEN on every broken case."""
    inv_variant, eq_variant = _variant_checker(argsort_perm=True)
    pos_eq, _ = graders._equivariance_pos(dtype)
    for checker_inv, checker_eq in ((ref.invariance_error, ref.equivariance_error), (inv_variant, eq_variant)):
        for name, fn, pos, kw in graders._broken_invariance_cases(dtype):
            low = min(checker_inv(fn, pos, n_trials=6, generator=torch.Generator().manual_seed(s), **kw)
                      for s in range(200))
            assert low >= 10 * graders.BROKEN, (name, low)
        for name, fn, kw in graders._broken_equivariance_cases(dtype):
            low = min(checker_eq(fn, pos_eq, n_trials=6, generator=torch.Generator().manual_seed(s), **kw)
                      for s in range(200))
            assert low >= 10 * graders.BROKEN, (name, low)


# ------------------------------------------------------------------------------- EGNN (2.4)
class _EGNNBroken(ref.EGNNLayer):
    mistake = None

    def forward(self, h, pos, edge_index, edge_attr=None):
        n = pos.shape[0]
        src, dst = edge_index
        diff = pos[dst] - pos[src]
        d2 = diff.pow(2).sum(-1, keepdim=True)
        if self.mistake == "absolute_positions_in_messages":
            d2 = d2 + pos[dst].sum(-1, keepdim=True)
        attr = [edge_attr] if self.edge_dim else []
        if self.mistake == "ignores_edge_attr" and self.edge_dim:
            attr = [torch.zeros_like(edge_attr)]
        m = self.phi_e(torch.cat([h[dst], h[src], d2] + attr, -1))
        agg = torch.zeros(n, self.hidden_dim, dtype=m.dtype).index_add_(0, dst, m)
        if self.mistake == "aggregate_by_position":
            agg = m[:n] if m.shape[0] >= n else agg
        h_new = h + self.phi_h(torch.cat([h, agg], -1))
        if self.mistake == "no_coordinate_update":
            return h_new, pos.clone()
        if not self.update_coords and self.mistake != "ignores_update_coords":
            return h_new, pos
        dist = d2.sqrt() if self.mistake == "sqrt_without_eps" else torch.sqrt(d2 + 1e-8)
        vec = diff if self.mistake != "scaled_positions" else pos[dst]
        shift = vec / (dist + 1) * self.phi_x(m)
        total = torch.zeros(n, 3, dtype=pos.dtype).index_add_(0, dst, shift)
        if self.mistake == "updates_pos_in_place":
            return h_new, pos.add_(total / n)
        return h_new, pos + total / n


@pytest.mark.parametrize("mistake", ["absolute_positions_in_messages", "aggregate_by_position",
                                     "no_coordinate_update", "sqrt_without_eps", "scaled_positions",
                                     "ignores_edge_attr", "ignores_update_coords", "updates_pos_in_place"])
def test_egnn_graders_reject(mistake):
    cls = type(f"EGNN_{mistake}", (_EGNNBroken,), {"mistake": mistake})
    failures = _failures(_impl(EGNNLayer=cls), "2.4")
    assert failures, f"graders of 2.4 accepted {mistake}"
    hint = {"ignores_edge_attr": "edge_attr", "ignores_update_coords": "update_coords=False",
            "updates_pos_in_place": "in place"}.get(mistake)
    assert hint is None or any(hint in f for f in failures), failures


def test_egnn_graders_accept_the_variant_without_mistakes():
    """Correct, written differently: mean over all n atoms instead of each atom's in-degree."""
    cls = type("EGNN_ok", (_EGNNBroken,), {"mistake": None})
    impl = _impl(EGNNLayer=cls)
    for grader in _graders_of("2.4"):
        grader(impl)


# ------------------------------------------------------------------------------- distance model (2.5)
class _DistBroken(ref.DistanceInvariantModel):
    mistake = None

    def forward(self, z, pos, batch=None):
        if self.mistake == "raw_coordinates":
            return super().forward(z, pos, batch) + pos.sum() * 0.1
        if self.mistake == "constant":
            return super().forward(z, pos.detach() * 0, batch)
        if self.mistake == "ignores_batch":
            return super().forward(z, pos, None).expand(int(batch.max()) + 1 if batch is not None else 1)
        if self.mistake == "ignores_z":
            return super().forward(torch.ones_like(z), pos, batch)
        if self.mistake == "ignores_readout":
            readout, self.readout = self.readout, "sum"
            try:
                return super().forward(z, pos, batch)
            finally:
                self.readout = readout
        if self.mistake == "mean_over_whole_batch" and self.readout == "mean":
            self.readout = "sum"
            try:
                return super().forward(z, pos, batch) / z.shape[0]
            finally:
                self.readout = "mean"
        return super().forward(z, pos, batch)


@pytest.mark.parametrize("mistake", ["raw_coordinates", "constant", "ignores_batch", "ignores_z", "ignores_readout",
                                     "mean_over_whole_batch"])
def test_distance_model_graders_reject(mistake):
    cls = type(f"Dist_{mistake}", (_DistBroken,), {"mistake": mistake})
    failures = _failures(_impl(DistanceInvariantModel=cls), "2.5")
    assert failures, f"graders of 2.5 accepted {mistake}"
    if mistake in ("ignores_readout", "mean_over_whole_batch"):
        assert any("readout='mean'" in f for f in failures), failures


class DistanceModelWithCdist(ref.DistanceInvariantModel):
    """Correct, written differently: per-molecule loops with torch.cdist and a mask for i ≠ j."""

    def forward(self, z, pos, batch=None):
        if batch is None:
            batch = torch.zeros(pos.shape[0], dtype=torch.long)
        n_graphs = int(batch.max()) + 1
        outs = []
        for g in range(n_graphs):
            idx = torch.nonzero(batch == g).flatten()
            p, zz = pos[idx], z[idx]
            d = torch.sqrt((p[:, None] - p[None]).pow(2).sum(-1) + self.eps)
            rbf = torch.exp(-((d[..., None] - self.centers.to(p.dtype)) / self.width) ** 2)
            fcut = torch.where(d < self.cutoff, 0.5 * (torch.cos(math.pi * d / self.cutoff) + 1), torch.zeros_like(d))
            mask = (1 - torch.eye(len(idx), dtype=p.dtype)) * fcut
            msg = self.filter(rbf) * self.embed_neigh(zz).to(p.dtype)[None, :, :] * mask[..., None]
            atom = self.embed_self(zz).to(p.dtype) + msg.sum(1)
            per_atom = self.head(atom).squeeze(-1)
            outs.append(per_atom.mean() if self.readout == "mean" else per_atom.sum())
        return torch.stack(outs)


def test_distance_model_graders_accept_a_cdist_variant():
    impl = _impl(DistanceInvariantModel=DistanceModelWithCdist)
    for grader in _graders_of("2.5"):
        grader(impl)
