"""Graders of chapter 2 (equivariance checks). Each takes ``impl`` (exercises or solutions).

The graders never rotate with the learner's own functions: they use their own rotations (Rodrigues'
formula from a seeded axis and angle) and their own error measures. Every random number comes from a
seeded ``torch.Generator`` so the verdicts never flake.
"""
import contextlib
import math

import numpy as np
import torch
from scipy import stats

from molpractice.grading import exercise

DTYPES = (torch.float32, torch.float64)
# Relative tolerances for "exactly invariant up to rounding" (float32 eps ≈ 1.2e-7, float64 ≈ 2.2e-16;
# a few hundred operations deep, with sums over ~100 pairs, errors stay far below these).
TOL = {torch.float32: 1e-4, torch.float64: 1e-9}
BROKEN = 0.05  # a checker must report at least this for clearly broken functions


@contextlib.contextmanager
def _one_thread():
    """Tiny LAPACK calls (e.g. torch.linalg.qr of 3×3) can be pathologically slow with several threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _rotation(gen, dtype=torch.float64):
    """Grader's own rotation: Rodrigues' formula, axis uniform on the sphere, angle from the Haar law."""
    axis = torch.randn(3, generator=gen, dtype=torch.float64)
    axis = axis / axis.norm()
    # an oracle needs exact rotations, not Haar-distributed ones: any axis and angle will do
    theta = float(torch.rand(1, generator=gen, dtype=torch.float64)) * math.pi
    K = torch.tensor([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]],
                     dtype=torch.float64)
    R = torch.eye(3, dtype=torch.float64) + math.sin(theta) * K + (1 - math.cos(theta)) * (K @ K)
    return R.to(dtype)


def _cloud(n, gen, dtype=torch.float64, scale=1.5):
    return (torch.randn(n, 3, generator=gen, dtype=torch.float64) * scale).to(dtype)


def _complete_graph(n):
    idx = torch.arange(n)
    src, dst = idx.repeat_interleave(n), idx.repeat(n)
    keep = src != dst
    return torch.stack([src[keep], dst[keep]])


def _rel(a, b):
    a, b = a.detach(), b.detach()
    return float((a - b).norm() / b.norm().clamp_min(torch.finfo(b.dtype).tiny))


def _spread(x):
    return float((x - x.mean(0)).norm())


def _randomise_parameters(module, gen, std=0.3):
    """Overwrite every parameter with seeded Gaussian noise, so the test does not depend on the init."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype) * std)


def _call_checker(checker, fn, pos, *args, **kw):
    """Call the learner's checker on copies of the grader's tensors and fail if it modified them in place."""
    given = [pos.clone()] + [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    out = checker(fn, *given, **kw)
    for name, before, after in zip(["pos"] + [f"args[{k}]" for k in range(len(args))], (pos,) + args, given):
        if isinstance(before, torch.Tensor) and not torch.equal(before, after):
            what = getattr(checker, "__name__", "the checker")
            raise AssertionError(f"{what} changed its argument {name} in place: transform copies "
                                 "(new_pos = pos @ Q.T + t), never the tensors you were given")
    return out


# ---------------------------------------------------------------------------------------- 2.1
@exercise("2.1", points=1)
def test_rotation_is_orthogonal_with_det_one(impl):
    rot = impl.ch02_equivariance.random_rotation
    gen = torch.Generator().manual_seed(0)
    with _one_thread():
        for dtype in DTYPES:
            tol = 1e-5 if dtype == torch.float32 else 1e-12
            for _ in range(50):
                R = rot(gen, dtype=dtype)
                assert isinstance(R, torch.Tensor) and R.shape == (3, 3), \
                    f"random_rotation must return a (3, 3) tensor, got {getattr(R, 'shape', type(R))}"
                assert R.dtype == dtype, f"asked for dtype={dtype}, got {R.dtype}"
                eye_err = float((R.double() @ R.double().T - torch.eye(3, dtype=torch.float64)).abs().max())
                assert eye_err < tol, (
                    f"R Rᵀ differs from the identity by {eye_err:.2e} ({dtype}): not orthogonal to the precision of "
                    "the dtype — draw and orthonormalise in float64, then cast at the end")
                det = float(torch.linalg.det(R.double()))
                assert abs(det - 1) < tol, (
                    f"det R = {det:.6f} ({dtype}); a rotation has det +1 (det −1 is a reflection: "
                    "flip the sign of one column when det < 0)")


@exercise("2.1", points=1)
def test_rotation_is_reproducible_from_generator(impl):
    rot = impl.ch02_equivariance.random_rotation
    with _one_thread():
        a = rot(torch.Generator().manual_seed(42))
        b = rot(torch.Generator().manual_seed(42))
        assert torch.equal(a, b), "the same generator seed must give the same rotation — draw with generator=generator"
        gen = torch.Generator().manual_seed(42)
        first, second = rot(gen), rot(gen)
        assert not torch.allclose(first, second), "two draws from one generator gave the same rotation"
        torch.manual_seed(7)
        c = rot()
        torch.manual_seed(7)
        d = rot()
        assert torch.equal(c, d), "with generator=None, use PyTorch's global RNG (torch.manual_seed must fix it)"
        assert rot(torch.Generator().manual_seed(1), dtype=torch.float32).dtype == torch.float32
        try:
            on_meta = rot(torch.Generator().manual_seed(1), device="meta")
        except NotImplementedError:  # a stub: 'not started', not a failure
            raise
        except (RuntimeError, TypeError, ValueError) as err:
            raise AssertionError(
                f"random_rotation(generator, device='meta') failed ({type(err).__name__}: {err}) — draw the random "
                "numbers on the generator's device, then move the result with .to(device)") from None
        assert on_meta.device.type == "meta" and on_meta.shape == (3, 3), (
            f"random_rotation(device='meta') returned a tensor on {on_meta.device}: honour `device` (move the "
            "result with .to(device))")
        for bad in (torch.int64, torch.bool):
            try:
                rot(torch.Generator().manual_seed(1), dtype=bad)
            except ValueError:
                pass
            else:
                raise AssertionError(f"random_rotation(dtype={bad}) must raise ValueError: a rotation needs a "
                                     "floating dtype")


@exercise("2.1", points=2)
def test_rotation_is_haar_uniform(impl):
    """The angle θ of a Haar rotation has CDF (θ − sin θ)/π; every matrix entry is uniform on [−1, 1]."""
    rot = impl.ch02_equivariance.random_rotation
    gen = torch.Generator().manual_seed(2024)
    n = 2000
    with _one_thread():
        Rs = torch.stack([rot(gen, dtype=torch.float64) for _ in range(n)]).numpy()
    cos_theta = np.clip((np.trace(Rs, axis1=1, axis2=2) - 1) / 2, -1, 1)
    theta = np.arccos(cos_theta)
    p_angle = stats.kstest(theta, lambda t: (t - np.sin(t)) / np.pi).pvalue
    assert p_angle > 1e-4, (
        f"the rotation angles of {n} draws do not follow the Haar density (1 − cos θ)/π "
        f"(KS p = {p_angle:.1e}, median angle {np.degrees(np.median(theta)):.0f}°, Haar median ≈ 132.3°, from (θ − sin θ)/π = ½). "
        "Uniform Euler angles or a uniform angle about a random axis are not uniform rotations; "
        "with QR, fix the signs of Q's columns by sign(diag(R)).")
    worst = min((stats.kstest(Rs[:, i, j], stats.uniform(loc=-1, scale=2).cdf).pvalue, i, j)
                for i in range(3) for j in range(3))
    assert worst[0] > 1e-4, (
        f"entry R[{worst[1]}, {worst[2]}] over {n} draws is not uniform on [−1, 1] (KS p = {worst[0]:.1e}); "
        "for a Haar rotation R·e_j is uniform on the sphere, so every entry is uniform on [−1, 1]. Uniform Euler "
        "angles are not uniform rotations; use QR of a Gaussian matrix with the sign fix, or a normalised Gaussian "
        "quaternion")
    # each column (the image of a fixed axis) and each row is uniform on the sphere: E[x⁴ + y⁴ + z⁴] = 3/5
    for name, quartic in (("column", (Rs ** 4).sum(axis=1)), ("row", (Rs ** 4).sum(axis=2))):
        z = (quartic.mean(0) - 0.6) / (quartic.std(0) / np.sqrt(n))
        k = int(np.argmax(np.abs(z)))
        assert abs(z[k]) < 5, (
            f"{name} {k} of R is not uniform on the sphere over {n} draws: mean of x⁴ + y⁴ + z⁴ is "
            f"{quartic.mean(0)[k]:.4f}, a uniform direction gives 3/5 ({z[k]:+.1f} standard errors) — not Haar. "
            "Orthonormalising non-Gaussian random numbers (e.g. uniform entries), or normalising a quaternion drawn "
            "from a cube, favours some directions: start from standard Gaussian numbers")


# ---------------------------------------------------------------------------------------- 2.2
def _pair_distance_sum(pos):
    return torch.cdist(pos, pos).sum()


def _radius_of_gyration(pos):
    return (pos - pos.mean(0)).pow(2).sum(-1).mean().sqrt()


def _dist_to_centroid(pos):  # per-atom invariant, permutation-equivariant
    return (pos - pos.mean(0)).norm(dim=-1)


def _weighted_spread(pos, charges):  # per-atom argument must be permuted with the atoms
    centre = (charges[:, None] * pos).sum(0) / charges.sum()
    return (charges * (pos - centre).pow(2).sum(-1)).sum()


def _incoming_length(pos, edge_index):  # edge_index must be relabelled with the atoms
    src, dst = edge_index
    lengths = (pos[dst] - pos[src]).norm(dim=-1)
    return torch.zeros(pos.shape[0], dtype=pos.dtype).index_add_(0, dst, lengths)


@exercise("2.2", points=1)
def test_invariance_error_is_small_for_invariant_functions(impl):
    inv = impl.ch02_equivariance.invariance_error
    for dtype in DTYPES:
        gen = torch.Generator().manual_seed(3)
        pos = _cloud(9, gen, dtype)
        charges = torch.rand(9, generator=gen, dtype=torch.float64).to(dtype) + 0.5
        # sparse, asymmetric edge set: relabelling edges wrongly changes the per-atom output
        ei = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 0, 4, 7, 1]])
        cases = [("sum of pairwise distances", _pair_distance_sum, ()),
                 ("radius of gyration", _radius_of_gyration, ()),
                 ("per-atom distance to the centroid", _dist_to_centroid, ()),
                 ("charge-weighted spread (per-atom argument)", _weighted_spread, (charges,)),
                 ("summed incoming edge lengths (edge_index argument)", _incoming_length, (ei,))]
        for name, fn, args in cases:
            for kw in ({}, {"reflections": True}, {"permutations": True}):
                err = _call_checker(inv, fn, pos, *args, n_trials=4, generator=torch.Generator().manual_seed(5), **kw)
                assert isinstance(err, float), f"invariance_error must return a Python float, got {type(err).__name__}"
                assert err < TOL[dtype], (
                    f"invariance_error({name}, {dtype}, {kw or 'defaults'}) = {err:.2e}, but this function is "
                    f"invariant (expected < {TOL[dtype]:g}). " +
                    ("With permutations: reorder per-atom args, relabel edge_index with the inverse "
                     "permutation, and compare per-atom outputs after reordering them." if kw.get("permutations")
                     else "Compare fn(transformed pos) with fn(pos) relative to ‖fn(pos)‖."))


def _broken_invariance_cases(dtype):
    """Functions that are *not* invariant, each with the points it is checked on and its check's keywords.

    Chosen so that a correct checker reports at least 10 × ``BROKEN`` whatever random stream it draws (tested
    over many seeds in tests/test_ch02_graders.py): outputs are per-atom vectors where one number would hide a
    change, atoms 0 and 1 are 0.3 Å apart while every other pair is ≥ 0.9 Å apart (so a permutation that moves
    either changes ‖x₀ − x₁‖ several-fold), and the cloud of the translation case is small and centred, so
    any translation of ~1 Å changes Σ‖x_i‖² many times over.
    """
    gen = torch.Generator().manual_seed(11)
    pos = _cloud(8, gen, torch.float64, scale=2.0) + torch.tensor([0.5, -0.3, 0.8], dtype=torch.float64)
    pos[1] = pos[0] + torch.tensor([0.3, 0.0, 0.0], dtype=torch.float64)
    small = _cloud(8, gen, torch.float64, scale=0.3)
    small = small - small.mean(0)
    pos, small = pos.to(dtype), small.to(dtype)
    return [
        # translation-invariant, not rotation-invariant
        ("centred x-coordinates", lambda p: (p - p.mean(0))[:, 0], pos, {}),
        # rotation-invariant about the origin, not translation-invariant
        ("sum of squared distances to the origin", lambda p: p.pow(2).sum(), small, {}),
        # invariant to translations and rotations about z only
        ("spread along z", lambda p: (p[:, 2] - p[:, 2].mean()).pow(2).sum(), pos, {}),
        # E(3)-invariant but depends on atom order
        ("distance between atoms 0 and 1", lambda p: (p[0] - p[1]).norm(), pos, {"permutations": True}),
        # SE(3)-invariant pseudo-scalar: flips sign under every reflection
        ("signed volume", lambda p: torch.linalg.det(torch.stack([p[3] - p[2], p[4] - p[2], p[5] - p[2]])), pos,
         {"reflections": True}),
        # invariant under the mirror x ↦ −x, but not under rotations: with reflections=True the checker must
        # still rotate (an improper rotation −R with a random R, not one fixed mirror)
        ("centred z-coordinates, with reflections", lambda p: (p - p.mean(0))[:, 2], pos, {"reflections": True}),
        ("centred y and z coordinates, with reflections", lambda p: (p - p.mean(0))[:, 1:], pos,
         {"reflections": True}),
    ]


@exercise("2.2", points=2)
def test_invariance_error_flags_broken_functions(impl):
    inv = impl.ch02_equivariance.invariance_error
    for dtype in DTYPES:
        for name, fn, pos, kw in _broken_invariance_cases(dtype):
            err = _call_checker(inv, fn, pos, n_trials=6, generator=torch.Generator().manual_seed(13), **kw)
            assert isinstance(err, float), f"invariance_error must return a Python float, got {type(err).__name__}"
            assert err > BROKEN, (
                f"invariance_error({name}, {dtype}, {kw or 'defaults'}) = {err:.2e}, but this function is not "
                "invariant: did you apply a random rotation" + (" and a random translation" if not kw else "") +
                (", a permutation (with permutations=True)" if "permutations" in kw else "") +
                (", an improper rotation −R with a *random* R in every trial (with reflections=True; a fixed "
                 "mirror alone misses functions that are mirror-symmetric but not rotation-invariant)"
                 if "reflections" in kw else "") +
                " to pos before calling fn?")
        # defaults must include translations; seeded generator must make results reproducible
        fn = lambda p: (p - p.mean(0))[:, 0].abs().sum()  # noqa: E731
        pos = _cloud(8, torch.Generator().manual_seed(11), dtype)
        e1 = inv(fn, pos, n_trials=3, generator=torch.Generator().manual_seed(99))
        e2 = inv(fn, pos, n_trials=3, generator=torch.Generator().manual_seed(99))
        assert e1 == e2, "the same generator seed must give the same error (draw everything from `generator`)"


@exercise("2.2", points=1)
def test_invariance_error_respects_dtype_and_trials(impl):
    inv = impl.ch02_equivariance.invariance_error
    for dtype in DTYPES:
        seen = []

        def fn(p):
            seen.append(p.dtype)
            return _radius_of_gyration(p)

        pos = _cloud(6, torch.Generator().manual_seed(0), dtype)
        inv(fn, pos, n_trials=5, generator=torch.Generator().manual_seed(0))
        assert set(seen) == {dtype}, f"fn received dtypes {set(seen)} for a {dtype} input; compute in the input dtype"
        assert len(seen) >= 6, f"with n_trials=5, fn should be called at least 6 times (got {len(seen)})"


ERRORS_BY_TRIAL = (0.5, 1.0, 0.0, 0.0)  # the scripted functions' relative errors in trials 1..4


class _Scripted:
    """A function for the checkers with a known error per trial.

    On the untransformed input (equal to ``pos0``) it returns ``exact(pos)``; on the k-th transformed input it
    returns ``exact(p)`` plus a perturbation whose size, relative to what the spec divides by, is exactly
    ``ERRORS_BY_TRIAL[k]``. So a correct checker returns max(ERRORS_BY_TRIAL) = 1.0 to rounding.
    """

    def __init__(self, pos0, exact, perturbation):
        self.pos0, self.exact, self.perturbation = pos0.clone(), exact, perturbation
        self.transformed, self.dtypes = 0, set()

    def __call__(self, p, *args):
        self.dtypes.add(p.dtype)
        out = self.exact(p)
        if p.shape == self.pos0.shape and p.dtype == self.pos0.dtype and torch.equal(p, self.pos0):
            return out
        k, self.transformed = self.transformed, self.transformed + 1
        size = ERRORS_BY_TRIAL[k] if k < len(ERRORS_BY_TRIAL) else 0.0
        return out + size * self.perturbation.to(p.dtype)


def _diagnose(got, spec):
    mean = sum(ERRORS_BY_TRIAL) / len(ERRORS_BY_TRIAL)
    why = ""
    if abs(got - mean) < 1e-6:
        why = f" ({mean} is the MEAN over the trials)"
    elif abs(got - ERRORS_BY_TRIAL[-1]) < 1e-6 or abs(got - ERRORS_BY_TRIAL[0]) < 1e-6:
        why = " (the error of the first or last trial only)"
    elif abs(got - sum(ERRORS_BY_TRIAL)) < 1e-6:
        why = " (the SUM over the trials)"
    return (f"a function whose relative errors in 4 trials are exactly {ERRORS_BY_TRIAL} gave {got!r}, expected "
            f"1.0{why}: return the MAXIMUM over trials of {spec}")


def _expect_raise(call, what, allowed=(TypeError, ValueError)):
    try:
        call()
    except allowed:
        return
    except NotImplementedError:  # a stub: 'not started', not a failure
        raise
    except Exception as err:  # noqa: BLE001 - any other error is the learner's bug to name
        raise AssertionError(f"{what} must raise TypeError or ValueError, got {type(err).__name__}: {err}") from None
    raise AssertionError(f"{what} must raise TypeError or ValueError")


@exercise("2.2", points=2)
def test_invariance_error_is_the_max_relative_frobenius_error(impl):
    inv = impl.ch02_equivariance.invariance_error
    for dtype, tol in ((torch.float64, 1e-9), (torch.float32, 1e-4)):
        pos = _cloud(8, torch.Generator().manual_seed(31), dtype)
        norm_y = float(_dist_to_centroid(pos.double()).norm())  # about 7: an absolute error would be about 7, too
        bump = torch.zeros(8, dtype=torch.float64)
        bump[0] = norm_y  # on one entry: Frobenius, max-abs and per-entry errors all differ
        fn = _Scripted(pos, _dist_to_centroid, bump)
        got = _call_checker(inv, fn, pos, n_trials=4, generator=torch.Generator().manual_seed(1))
        assert fn.transformed == 4, (
            f"with n_trials=4, fn was called on {fn.transformed} transformed inputs — exactly one transformed call "
            "per trial (and the untransformed reference)")
        assert fn.dtypes == {dtype}, f"fn received dtypes {fn.dtypes} for a {dtype} input; compute in the input dtype"
        assert isinstance(got, float) and abs(got - 1.0) < tol, _diagnose(
            got, "‖y' − y‖ / ‖y‖ with y = fn(pos) the UNTRANSFORMED output (relative, not absolute) and the "
                 "Frobenius norm over all entries (not max-abs, not per entry)")


@exercise("2.2", points=1)
def test_invariance_error_options_and_errors(impl):
    inv = impl.ch02_equivariance.invariance_error
    gen = torch.Generator().manual_seed(6)
    pos = _cloud(6, gen) + torch.tensor([3.0, -2.0, 1.0], dtype=torch.float64)
    # rotation-invariant about the origin, not translation-invariant: fine when translations are off
    err = _call_checker(inv, lambda p: p.pow(2).sum(), pos, n_trials=4, translations=False,
                        generator=torch.Generator().manual_seed(2))
    assert err < TOL[torch.float64], (
        f"translations=False gave {err:.2e} for Σ‖x_i‖², which is invariant to rotations about the origin: with "
        "translations=False do not translate (rotations, and permutations if asked, only)")
    zeros = _call_checker(inv, lambda p: torch.zeros(4, dtype=p.dtype), pos, n_trials=2,
                          generator=torch.Generator().manual_seed(2))
    assert zeros == 0.0, (
        f"an fn that always returns zeros is exactly invariant, but invariance_error gave {zeros!r}: guard the "
        "division, max(‖y‖, tiny) with tiny the smallest positive normal number of the dtype, "
        "torch.finfo(dtype).tiny (0/0 is nan)")
    rg = _radius_of_gyration
    _expect_raise(lambda: inv(rg, pos.tolist()), "invariance_error(fn, a list instead of a tensor)")
    _expect_raise(lambda: inv(rg, pos[:, :2]), "invariance_error(fn, pos of shape (6, 2))")
    _expect_raise(lambda: inv(rg, pos, n_trials=0), "invariance_error(..., n_trials=0)")
    _expect_raise(lambda: inv(lambda p: (rg(p), p), pos, n_trials=2),
                  "invariance_error of an fn that returns a tuple (check the output is one tensor)")


# ---------------------------------------------------------------------------------------- 2.3
def _message_step(p, edge_index, weights):  # an EGNN-like update with fixed functions
    src, dst = edge_index
    diff = p[dst] - p[src]
    coef = torch.tanh(diff.pow(2).sum(-1, keepdim=True)) * weights[src, None]
    return p + torch.zeros_like(p).index_add_(0, dst, diff * coef) / p.shape[0]


def _equivariance_pos(dtype):
    gen = torch.Generator().manual_seed(17)
    pos = _cloud(9, gen, dtype) + torch.tensor([1.0, 2.0, -1.0], dtype=dtype)
    w = torch.rand(9, generator=gen, dtype=torch.float64).to(dtype)
    return pos, w


def _broken_equivariance_cases(dtype):
    """Functions that are not equivariant; a correct checker reports ≥ 10 × BROKEN for every seed."""
    shift = torch.tensor([2.0, 0.0, 0.0], dtype=dtype)
    squash = torch.tensor([1.0, 1.0, 0.1], dtype=dtype)
    return [("adds a fixed vector", lambda p: p + shift, {}),
            ("centres the output", lambda p: p - p.mean(0), {}),
            # equivariant under translations, rotations about z and the mirror x ↦ −x, not under other rotations
            ("flattens along z about the centroid", lambda p: p.mean(0) + (p - p.mean(0)) * squash, {}),
            ("chiral update", lambda p: p + 0.5 * torch.linalg.cross(p[1] - p[0], p[2] - p[0]).expand_as(p),
             {"reflections": True}),
            ("flattens along z about the centroid, with reflections",
             lambda p: p.mean(0) + (p - p.mean(0)) * squash, {"reflections": True}),
            ("moves every atom towards atom 0", lambda p: p + 0.8 * (p[0] - p), {"permutations": True})]


@exercise("2.3", points=1)
def test_equivariance_error_is_small_for_equivariant_functions(impl):
    eq = impl.ch02_equivariance.equivariance_error
    for dtype in DTYPES:
        pos, w = _equivariance_pos(dtype)
        ei = _complete_graph(9)
        good = [("identity", lambda p: p.clone(), (), {"permutations": True, "reflections": True}),
                ("shrink towards centroid", lambda p: p + 0.3 * (p.mean(0) - p), (), {"reflections": True}),
                ("centroid only", lambda p: p.mean(0, keepdim=True), (), {}),
                ("message-passing update", _message_step, (ei, w), {"permutations": True})]
        for name, fn, args, kw in good:
            err = _call_checker(eq, fn, pos, *args, n_trials=4, generator=torch.Generator().manual_seed(2), **kw)
            assert isinstance(err, float), f"equivariance_error must return a Python float, got {type(err).__name__}"
            assert err < TOL[dtype], (
                f"equivariance_error({name}, {dtype}, {kw or 'defaults'}) = {err:.2e} but the function is "
                f"equivariant (expected < {TOL[dtype]:g}); compare fn(pos Qᵀ + t) with fn(pos) Qᵀ + t"
                + (" (reordered by the same permutation)" if "permutations" in kw else ""))


@exercise("2.3", points=2)
def test_equivariance_error_flags_broken_functions(impl):
    eq = impl.ch02_equivariance.equivariance_error
    for dtype in DTYPES:
        pos, _ = _equivariance_pos(dtype)
        for name, fn, kw in _broken_equivariance_cases(dtype):
            err = _call_checker(eq, fn, pos, n_trials=6, generator=torch.Generator().manual_seed(3), **kw)
            assert isinstance(err, float), f"equivariance_error must return a Python float, got {type(err).__name__}"
            assert err > BROKEN, (
                f"equivariance_error({name}, {dtype}, {kw or 'defaults'}) = {err:.2e} but the function is not "
                "equivariant: the expected output is fn(pos) transformed by the same rotation, translation"
                + (" and permutation" if "permutations" in kw else "")
                + (" (an improper rotation −R with a random R in every trial)" if "reflections" in kw else "") + ".")


@exercise("2.3", points=2)
def test_equivariance_error_is_the_max_error_over_the_spread(impl):
    eq = impl.ch02_equivariance.equivariance_error
    for dtype, tol in ((torch.float64, 1e-9), (torch.float32, 1e-4)):
        gen = torch.Generator().manual_seed(41)
        # far from the origin: ‖y‖ is much larger than the spread, so dividing by ‖y‖ shows
        pos = _cloud(8, gen, dtype) + torch.tensor([6.0, -4.0, 5.0], dtype=dtype)
        spread = _spread(pos.double())
        unit = torch.randn(8, 3, generator=gen, dtype=torch.float64)
        unit = unit / unit.norm()
        fn = _Scripted(pos, lambda p: p.clone(), unit * spread)
        got = _call_checker(eq, fn, pos, n_trials=4, generator=torch.Generator().manual_seed(1))
        assert fn.transformed == 4, (
            f"with n_trials=4, fn was called on {fn.transformed} transformed inputs — exactly one per trial")
        assert fn.dtypes == {dtype}, f"fn received dtypes {fn.dtypes} for a {dtype} input; compute in the input dtype"
        assert isinstance(got, float) and abs(got - 1.0) < tol, _diagnose(
            got, "‖x' − x̂‖ / s, s the larger of the output's spread ‖y − ȳ‖ and the input's spread ‖x − x̄‖·sqrt(m/n) "
                 "(a spread about the centroid, not ‖y‖; Frobenius norms)")
        # fn collapses every atom onto the centroid (m = 1): the output spread is 0, the input's spread decides
        n = pos.shape[0]
        offset = torch.tensor([[0.6, -0.48, 0.64]], dtype=torch.float64) * spread * math.sqrt(1 / n)
        fn = _Scripted(pos, lambda p: p.mean(0, keepdim=True), offset)
        got = _call_checker(eq, fn, pos, n_trials=4, generator=torch.Generator().manual_seed(1))
        assert isinstance(got, float) and abs(got - 1.0) < tol, (
            f"for fn = the centroid (output (1, 3), spread 0) with relative errors {ERRORS_BY_TRIAL} the result was "
            f"{got!r}, expected 1.0 — when fn collapses the points, divide by the input's spread ‖x − x̄‖ scaled by "
            "sqrt(m/n) (m output rows, n atoms): s = max(output spread, input spread · sqrt(m/n))")


@exercise("2.3", points=1)
def test_equivariance_error_options_and_errors(impl):
    eq = impl.ch02_equivariance.equivariance_error
    pos, _ = _equivariance_pos(torch.float64)
    # equivariant to rotations about the origin, not to translations: fine when translations are off
    err = _call_checker(eq, lambda p: 2.0 * p, pos, n_trials=4, translations=False,
                        generator=torch.Generator().manual_seed(2))
    assert err < TOL[torch.float64], (
        f"translations=False gave {err:.2e} for fn(x) = 2x, which commutes with rotations about the origin: with "
        "translations=False do not translate")
    broken = lambda p: p + torch.tensor([1.0, 0.0, 0.0], dtype=p.dtype)  # noqa: E731
    e1 = eq(broken, pos, n_trials=3, generator=torch.Generator().manual_seed(99))
    e2 = eq(broken, pos, n_trials=3, generator=torch.Generator().manual_seed(99))
    assert e1 == e2, "the same generator seed must give the same error (draw everything from `generator`)"
    ident = lambda p: p.clone()  # noqa: E731
    _expect_raise(lambda: eq(ident, pos.tolist()), "equivariance_error(fn, a list instead of a tensor)")
    _expect_raise(lambda: eq(ident, pos, n_trials=0), "equivariance_error(..., n_trials=0)")
    _expect_raise(lambda: eq(lambda p: (p, p), pos, n_trials=2), "equivariance_error of an fn that returns a tuple")
    _expect_raise(lambda: eq(lambda p: p.norm(dim=-1), pos, n_trials=2),
                  "equivariance_error of an fn that returns shape (n,) instead of (m, 3)")


# ---------------------------------------------------------------------------------------- 2.4
def _make_layer(impl, hidden, dtype, seed, **kw):
    torch.manual_seed(seed)
    layer = impl.ch02_equivariance.EGNNLayer(hidden, **kw).to(dtype)
    _randomise_parameters(layer, torch.Generator().manual_seed(seed))
    return layer


@exercise("2.4", points=1)
def test_egnn_layer_shapes_and_movement(impl):
    n, hidden = 7, 16
    gen = torch.Generator().manual_seed(0)
    for dtype in DTYPES:
        layer = _make_layer(impl, hidden, dtype, 0)
        h = torch.randn(n, hidden, generator=gen, dtype=torch.float64).to(dtype)
        pos = _cloud(n, gen, dtype)
        h_given, pos_given = h.clone(), pos.clone()
        out = layer(h_given, pos_given, _complete_graph(n))
        assert torch.equal(pos_given, pos) and torch.equal(h_given, h), (
            "EGNNLayer.forward changed its input h or pos in place (e.g. `pos += shift`): return new tensors "
            "(`pos + shift`) and leave the inputs as they were")
        assert isinstance(out, tuple) and len(out) == 2, "EGNNLayer.forward must return (h_new, pos_new)"
        h_new, pos_new = out
        assert h_new.shape == (n, hidden), f"h_new has shape {tuple(h_new.shape)}, expected {(n, hidden)}"
        assert pos_new.shape == (n, 3), f"pos_new has shape {tuple(pos_new.shape)}, expected {(n, 3)}"
        assert h_new.dtype == dtype and pos_new.dtype == dtype, "keep the input dtype"
        assert torch.isfinite(h_new).all() and torch.isfinite(pos_new).all(), "non-finite outputs"
        moved = float((pos_new - pos).detach().norm() / (pos - pos.mean(0)).norm())
        assert moved > 1e-3, "pos_new equals pos: the layer must update coordinates (x_i + Σ_j (x_i − x_j)·φ_x(m_ij))"
        # geometry must reach the features
        h_stretched, _ = layer(h, pos * 1.3, _complete_graph(n))
        assert _rel(h_stretched, h_new) > 1e-4, "h_new does not change when distances change: use ‖x_i − x_j‖² in φ_e"
    layer = _make_layer(impl, hidden, torch.float64, 1, edge_dim=4)
    pos = _cloud(n, gen)
    ei = _complete_graph(n)
    attr = torch.randn(ei.shape[1], 4, generator=gen, dtype=torch.float64)
    h_new, pos_new = layer(torch.zeros(n, hidden, dtype=torch.float64), pos, ei, attr)
    assert h_new.shape == (n, hidden) and pos_new.shape == (n, 3), "edge_dim=4 with edge_attr must work"


@exercise("2.4", points=2)
def test_egnn_layer_is_e3_equivariant(impl):
    n, hidden = 8, 16
    for dtype in DTYPES:
        gen = torch.Generator().manual_seed(21)
        layer = _make_layer(impl, hidden, dtype, 2)
        h = torch.randn(n, hidden, generator=gen, dtype=torch.float64).to(dtype)
        pos = _cloud(n, gen, dtype)
        ei = _complete_graph(n)
        with torch.no_grad():
            h0, x0 = layer(h, pos, ei)
            for trial in range(4):
                Q = _rotation(gen, dtype) * (-1 if trial % 2 else 1)  # odd trials: improper (reflection)
                t = torch.randn(3, generator=gen, dtype=torch.float64).to(dtype) * 3
                h1, x1 = layer(h, pos @ Q.T + t, ei)
                err_h = _rel(h1, h0)
                err_x = float((x1 - (x0 @ Q.T + t)).norm()) / _spread(x0)
                kind = "reflection + translation" if trial % 2 else "rotation + translation"
                assert err_h <= TOL[dtype], (
                    f"features changed under a {kind} ({dtype}): relative error {err_h:.2e} > {TOL[dtype]:g}. "
                    "φ_e may only see h_i, h_j and squared distances — not raw coordinates")
                assert err_x <= TOL[dtype], (
                    f"coordinates are not equivariant under a {kind} ({dtype}): relative error {err_x:.2e} > "
                    f"{TOL[dtype]:g}. Update with x_i + C Σ_j (x_i − x_j) φ_x(m_ij), a scalar times a difference")


@exercise("2.4", points=1)
def test_egnn_layer_is_permutation_equivariant(impl):
    n, hidden = 8, 16
    gen = torch.Generator().manual_seed(5)
    layer = _make_layer(impl, hidden, torch.float64, 3)
    h = torch.randn(n, hidden, generator=gen, dtype=torch.float64)
    pos = _cloud(n, gen)
    ei = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 0, 3, 5, 2], [1, 2, 3, 4, 5, 6, 7, 0, 4, 7, 1, 6]])
    perm = torch.randperm(n, generator=gen)
    inv = torch.argsort(perm)
    with torch.no_grad():
        h0, x0 = layer(h, pos, ei)
        h1, x1 = layer(h[perm], pos[perm], inv[ei])
    assert _rel(h1, h0[perm]) < 1e-9 and _rel(x1, x0[perm]) < 1e-9, (
        "reordering the atoms (and relabelling edge_index) must reorder the outputs the same way: "
        "aggregate messages per target atom with index_add_/scatter, never by position in the list")


@exercise("2.4", points=1)
def test_egnn_layer_uses_edge_attr_and_update_coords(impl):
    n, hidden = 7, 16
    gen = torch.Generator().manual_seed(12)
    pos = _cloud(n, gen)
    h = torch.randn(n, hidden, generator=gen, dtype=torch.float64)
    ei = _complete_graph(n)
    attr = torch.randn(ei.shape[1], 3, generator=gen, dtype=torch.float64)
    layer = _make_layer(impl, hidden, torch.float64, 6, edge_dim=3)
    with torch.no_grad():
        h0, x0 = layer(h, pos, ei, attr)
        h1, x1 = layer(h, pos, ei, attr + torch.randn(attr.shape, generator=gen, dtype=torch.float64))
    assert _rel(h1, h0) > 1e-4, (
        "changing edge_attr did not change h_new: with edge_dim > 0, concatenate a_ij to the input of φ_e "
        "(m_ij = φ_e(h_i, h_j, ‖x_i − x_j‖², a_ij))")
    assert _rel(x1, x0) > 1e-6, "changing edge_attr did not change pos_new: the messages m_ij (which see a_ij) drive φ_x"
    frozen = _make_layer(impl, hidden, torch.float64, 6, update_coords=False)
    with torch.no_grad():
        h2, x2 = frozen(h, pos, ei)
    assert torch.equal(x2, pos), (
        "EGNNLayer(update_coords=False) must return the positions unchanged (an invariant layer), "
        f"but they moved by {float((x2 - pos).norm()):.2e}")
    assert _rel(h2, h) > 1e-4, "with update_coords=False the features h must still be updated"


@exercise("2.4", points=1)
def test_egnn_layer_gradients_are_finite_at_zero_distance(impl):
    n, hidden = 5, 8
    gen = torch.Generator().manual_seed(9)
    layer = _make_layer(impl, hidden, torch.float64, 4)
    pos = _cloud(n, gen)
    pos[1] = pos[0]  # two atoms on top of each other
    pos.requires_grad_(True)
    ei = torch.cat([_complete_graph(n), torch.arange(n).repeat(2, 1)], dim=1)  # plus self-loops
    h = torch.randn(n, hidden, generator=gen, dtype=torch.float64)
    h_new, pos_new = layer(h, pos, ei)
    (h_new.sum() + pos_new.pow(2).sum()).backward()
    assert torch.isfinite(pos.grad).all(), (
        "NaN/inf gradient w.r.t. positions when two atoms coincide (or with self-loops): "
        "sqrt(0) has an infinite derivative — use sqrt(d² + eps)")
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters() if p.grad is not None), \
        "NaN/inf parameter gradients at zero distance — use sqrt(d² + eps)"


@exercise("2.4", points=1)
def test_egnn_layer_mean_coordinates_sum_features_and_isolated_atoms(impl):
    n, hidden = 7, 16
    gen = torch.Generator().manual_seed(14)
    layer = _make_layer(impl, hidden, torch.float64, 7)
    h = torch.randn(n, hidden, generator=gen, dtype=torch.float64)
    pos = _cloud(n, gen)
    # atom 0 sends messages but receives none
    ei = torch.tensor([[0, 0, 1, 2, 3, 4, 5, 6, 2, 5], [1, 3, 2, 3, 4, 5, 6, 1, 6, 2]])
    with torch.no_grad():
        h1, x1 = layer(h, pos, ei)
        h2, x2 = layer(h, pos, torch.cat([ei, ei], dim=1))  # every edge listed twice
        moved = pos.clone()
        moved[1:] = moved[1:] + torch.randn(n - 1, 3, generator=gen, dtype=torch.float64)
        h3, x3 = layer(h, moved, ei)
    assert _rel(x2, x1) < 1e-9, (
        f"listing every edge twice changed pos_new (relative change {_rel(x2, x1):.2e}): the coordinate step is the "
        "MEAN over incoming edges — divide the summed shifts by each atom's in-degree (not by n, not a plain sum)")
    assert _rel(h2, h1) > 1e-4, (
        "listing every edge twice did not change h_new: the feature step uses the SUM of the messages Σ_j m_ij "
        "(not their mean)")
    assert torch.equal(x1[0], pos[0]), (
        f"atom 0 has no incoming edge but moved by {float((x1[0] - pos[0]).norm()):.2e}: an atom that receives no "
        "message keeps its position — messages flow j → i, onto row 1 of edge_index (the target); clamp the degree "
        "of such an atom to 1, its summed shift is 0")
    assert torch.allclose(h3[0], h1[0], rtol=0, atol=1e-12), (
        "atom 0 receives no message, yet its h_new changed when the other atoms moved: messages flow j → i along "
        "edge_index (row 0 = source j, row 1 = target i) and are summed onto the target")


@exercise("2.4", points=1)
def test_egnn_layer_residual_and_small_initial_steps(impl):
    n, hidden = 7, 16
    gen = torch.Generator().manual_seed(15)
    h = torch.randn(n, hidden, generator=gen, dtype=torch.float64)
    pos = _cloud(n, gen)
    ei = _complete_graph(n)
    zero = impl.ch02_equivariance.EGNNLayer(hidden).double()
    with torch.no_grad():
        for p in zero.parameters():
            p.zero_()
        h0, x0 = zero(h, pos, ei)
    assert torch.allclose(h0, h, rtol=0, atol=1e-12), (
        "with every parameter set to zero, h_new should equal h (the MLPs output 0): the feature update is residual, "
        "h_i' = h_i + φ_h(h_i, Σ_j m_ij)")
    assert torch.allclose(x0, pos, rtol=0, atol=1e-12), "with every parameter set to zero, positions must not move"
    for seed in range(3):
        torch.manual_seed(seed)
        fresh = impl.ch02_equivariance.EGNNLayer(hidden).double()
        with torch.no_grad():
            _, x = fresh(h, pos, ei)
        moved = float((x - pos).norm()) / _spread(pos)
        assert moved < 3e-3, (
            f"a freshly initialised layer (torch.manual_seed({seed})) moves the atoms by {100 * moved:.2f} % of the "
            "cloud's spread (limit 0.3 %): initialise φ_x's last linear layer with small weights (std 1e-3) and a "
            "zero bias")


# ---------------------------------------------------------------------------------------- 2.5
def _molecule(gen, n=9, dtype=torch.float64):
    z = torch.tensor([6, 6, 8, 7, 1, 1, 1, 1, 9][:n])
    return z, _cloud(n, gen, dtype, scale=1.2)


@exercise("2.5", points=1)
def test_distance_model_shapes_and_batching(impl):
    Model = impl.ch02_equivariance.DistanceInvariantModel
    torch.manual_seed(0)
    model = Model().double()
    gen = torch.Generator().manual_seed(1)
    mols = [_molecule(gen, n) for n in (9, 5, 7)]
    single = [model(z, p) for z, p in mols]
    for out in single:
        assert out.shape == (1,), f"model(z, pos) must return shape (1,) for one molecule, got {tuple(out.shape)}"
    z = torch.cat([m[0] for m in mols])
    pos = torch.cat([m[1] for m in mols])
    batch = torch.cat([torch.full((len(m[0]),), i) for i, m in enumerate(mols)])
    out = model(z, pos, batch)
    assert out.shape == (3,), f"with a batch of 3 molecules the output must have shape (3,), got {tuple(out.shape)}"
    assert torch.allclose(out, torch.cat(single), rtol=0, atol=1e-10), (
        "batched outputs differ from one-molecule outputs: pairs must stay inside a molecule and the "
        "readout must sum per molecule (use batch)")


@exercise("2.5", points=2)
def test_distance_model_is_invariant(impl):
    Model = impl.ch02_equivariance.DistanceInvariantModel
    for dtype in DTYPES:
        torch.manual_seed(0)
        model = Model().to(dtype)
        gen = torch.Generator().manual_seed(8)
        z, pos = _molecule(gen, dtype=dtype)
        with torch.no_grad():
            y0 = model(z, pos)
            assert y0.dtype == dtype, (
                f"model.to({dtype}) on {dtype} positions returned {y0.dtype}: the output dtype must be pos.dtype")
            for trial in range(4):
                Q = _rotation(gen, dtype) * (-1 if trial % 2 else 1)
                t = torch.randn(3, generator=gen, dtype=torch.float64).to(dtype) * 3
                perm = torch.randperm(len(z), generator=gen)
                y1 = model(z[perm], (pos @ Q.T + t)[perm])
                err = _rel(y1, y0)
                assert err <= TOL[dtype], (
                    f"output changed by {err:.2e} (relative, {dtype}) under rotation/reflection + translation + "
                    f"atom permutation (tolerance {TOL[dtype]:g}); use only interatomic distances and sum over atoms")


@exercise("2.5", points=1)
def test_distance_model_depends_on_geometry_and_elements(impl):
    Model = impl.ch02_equivariance.DistanceInvariantModel
    torch.manual_seed(0)
    model = Model().double()
    gen = torch.Generator().manual_seed(4)
    z, pos = _molecule(gen)
    with torch.no_grad():
        y = model(z, pos)
        y_stretched = model(z, pos * 1.2)
        y_other = model(torch.where(z == 6, torch.full_like(z, 7), z), pos)
    assert torch.isfinite(y).all(), "non-finite output"
    assert _rel(y_stretched, y) > 1e-4, "the output does not change when the molecule is stretched: use the distances"
    assert _rel(y_other, y) > 1e-4, "the output does not change when C becomes N: embed the atomic numbers z"


@exercise("2.5", points=1)
def test_distance_model_mean_readout(impl):
    Model = impl.ch02_equivariance.DistanceInvariantModel
    torch.manual_seed(0)
    summed = Model(hidden_dim=16, n_rbf=8).double()
    torch.manual_seed(0)
    mean = Model(hidden_dim=16, n_rbf=8, readout="mean").double()
    mean.load_state_dict(summed.state_dict())
    gen = torch.Generator().manual_seed(3)
    mols = [_molecule(gen, n) for n in (9, 4, 6)]
    z = torch.cat([m[0] for m in mols])
    pos = torch.cat([m[1] for m in mols])
    batch = torch.cat([torch.full((len(m[0]),), i) for i, m in enumerate(mols)])
    counts = torch.tensor([9.0, 4.0, 6.0], dtype=torch.float64)
    with torch.no_grad():
        want = summed(z, pos, batch) / counts
        got = mean(z, pos, batch)
    assert got.shape == (3,), f"readout='mean' on a batch of 3 molecules must give shape (3,), got {tuple(got.shape)}"
    assert torch.allclose(got, want, rtol=0, atol=1e-10), (
        f"readout='mean' gives {got.tolist()}, expected the per-molecule mean of the atom outputs "
        f"{want.tolist()} (the 'sum' readout divided by each molecule's atom count, 9, 4 and 6) — divide by the "
        "counts per molecule (torch.bincount(batch)), not by the number of atoms in the whole batch")


@exercise("2.5", points=1)
def test_distance_model_cutoff(impl):
    Model = impl.ch02_equivariance.DistanceInvariantModel
    torch.manual_seed(0)
    model = Model(hidden_dim=16, n_rbf=8, cutoff=5.0).double()
    torch.manual_seed(0)
    mean = Model(hidden_dim=16, n_rbf=8, cutoff=5.0, readout="mean").double()
    mean.load_state_dict(model.state_dict())
    gen = torch.Generator().manual_seed(5)
    z, pos = _molecule(gen, n=5)
    far = pos + torch.tensor([40.0, 0.0, 0.0], dtype=torch.float64)  # a second copy, 40 Å away
    with torch.no_grad():
        one, two = model(z, pos), model(torch.cat([z, z]), torch.cat([pos, far]))
        one_m, two_m = mean(z, pos), mean(torch.cat([z, z]), torch.cat([pos, far]))
    assert torch.allclose(two, 2 * one, rtol=1e-9, atol=1e-12), (
        f"two copies of a molecule 40 Å apart (cutoff 5 Å) gave {two.item():.6g}, twice one copy is "
        f"{2 * one.item():.6g}: pairs farther apart than the cutoff must not interact — multiply every message by "
        "f_cut(d), which is 0 beyond the cutoff (a Gaussian filter with a bias is not 0 far away)")
    assert torch.allclose(two_m, one_m, rtol=1e-9, atol=1e-12), (
        "readout='mean': two far-apart copies should give the same output as one copy")
    # a pair crossing the cutoff: the output is continuous
    z2 = torch.tensor([6, 8])
    just_in = torch.tensor([[0.0, 0.0, 0.0], [5.0 - 1e-7, 0.0, 0.0]], dtype=torch.float64)
    just_out = torch.tensor([[0.0, 0.0, 0.0], [5.0 + 1e-7, 0.0, 0.0]], dtype=torch.float64)
    with torch.no_grad():
        a, b = model(z2, just_in), model(z2, just_out)
    assert abs(float(a - b)) < 1e-6 * max(1.0, abs(float(a))), (
        f"the output jumps by {abs(float(a - b)):.2e} when two atoms move from just inside to just outside the cutoff: "
        "use the smooth factor f_cut(d) = ½(cos(π d / cutoff) + 1), not a hard mask d < cutoff")
