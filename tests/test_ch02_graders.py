"""The chapter-2 graders must fail on broken implementations (and pass on other correct ones).

Each broken variant replaces one function of the reference module; the grader of that exercise must
raise AssertionError (or the variant's own error), the others are not run.
"""
import importlib.util
import math
import types
from pathlib import Path

import pytest
import torch

from solutions import ch02_equivariance as ref

_GRADERS = Path(__file__).parent / "graders" / "test_ch02_equivariance.py"
_spec = importlib.util.spec_from_file_location("ch02_graders_under_test", _GRADERS)
graders = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(graders)


def _impl(**overrides):
    module = types.SimpleNamespace(**{k: getattr(ref, k) for k in dir(ref) if not k.startswith("__")})
    for k, v in overrides.items():
        setattr(module, k, v)
    return types.SimpleNamespace(ch02_equivariance=module)


def _graders_of(exercise_id):
    return [f for f in vars(graders).values()
            if callable(f) and getattr(f, "molpractice_exercise", (None,))[0] == exercise_id]


def _fails(impl, exercise_id):
    """True if at least one grader of the exercise rejects ``impl``."""
    for grader in _graders_of(exercise_id):
        try:
            grader(impl)
        except (AssertionError, RuntimeError, ValueError, TypeError, IndexError):
            return True
    return False


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


@pytest.mark.parametrize("broken", [rot_euler_zyz, rot_euler_xyz, rot_qr_no_sign_fix, rot_qr_may_reflect,
                                    rot_ignores_generator])
def test_rotation_graders_reject(broken):
    assert _fails(_impl(random_rotation=broken), "2.1"), f"graders of 2.1 accepted {broken.__name__}"


def test_rotation_graders_accept_qr_with_sign_fix():
    impl = _impl(random_rotation=rot_qr_correct)
    for grader in _graders_of("2.1"):
        grader(impl)


# ------------------------------------------------------------------------------- checkers (2.2)
def _variant_checker(rotate=True, translate=True, z_axis_only=False, permute_args=True, reflect=True,
                     compare_untransformed=False, cast64=False):
    """An invariance/equivariance checker with one switchable mistake."""

    def transform(pos, gen, kw):
        dtype = torch.float64 if cast64 else pos.dtype
        pos = pos.to(dtype)
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
        y = fn(pos, *args).detach()
        worst = 0.0
        for _ in range(n_trials):
            R, t = transform(pos, generator, kw)
            new = pos.to(R.dtype) @ R.T + (t if translations else 0)
            new_args, expected = list(args), y
            if permutations:
                perm = torch.randperm(pos.shape[0], generator=generator)
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
                perm = torch.randperm(pos.shape[0], generator=generator)
                new = new[perm]
                new_args = ref._permute_args(args, perm, pos.shape[0]) if permute_args else new_args
                expected = expected[perm] if expected.shape[0] == pos.shape[0] else expected
            out = fn(new, *new_args).detach()
            worst = max(worst, float((out - expected).norm()) / scale)
        return worst

    return invariance_error, equivariance_error


@pytest.mark.parametrize("mistake", [dict(rotate=False), dict(translate=False), dict(z_axis_only=True),
                                     dict(permute_args=False), dict(reflect=False),
                                     dict(compare_untransformed=True), dict(cast64=True)])
def test_checker_graders_reject(mistake):
    inv, eq = _variant_checker(**mistake)
    assert _fails(_impl(invariance_error=inv, equivariance_error=eq), "2.2"), f"graders of 2.2 accepted {mistake}"


def test_checker_graders_accept_an_independent_correct_checker():
    inv, eq = _variant_checker()
    impl = _impl(invariance_error=inv, equivariance_error=eq)
    for grader in _graders_of("2.2"):
        grader(impl)


# ------------------------------------------------------------------------------- EGNN (2.3)
class _EGNNBroken(ref.EGNNLayer):
    mistake = None

    def forward(self, h, pos, edge_index, edge_attr=None):
        n = pos.shape[0]
        src, dst = edge_index
        diff = pos[dst] - pos[src]
        d2 = diff.pow(2).sum(-1, keepdim=True)
        if self.mistake == "absolute_positions_in_messages":
            d2 = d2 + pos[dst].sum(-1, keepdim=True)
        m = self.phi_e(torch.cat([h[dst], h[src], d2] + ([edge_attr] if self.edge_dim else []), -1))
        agg = torch.zeros(n, self.hidden_dim, dtype=m.dtype).index_add_(0, dst, m)
        if self.mistake == "aggregate_by_position":
            agg = m[:n] if m.shape[0] >= n else agg
        h_new = h + self.phi_h(torch.cat([h, agg], -1))
        if self.mistake == "no_coordinate_update":
            return h_new, pos.clone()
        dist = d2.sqrt() if self.mistake == "sqrt_without_eps" else torch.sqrt(d2 + 1e-8)
        vec = diff if self.mistake != "scaled_positions" else pos[dst]
        shift = vec / (dist + 1) * self.phi_x(m)
        total = torch.zeros(n, 3, dtype=pos.dtype).index_add_(0, dst, shift)
        return h_new, pos + total / n


@pytest.mark.parametrize("mistake", ["absolute_positions_in_messages", "aggregate_by_position",
                                     "no_coordinate_update", "sqrt_without_eps", "scaled_positions"])
def test_egnn_graders_reject(mistake):
    cls = type(f"EGNN_{mistake}", (_EGNNBroken,), {"mistake": mistake})
    assert _fails(_impl(EGNNLayer=cls), "2.3"), f"graders of 2.3 accepted {mistake}"


def test_egnn_graders_accept_the_variant_without_mistakes():
    cls = type("EGNN_ok", (_EGNNBroken,), {"mistake": None})
    impl = _impl(EGNNLayer=cls)
    for grader in _graders_of("2.3"):
        grader(impl)


# ------------------------------------------------------------------------------- distance model (2.4)
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
        return super().forward(z, pos, batch)


@pytest.mark.parametrize("mistake", ["raw_coordinates", "constant", "ignores_batch", "ignores_z"])
def test_distance_model_graders_reject(mistake):
    cls = type(f"Dist_{mistake}", (_DistBroken,), {"mistake": mistake})
    assert _fails(_impl(DistanceInvariantModel=cls), "2.4"), f"graders of 2.4 accepted {mistake}"
