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


def rot_euler_zyz(generator=None, dtype=torch.float64, device=None):
    a, b, c = (torch.rand(3, generator=generator, dtype=torch.float64)
               * torch.tensor([2 * math.pi, math.pi, 2 * math.pi], dtype=torch.float64)).tolist()
    return (_rz(a) @ _ry(b) @ _rz(c)).to(dtype=dtype, device=device)


def rot_euler_xyz(generator=None, dtype=torch.float64, device=None):
    a, b, c = ((torch.rand(3, generator=generator, dtype=torch.float64) * 2 - 1) * math.pi).tolist()
    return (_rz(a) @ _ry(b) @ _rx(c)).to(dtype=dtype, device=device)


def rot_qr_no_sign_fix(generator=None, dtype=torch.float64, device=None):
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    if torch.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.to(dtype=dtype, device=device)


def rot_qr_may_reflect(generator=None, dtype=torch.float64, device=None):
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).to(dtype=dtype, device=device)


def rot_ignores_generator(generator=None, dtype=torch.float64, device=None):
    return ref.random_rotation(None, dtype=dtype, device=device)


def rot_qr_correct(generator=None, dtype=torch.float64, device=None):
    if not dtype.is_floating_point:
        raise ValueError("floating dtype needed")
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.to(dtype=dtype, device=device)


def rot_quaternion_from_cube(generator=None, dtype=torch.float64, device=None):
    """A quaternion drawn uniformly from the cube [-1, 1]^4, then normalised: not uniform on the sphere."""
    q = torch.rand(4, generator=generator, dtype=torch.float64) * 2 - 1
    w, x, y, z = q / q.norm()
    R = torch.stack([torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)]),
                     torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)]),
                     torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)])])
    return R.to(dtype=dtype, device=device)


def rot_uniform_angle_about_random_axis(generator=None, dtype=torch.float64, device=None):
    a = torch.randn(3, generator=generator, dtype=torch.float64)
    a = a / a.norm()
    theta = float(torch.rand(1, generator=generator, dtype=torch.float64)) * math.pi
    K = torch.tensor([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]], dtype=torch.float64)
    return (torch.eye(3, dtype=torch.float64) + math.sin(theta) * K + (1 - math.cos(theta)) * K @ K).to(dtype=dtype, device=device)


def rot_float32_draw(generator=None, dtype=torch.float64, device=None):
    """Draws in float32 whatever dtype is asked for: float64 rotations are orthogonal only to ~1e-7."""
    return ref.random_rotation(generator, dtype=torch.float32, device=device).to(dtype)


def rot_ignores_device(generator=None, dtype=torch.float64, device=None):
    return ref.random_rotation(generator, dtype=dtype)


def rot_ignores_dtype(generator=None, dtype=torch.float64, device=None):
    return ref.random_rotation(generator, device=device)


def rot_no_dtype_check(generator=None, dtype=torch.float64, device=None):
    return ref.random_rotation(generator, device=device).to(dtype)


def rot_gram_schmidt_uniform_entries(generator=None, dtype=torch.float64, device=None):
    """Gram–Schmidt of a matrix with entries uniform on [-1, 1]: orthogonal, det +1, not Haar."""
    a, b = (torch.rand(2, 3, generator=generator, dtype=torch.float64) * 2 - 1).unbind(0)
    e1 = a / a.norm()
    b = b - (b @ e1) * e1
    e2 = b / b.norm()
    return torch.stack([e1, e2, torch.linalg.cross(e1, e2)], dim=1).to(dtype=dtype, device=device)


# wrong variant -> words its rejection must contain
ROTATION_WRONG = {rot_euler_zyz: "Euler", rot_euler_xyz: "Euler", rot_qr_no_sign_fix: "sign(diag(R))",
                  rot_qr_may_reflect: "det −1", rot_ignores_generator: "generator",
                  rot_quaternion_from_cube: "132.3°", rot_uniform_angle_about_random_axis: "132.3°",
                  rot_float32_draw: "float64", rot_ignores_device: "device", rot_ignores_dtype: "asked for dtype",
                  rot_no_dtype_check: "floating dtype", rot_gram_schmidt_uniform_entries: "Haar"}


@pytest.mark.parametrize("broken", list(ROTATION_WRONG), ids=lambda f: f.__name__)
def test_rotation_graders_reject(broken):
    failures = _failures(_impl(random_rotation=broken), "2.1")
    assert failures, f"graders of 2.1 accepted {broken.__name__}"
    assert any(ROTATION_WRONG[broken] in f for f in failures), failures


def rot_gram_schmidt_gaussian(generator=None, dtype=torch.float64, device=None):
    """Correct, written differently: Gram–Schmidt of two Gaussian vectors, third column their cross product."""
    if not dtype.is_floating_point:
        raise ValueError("floating dtype needed")
    a, b = torch.randn(2, 3, generator=generator, dtype=torch.float64).unbind(0)
    e1 = a / a.norm()
    b = b - (b @ e1) * e1
    e2 = b / b.norm()
    return torch.stack([e1, e2, torch.linalg.cross(e1, e2)], dim=1).to(dtype=dtype, device=device)


def rot_euler_zyz_haar(generator=None, dtype=torch.float64, device=None):
    """Correct, written differently: ZYZ Euler angles with cos β uniform on [−1, 1] (the Haar measure)."""
    if not dtype.is_floating_point:
        raise ValueError("floating dtype needed")
    u = torch.rand(3, generator=generator, dtype=torch.float64).tolist()
    a, b, c = 2 * math.pi * u[0], math.acos(2 * u[1] - 1), 2 * math.pi * u[2]
    return (_rz(a) @ _ry(b) @ _rz(c)).to(dtype=dtype, device=device)


@pytest.mark.parametrize("correct", [rot_qr_correct, rot_gram_schmidt_gaussian, rot_euler_zyz_haar],
                         ids=lambda f: f.__name__)
def test_rotation_graders_accept_other_correct_methods(correct):
    impl = _impl(random_rotation=correct)
    for grader in _graders_of("2.1"):
        grader(impl)


# ------------------------------------------------------------------------------- checkers (2.2, 2.3)
def _variant_checker(rotate=True, translate=True, z_axis_only=False, permute_args=True, reflect=True,
                     compare_untransformed=False, cast64=False, fixed_mirror=False, argsort_perm=False,
                     seed_offset=None, aggregate="max", error="relative", honour_translations=True,
                     check_output=True, reorder_output=True, denominator="spread", expected_t=True):
    """An invariance/equivariance checker with one switchable mistake (or none).

    Mistakes besides the transformation ones: ``aggregate`` ("mean", "last"), ``error`` for invariance
    ("absolute", "relative_to_transformed", "max_abs", "no_tiny_guard"), ``denominator`` for equivariance ("norm",
    "output_spread", "no_sqrt"), ``honour_translations=False`` (translates even when told not to),
    ``check_output=False`` (no check that fn returns one tensor), ``reorder_output=False`` (per-atom outputs
    compared without the permutation), ``expected_t=False`` (expected output rotated but not translated).

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

    def validate(pos, n_trials):
        if not isinstance(pos, torch.Tensor):
            raise TypeError("pos must be a tensor")
        if pos.ndim != 2 or pos.shape[1] != 3 or n_trials < 1:
            raise ValueError("bad pos or n_trials")

    def output(fn, p, args):
        out = fn(p, *args)
        if check_output and not isinstance(out, torch.Tensor):
            raise TypeError(f"fn must return one tensor, got {type(out).__name__}")
        return out.detach()

    def combine(errors):
        return {"max": max, "mean": lambda e: sum(e) / len(e), "last": lambda e: e[-1]}[aggregate](errors)

    def invariance_error(fn, pos, *args, n_trials=8, translations=True, reflections=False,
                         permutations=False, generator=None):
        validate(pos, n_trials)
        kw = {"reflections": reflections}
        if seed_offset is not None:
            generator = torch.Generator().manual_seed(seed_offset)
        y = output(fn, pos, args)
        errors = []
        for _ in range(n_trials):
            R, t = transform(pos, generator, kw)
            new = pos.to(R.dtype) @ R.T + (t if translations or not honour_translations else 0)
            new_args, expected = list(args), y
            if permutations:
                perm = randperm(pos.shape[0], generator)
                new = new[perm]
                if permute_args:
                    new_args = ref._permute_args(args, perm, pos.shape[0])
                if y.ndim and y.shape[0] == pos.shape[0] and reorder_output:
                    expected = y[perm]
            out = output(fn, new, new_args)
            diff = out - expected
            if error == "absolute":
                errors.append(float(diff.norm()))
            elif error == "relative_to_transformed":
                errors.append(float(diff.norm() / out.norm().clamp_min(1e-30)))
            elif error == "max_abs":
                errors.append(float(diff.abs().max() / expected.abs().max().clamp_min(1e-30)))
            elif error == "no_tiny_guard":
                with torch.no_grad():
                    errors.append(float(diff.norm() / expected.norm()))
            else:
                errors.append(float(diff.norm() / expected.norm().clamp_min(1e-30)))
        return combine(errors)

    def equivariance_error(fn, pos, *args, n_trials=8, translations=True, reflections=False,
                           permutations=False, generator=None):
        validate(pos, n_trials)
        kw = {"reflections": reflections}
        if seed_offset is not None:
            generator = torch.Generator().manual_seed(seed_offset)
        y = output(fn, pos, args)
        if y.ndim != 2 or y.shape[1] != 3:
            raise ValueError("fn must return (m, 3)")
        spread_out = float((y - y.mean(0)).norm())
        spread_in = float((pos - pos.mean(0)).norm())
        scale = {"spread": max(spread_out, spread_in * math.sqrt(y.shape[0] / pos.shape[0])),
                 "no_sqrt": max(spread_out, spread_in), "output_spread": max(spread_out, 1e-300),
                 "norm": float(y.norm())}[denominator]
        errors = []
        for _ in range(n_trials):
            R, t = transform(pos, generator, kw)
            t = t if translations or not honour_translations else 0
            new = pos.to(R.dtype) @ R.T + t
            yy = y.to(R.dtype)
            expected = yy if compare_untransformed else yy @ R.T + (t if expected_t else 0)
            new_args = list(args)
            if permutations:
                perm = randperm(pos.shape[0], generator)
                new = new[perm]
                new_args = ref._permute_args(args, perm, pos.shape[0]) if permute_args else new_args
                expected = expected[perm] if expected.shape[0] == pos.shape[0] else expected
            out = output(fn, new, new_args)
            errors.append(float((out - expected).norm()) / scale)
        return combine(errors)

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


# (mistake, words the rejection must contain)
INVARIANCE_MISTAKES = [(dict(rotate=False), "random rotation"), (dict(translate=False), "random translation"),
                       (dict(z_axis_only=True), "random rotation"), (dict(permute_args=False), "reorder per-atom args"),
                       (dict(reflect=False), "improper rotation"), (dict(cast64=True), "input dtype"),
                       (dict(fixed_mirror=True), "fixed mirror"), (dict(aggregate="mean"), "MEAN over the trials"),
                       (dict(aggregate="last"), "first or last trial"), (dict(error="absolute"), "not absolute"),
                       (dict(error="relative_to_transformed"), "UNTRANSFORMED"), (dict(error="max_abs"), "not max-abs"),
                       (dict(error="no_tiny_guard"), "guard the division"),
                       (dict(honour_translations=False), "translations=False"),
                       (dict(check_output=False), "returns a tuple"),
                       (dict(reorder_output=False), "compare per-atom outputs after reordering")]
EQUIVARIANCE_MISTAKES = [(dict(rotate=False), "same rotation"), (dict(translate=False), "translation"),
                         (dict(z_axis_only=True), "same rotation"), (dict(permute_args=False), "permutation"),
                         (dict(reflect=False), "improper rotation"), (dict(compare_untransformed=True), "fn(pos) Qᵀ + t"),
                         (dict(cast64=True), "input dtype"), (dict(fixed_mirror=True), "random R"),
                         (dict(aggregate="mean"), "MEAN over the trials"), (dict(denominator="norm"), "not ‖y‖"),
                         (dict(denominator="output_spread"), "input's spread"), (dict(denominator="no_sqrt"), "sqrt(m/n)"),
                         (dict(honour_translations=False), "translations=False"),
                         (dict(check_output=False), "returns a tuple"), (dict(expected_t=False), "translation")]


@pytest.mark.parametrize("mistake,words", INVARIANCE_MISTAKES, ids=lambda d: str(next(iter(d))) if isinstance(d, dict) else "")
def test_invariance_checker_graders_reject(mistake, words):
    inv, _ = _variant_checker(**mistake)
    failures = _failures(_impl(invariance_error=inv), "2.2")
    assert failures, f"graders of 2.2 accepted {mistake}"
    assert any(words in f for f in failures), failures


@pytest.mark.parametrize("mistake,words", EQUIVARIANCE_MISTAKES, ids=lambda d: str(next(iter(d))) if isinstance(d, dict) else "")
def test_equivariance_checker_graders_reject(mistake, words):
    _, eq = _variant_checker(**mistake)
    failures = _failures(_impl(equivariance_error=eq), "2.3")
    assert failures, f"graders of 2.3 accepted {mistake}"
    assert any(words in f for f in failures), failures


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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.mistake == "default_init_phi_x":
            self.phi_x[-1].reset_parameters()  # PyTorch's default init: the first steps are large

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
        target = src if self.mistake == "messages_wrong_direction" else dst
        agg = torch.zeros(n, self.hidden_dim, dtype=m.dtype).index_add_(0, target, m)
        # in-degree by scattering ones (the reference uses bincount)
        deg = torch.zeros(n, dtype=pos.dtype).index_add_(0, target, torch.ones(target.shape[0], dtype=pos.dtype))
        deg = torch.where(deg > 0, deg, torch.ones_like(deg))
        if self.mistake == "aggregate_by_position":
            agg = m[:n] if m.shape[0] >= n else agg
        if self.mistake == "mean_messages_for_h":
            agg = agg / deg[:, None].to(agg.dtype)
        update = self.phi_h(torch.cat([h, agg], -1))
        h_new = update if self.mistake == "no_residual" else h + update
        if self.mistake == "no_coordinate_update":
            return h_new, pos.clone()
        if not self.update_coords and self.mistake != "ignores_update_coords":
            return h_new, pos
        dist = d2.sqrt() if self.mistake == "sqrt_without_eps" else torch.sqrt(d2 + 1e-8)
        vec = diff if self.mistake != "scaled_positions" else pos[dst]
        shift = vec / (dist + 1) * self.phi_x(m)
        total = torch.zeros(n, 3, dtype=pos.dtype).index_add_(0, target, shift)
        step = {"divides_by_n": total / n, "sum_coords": total}.get(self.mistake, total / deg[:, None])
        if self.mistake == "updates_pos_in_place":
            return h_new, pos.add_(step)
        return h_new, pos + step


EGNN_WRONG = {"absolute_positions_in_messages": "not raw coordinates", "aggregate_by_position": "per target atom",
              "no_coordinate_update": "must update coordinates", "sqrt_without_eps": "eps",
              "scaled_positions": "scalar times a difference", "ignores_edge_attr": "edge_attr",
              "ignores_update_coords": "update_coords=False", "updates_pos_in_place": "in place",
              "divides_by_n": "in-degree", "sum_coords": "in-degree", "mean_messages_for_h": "SUM of the messages",
              "default_init_phi_x": "std 1e-3", "no_residual": "residual", "messages_wrong_direction": "j → i"}


@pytest.mark.parametrize("mistake", list(EGNN_WRONG))
def test_egnn_graders_reject(mistake):
    cls = type(f"EGNN_{mistake}", (_EGNNBroken,), {"mistake": mistake})
    failures = _failures(_impl(EGNNLayer=cls), "2.4")
    assert failures, f"graders of 2.4 accepted {mistake}"
    assert any(EGNN_WRONG[mistake] in f for f in failures), failures


def test_egnn_graders_accept_the_variant_without_mistakes():
    """Correct, written differently: in-degree by scattering ones, a ``where`` instead of a clamp."""
    cls = type("EGNN_ok", (_EGNNBroken,), {"mistake": None})
    impl = _impl(EGNNLayer=cls)
    for grader in _graders_of("2.4"):
        grader(impl)


# ------------------------------------------------------------------------------- distance model (2.5)
class _DistBroken(ref.DistanceInvariantModel):
    mistake = None

    def _forward_with(self, z, pos, batch):
        """The reference forward with the cutoff, pair-list or dtype mistakes switchable."""
        from molpractice.geometry3d import fully_connected_edge_index

        if batch is None:
            batch = torch.zeros(pos.shape[0], dtype=torch.long)
        n_graphs = int(batch.max()) + 1
        pairs_of = torch.zeros_like(batch) if self.mistake == "pairs_across_molecules" else batch
        src, dst = fully_connected_edge_index(pairs_of)
        d = torch.sqrt((pos[dst] - pos[src]).pow(2).sum(-1) + self.eps)
        rbf = torch.exp(-((d[:, None] - self.centers.to(pos.dtype)[None, :]) / self.width) ** 2)
        smooth = 0.5 * (torch.cos(math.pi * d / self.cutoff) + 1.0)
        if self.mistake == "no_cutoff":
            fcut = torch.ones_like(d)
        elif self.mistake == "hard_cutoff":
            fcut = (d < self.cutoff).to(d.dtype)
        else:
            fcut = torch.where(d < self.cutoff, smooth, torch.zeros_like(d))
        msg = self.filter(rbf) * self.embed_neigh(z[src]).to(pos.dtype) * fcut[:, None]
        atom = self.embed_self(z).to(pos.dtype).index_add(0, dst, msg)
        per_atom = self.head(atom).squeeze(-1)
        out = torch.zeros(n_graphs, dtype=per_atom.dtype).index_add_(0, batch, per_atom)
        if self.readout == "mean":
            out = out / torch.bincount(batch, minlength=n_graphs).to(out.dtype)
        return out.double() if self.mistake == "float64_output" else out

    def forward(self, z, pos, batch=None):
        if self.mistake in ("no_cutoff", "hard_cutoff", "pairs_across_molecules", "float64_output", "none_rewritten"):
            return self._forward_with(z, pos, batch)
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


DIST_WRONG = {"raw_coordinates": "only interatomic distances", "constant": "stretched",
              "ignores_batch": "use batch", "ignores_z": "embed the atomic numbers", "ignores_readout": "readout='mean'",
              "mean_over_whole_batch": "readout='mean'", "no_cutoff": "must not interact",
              "hard_cutoff": "smooth factor", "pairs_across_molecules": "pairs must stay inside a molecule",
              "float64_output": "output dtype must be pos.dtype"}


@pytest.mark.parametrize("mistake", list(DIST_WRONG))
def test_distance_model_graders_reject(mistake):
    cls = type(f"Dist_{mistake}", (_DistBroken,), {"mistake": mistake})
    failures = _failures(_impl(DistanceInvariantModel=cls), "2.5")
    assert failures, f"graders of 2.5 accepted {mistake}"
    assert any(DIST_WRONG[mistake] in f for f in failures), failures


def test_distance_model_graders_accept_the_rewritten_forward():
    """Correct, written differently: the forward rewritten in the test (mask via where, bincount mean)."""
    impl = _impl(DistanceInvariantModel=type("Dist_ok", (_DistBroken,), {"mistake": "none_rewritten"}))
    for grader in _graders_of("2.5"):
        grader(impl)


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
