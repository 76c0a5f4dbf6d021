"""Graders of chapter 4 (diffusion sampling). Each takes ``impl`` (exercises or solutions).

Oracles are independent of the learner's code: the schedule's closed form, the forward process's
moments, the ε form of the DDPM posterior mean, the exact noise predictor of a Gaussian data set
(E[ε | x_t] is linear in x_t), molecules embedded by RDKit (ETKDG + MMFF, with their SMILES known), and
a grader-side lookup "perception" for the metric counts. Every random number is seeded.
"""
import contextlib
import math
import numbers

import torch

from molpractice.grading import exercise

DTYPES = (torch.float32, torch.float64)


@contextlib.contextmanager
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _closed_form(T, s=0.008):
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    return f / f[0]


def _schedule(T):
    """The grader's own ᾱ (closed form with the last β clipped at 0.999), float64."""
    ab = _closed_form(T)
    ab[T] = ab[T - 1] * (1 - min(1 - float(ab[T] / ab[T - 1]), 0.999))
    return ab


def _is_tensor(x, shape, dtype, what):
    assert isinstance(x, torch.Tensor), f"{what} must return a torch.Tensor, got {type(x).__name__}"
    assert tuple(x.shape) == tuple(shape), f"{what} returned shape {tuple(x.shape)}, expected {tuple(shape)}"
    assert x.dtype == dtype, f"{what} returned {x.dtype} for {dtype} inputs — keep the input dtype"
    assert torch.isfinite(x).all(), f"{what} returned NaN/inf"


def _close(got, want, dtype, what, hint, scale=1.0):
    err = float((got.double() - want.double()).abs().max())
    tol = (1e-4 if dtype == torch.float32 else 1e-10) * max(1.0, scale)
    assert err <= tol, f"{what}: max abs error {err:.2e} vs the closed form (tolerance {tol:.0e}). {hint}"


def _raises(fn, what):
    try:
        fn()
    except ValueError:
        return
    except NotImplementedError:
        raise
    except Exception as err:  # noqa: BLE001
        raise AssertionError(f"{what} should raise ValueError, got {type(err).__name__}: {err}") from None
    raise AssertionError(f"{what} should raise ValueError, but nothing was raised")


# ---------------------------------------------------------------------------------------- 4.1
@exercise("4.1", points=2)
def test_cosine_schedule_matches_closed_form(impl):
    sched = impl.ch04_diffusion.cosine_alpha_bar
    for T in (1000, 500, 20):
        ab = sched(T)
        assert isinstance(ab, torch.Tensor) and ab.dtype == torch.float64, (
            f"cosine_alpha_bar({T}) must return a float64 tensor by default (dtype=torch.float64), got "
            f"{getattr(ab, 'dtype', type(ab).__name__)}")
        _is_tensor(ab, (T + 1,), torch.float64, f"cosine_alpha_bar({T}) (T + 1 values, t = 0 … T)")
        want = _closed_form(T)
        assert abs(float(ab[0]) - 1.0) < 1e-12, (
            f"ᾱ_0 = {float(ab[0]):.6f}; it must be exactly 1: divide f(t) by f(0) = cos²(s/(1+s)·π/2)")
        mid = torch.arange(1, T)  # every step but the clipped last one
        err = float((ab[mid] - want[mid]).abs().max())
        k = int((ab[mid] - want[mid]).abs().argmax()) + 1
        assert not 1e-9 <= err < 1e-5, (
            f"cosine_alpha_bar({T}) differs from f(t)/f(0) by {err:.1e}, the size of float32 rounding: compute in "
            "float64 (the time grid, the cosine and the cumulative product) and cast to dtype at the end")
        assert err < 1e-9, (
            f"cosine_alpha_bar({T}) differs from f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s)·π/2), s = 0.008, by "
            f"{err:.2e} (worst at t = {k}: got {float(ab[k]):.6f}, expected {float(want[k]):.6f}). Check the time "
            "grid t/T for t = 0 … T, the offset s (in the numerator and the 1 + s), the square of the cosine, and "
            "that it is not a linear β schedule")


@exercise("4.1", points=1)
def test_cosine_schedule_clips_beta_and_snr(impl):
    sched = impl.ch04_diffusion.cosine_alpha_bar
    T = 500
    ab = sched(T)
    assert isinstance(ab, torch.Tensor) and ab.shape == (T + 1,), "cosine_alpha_bar(T) must return T + 1 values"
    beta = 1 - ab[1:].double() / ab[:-1].double()
    assert float(ab[-1]) > 0, "ᾱ_T must be > 0 (clip β_t at max_beta = 0.999), or x̂₀ divides by zero at t = T"
    assert float(beta.max()) <= 0.999 + 1e-9, (
        f"largest β_t = {float(beta.max()):.6f} > 0.999: clip β_t = 1 − ᾱ_t/ᾱ_(t−1) at max_beta "
        "(Nichol & Dhariwal) and rebuild ᾱ as a cumulative product")
    assert abs(float(ab[-1] / ab[-2]) - 0.001) < 1e-9, (
        f"ᾱ_T/ᾱ_(T−1) = {float(ab[-1] / ab[-2]):.3g}; it must be 0.001: clip β_t = 1 − ᾱ_t/ᾱ_(t−1) at max_beta = "
        "0.999 (not ᾱ_t itself) and rebuild ᾱ as a cumulative product")
    assert bool((ab[1:] < ab[:-1]).all()), "ᾱ_t must decrease strictly with t"
    snr = ab[1:] / (1 - ab[1:])
    log_snr = torch.log(snr)
    assert bool((log_snr[1:] < log_snr[:-1]).all()), "the SNR ᾱ/(1 − ᾱ) must decrease with t"
    half = float(log_snr[T // 2 - 1])  # t = T/2
    a = float(_closed_form(T)[T // 2])
    assert abs(half - math.log(a / (1 - a))) < 1e-6, (
        f"log SNR at t = T/2 is {half:.4f}, expected {math.log(a / (1 - a)):.4f} (≈ 0: half signal, half noise "
        "in the middle of the cosine schedule)")
    ab32 = sched(T, dtype=torch.float32)
    assert isinstance(ab32, torch.Tensor) and ab32.dtype == torch.float32, "honour dtype=torch.float32"
    assert torch.allclose(ab32.double(), ab, atol=1e-7), (
        "with dtype=torch.float32 the values differ from the float64 ones by more than float32 rounding: compute "
        "in float64 and cast at the end")
    err64 = float((ab - _schedule(T)).abs().max())
    assert err64 < 1e-12, (f"the float64 schedule differs from one computed in float64 by {err64:.1e}: compute in "
                           "float64 (not float32) and cast at the end")


@exercise("4.1", points=1)
def test_cosine_schedule_options_and_validation(impl):
    sched = impl.ch04_diffusion.cosine_alpha_bar
    T, s = 50, 0.02
    ab = sched(T, s=s, max_beta=0.2)
    assert isinstance(ab, torch.Tensor) and ab.shape == (T + 1,), "cosine_alpha_bar(T, s, max_beta) must return T + 1 values"
    f = _closed_form(T, s)
    beta = (1 - f[1:] / f[:-1]).clamp(max=0.2)
    want = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - beta, 0)])
    err = float((ab.double() - want).abs().max())
    assert err < 1e-9, (f"with s = {s}, max_beta = 0.2 (many β clipped) ᾱ differs by {err:.2e}: use the s and "
                        "max_beta arguments, and rebuild ᾱ_t = Π (1 − min(β_k, max_beta))")
    one = sched(1)
    assert isinstance(one, torch.Tensor) and one.shape == (2,), "cosine_alpha_bar(1) must return 2 values"
    assert abs(float(one[0]) - 1) < 1e-12 and abs(float(one[1]) - 0.001) < 1e-9, (
        f"cosine_alpha_bar(1) = {one.tolist()}, expected [1, 0.001]: with T = 1 the closed form gives β_1 = 1, "
        "which is clipped at max_beta = 0.999")
    for bad in (0, -3, 2.5):
        _raises(lambda: sched(bad), f"cosine_alpha_bar({bad!r})")
    _raises(lambda: sched(10, s=-0.01), "cosine_alpha_bar(10, s=-0.01)")
    for bad in (0.0, 1.0, 1.5):
        _raises(lambda: sched(10, max_beta=bad), f"cosine_alpha_bar(10, max_beta={bad})")


# ---------------------------------------------------------------------------------------- 4.2
@exercise("4.2", points=1)
def test_q_sample_closed_form(impl):
    q = impl.ch04_diffusion.q_sample
    T = 200
    ab = _schedule(T)
    gen = torch.Generator().manual_seed(0)
    for dtype in DTYPES:
        for n, d in ((3, 3), (7, 2)):  # square: a per-row t broadcast along columns is caught
            x0 = torch.randn(n, d, generator=gen, dtype=torch.float64).to(dtype)
            noise = torch.randn(n, d, generator=gen, dtype=torch.float64).to(dtype)
            for t in (0, 1, 57, T):
                x_before, n_before = x0.clone(), noise.clone()
                got = q(x0, t, noise, ab)
                assert torch.equal(x0, x_before) and torch.equal(noise, n_before), (
                    "q_sample must not modify its inputs (x0, noise): build a new tensor, no in-place ops")
                _is_tensor(got, (n, d), dtype, f"q_sample(t={t})")
                a = float(ab[t])
                want = math.sqrt(a) * x0.double() + math.sqrt(1 - a) * noise.double()
                _close(got, want, dtype, f"q_sample with t = {t}",
                       "x_t = sqrt(ᾱ_t)·x0 + sqrt(1 − ᾱ_t)·noise — square roots of ᾱ_t and 1 − ᾱ_t, index ᾱ at t")
            t_rows = torch.randint(0, T + 1, (n,), generator=gen)
            got = q(x0, t_rows, noise, ab)
            _is_tensor(got, (n, d), dtype, "q_sample(per-row t)")
            a = ab[t_rows][:, None]
            want = a.sqrt() * x0.double() + (1 - a).sqrt() * noise.double()
            _close(got, want, dtype, "q_sample with one t per row",
                   "ᾱ[t] has shape (n,): use ᾱ[t][:, None] so row i uses t[i] (not column i)")
            x_before, n_before = x0.clone(), noise.clone()
            q(x0, 5, noise, ab)
            assert torch.equal(x0, x_before) and torch.equal(noise, n_before), "q_sample must not modify its inputs"


@exercise("4.2", points=1)
def test_q_sample_moments(impl):
    q = impl.ch04_diffusion.q_sample
    T, t, N = 1000, 350, 40000
    ab = _schedule(T)
    gen = torch.Generator().manual_seed(1)
    x0 = torch.tensor([[2.0, -1.0, 0.5]], dtype=torch.float64).repeat(N, 1)
    xt = q(x0, t, torch.randn(N, 3, generator=gen, dtype=torch.float64), ab)
    assert isinstance(xt, torch.Tensor) and xt.shape == (N, 3), "q_sample must return a tensor shaped like x0"
    a = float(ab[t])
    mean_err = float((xt.mean(0) - math.sqrt(a) * x0[0]).abs().max())
    var = xt.var(0)
    assert mean_err < 5 * math.sqrt((1 - a) / N) + 1e-9, (
        f"the mean of q(x_t | x0) is off by {mean_err:.3f}; it must be sqrt(ᾱ_t)·x0 = {math.sqrt(a):.4f}·x0")
    assert float((var / (1 - a) - 1).abs().max()) < 0.05, (
        f"the variance of q(x_t | x0) is {var.tolist()}, expected 1 − ᾱ_t = {1 - a:.4f} in every coordinate")


@exercise("4.2", points=1)
def test_q_sample_validates_inputs(impl):
    q = impl.ch04_diffusion.q_sample
    ab = _schedule(10)
    x = torch.zeros(4, 3, dtype=torch.float64)
    x0 = torch.arange(12, dtype=torch.float64).reshape(4, 3) / 4 - 1
    noise = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(4, 3)
    for dtype in DTYPES:  # a valid call first: a stub that keeps the checks but returns a wrong value earns nothing
        got = q(x0.to(dtype), 3, noise.to(dtype), ab)
        _is_tensor(got, (4, 3), dtype, "q_sample(t=3)")
        a = float(ab[3])
        _close(got, math.sqrt(a) * x0 + math.sqrt(1 - a) * noise, dtype, "q_sample with t = 3",
               "x_t = sqrt(ᾱ_t)·x0 + sqrt(1 − ᾱ_t)·noise")
    _raises(lambda: q(x, 3, torch.ones(4, 2, dtype=torch.float64), ab), "q_sample with noise of another shape")
    _raises(lambda: q(x, 11, torch.ones(4, 3, dtype=torch.float64), ab), "q_sample with t > T")
    _raises(lambda: q(x.clone().fill_(float("nan")), 3, torch.ones(4, 3, dtype=torch.float64), ab),
            "q_sample with NaN in x0")
    _raises(lambda: q(x, 3, torch.full((4, 3), float("inf"), dtype=torch.float64), ab), "q_sample with inf in noise")
    _raises(lambda: q(x, -1, torch.ones(4, 3, dtype=torch.float64), ab), "q_sample with t = -1")
    _raises(lambda: q(x, 2.5, torch.ones(4, 3, dtype=torch.float64), ab), "q_sample with t = 2.5 (not an integer)")
    _raises(lambda: q(x, torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.ones(4, 3, dtype=torch.float64), ab),
            "q_sample with a float tensor t")
    _raises(lambda: q(x, torch.tensor([1, 2, 3, 11]), torch.ones(4, 3, dtype=torch.float64), ab),
            "q_sample with a per-row t that has an entry > T")
    _raises(lambda: q(x, torch.tensor([1, 2, 3]), torch.ones(4, 3, dtype=torch.float64), ab),
            "q_sample with 3 steps for 4 rows")


@exercise("4.2", points=1)
def test_q_sample_accepts_a_zero_dim_step_tensor(impl):
    q = impl.ch04_diffusion.q_sample
    ab = _schedule(50)
    gen = torch.Generator().manual_seed(2)
    for dtype in DTYPES:
        x0 = torch.randn(4, 4, generator=gen, dtype=torch.float64).to(dtype)
        noise = torch.randn(4, 4, generator=gen, dtype=torch.float64).to(dtype)
        try:
            got = q(x0, torch.tensor(17), noise, ab)
        except NotImplementedError:  # a stub: 'not started', not a failure
            raise
        except (IndexError, RuntimeError) as err:
            raise AssertionError(
                f"q_sample with t = torch.tensor(17) (shape ()) raised {type(err).__name__}: {err}. A 0-d step tensor "
                "is one step for every row: ᾱ[t] is then a scalar, so add the row axis only when t has shape (n,)"
            ) from None
        _is_tensor(got, (4, 4), dtype, "q_sample(t = torch.tensor(17))")
        a = float(ab[17])
        _close(got, math.sqrt(a) * x0.double() + math.sqrt(1 - a) * noise.double(), dtype,
               "q_sample with a 0-d step tensor", "a 0-d t is one step for every row, the same as the int 17")


# ---------------------------------------------------------------------------------------- 4.3
@exercise("4.3", points=1)
def test_remove_mean_per_graph(impl):
    rm = impl.ch04_diffusion.remove_mean
    gen = torch.Generator().manual_seed(3)
    batch = torch.tensor([0, 1, 1, 2, 0, 2, 2, 1, 0, 0, 3])  # non-contiguous, graphs of different sizes
    for dtype in DTYPES:
        pos = (torch.randn(11, 3, generator=gen, dtype=torch.float64) * 2
               + torch.tensor([5.0, -3.0, 1.0], dtype=torch.float64)).to(dtype)
        before = pos.clone()
        out = rm(pos, batch)
        _is_tensor(out, pos.shape, dtype, "remove_mean(pos, batch)")
        assert torch.equal(pos, before), "remove_mean must return a new tensor and leave pos unchanged"
        for g in range(4):
            m = batch == g
            centre = float(out[m].double().mean(0).abs().max())
            assert dtype == torch.float32 or not 1e-12 <= centre < 1e-5, (
                f"molecule {g} is centred only to float32 precision (|mean| = {centre:.1e}) for float64 input: "
                "accumulate the sums and means in pos.dtype, not in float32")
            assert centre < (1e-5 if dtype == torch.float32 else 1e-12), (
                f"molecule {g} is not centred (|mean| = {centre:.2e}): subtract each molecule's own mean (its sum "
                "divided by its own number of atoms; use batch), not the mean over the whole batch")
            want = pos[m].double() - pos[m].double().mean(0)
            _close(out[m], want, dtype, f"remove_mean, molecule {g}",
                   "divide each molecule's sum by its own number of atoms", scale=10)
        single = rm(pos)
        _is_tensor(single, pos.shape, dtype, "remove_mean(pos)")
        _close(single, pos.double() - pos.double().mean(0), dtype, "remove_mean without batch",
               "batch=None means one molecule: subtract the mean of all rows", scale=10)


@exercise("4.3", points=1)
def test_remove_mean_projects_noise(impl):
    """Projected noise lives in the zero-mean subspace: its per-molecule variance drops by (n − 1)/n."""
    rm = impl.ch04_diffusion.remove_mean
    gen = torch.Generator().manual_seed(4)
    sizes = torch.tensor([3, 9])
    batch = torch.repeat_interleave(torch.arange(2), sizes).repeat(4000)
    batch = batch + 2 * torch.arange(4000).repeat_interleave(int(sizes.sum()))
    noise = torch.randn(batch.numel(), 3, generator=gen, dtype=torch.float64)
    out = rm(noise, batch)
    assert isinstance(out, torch.Tensor) and out.shape == noise.shape, "remove_mean must keep the shape"
    small = (batch % 2 == 0)
    for mask, n in ((small, 3), (~small, 9)):
        var = float(out[mask].var())
        assert abs(var - (n - 1) / n) < 0.03, (
            f"projected noise in molecules of {n} atoms has variance {var:.3f}, expected (n − 1)/n = {(n - 1) / n:.3f}"
            " — remove each molecule's own mean (its sum divided by its own number of atoms)")
    _raises(lambda: rm(noise[:5], torch.tensor([0, 0, 1])), "remove_mean with a batch of the wrong length")


@exercise("4.3", points=1)
def test_remove_mean_gapped_ids_single_atoms_and_validation(impl):
    """Molecule ids need not be 0 … G − 1 (a filtered batch keeps its ids); a one-atom molecule becomes 0."""
    rm = impl.ch04_diffusion.remove_mean
    gen = torch.Generator().manual_seed(13)
    batch = torch.tensor([5, 2, 5, 9, 2, 5, 0])  # ids 0, 2, 5, 9: gaps, unsorted; 0 and 9 are single atoms
    for dtype in DTYPES:
        pos = (torch.randn(7, 2, generator=gen, dtype=torch.float64) + 4).to(dtype)
        try:
            out = rm(pos, batch)
        except NotImplementedError:  # a stub: 'not started', not a failure
            raise
        except (IndexError, RuntimeError) as err:
            raise AssertionError(
                f"remove_mean(pos, batch={batch.tolist()}) raised {type(err).__name__}: {err}. Molecule ids may have "
                "gaps: size the per-molecule sums by the largest id + 1, not by the number of distinct ids") from None
        _is_tensor(out, pos.shape, dtype, "remove_mean(pos, batch with gapped ids, d = 2)")
        want = pos.double().clone()
        for g in batch.unique().tolist():
            m = batch == g
            want[m] = want[m] - want[m].mean(0)
        err = float((out.double() - want).abs().max())
        assert err < (1e-5 if dtype == torch.float32 else 1e-12), (
            f"with molecule ids {batch.tolist()} (gaps, unsorted, one-atom molecules 0 and 9) the result is off by "
            f"{err:.2e}: group rows by their id (ids need not be 0 … G − 1), and a one-atom molecule's centred "
            "position is 0")
    pos = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    _raises(lambda: rm(pos, torch.tensor([0, -1, 1, 1])), "remove_mean with a negative molecule id")
    _raises(lambda: rm(pos, torch.tensor([0.0, 0.0, 1.0, 1.0])), "remove_mean with a float batch")
    _raises(lambda: rm(pos[0], None), "remove_mean with a 1-D pos")
    bad = pos.clone()
    bad[2, 1] = float("nan")
    _raises(lambda: rm(bad, torch.tensor([0, 0, 1, 1])), "remove_mean with NaN in pos")


# ---------------------------------------------------------------------------------------- Gaussian toy
MU = torch.tensor([1.5, -0.5], dtype=torch.float64)
SD = torch.tensor([0.3, 0.8], dtype=torch.float64)


def _eps_oracle(x, t, ab):
    """E[ε | x_t] for data N(MU, diag(SD²)): exact, since x_t is Gaussian too."""
    a = float(ab[t])
    mu, sd = MU.to(x.dtype), SD.to(x.dtype)
    return math.sqrt(1 - a) * (x - math.sqrt(a) * mu) / (a * sd ** 2 + 1 - a)


def _posterior(x, t, eps, ab, x0_clip=None):
    """Grader's DDPM posterior mean (ε form, or x̂₀ form when clipping) and std, float64."""
    a, ap = float(ab[t]), float(ab[t - 1])
    beta = 1 - a / ap
    x, eps = x.double(), eps.double()
    if x0_clip is None:
        mean = (x - beta / math.sqrt(1 - a) * eps) / math.sqrt(1 - beta)
    else:
        x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
        r = x0.norm(dim=-1, keepdim=True)
        x0 = torch.where(r > x0_clip, x0 / r * x0_clip, x0)
        mean = math.sqrt(ap) * beta / (1 - a) * x0 + math.sqrt(1 - beta) * (1 - ap) / (1 - a) * x
    return mean, math.sqrt(beta * (1 - ap) / (1 - a))


def _moments_msg(what, got_mean, got_sd):
    return (f"{what}: samples have mean {[round(v, 3) for v in got_mean.tolist()]} and std "
            f"{[round(v, 3) for v in got_sd.tolist()]}, but with the exact noise predictor they must reproduce the "
            f"data's mean {MU.tolist()} and std {SD.tolist()}")


def _ddpm_variant(x, eps, z, a, ap, *, a_x0=None, sign=1.0, x0_root=True, alpha=None, beta=None, coef_x0=None,
                  var=None, noise_power=0.5, eps_form_root=None):
    """x_(t−1) from one DDPM formula with named parts replaced (ᾱ_t = a, ᾱ_(t−1) = ap), float64."""
    x, eps, z = x.double(), eps.double(), z.double()
    alpha = a / ap if alpha is None else alpha
    beta = 1 - alpha if beta is None else beta
    if eps_form_root is not None:
        mean = (x - beta / math.sqrt(1 - a) * eps) / math.sqrt(eps_form_root)
    else:
        a0 = a if a_x0 is None else a_x0
        x0 = (x - sign * math.sqrt(1 - a0) * eps) / (math.sqrt(a0) if x0_root else a0)
        c0 = math.sqrt(ap) if coef_x0 is None else coef_x0
        mean = c0 * beta / (1 - a) * x0 + math.sqrt(alpha) * (1 - ap) / (1 - a) * x
    v = beta * (1 - ap) / (1 - a) if var is None else var
    return mean + max(v, 0.0) ** noise_power * z


def _ddpm_diagnoses(ab, t):
    """(message, kwargs) of the classic wrong DDPM steps at step t (t ≥ 2)."""
    a, ap = float(ab[t]), float(ab[t - 1])
    beta = 1 - a / ap
    swapped = ("ᾱ_t and ᾱ_(t−1) are swapped in x̂₀ or in μ̃: x̂₀ = (x_t − sqrt(1 − ᾱ_t)·ε̂)/sqrt(ᾱ_t) uses ᾱ of the "
               "current step t, and the x̂₀ coefficient of μ̃ is sqrt(ᾱ_(t−1))·β_t/(1 − ᾱ_t), with ᾱ of the step you "
               "go to (the two slips give almost the same numbers)")
    return [
        ("ᾱ is indexed one step early: alpha_bar has T + 1 entries with alpha_bar[0] = 1, so ᾱ_t is alpha_bar[t] "
         "and ᾱ_(t−1) is alpha_bar[t − 1]", dict(a=float(ab[t - 1]), ap=float(ab[t - 2]))),
        (swapped, dict(a_x0=ap)),
        (swapped, dict(coef_x0=math.sqrt(a))),
        ("α_t and β_t are one step's quantities: α_t = ᾱ_t/ᾱ_(t−1) and β_t = 1 − α_t, not ᾱ_t and 1 − ᾱ_t",
         dict(alpha=a, beta=1 - a)),
        ("the sign of ε̂ in x̂₀ is flipped: x̂₀ = (x_t − sqrt(1 − ᾱ_t)·ε̂)/sqrt(ᾱ_t) subtracts the scaled noise",
         dict(sign=-1.0)),
        ("x̂₀ is divided by ᾱ_t: divide by sqrt(ᾱ_t)", dict(x0_root=False)),
        ("in the ε form μ̃ = (x_t − β_t/sqrt(1 − ᾱ_t)·ε̂)/sqrt(α_t) divide by sqrt(α_t) = sqrt(ᾱ_t/ᾱ_(t−1)), "
         "not sqrt(ᾱ_t)", dict(eps_form_root=a)),
        ("the noise is scaled by sqrt(β_t); the posterior variance is β̃_t = (1 − ᾱ_(t−1))/(1 − ᾱ_t)·β_t",
         dict(var=beta)),
        ("the noise is scaled by the variance β̃_t: scale it by the standard deviation sqrt(β̃_t)",
         dict(noise_power=1.0)),
    ]


def _diagnose(got, candidates, what):
    """Raise AssertionError naming the first known mistake whose output ``got`` reproduces."""
    for message, want in candidates:
        want = want() if callable(want) else want
        if float((got.double() - want).abs().max()) < 1e-4 * max(1.0, float(want.abs().max())):
            raise AssertionError(f"{what}: {message}")


# ---------------------------------------------------------------------------------------- 4.4
@exercise("4.4", points=2)
def test_ddpm_step_matches_posterior(impl):
    step = impl.ch04_diffusion.ddpm_step
    T = 300
    ab = _schedule(T)
    gen = torch.Generator().manual_seed(5)
    for dtype in DTYPES:
        x = torch.randn(6, 2, generator=gen, dtype=torch.float64).to(dtype)
        eps = torch.randn(6, 2, generator=gen, dtype=torch.float64).to(dtype)
        z = torch.randn(6, 2, generator=gen, dtype=torch.float64).to(dtype)
        for t in (150, 12, 2, T):  # mistakes are told apart at t = 150 (at t = T, ᾱ_T ≈ 0 blurs them)
            got = step(x, t, eps, ab, noise=z)
            _is_tensor(got, x.shape, dtype, f"ddpm_step(t={t})")
            mean, sd = _posterior(x, t, eps, ab)
            mean_only = float((got.double() - mean).abs().max())
            with_beta = math.sqrt(1 - float(ab[t] / ab[t - 1]))
            hint = ("x_(t−1) = μ̃ + sqrt(β̃_t)·noise with x̂₀ = (x_t − sqrt(1 − ᾱ_t) ε̂)/sqrt(ᾱ_t), "
                    "μ̃ = sqrt(ᾱ_(t−1)) β_t/(1 − ᾱ_t)·x̂₀ + sqrt(α_t)(1 − ᾱ_(t−1))/(1 − ᾱ_t)·x_t")
            if float((got.double() - mean - with_beta * z.double()).abs().max()) < 1e-4 and abs(with_beta - sd) > 1e-3:
                raise AssertionError(f"at t = {t} the noise is scaled by sqrt(β_t); the posterior variance is "
                                     "β̃_t = (1 − ᾱ_(t−1))/(1 − ᾱ_t)·β_t")
            assert mean_only > 1e-3 * sd or t == 1, f"at t = {t} ddpm_step added no noise: add sqrt(β̃_t)·noise"
            want = mean + sd * z.double()
            if float((got.double() - want).abs().max()) > 1e-4 / math.sqrt(float(ab[t])):
                _diagnose(got, [(m, lambda kw=kw: _ddpm_variant(x, eps, z, **{"a": float(ab[t]),
                                                                               "ap": float(ab[t - 1]), **kw}))
                                for m, kw in _ddpm_diagnoses(ab, t)], f"ddpm_step at t = {t}")
            _close(got, want, dtype, f"ddpm_step at t = {t}", hint, scale=1 / math.sqrt(float(ab[t])))
        got = step(x, 1, eps, ab, noise=z)
        mean, _ = _posterior(x, 1, eps, ab)
        _close(got, mean, dtype, "ddpm_step at t = 1",
               "the last step adds no noise (β̃_1 = 0 because ᾱ_0 = 1) and returns the posterior mean")


@exercise("4.4", points=1)
def test_ddpm_step_clips_x0_by_row_norm(impl):
    step = impl.ch04_diffusion.ddpm_step
    T = 100
    ab = _schedule(T)
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(8, 3, generator=gen, dtype=torch.float64) * 3
    eps = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    z = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    t = 90  # x̂₀ = (x − …)/sqrt(ᾱ_t) is large here, so the clip binds
    mean, sd = _posterior(x, t, eps, ab, x0_clip=1.0)
    got = step(x, t, eps, ab, noise=z, clip=1.0)
    _is_tensor(got, x.shape, torch.float64, "ddpm_step(clip=1.0)")
    _close(got, mean + sd * z, torch.float64, "ddpm_step with clip=1.0",
           "clip x̂₀ before the posterior mean: rows whose norm exceeds clip are rescaled to norm clip "
           "(x̂₀ · min(1, clip/‖x̂₀‖)), then use the clipped x̂₀ in μ̃")
    last = step(x, 1, eps, ab, noise=z, clip=1.0)
    mean1, _ = _posterior(x, 1, eps, ab, x0_clip=1.0)
    _close(last, mean1, torch.float64, "ddpm_step at t = 1 with clip=1.0",
           "the clip applies at every step, the last one too: at t = 1 the step returns the clipped x̂₀ and adds no "
           "noise")
    loose = step(x, t, eps, ab, noise=z, clip=1e6)
    unclipped = step(x, t, eps, ab, noise=z)
    assert torch.allclose(loose, unclipped, atol=1e-10), "a clip larger than every row norm must change nothing"
    R = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))[0]
    rotated = step(x @ R.T, t, eps @ R.T, ab, noise=z @ R.T, clip=1.0)
    err = float((rotated - got @ R.T).abs().max())
    assert err < 1e-9, (f"the clipped step is not rotation-equivariant (error {err:.2e}): clip the norm of each "
                        "row of x̂₀, not each coordinate")


@exercise("4.4", points=2)
def test_ddpm_sampler_recovers_gaussian_moments(impl):
    step = impl.ch04_diffusion.ddpm_step
    T, N = 400, 12000
    ab = _schedule(T)
    gen = torch.Generator().manual_seed(7)
    with _one_thread():
        x = torch.randn(N, 2, generator=gen, dtype=torch.float64)
        for t in range(T, 0, -1):
            x = step(x, t, _eps_oracle(x, t, ab), ab, noise=torch.randn(N, 2, generator=gen, dtype=torch.float64))
            assert isinstance(x, torch.Tensor), f"ddpm_step returned {type(x).__name__} at t = {t}"
    m, s = x.mean(0), x.std(0)
    ok = float((m - MU).abs().max()) < 0.03 and float((s / SD - 1).abs().max()) < 0.04
    assert ok, _moments_msg(f"ancestral DDPM over {T} steps", m, s)
    torch.manual_seed(0)
    x = torch.randn(5, 2, dtype=torch.float64)
    a, b = step(x, 50, x, ab), step(x, 50, x, ab)
    assert not torch.equal(a, b), "with noise=None, ddpm_step must draw fresh noise (torch.randn_like) for t > 1"


@exercise("4.4", points=1)
def test_ddpm_step_validates_inputs(impl):
    step = impl.ch04_diffusion.ddpm_step
    ab = _schedule(10)
    x = torch.zeros(4, 2, dtype=torch.float64)
    xt = torch.linspace(-1.5, 2.0, 8, dtype=torch.float64).reshape(4, 2)
    eps = torch.linspace(0.7, -0.9, 8, dtype=torch.float64).reshape(4, 2)
    z = torch.linspace(-0.3, 0.4, 8, dtype=torch.float64).reshape(4, 2)
    mean, sd = _posterior(xt, 3, eps, ab)
    for dtype in DTYPES:  # a valid call first: a stub that keeps the checks but returns a wrong value earns nothing
        got = step(xt.to(dtype), 3, eps.to(dtype), ab, noise=z.to(dtype))
        _is_tensor(got, (4, 2), dtype, "ddpm_step(t=3)")
        _close(got, mean + sd * z, dtype, "ddpm_step at t = 3",
               "x_(t−1) = μ̃ + sqrt(β̃_t)·noise (the posterior mean and standard deviation)",
               scale=1 / math.sqrt(float(ab[3])))
    _raises(lambda: step(x, 0, x, ab), "ddpm_step with t = 0")
    _raises(lambda: step(x, 3, torch.zeros(4, 3, dtype=torch.float64), ab), "ddpm_step with eps_pred of another shape")
    _raises(lambda: step(x, 3, torch.full((4, 2), float("nan"), dtype=torch.float64), ab),
            "ddpm_step with NaN in eps_pred")
    _raises(lambda: step(x, 11, x, ab), "ddpm_step with t > T")
    _raises(lambda: step(x, 3, x, ab, noise=torch.zeros(4, 3, dtype=torch.float64)),
            "ddpm_step with noise of another shape")
    for bad in (0.0, -1.0):
        _raises(lambda: step(x, 3, x, ab, clip=bad), f"ddpm_step with clip={bad}")


# ---------------------------------------------------------------------------------------- 4.5
def _ddim_oracle(x, t, tp, eps, ab, eta=0.0, z=None):
    """DDIM written as x_(t') = sqrt(ᾱ_t'/ᾱ_t)·x_t + c·ε̂ + σ·z (no clip), float64."""
    a, ap = float(ab[t]), float(ab[tp])
    sigma = eta * math.sqrt((1 - ap) / (1 - a) * (1 - a / ap))
    c = math.sqrt(1 - ap - sigma ** 2) - math.sqrt(ap * (1 - a) / a)
    out = math.sqrt(ap / a) * x.double() + c * eps.double()
    return out + sigma * z.double() if sigma > 0 else out


def _ddim_variant(x, eps, z, a, ap, eta, *, a_x0=None, sign=1.0, sigma=None, coef=None, add_noise=True):
    """x_(t') from the DDIM formula with named parts replaced (ᾱ_t = a, ᾱ_t' = ap), float64."""
    x, eps, z = x.double(), eps.double(), z.double()
    a0 = a if a_x0 is None else a_x0
    x0 = (x - sign * math.sqrt(1 - a0) * eps) / math.sqrt(a0)
    s = eta * math.sqrt((1 - ap) / (1 - a)) * math.sqrt(1 - a / ap) if sigma is None else sigma
    c = math.sqrt(max(1 - ap - s ** 2, 0.0)) if coef is None else coef
    out = math.sqrt(ap) * x0 + c * eps
    return out + s * z if add_noise and s > 0 else out


def _ddim_diagnoses(ab, t, tp, eta):
    """(message, kwargs) of the classic wrong DDIM steps from t to tp."""
    a, ap = float(ab[t]), float(ab[tp])
    s = eta * math.sqrt((1 - ap) / (1 - a)) * math.sqrt(1 - a / ap)
    out = []
    if tp != t - 1:
        out.append(("the step must land on t_prev: use ᾱ_(t_prev), not ᾱ_(t−1)",
                    dict(a=a, ap=float(ab[t - 1]))))
    if tp >= 1:
        out.append(("ᾱ is indexed one step early: alpha_bar has T + 1 entries with alpha_bar[0] = 1, so ᾱ_t is "
                    "alpha_bar[t] and ᾱ_(t_prev) is alpha_bar[t_prev]", dict(a=float(ab[t - 1]), ap=float(ab[tp - 1]))))
    out += [
        ("x̂₀ uses ᾱ_(t_prev): x̂₀ = (x_t − sqrt(1 − ᾱ_t)·ε̂)/sqrt(ᾱ_t) uses ᾱ of the current step t", dict(a_x0=ap)),
        ("the sign of ε̂ in x̂₀ is flipped: x̂₀ = (x_t − sqrt(1 − ᾱ_t)·ε̂)/sqrt(ᾱ_t)", dict(sign=-1.0)),
        ("the ε̂ coefficient uses ᾱ_t: it is sqrt(1 − ᾱ_(t_prev) − σ²), with ᾱ of the step you land on",
         dict(coef=math.sqrt(max(1 - a - s ** 2, 0.0)))),
    ]
    if eta > 0:
        out += [
            ("σ misses a factor: σ = η·sqrt((1 − ᾱ_t')/(1 − ᾱ_t))·sqrt(1 − ᾱ_t/ᾱ_t') has two square-root factors",
             dict(sigma=eta * math.sqrt(1 - a / ap))),
            ("σ is a standard deviation: take the square roots, σ = η·sqrt((1 − ᾱ_t')/(1 − ᾱ_t))·sqrt(1 − ᾱ_t/ᾱ_t')",
             dict(sigma=eta * (1 - ap) / (1 - a) * (1 - a / ap))),
            ("σ grows linearly with η (σ = η·…), not with η²", dict(sigma=eta ** 2 * s / eta)),
            ("with η > 0 the ε̂ coefficient is sqrt(1 − ᾱ_t' − σ²): subtract σ², the variance the noise term adds",
             dict(coef=math.sqrt(1 - ap))),
            ("with η > 0 the step adds σ·noise (the noise argument, or torch.randn_like when it is None)",
             dict(add_noise=False)),
        ]
    return out


@exercise("4.5", points=2)
def test_ddim_step_closed_form(impl):
    step = impl.ch04_diffusion.ddim_step
    T = 1000
    ab = _schedule(T)
    gen = torch.Generator().manual_seed(8)
    for dtype in DTYPES:
        x = torch.randn(5, 3, generator=gen, dtype=torch.float64).to(dtype)
        eps = torch.randn(5, 3, generator=gen, dtype=torch.float64).to(dtype)
        z = torch.randn(5, 3, generator=gen, dtype=torch.float64).to(dtype)
        for t, tp, eta in ((1000, 980, 0.0), (700, 123, 0.0), (500, 499, 0.0), (600, 300, 0.5), (40, 1, 1.0)):
            got = step(x, t, tp, eps, ab, eta=eta, noise=z)
            _is_tensor(got, x.shape, dtype, f"ddim_step(t={t}, t_prev={tp}, eta={eta})")
            want = _ddim_oracle(x, t, tp, eps, ab, eta, z)
            if float((got.double() - want).abs().max()) > 1e-4 / math.sqrt(float(ab[t])):
                _diagnose(got, [(m, lambda kw=kw: _ddim_variant(x, eps, z, **{"a": float(ab[t]), "ap": float(ab[tp]),
                                                                              "eta": eta, **kw}))
                                for m, kw in _ddim_diagnoses(ab, t, tp, eta)],
                          f"ddim_step from t = {t} to t_prev = {tp} with eta = {eta}")
            _close(got, _ddim_oracle(x, t, tp, eps, ab, eta, z), dtype,
                   f"ddim_step from t = {t} to t_prev = {tp} with eta = {eta}",
                   "x_(t') = sqrt(ᾱ_t')·x̂₀ + sqrt(1 − ᾱ_t' − σ²)·ε̂ + σ·noise with ᾱ at t_prev (not t − 1) and "
                   "σ = η·sqrt((1 − ᾱ_t')/(1 − ᾱ_t))·sqrt(1 − ᾱ_t/ᾱ_t')", scale=1 / math.sqrt(float(ab[t])))
        x0 = step(x, 300, 0, eps, ab)
        want = (x.double() - math.sqrt(1 - float(ab[300])) * eps.double()) / math.sqrt(float(ab[300]))
        _close(x0, want, dtype, "ddim_step to t_prev = 0", "with ᾱ_0 = 1 the step returns x̂₀", scale=10)
        last = step(x, 300, 0, eps, ab, eta=1.0, noise=z)
        _close(last, want, dtype, "ddim_step to t_prev = 0 with eta = 1",
               "the last step adds no noise even with η > 0: σ = 0 there because ᾱ_0 = 1, so it returns x̂₀", scale=10)
        ancestral = step(x, 250, 249, eps, ab, eta=1.0, noise=z)
        mean, sd = _posterior(x, 250, eps, ab)
        _close(ancestral, mean + sd * z.double(), dtype, "ddim_step with eta = 1, t_prev = t − 1",
               "with η = 1 one DDIM step is the DDPM posterior step", scale=3)


@exercise("4.5", points=1)
def test_ddim_eta0_is_deterministic_and_clips(impl):
    step = impl.ch04_diffusion.ddim_step
    T = 200
    ab = _schedule(T)
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(7, 3, generator=gen, dtype=torch.float64) * 2
    eps = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    a = step(x, 150, 100, eps, ab, eta=0.0)
    b = step(x, 150, 100, eps, ab, eta=0.0, noise=torch.randn(7, 3, generator=gen, dtype=torch.float64))
    assert isinstance(a, torch.Tensor) and torch.equal(a, b), (
        "with eta = 0 DDIM is deterministic: σ = 0, so no noise (given or drawn) may enter the result")
    state = torch.get_rng_state()
    step(x, 150, 100, eps, ab, eta=0.0)
    assert torch.equal(state, torch.get_rng_state()), (
        "with eta = 0 no noise is drawn (σ = 0): do not call torch.randn_like unless σ > 0, so a deterministic "
        "sampler leaves torch's random state untouched")
    torch.manual_seed(0)
    c, d = step(x, 150, 100, eps, ab, eta=1.0), step(x, 150, 100, eps, ab, eta=1.0)
    assert isinstance(c, torch.Tensor) and not torch.equal(c, d), (
        "with eta > 0 and noise=None, ddim_step must draw fresh noise (torch.randn_like(x_t)) for σ·noise")
    t, tp = 190, 20
    ab_t, ab_p = float(ab[t]), float(ab[tp])
    x0 = (x - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
    clip = float(x0.norm(dim=-1).median())          # the clip binds for some rows and not for others
    got = step(x, t, tp, eps, ab, clip=clip)
    norms = x0.norm(dim=-1, keepdim=True)
    x0c = x0 * (clip / norms).clamp(max=1)
    eps_again = torch.where(norms > clip, (x - math.sqrt(ab_t) * x0c) / math.sqrt(1 - ab_t), eps)
    want = math.sqrt(ab_p) * x0c + math.sqrt(1 - ab_p) * eps_again
    _diagnose(got, [("where the clip binds, re-derive ε̂ from the clipped x̂₀, ε̂ ← (x_t − √ᾱ_t·x̂₀_clipped)/√(1 − ᾱ_t), "
                     "before the update: keeping the predicted ε̂ next to a clipped x̂₀ mixes two inconsistent "
                     "estimates", math.sqrt(ab_p) * x0c + math.sqrt(1 - ab_p) * eps),
                    ("re-derive ε̂ with √ᾱ_t and √(1 − ᾱ_t) of the current step t, not of t_prev",
                     math.sqrt(ab_p) * x0c + math.sqrt(1 - ab_p)
                     * torch.where(norms > clip, (x - math.sqrt(ab_p) * x0c) / math.sqrt(1 - ab_p), eps)),
                    ("clip x̂₀ (rows whose norm exceeds clip), not the result x_(t_prev)",
                     lambda: (lambda o: o * (clip / o.norm(dim=-1, keepdim=True)).clamp(max=1))(
                         math.sqrt(ab_p) * x0 + math.sqrt(1 - ab_p) * eps)),
                    ("clip each row of x̂₀ whose norm exceeds clip (the clip had no effect)",
                     math.sqrt(ab_p) * x0 + math.sqrt(1 - ab_p) * eps)],
              "ddim_step with a clip that binds for some rows")
    _close(got, want, torch.float64, "ddim_step with a clip that binds for some rows",
           "clip each row of x̂₀ to norm ≤ clip; where it binds, re-derive ε̂ ← (x_t − √ᾱ_t·x̂₀_clipped)/√(1 − ᾱ_t); "
           "then x_(t') = sqrt(ᾱ_t')·x̂₀ + sqrt(1 − ᾱ_t')·ε̂", scale=3)
    big = step(x, t, tp, eps, ab, clip=1e6)
    _close(big, step(x, t, tp, eps, ab), torch.float64, "ddim_step with a clip that never binds",
           "a clip larger than every row norm of x̂₀ must change nothing (ε̂ stays eps_pred)", scale=3)
    noisy = step(x, t, tp, eps, ab, eta=1.0, noise=torch.ones_like(x), clip=clip)
    sigma = math.sqrt((1 - ab_p) / (1 - ab_t)) * math.sqrt(1 - ab_t / ab_p)
    want_noisy = math.sqrt(ab_p) * x0c + math.sqrt(max(1 - ab_p - sigma ** 2, 0)) * eps_again + sigma
    _close(noisy, want_noisy, torch.float64, "ddim_step with eta = 1 and a binding clip",
           "with η > 0 the re-derived ε̂ takes the weight sqrt(1 − ᾱ_t' − σ²), plus σ·noise", scale=3)


@exercise("4.5", points=2)
def test_ddim_sampler_recovers_gaussian_moments_deterministically(impl):
    step = impl.ch04_diffusion.ddim_step
    T, K, N = 1000, 100, 12000
    ab = _schedule(T)
    times = torch.linspace(T, 0, K + 1).round().long().tolist()

    def run(x):
        for t, tp in zip(times[:-1], times[1:]):
            x = step(x, t, tp, _eps_oracle(x, t, ab), ab)
            assert isinstance(x, torch.Tensor), f"ddim_step returned {type(x).__name__}"
        return x

    with _one_thread():
        x_T = torch.randn(N, 2, generator=torch.Generator().manual_seed(10), dtype=torch.float64)
        torch.manual_seed(1)
        first = run(x_T.clone())
        torch.manual_seed(2)
        second = run(x_T.clone())
    assert torch.equal(first, second), "DDIM with eta = 0 must map the same x_T to the same sample"
    m, s = first.mean(0), first.std(0)
    ok = float((m - MU).abs().max()) < 0.03 and float((s / SD - 1).abs().max()) < 0.04
    assert ok, _moments_msg(f"DDIM (eta = 0) over {K} of {T} steps", m, s)


@exercise("4.5", points=1)
def test_ddim_step_validates_inputs(impl):
    step = impl.ch04_diffusion.ddim_step
    ab = _schedule(10)
    x = torch.zeros(4, 2, dtype=torch.float64)
    xt = torch.linspace(-1.5, 2.0, 8, dtype=torch.float64).reshape(4, 2)
    eps = torch.linspace(0.7, -0.9, 8, dtype=torch.float64).reshape(4, 2)
    for dtype in DTYPES:  # a valid call first: a stub that keeps the checks but returns a wrong value earns nothing
        got = step(xt.to(dtype), 5, 2, eps.to(dtype), ab)
        _is_tensor(got, (4, 2), dtype, "ddim_step(t=5, t_prev=2)")
        _close(got, _ddim_oracle(xt, 5, 2, eps, ab), dtype, "ddim_step from t = 5 to t_prev = 2 with eta = 0",
               "x_(t') = sqrt(ᾱ_t')·x̂₀ + sqrt(1 − ᾱ_t')·ε̂ with ᾱ at t_prev", scale=1 / math.sqrt(float(ab[5])))
    _raises(lambda: step(x, 5, 5, x, ab), "ddim_step with t_prev = t")
    _raises(lambda: step(x, 11, 2, x, ab), "ddim_step with t > T")
    _raises(lambda: step(x, 5, 2, x[:3], ab), "ddim_step with eps_pred of another shape")
    _raises(lambda: step(x, 0, 0, x, ab), "ddim_step with t = 0")
    _raises(lambda: step(x, 5, -1, x, ab), "ddim_step with t_prev = -1")
    _raises(lambda: step(x, 5, 2, x, ab, eta=-0.5), "ddim_step with eta = -0.5")
    _raises(lambda: step(x, 5, 2, x, ab, clip=0.0), "ddim_step with clip = 0")
    _raises(lambda: step(x, 5, 2, torch.full((4, 2), float("inf"), dtype=torch.float64), ab),
            "ddim_step with inf in eps_pred")


# ---------------------------------------------------------------------------------------- 4.6
MOLECULES = [
    "CCO", "CC(=O)O", "CC(N)=O", "CC#N", "C#CC", "CC(C)=O", "C=CC=O", "NC(N)=O", "CCOC(C)=O", "FC(F)F",
    "OC1CCCC1",
    # aromatic and fused rings: the rule must find a Kekulé structure
    "c1ccccc1", "c1ccncc1", "c1cc[nH]c1", "c1ccoc1", "c1cnc[nH]1", "Cc1ccccc1O", "Nc1ncccn1",
    "c1ccc2ccccc2c1", "c1ccc2[nH]ccc2c1", "O=c1cc[nH]cc1",
]


def _embedded(smiles, seed=7):
    """Heavy-atom (z, pos) of an ETKDG + MMFF conformer and the canonical SMILES (no stereo)."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    params.numThreads = 1
    assert AllChem.EmbedMolecule(mol, params) == 0, f"grader could not embed {smiles}"
    AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    pos = torch.tensor(mol.GetConformer().GetPositions()[heavy], dtype=torch.float64)
    z = torch.tensor([mol.GetAtomWithIdx(i).GetAtomicNum() for i in heavy])
    return z, pos, Chem.MolToSmiles(Chem.MolFromSmiles(smiles), isomericSmiles=False)


def _smiles(mol):
    from rdkit import Chem

    return Chem.MolToSmiles(mol, isomericSmiles=False)


@exercise("4.6", points=2)
def test_molecule_from_geometry_recovers_embedded_molecules(impl):
    perceive = impl.ch04_diffusion.molecule_from_geometry
    from rdkit import Chem

    wrong = []
    for smi in MOLECULES:
        z, pos, want = _embedded(smi)
        mol = perceive(z, pos)
        if mol is not None:
            assert isinstance(mol, Chem.Mol), f"molecule_from_geometry must return an rdkit Mol or None, got {type(mol)}"
            assert [a.GetAtomicNum() for a in mol.GetAtoms()] == z.tolist(), (
                "the Mol must hold the heavy atoms in input order (hydrogens stay implicit)")
        got = None if mol is None else _smiles(mol)
        if got != want:
            wrong.append(f"{want} → {got}")
    assert not wrong, (
        f"{len(wrong)} of {len(MOLECULES)} RDKit-embedded molecules were not recovered: {'; '.join(wrong[:6])}. "
        "Aromatic rings need double bonds from bond lengths (≈1.39 Å is closer to a double than a single C–C "
        "bond) chosen as a matching (each atom at most one double bond); triple bonds are ≈1.2 Å")


@exercise("4.6", points=1)
def test_molecule_from_geometry_is_invariant(impl):
    perceive = impl.ch04_diffusion.molecule_from_geometry
    gen = torch.Generator().manual_seed(11)
    for smi in ("c1ccc2ccccc2c1", "CC(N)=O", "c1ccncc1"):
        z, pos, want = _embedded(smi, seed=3)
        for _ in range(3):
            R = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))[0]
            perm = torch.randperm(len(z), generator=gen)
            moved = (pos @ R.T + torch.randn(3, generator=gen, dtype=torch.float64) * 5)[perm]
            mol = perceive(z[perm], moved.float())
            got = None if mol is None else _smiles(mol)
            assert got == want, (f"{want} read as {got} after a rotation, translation and reordering of the atoms "
                                 "(float32 input): use only interatomic distances and an order-independent matching")


@exercise("4.6", points=1)
def test_molecule_from_geometry_rejects_noise_and_keeps_fragments(impl):
    perceive = impl.ch04_diffusion.molecule_from_geometry
    gen = torch.Generator().manual_seed(12)
    z, pos, _ = _embedded("CCO")
    mol = perceive(z, pos)
    assert mol is not None and _smiles(mol) == "CCO", "ethanol must be recovered (pass the first 4.6 grader first)"
    accepted = 0
    for _ in range(20):
        cloud = torch.randn(9, 3, generator=gen, dtype=torch.float64) * 0.7  # far too dense for 9 heavy atoms
        zz = torch.tensor([6, 6, 6, 6, 6, 7, 7, 8, 8])
        accepted += perceive(zz, cloud) is not None
    assert accepted == 0, (f"{accepted}/20 random dense point clouds were accepted as molecules: return None when "
                           "atoms clash (< 1.0 Å) or an atom has more bonds than its valence")
    octa = torch.tensor([[0, 0, 0], [1.5, 0, 0], [-1.5, 0, 0], [0, 1.5, 0], [0, -1.5, 0], [0, 0, 1.5],
                         [0, 0, -1.5]], dtype=torch.float64)
    assert perceive(torch.full((7,), 6), octa) is None, (
        "a carbon with 6 bonded neighbours has more bonds than its valence (4): return None")
    z2, pos2, _ = _embedded("CC(=O)O")
    both = perceive(torch.cat([z, z2]), torch.cat([pos, pos2 + torch.tensor([12.0, 0, 0], dtype=torch.float64)]))
    assert both is not None and _smiles(both) in ("CC(=O)O.CCO", "CCO.CC(=O)O"), (
        "two molecules 12 Å apart are one valid Mol with two fragments (SMILES with '.'), "
        f"got {None if both is None else _smiles(both)}")


_SYMBOL = {6: "C", 7: "N", 8: "O", 9: "F"}
# the module's reference single-bond lengths (Å), restated so a learner who edits the tables is still graded
_SINGLE = {(6, 6): 1.54, (6, 7): 1.47, (6, 8): 1.43, (6, 9): 1.35, (7, 7): 1.45, (7, 8): 1.40, (7, 9): 1.36,
           (8, 8): 1.48, (8, 9): 1.42, (9, 9): 1.42}


def _pair_geometry(za, zb, d):
    return torch.tensor([za, zb]), torch.tensor([[0.0, 0.0, 0.0], [d, 0.0, 0.0]], dtype=torch.float64)


def _canon(smiles):
    from rdkit import Chem

    return None if smiles is None else Chem.MolToSmiles(Chem.MolFromSmiles(smiles), isomericSmiles=False)


def _perceived(perceive, z, pos, what):
    try:
        mol = perceive(z, pos)
    except NotImplementedError:  # a stub: 'not started', not a failure
        raise
    except (IndexError, RuntimeError, KeyError) as err:
        raise AssertionError(f"molecule_from_geometry raised {type(err).__name__} for {what}: {err}") from None
    return None if mol is None else _smiles(mol)


@exercise("4.6", points=1)
def test_molecule_from_geometry_follows_the_thresholds(impl):
    """Two-atom geometries just inside and just outside each documented threshold."""
    perceive = impl.ch04_diffusion.molecule_from_geometry
    wrong = []
    for (za, zb), single in _SINGLE.items():
        a, b = _SYMBOL[za], _SYMBOL[zb]
        for d, want in ((single + 0.24, _canon(a + b)), (single + 0.26, _canon(f"{a}.{b}"))):
            got = _perceived(perceive, *_pair_geometry(za, zb, d), f"{a}–{b} at {d:.2f} Å")
            if got != want:
                wrong.append(f"{a}–{b} at {d:.2f} Å → {got} (expected {want})")
    assert not wrong, (
        f"bonds must follow d < SINGLE[pair] + 0.25 Å for each element pair (its own single-bond length plus the "
        f"tolerance, not covalent radii alone or one cutoff for all pairs): {'; '.join(wrong[:5])}")
    cases = [
        (6, 6, 0.99, None, "two atoms closer than 1.0 Å clash: return None"),
        (6, 6, 1.01, "C#C", "1.01 Å is not a clash (< 1.0 Å is); a C–C this short is a triple bond"),
        (6, 6, 1.26, "C#C", "a C–C bond shorter than (DOUBLE + TRIPLE)/2 = 1.27 Å is triple"),
        (6, 6, 1.28, "C=C", "a C–C bond between 1.27 Å and the single/double midpoint 1.44 Å is double"),
        (6, 6, 1.43, "C=C", "a C–C bond with shortness w = (SINGLE − d)/(SINGLE − DOUBLE) = 0.55 > 0.5 is double"),
        (6, 6, 1.45, "CC", "a C–C bond with shortness w = 0.45 ≤ 0.5 stays single"),
        (6, 8, 1.30, "C=O", "a C–O bond with w = 0.57 > 0.5 is double"),
        (6, 8, 1.33, "CO", "a C–O bond with w = 0.43 stays single"),
        (6, 8, 1.15, "C=O", "a triple bond needs ≥ 2 free valences on both atoms (O has only 1 left): a C–O at "
                            "1.15 Å is double"),
        (6, 7, 1.20, "C#N", "a C–N bond shorter than (DOUBLE + TRIPLE)/2 = 1.225 Å is triple"),
        (6, 7, 1.24, "C=N", "a C–N bond between 1.225 Å and the midpoint 1.38 Å is double"),
    ]
    for za, zb, d, want, why in cases:
        got = _perceived(perceive, *_pair_geometry(za, zb, d), f"{_SYMBOL[za]}–{_SYMBOL[zb]} at {d} Å")
        assert got == want, f"{_SYMBOL[za]}–{_SYMBOL[zb]} at {d} Å gave {got}, expected {want}: {why}"
    tetra = torch.tensor([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64) * 1.47 / math.sqrt(3)
    centre = torch.zeros(1, 3, dtype=torch.float64)
    got = _perceived(perceive, torch.tensor([7, 6, 6, 6, 6]), torch.cat([centre, tetra]),
                     "a nitrogen with four carbons at 1.47 Å")
    assert got is None, (f"a nitrogen bonded to four carbons gave {got}, expected None: atoms carry no charges, so N "
                         "takes at most VALENCE[7] = 3 bonds (no ammonium)")
    for z in (6, 7, 8, 9):
        got = _perceived(perceive, torch.tensor([z]), torch.zeros(1, 3, dtype=torch.float64), "a single atom")
        want = _canon(_SYMBOL[z])
        assert got == want, f"one {_SYMBOL[z]} atom gave {got}, expected {want}: a single atom is a valid molecule"
    z, pos, want = _embedded("CC(N)=O")
    got = _perceived(perceive, z.tolist(), pos, "atomic numbers given as a list of ints")
    assert got == want, f"atomic_numbers as a list of ints gave {got}, expected {want} (the spec allows a sequence)"


_DOUBLE = {(6, 6): 1.34, (6, 7): 1.29, (6, 8): 1.20, (7, 7): 1.25, (7, 8): 1.21, (8, 8): 1.21}
_TRIPLE = {(6, 6): 1.20, (6, 7): 1.16, (6, 8): 1.13, (7, 7): 1.10}
_VALENCE = {6: 4, 7: 3, 8: 2, 9: 1}


def _rule_oracle(z, pos):
    """The documented rule, written independently (exhaustive matching): canonical SMILES or None."""
    from rdkit import Chem

    z, n = [int(a) for a in z], len(z)
    d = torch.cdist(pos.double(), pos.double()).tolist()
    if any(d[i][j] < 1.0 for i in range(n) for j in range(i + 1, n)):
        return None
    key = {(i, j): (min(z[i], z[j]), max(z[i], z[j])) for i in range(n) for j in range(i + 1, n)}
    order = {e: 1 for e, k in key.items() if d[e[0]][e[1]] < _SINGLE[k] + 0.25}
    free = [_VALENCE[a] - sum(i in e for e in order) for i, a in enumerate(z)]
    if min(free) < 0:
        return None
    for (i, j) in order:
        k = key[(i, j)]
        if k in _TRIPLE and d[i][j] < (_DOUBLE[k] + _TRIPLE[k]) / 2 and free[i] >= 2 and free[j] >= 2:
            order[(i, j)] = 3
            free[i] -= 2
            free[j] -= 2
    cands = [(e, (_SINGLE[key[e]] - d[e[0]][e[1]]) / (_SINGLE[key[e]] - _DOUBLE[key[e]])) for e, o in order.items()
             if o == 1 and key[e] in _DOUBLE and free[e[0]] >= 1 and free[e[1]] >= 1]
    cands = [(e, w) for e, w in cands if w > 0.5]
    best = [(), 0.0]

    def search(k, used, chosen, total):
        if total > best[1] + 1e-12:
            best[:] = [tuple(chosen), total]
        for m in range(k, len(cands)):
            (i, j), w = cands[m]
            if i not in used and j not in used:
                search(m + 1, used | {i, j}, chosen + [(i, j)], total + w)

    search(0, frozenset(), [], 0.0)
    for e in best[0]:
        order[e] = 2
    rw = Chem.RWMol()
    for a in z:
        rw.AddAtom(Chem.Atom(a))
    kinds = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    for (i, j), o in order.items():
        rw.AddBond(i, j, kinds[o])
    mol = rw.GetMol()
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # noqa: BLE001 (RDKit raises several types)
        return None
    return _smiles(mol)


@exercise("4.6", points=1)
def test_molecule_from_geometry_follows_the_rule_on_noisy_geometries(impl):
    """Embedded molecules with 0.05–0.12 Å of noise: near thresholds, the answer is whatever the rule says."""
    perceive = impl.ch04_diffusion.molecule_from_geometry
    gen = torch.Generator().manual_seed(14)
    wrong, told_apart = [], set()
    for smi in ("CC(N)=O", "c1ccncc1", "CC#N", "C=CC=O", "c1ccoc1", "OC1CCCC1"):
        z, pos, _ = _embedded(smi)
        for sigma in (0.05, 0.08, 0.12):
            noisy = pos + sigma * torch.randn(pos.shape, generator=gen, dtype=torch.float64)
            want = _rule_oracle(z, noisy)
            got = _perceived(perceive, z, noisy, f"{smi} with {sigma} Å of noise")
            told_apart.add(want)
            if got != want:
                wrong.append(f"{smi} + {sigma} Å noise → {got} (the rule gives {want})")
    assert not wrong, (f"{len(wrong)} noisy geometries were not read as the documented rule reads them: "
                       f"{'; '.join(wrong[:4])}. Follow the steps in order: clash (< 1.0 Å), bonds below SINGLE + "
                       "0.25 Å, valence, triple (below the double/triple midpoint, ≥ 2 free valences on both atoms), "
                       "then doubles with w > 0.5 by maximum-weight matching")


@exercise("4.6", points=1)
def test_molecule_from_geometry_validates_inputs(impl):
    perceive = impl.ch04_diffusion.molecule_from_geometry
    z, pos, smi = _embedded("CCO")
    for dtype in DTYPES:  # a valid call first: a stub that keeps the checks but returns a wrong value earns nothing
        got = perceive(z, pos.to(dtype))
        assert got is not None and _smiles(got) == smi, (
            f"ethanol (RDKit conformer, {dtype}) must be recovered as {smi}, got "
            f"{None if got is None else _smiles(got)!r}")
    _raises(lambda: perceive(torch.tensor([6, 16, 8]), pos), "molecule_from_geometry with sulfur (Z = 16)")
    _raises(lambda: perceive(torch.tensor([6, 1, 8]), pos), "molecule_from_geometry with a hydrogen (Z = 1)")
    _raises(lambda: perceive(z, pos[:, :2]), "molecule_from_geometry with 2-D positions")
    _raises(lambda: perceive(z[:2], pos), "molecule_from_geometry with 2 atomic numbers and 3 positions")
    bad = pos.clone()
    bad[1, 0] = float("nan")
    _raises(lambda: perceive(z, bad), "molecule_from_geometry with NaN coordinates")
    _raises(lambda: perceive(torch.zeros(0, dtype=torch.long), torch.zeros(0, 3)),
            "molecule_from_geometry with 0 atoms")


# ---------------------------------------------------------------------------------------- 4.7
def _lookup_perception(table):
    """A grader-side perception: sample k carries its index in pos[0, 0]; table[k] is a SMILES or None."""
    from rdkit import Chem

    def perceive(z, pos):
        smi = table[int(round(float(pos[0, 0])))]
        return None if smi is None else Chem.MolFromSmiles(smi)

    return perceive


def _tagged(k, n=3):
    pos = torch.zeros(n, 3, dtype=torch.float64)
    pos[0, 0] = k
    return torch.full((n,), 6), pos


# what each sample "is": duplicates spelled differently, an invalid one, a two-fragment one
TABLE = ["CCO", "OCC", "c1ccccc1", "C1=CC=CC=C1", None, "CCO.C", "CC(=O)N", "NC(C)=O", "C1CC1", None,
         "N[C@@H](O)F"]
# valid: 9/11; connected: 8/11 (CCO.C is two fragments); distinct connected: CCO, benzene, acetamide,
# cyclopropane, NC(O)F → 5 of 8 (stereo ignored); novel: acetamide, cyclopropane → 2 of 5


@exercise("4.7", points=1)
def test_sample_metrics_counts(impl):
    metrics = impl.ch04_diffusion.sample_metrics
    samples = [_tagged(k) for k in range(len(TABLE))]
    train = ["OCC", "C1=CC=CC=C1", "FC(O)N"]  # non-canonical spellings; stereo must not matter
    out = metrics(samples, train, perceive=_lookup_perception(TABLE))
    assert isinstance(out, dict), f"sample_metrics must return a dict, got {type(out).__name__}"
    want = {"validity": 9 / 11, "connected": 8 / 11, "uniqueness": 5 / 8, "novelty": 2 / 5}
    for key, value in want.items():
        assert key in out, f"the result has no key {key!r}"
        got = out[key]
        assert isinstance(got, float) and abs(got - value) < 1e-12, (
            f"{key} = {got!r}, expected {value:.4f}. " + {
                "validity": "validity counts every sample that gives a molecule, one fragment or several",
                "connected": "connected = valid samples with one fragment (no '.' in the SMILES) / all samples",
                "uniqueness": "uniqueness = distinct canonical SMILES among the valid *connected* samples / their "
                              "number (canonical: 'OCC' and 'CCO' are one molecule; stereo ignored)",
                "novelty": "novelty = distinct SMILES not among the *canonicalised* training SMILES / distinct "
                           "SMILES (canonicalise the training set the same way, isomericSmiles=False)"}[key])


def _metrics_of(metrics, table, train):
    samples = [_tagged(k) for k in range(len(table))]
    try:
        out = metrics(samples, train, perceive=_lookup_perception(table))
    except ZeroDivisionError as err:
        raise AssertionError(f"sample_metrics raised ZeroDivisionError ({err}) for the samples {table}: a ratio "
                             "whose denominator is empty (no valid, connected or distinct sample) is 0.0") from None
    assert isinstance(out, dict), f"sample_metrics must return a dict, got {type(out).__name__}"
    return out


@exercise("4.7", points=1)
def test_sample_metrics_counts_smiles_list_and_empty_denominators(impl):
    metrics = impl.ch04_diffusion.sample_metrics
    out = _metrics_of(metrics, TABLE, ["OCC", "C1=CC=CC=C1", "FC(O)N"])
    counts = {"n_samples": 11, "n_valid": 9, "n_connected": 8, "n_unique": 5}
    why = {"n_samples": "every sample", "n_valid": "samples that give a molecule (one fragment or several)",
           "n_connected": "valid samples with one fragment", "n_unique": "distinct canonical SMILES among the valid "
           "connected samples (stereo ignored)"}
    for key, value in counts.items():
        assert key in out, f"the result has no key {key!r} (documented: {', '.join(counts)} and 'smiles')"
        got = out[key]
        assert isinstance(got, numbers.Integral) and not isinstance(got, bool) and got == value, (
            f"{key} = {got!r}, expected the int {value}: {key} counts {why[key]}")
    assert "smiles" in out, "the result has no key 'smiles' (one entry per sample, None when invalid)"
    want = [_canon(s) for s in TABLE]
    got = out["smiles"]
    assert isinstance(got, list) and len(got) == len(TABLE), (
        f"smiles must be a list with one entry per sample ({len(TABLE)}), None for an invalid one, got "
        f"{type(got).__name__} of length {len(got) if hasattr(got, '__len__') else '?'}")
    bad = [f"sample {k}: {g!r} (expected {w!r})" for k, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not bad, ("smiles[k] is sample k's canonical SMILES without stereo "
                     f"(isomericSmiles=False), or None when it is invalid: {'; '.join(bad[:4])}")
    for table, what, want in (
            ([None, None, None], "no valid sample",
             dict(validity=0.0, connected=0.0, uniqueness=0.0, novelty=0.0, n_valid=0, n_connected=0, n_unique=0)),
            (["CCO.C", "C.C", None], "valid samples that are all fragmented",
             dict(validity=2 / 3, connected=0.0, uniqueness=0.0, novelty=0.0, n_valid=2, n_connected=0, n_unique=0))):
        out = _metrics_of(metrics, table, ["CCO"])
        for key, value in want.items():
            got = out.get(key)
            kind = float if key in ("validity", "connected", "uniqueness", "novelty") else numbers.Integral
            assert isinstance(got, kind) and abs(got - value) < 1e-12, (
                f"with {what} ({table}) {key} = {got!r}, expected {'a float' if kind is float else 'an int'} "
                f"{value:.4g}: a ratio whose "
                "denominator is empty (no connected sample, no distinct SMILES) is 0.0")
        assert out.get("smiles") == [_canon(s) for s in table], (
            f"with {what} smiles = {out.get('smiles')!r}: one entry per sample, None when invalid")


@exercise("4.7", points=2)
def test_sample_metrics_novelty_extremes_with_real_geometries(impl):
    mod = impl.ch04_diffusion
    table = ["CCO", "c1ccccc1", "CC#N", "OCC"]
    fake = _lookup_perception(table)
    samples = [_tagged(k) for k in range(len(table))]
    own = mod.sample_metrics(samples, ["OCC", "C1=CC=CC=C1", "N#CC"], perceive=fake)
    assert isinstance(own, dict) and abs(own["novelty"]) < 1e-12, (
        f"novelty against the samples' own molecules (spelled differently) must be 0, got {own.get('novelty')!r}: "
        "compare canonical SMILES")
    empty = mod.sample_metrics(samples, [], perceive=fake)
    assert abs(empty["novelty"] - 1.0) < 1e-12 and abs(empty["uniqueness"] - 0.75) < 1e-12, (
        f"against an empty training set novelty must be 1 (got {empty['novelty']!r}); uniqueness of CCO, benzene, "
        f"acetonitrile, ethanol again is 3/4 (got {empty['uniqueness']!r})")
    # the default perception is the learner's molecule_from_geometry
    real = [_embedded(s)[:2] for s in ("CCO", "c1ccncc1", "CCO")]
    noise = (torch.tensor([6, 6, 6, 6]), torch.zeros(4, 3, dtype=torch.float64))  # all atoms on one point
    try:
        out = mod.sample_metrics(real + [noise], ["OCC"])
    except NotImplementedError as err:
        if "4.6" not in str(err):  # sample_metrics itself is still the stub: 'not started'
            raise
        raise AssertionError("with the default perception sample_metrics calls your molecule_from_geometry, which is "
                             f"not implemented yet ({err}): do 4.6 first") from None
    want = {"validity": 0.75, "connected": 0.75, "uniqueness": 2 / 3, "novelty": 0.5}
    bad = {k: out.get(k) for k in want if out.get(k) is None or abs(out[k] - want[k]) > 1e-12}
    assert not bad, (f"with the default perception (your molecule_from_geometry, 4.6) got {bad}, expected "
                     f"{ {k: round(v, 4) for k, v in want.items()} } — pass 4.6 first if it fails")
    _raises(lambda: mod.sample_metrics([], ["CCO"]), "sample_metrics with no samples")
    try:
        mod.sample_metrics(samples, ["CCO", "OCC", "not a smiles ("], perceive=fake)
    except ValueError as err:
        assert "2" in str(err), f"the error for an invalid training SMILES must name its index (2): {err}"
    else:
        raise AssertionError("sample_metrics with an invalid training SMILES should raise ValueError")
    _raises(lambda: mod.sample_metrics([_tagged(0), torch.zeros(3)], [], perceive=fake),
            "sample_metrics with an entry that is not an (atomic_numbers, pos) pair")


# ---------------------------------------------------------------------------------------- 4.8
_SINGLE_48 = {(6, 6): 1.54, (6, 7): 1.47, (6, 8): 1.43, (6, 9): 1.35, (7, 7): 1.45, (7, 8): 1.40,
              (7, 9): 1.36, (8, 8): 1.48, (8, 9): 1.42, (9, 9): 1.42}
_VALENCE_48 = {6: 4, 7: 3, 8: 2, 9: 1}


def _stability_oracle(z, pos):
    """The grader's own per-atom stability: plain loops, float64."""
    z = [int(a) for a in z]
    p = pos.double()
    out = []
    for i in range(len(z)):
        bonded, clash = 0, False
        for j in range(len(z)):
            if i == j:
                continue
            d = float((p[i] - p[j]).norm())
            clash |= d < 1.0
            bonded += d < _SINGLE_48[tuple(sorted((z[i], z[j])))] + 0.25
        out.append(bonded <= _VALENCE_48[z[i]] and not clash)
    return torch.tensor(out)


def _star(centre, ligand, k, d, extra=()):
    """Atom ``centre`` with ``k`` atoms ``ligand`` at distance ``d`` along ±x, ±y, ±z (plus ``extra`` atoms)."""
    dirs = torch.tensor([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=torch.float64)
    pos = torch.cat([torch.zeros(1, 3, dtype=torch.float64), d * dirs[:k]])
    z = [centre] + [ligand] * k
    for zz, p in extra:
        z.append(zz)
        pos = torch.cat([pos, torch.tensor([p], dtype=torch.float64)])
    return torch.tensor(z), pos


# (name, z, pos, hint when the answer differs)
def _stability_cases():
    cases = [
        ("a carbon with 4 carbon neighbours at 1.5 Å", *_star(6, 6, 4, 1.5),
         "4 bonds is exactly carbon's valence: stable means at most VALENCE bonds (≤, not <), and an atom is not "
         "its own neighbour (leave the diagonal of the distance matrix out)"),
        ("a carbon with 6 carbon neighbours at 1.5 Å", *_star(6, 6, 6, 1.5),
         "the centre has 6 bonds > 4: unstable; each outer carbon has one bond (outer–outer 2.12 Å is beyond "
         "1.54 + 0.25 Å)"),
        ("a nitrogen with 3 carbon neighbours at 1.45 Å", *_star(7, 6, 3, 1.45),
         "3 bonds is exactly nitrogen's valence: stable (at most VALENCE, ≤)"),
        ("a nitrogen with 4 carbon neighbours at 1.45 Å", *_star(7, 6, 4, 1.45),
         "4 bonds exceed nitrogen's valence 3: unstable (C–N bonds reach SINGLE + BOND_TOLERANCE = 1.47 + 0.25 Å)"),
        ("an oxygen with 3 carbon neighbours at 1.40 Å", *_star(8, 6, 3, 1.40),
         "3 bonds exceed oxygen's valence 2: unstable (C–O bonds reach SINGLE + BOND_TOLERANCE = 1.43 + 0.25 Å)"),
        ("a fluorine with 2 carbon neighbours at 1.40 Å", *_star(9, 6, 2, 1.40),
         "2 bonds exceed fluorine's valence 1: unstable (C–F bonds reach SINGLE + BOND_TOLERANCE = 1.35 + 0.25 Å)"),
        ("a carbon with 4 carbons at 1.5 Å and a fluorine at 1.65 Å", *_star(6, 6, 4, 1.5, extra=[(9, [0.0, 0.0, 1.65])]),
         "C–F bonds end at SINGLE[(6, 9)] + 0.25 = 1.60 Å, not at the C–C cutoff: look up each pair's own SINGLE "
         "length (keys are sorted pairs)"),
        ("a carbon with 4 carbons at 1.5 Å and an oxygen at 1.70 Å", *_star(6, 6, 4, 1.5, extra=[(8, [0.0, 0.0, 1.70])]),
         "C–O bonds end at SINGLE[(6, 8)] + BOND_TOLERANCE = 1.43 + 0.25 = 1.68 Å: an oxygen at 1.70 Å is not "
         "bonded (use SINGLE + BOND_TOLERANCE, not another margin)"),
        ("a carbon with 5 carbons at 1.78 Å", *_star(6, 6, 5, 1.78),
         "C–C bonds reach up to SINGLE + BOND_TOLERANCE = 1.79 Å: 1.78 Å is a bond, so the centre has 5 bonds "
         "and is unstable (use SINGLE + BOND_TOLERANCE, not the bare SINGLE length or a smaller margin)"),
        ("two oxygens 0.9 Å apart and a far carbon", torch.tensor([8, 8, 6]),
         torch.tensor([[0, 0, 0], [0.9, 0, 0], [6.0, 0, 0]], dtype=torch.float64),
         "atoms closer than MIN_DISTANCE (1.0 Å) clash: both are unstable, even though one O–O bond is within "
         "valence; the far carbon is stable"),
    ]
    return cases


@exercise("4.8", points=2)
def test_atom_stability_on_constructed_geometries(impl):
    stab = impl.ch04_diffusion.atom_stability
    for name, z, pos, hint in _stability_cases():
        got = stab(z, pos)
        assert isinstance(got, torch.Tensor), f"atom_stability must return a torch.Tensor, got {type(got).__name__}"
        assert got.dtype == torch.bool, f"atom_stability must return a torch.bool tensor (one flag per atom), got {got.dtype}"
        assert tuple(got.shape) == (len(z),), f"{name}: expected shape ({len(z)},), got {tuple(got.shape)}"
        want = _stability_oracle(z, pos)
        assert torch.equal(got.cpu(), want), f"{name}: got {got.tolist()}, expected {want.tolist()}. {hint}"


@exercise("4.8", points=1)
def test_atom_stability_on_embedded_molecules_and_invariances(impl):
    stab = impl.ch04_diffusion.atom_stability
    gen = torch.Generator().manual_seed(48)
    for smi in ("CCO", "CC(=O)O", "c1ccccc1", "CC#N", "FC(F)(F)C(=O)N", "OCC1OC(O)C(O)C1O", "c1ccncc1"):
        z, pos, _ = _embedded(smi)
        for dtype in DTYPES:
            got = stab(z, pos.to(dtype))
            assert got.dtype == torch.bool and bool(got.all()), (
                f"{smi} (RDKit conformer, {dtype}): every atom of a real molecule is stable, got {got.tolist()} — an "
                "atom is not its own neighbour (leave the diagonal out of the count and the clash test), bonds end at "
                "SINGLE[pair] + BOND_TOLERANCE")
    z, pos = _star(6, 6, 6, 1.5)
    want = _stability_oracle(z, pos)
    before = pos.clone()
    for _ in range(3):
        R = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))[0]
        perm = torch.randperm(len(z), generator=gen)
        got = stab(z[perm], (pos @ R.T + 4.0)[perm].float())
        assert torch.equal(got.cpu(), want[perm]), (
            "atom_stability changed after rotating, translating and reordering the atoms (float32): use only "
            "interatomic distances and return the flags in the input order")
    assert torch.equal(pos, before), "atom_stability must not modify pos"
    one = stab(torch.tensor([7]), torch.zeros(1, 3))
    assert one.dtype == torch.bool and one.tolist() == [True], (
        f"a single atom (no neighbours, no clash) is stable, got {one.tolist()}: the distance to itself is 0 — leave "
        "the diagonal out of the clash test")
    many = stab([6, 8], torch.tensor([[0.0, 0, 0], [1.2, 0, 0]]))
    assert many.tolist() == [True, True], "atomic_numbers may be a list of ints (C=O at 1.2 Å: both stable)"


@exercise("4.8", points=1)
def test_atom_stability_rejects_bad_input(impl):
    stab = impl.ch04_diffusion.atom_stability
    z, pos = _star(6, 6, 6, 1.5)               # the centre has 6 bonds (unstable), each outer carbon 1
    want = _stability_oracle(z, pos)
    for dtype in DTYPES:  # a valid call first: a stub that keeps the checks but returns a wrong value earns nothing
        got = stab(z, pos.to(dtype))
        assert isinstance(got, torch.Tensor) and got.dtype == torch.bool and torch.equal(got.cpu(), want), (
            f"a carbon with 6 carbon neighbours at 1.5 Å ({dtype}): expected {want.tolist()}, got "
            f"{got.tolist() if isinstance(got, torch.Tensor) else got!r} — one bool per atom, at most VALENCE bonds")
    ok = torch.zeros(2, 3)
    ok[1, 0] = 1.5
    _raises(lambda: stab(torch.tensor([6, 1]), ok), "atom_stability with a hydrogen (atomic number 1)")
    _raises(lambda: stab(torch.tensor([6, 17]), ok), "atom_stability with chlorine (17)")
    _raises(lambda: stab(torch.tensor([6, 6, 6]), ok), "atom_stability with 3 atomic numbers for 2 positions")
    _raises(lambda: stab(torch.tensor([6, 6]), torch.zeros(2, 2)), "atom_stability with pos of shape (2, 2)")
    _raises(lambda: stab(torch.tensor([6, 6]), torch.tensor([[0.0, 0, 0], [float("nan"), 0, 0]])),
            "atom_stability with NaN coordinates")
    _raises(lambda: stab(torch.tensor([], dtype=torch.long), torch.zeros(0, 3)), "atom_stability with no atoms")


# ---------------------------------------------------------------------------------------- 4.9
def _bond_oracle(mol, pos, bounds, tolerance=0.25):
    """The grader's own bond-length check: plain loops over mol.GetBonds(), float64."""
    out = []
    for b in mol.GetBonds():
        i, j = sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))
        d = math.dist([float(v) for v in pos[i]], [float(v) for v in pos[j]])
        low, high = float(bounds[j][i]), float(bounds[i][j])
        out.append((d - low) / low if d < low else (d - high) / high if d > high else 0.0)
    return out


_CHAIN_BOUNDS = {(0, 1): (1.4, 1.6), (1, 2): (1.2, 1.35), (2, 3): (1.0, 2.0)}  # (lower, upper) per sorted bond
_CHAIN_D = (1.25, 1.75, 2.5)   # too short (−0.107), too long (+0.296), exactly 25 % too long


def _chain_variant(rule, unsorted_only=False):
    """Deviations of the chain's bonds under a (possibly wrong) ``rule(d, low, high)``; with ``unsorted_only``
    only the second bond (stored as begin 2, end 1) reads its bounds swapped and the rule is the right one."""
    out = []
    for k, (d, (low, high)) in enumerate(zip(_CHAIN_D, _CHAIN_BOUNDS.values())):
        if unsorted_only:
            low, high = (high, low) if k == 1 else (low, high)
        out.append(rule(d, low, high))
    return out


def _right_rule(d, low, high):
    return (d - low) / low if d < low else (d - high) / high if d > high else 0.0


def _toy_chain():
    """Four atoms C0–C1, C2–C1 (stored as begin 2, end 1), C2–C3 on the x axis with hand-made, asymmetric bounds."""
    from rdkit import Chem

    rw = Chem.RWMol()
    for _ in range(4):
        rw.AddAtom(Chem.Atom(6))
    rw.AddBond(0, 1, Chem.BondType.SINGLE)
    rw.AddBond(2, 1, Chem.BondType.SINGLE)   # begin index > end index: the pair must be sorted
    rw.AddBond(2, 3, Chem.BondType.SINGLE)
    mol = rw.GetMol()
    x = [0.0, 1.25, 3.0, 5.5]                # bonds of 1.25, 1.75 and 2.5 Å (exact in binary)
    pos = torch.tensor([[v, 0.0, 0.0] for v in x], dtype=torch.float64)
    bounds = torch.full((4, 4), 9.0, dtype=torch.float64)
    bounds.fill_diagonal_(0.0)
    for (i, j), (low, high) in _CHAIN_BOUNDS.items():
        bounds[i, j], bounds[j, i] = high, low   # upper bound above the diagonal, lower bound below
    bounds[0, 2], bounds[2, 0] = 3.0, 2.0
    return mol, pos, bounds


def _check_bond_result(got, want, tolerance, what):
    assert isinstance(got, dict), f"{what}: bond_length_outliers must return a dict, got {type(got).__name__}"
    missing = {"deviation", "worst", "n_outliers", "passes"} - set(got)
    assert not missing, f"{what}: the result lacks the documented key(s) {sorted(missing)}"
    dev = got["deviation"]
    assert isinstance(dev, torch.Tensor) and dev.dtype == torch.float64, (
        f"{what}: 'deviation' must be a float64 torch.Tensor, got {type(dev).__name__} {getattr(dev, 'dtype', '')}")
    assert tuple(dev.shape) == (len(want),), f"{what}: 'deviation' needs one entry per bond ({len(want)}), got {tuple(dev.shape)}"
    w = torch.tensor(want, dtype=torch.float64)
    if len(want) and not torch.allclose(dev.cpu(), w, atol=1e-9, rtol=1e-7):
        hint = "r = (d − lower)/lower below the window, (d − upper)/upper above it, 0 inside"
        if torch.allclose(dev.cpu().abs(), w.abs(), atol=1e-9) and not torch.allclose(dev.cpu(), w, atol=1e-9):
            hint = "the deviation is signed: negative when the bond is too short, positive when too long"
        raise AssertionError(f"{what}: deviation {[round(float(v), 4) for v in dev]}, expected "
                             f"{[round(v, 4) for v in want]} — {hint}")
    worst = max((abs(v) for v in want), default=0.0)
    n_out = sum(abs(v) > tolerance for v in want)
    assert isinstance(got["worst"], float) and math.isclose(got["worst"], worst, abs_tol=1e-9), (
        f"{what}: 'worst' must be the largest |deviation| as a float ({worst:.4f}; 0.0 without bonds), got {got['worst']!r}")
    assert isinstance(got["n_outliers"], int) and not isinstance(got["n_outliers"], bool) and got["n_outliers"] == n_out, (
        f"{what}: 'n_outliers' must be the int number of bonds with |deviation| > tolerance ({n_out}), got "
        f"{got['n_outliers']!r} — a deviation exactly at the tolerance still passes")
    assert got["passes"] is (n_out == 0) or (isinstance(got["passes"], bool) and got["passes"] == (n_out == 0)), (
        f"{what}: 'passes' must be the bool 'no outlier' ({n_out == 0}), got {got['passes']!r}")


@exercise("4.9", points=2)
def test_bond_length_outliers_on_a_hand_made_chain(impl):
    check = impl.ch04_diffusion.bond_length_outliers
    mol, pos, bounds = _toy_chain()
    want = _bond_oracle(mol, pos, bounds)      # [-0.107, +0.296, +0.25]
    assert want[2] == 0.25 and want == _chain_variant(_right_rule)
    before, bounds_before = pos.clone(), bounds.clone()
    got = check(mol, pos, bounds)
    assert torch.equal(pos, before), "bond_length_outliers must not modify pos"
    assert torch.equal(bounds, bounds_before), (
        "bond_length_outliers must not modify bounds (the caller reuses the matrix): read it, never write into it")
    assert isinstance(got, dict) and "deviation" in got, f"bond_length_outliers must return the documented dict, got {got!r}"
    dev = got["deviation"]
    if isinstance(dev, torch.Tensor) and dev.numel() == 3:
        dev = [float(v) for v in dev]
        known = [  # (mistake, its deviations on this chain)
            ("the upper bound of atoms i < j is bounds[i, j] (upper triangle) and the lower bound bounds[j, i] "
             "(lower triangle): the two triangles are swapped", _chain_variant(lambda d, lo, hi: _right_rule(d, hi, lo))),
            ("sort each bond's pair (i < j) before reading the bounds: the second bond is stored as begin 2, end 1, "
             "and bounds[2, 1] is its lower bound, not its upper", _chain_variant(_right_rule, unsorted_only=True)),
            ("express the deviation relative to the bound it crosses ((d − upper)/upper), not in Å",
             _chain_variant(lambda d, lo, hi: d - lo if d < lo else d - hi if d > hi else 0.0)),
            ("a bond shorter than its lower bound deviates by (d − lower)/lower, a longer one by (d − upper)/upper: "
             "divide by the bound it crosses, not by the other one",
             _chain_variant(lambda d, lo, hi: (d - lo) / hi if d < lo else (d - hi) / lo if d > hi else 0.0)),
            ("measure outside the window [lower, upper], not from its midpoint",
             _chain_variant(lambda d, lo, hi: (d - (lo + hi) / 2) / ((lo + hi) / 2))),
        ]
        for message, values in known:
            if all(abs(a - b) < 1e-6 for a, b in zip(dev, values)):
                raise AssertionError(f"bond_length_outliers on a hand-made chain: {message}")
    _check_bond_result(got, want, 0.25, "a chain with a short, a long and an at-the-tolerance bond")
    assert got["passes"] is False or got["passes"] == False, "a bond 29.6 % above its upper bound fails"  # noqa: E712
    loose = check(mol, pos, bounds, tolerance=0.3)
    _check_bond_result(loose, want, 0.3, "the same chain with tolerance = 0.3")


@exercise("4.9", points=1)
def test_bond_length_outliers_on_embedded_molecules(impl):
    from rdkit.Chem.rdDistGeom import GetMoleculeBoundsMatrix

    check = impl.ch04_diffusion.bond_length_outliers
    gen = torch.Generator().manual_seed(49)
    for smi in ("CCO", "CC(=O)N", "c1ccccc1", "CC#N", "OCC1OC(O)C(O)C1O", "c1ccncc1"):
        z, pos, _ = _embedded(smi)
        from rdkit import Chem
        mol = Chem.MolFromSmiles(smi)
        # the embedded heavy atoms follow the SMILES atom order (see _embedded)
        bounds = GetMoleculeBoundsMatrix(mol, set15bounds=True, scaleVDW=True, doTriangleSmoothing=True,
                                         useMacrocycle14config=False)
        for scale in (0.0, 0.3):
            noisy = pos.double() + scale * torch.randn(pos.shape, generator=gen, dtype=torch.float64)
            want = _bond_oracle(mol, noisy, bounds)
            _check_bond_result(check(mol, noisy, bounds), want, 0.25, f"{smi} (noise {scale} Å)")
            _check_bond_result(check(mol, noisy.float(), torch.as_tensor(bounds), tolerance=0.1),
                               _bond_oracle(mol, noisy.float().double(), bounds), 0.1,
                               f"{smi} (float32 pos, bounds as a tensor, tolerance 0.1)")
    from rdkit import Chem
    single = Chem.MolFromSmiles("C")
    _check_bond_result(check(single, torch.zeros(1, 3), [[0.0]]), [], 0.25, "methane (no bonds)")


@exercise("4.9", points=1)
def test_bond_length_outliers_rejects_bad_input(impl):
    check = impl.ch04_diffusion.bond_length_outliers
    mol, pos, bounds = _toy_chain()
    want = _bond_oracle(mol, pos, bounds)      # [-0.107, +0.296, +0.25]
    for dtype in DTYPES:  # a valid call first: a stub that keeps the checks but returns a wrong value earns nothing
        _check_bond_result(check(mol, pos.to(dtype), bounds), want, 0.25,
                           f"a chain with a short, a long and an at-the-tolerance bond ({dtype} pos)")
    _raises(lambda: check(mol, pos[:3], bounds), "bond_length_outliers with 3 positions for 4 atoms")
    _raises(lambda: check(mol, pos[:, :2], bounds), "bond_length_outliers with 2-D coordinates")
    _raises(lambda: check(mol, pos, bounds[:3, :3]), "bond_length_outliers with a 3×3 bounds matrix for 4 atoms")
    _raises(lambda: check(mol, pos, bounds, tolerance=-0.1), "bond_length_outliers with tolerance = -0.1")
    bad = pos.clone()
    bad[1, 0] = float("nan")
    _raises(lambda: check(mol, bad, bounds), "bond_length_outliers with NaN in pos")
