"""Graders of chapter 4 (diffusion sampling). Each takes ``impl`` (exercises or solutions).

Oracles are independent of the learner's code: the schedule's closed form, the forward process's
moments, the ε form of the DDPM posterior mean, the exact noise predictor of a Gaussian data set
(E[ε | x_t] is linear in x_t), molecules embedded by RDKit (ETKDG + MMFF, with their SMILES known), and
a grader-side lookup "perception" for the metric counts. Every random number is seeded.
"""
import contextlib
import math

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
        _is_tensor(ab, (T + 1,), torch.float64, f"cosine_alpha_bar({T})")
        want = _closed_form(T)
        assert abs(float(ab[0]) - 1.0) < 1e-12, (
            f"ᾱ_0 = {float(ab[0]):.6f}; it must be exactly 1: divide f(t) by f(0) = cos²(s/(1+s)·π/2)")
        mid = torch.arange(1, T)  # every step but the clipped last one
        err = float((ab[mid] - want[mid]).abs().max())
        k = int((ab[mid] - want[mid]).abs().argmax()) + 1
        assert err < 1e-9, (
            f"cosine_alpha_bar({T}) differs from f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s)·π/2), s = 0.008, by "
            f"{err:.2e} (worst at t = {k}: got {float(ab[k]):.6f}, expected {float(want[k]):.6f}). Check the "
            "offset s (in the numerator and the 1 + s), the square of the cosine, and that it is not linear in t")


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
        f"ᾱ_T/ᾱ_(T−1) = {float(ab[-1] / ab[-2]):.3g}; with the last β clipped at 0.999 it must be 0.001")
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
    assert torch.allclose(ab32.double(), ab, atol=1e-7), "compute in float64 and cast at the end"


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
    for bad in (0, -3, 2.5):
        _raises(lambda: sched(bad), f"cosine_alpha_bar({bad!r})")


# ---------------------------------------------------------------------------------------- 4.2
@exercise("4.2", points=2)
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
                got = q(x0, t, noise, ab)
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
    got = q(x, 3, torch.ones(4, 3, dtype=torch.float64), ab)
    assert isinstance(got, torch.Tensor), f"q_sample must return a tensor, got {type(got).__name__}"
    _raises(lambda: q(x, 3, torch.ones(4, 2, dtype=torch.float64), ab), "q_sample with noise of another shape")
    _raises(lambda: q(x, 11, torch.ones(4, 3, dtype=torch.float64), ab), "q_sample with t > T")
    _raises(lambda: q(x.clone().fill_(float("nan")), 3, torch.ones(4, 3, dtype=torch.float64), ab),
            "q_sample with NaN in x0")


# ---------------------------------------------------------------------------------------- 4.3
@exercise("4.3", points=2)
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
            assert centre < (1e-5 if dtype == torch.float32 else 1e-12), (
                f"molecule {g} is not centred (|mean| = {centre:.2e}): subtract each molecule's own mean "
                "(use batch), not the mean over the whole batch")
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
            " — remove each molecule's own mean")
    _raises(lambda: rm(noise[:5], torch.tensor([0, 0, 1])), "remove_mean with a batch of the wrong length")


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
        for t in (T, 150, 12, 2):
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
            _close(got, mean + sd * z.double(), dtype, f"ddpm_step at t = {t}", hint, scale=1 / math.sqrt(float(ab[t])))
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
    assert isinstance(step(x, 3, x, ab, noise=x), torch.Tensor), "ddpm_step must return a tensor"
    _raises(lambda: step(x, 0, x, ab), "ddpm_step with t = 0")
    _raises(lambda: step(x, 3, torch.zeros(4, 3, dtype=torch.float64), ab), "ddpm_step with eps_pred of another shape")
    _raises(lambda: step(x, 3, torch.full((4, 2), float("nan"), dtype=torch.float64), ab),
            "ddpm_step with NaN in eps_pred")


# ---------------------------------------------------------------------------------------- 4.5
def _ddim_oracle(x, t, tp, eps, ab, eta=0.0, z=None):
    """DDIM written as x_(t') = sqrt(ᾱ_t'/ᾱ_t)·x_t + c·ε̂ + σ·z (no clip), float64."""
    a, ap = float(ab[t]), float(ab[tp])
    sigma = eta * math.sqrt((1 - ap) / (1 - a) * (1 - a / ap))
    c = math.sqrt(1 - ap - sigma ** 2) - math.sqrt(ap * (1 - a) / a)
    out = math.sqrt(ap / a) * x.double() + c * eps.double()
    return out + sigma * z.double() if sigma > 0 else out


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
            _close(got, _ddim_oracle(x, t, tp, eps, ab, eta, z), dtype,
                   f"ddim_step from t = {t} to t_prev = {tp} with eta = {eta}",
                   "x_(t') = sqrt(ᾱ_t')·x̂₀ + sqrt(1 − ᾱ_t' − σ²)·ε̂ + σ·noise with ᾱ at t_prev (not t − 1) and "
                   "σ = η·sqrt((1 − ᾱ_t')/(1 − ᾱ_t))·sqrt(1 − ᾱ_t/ᾱ_t')", scale=1 / math.sqrt(float(ab[t])))
        x0 = step(x, 300, 0, eps, ab)
        want = (x.double() - math.sqrt(1 - float(ab[300])) * eps.double()) / math.sqrt(float(ab[300]))
        _close(x0, want, dtype, "ddim_step to t_prev = 0", "with ᾱ_0 = 1 the step returns x̂₀", scale=10)
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
    t, tp, clip = 190, 120, 1.0
    got = step(x, t, tp, eps, ab, clip=clip)
    ab_t, ab_p = float(ab[t]), float(ab[tp])
    x0 = (x - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
    x0 = x0 * (clip / x0.norm(dim=-1, keepdim=True)).clamp(max=1)
    want = math.sqrt(ab_p) * x0 + math.sqrt(1 - ab_p) * eps
    _close(got, want, torch.float64, "ddim_step with clip=1.0",
           "clip each row of x̂₀ to norm ≤ clip, then x_(t') = sqrt(ᾱ_t')·x̂₀_clipped + sqrt(1 − ᾱ_t')·ε̂ "
           "(ε̂ as given)", scale=3)


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
    assert isinstance(step(x, 5, 2, x, ab), torch.Tensor), "ddim_step must return a tensor"
    _raises(lambda: step(x, 5, 5, x, ab), "ddim_step with t_prev = t")
    _raises(lambda: step(x, 11, 2, x, ab), "ddim_step with t > T")
    _raises(lambda: step(x, 5, 2, x[:3], ab), "ddim_step with eps_pred of another shape")


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


@exercise("4.6", points=3)
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


@exercise("4.6", points=2)
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
    assert perceive(torch.full((7,), 6), octa) is None, "a carbon with 6 bonded neighbours is not a molecule: None"
    z2, pos2, _ = _embedded("CC(=O)O")
    both = perceive(torch.cat([z, z2]), torch.cat([pos, pos2 + torch.tensor([12.0, 0, 0], dtype=torch.float64)]))
    assert both is not None and _smiles(both) in ("CC(=O)O.CCO", "CCO.CC(=O)O"), (
        "two molecules 12 Å apart are one valid Mol with two fragments (SMILES with '.'), "
        f"got {None if both is None else _smiles(both)}")


@exercise("4.6", points=1)
def test_molecule_from_geometry_validates_inputs(impl):
    perceive = impl.ch04_diffusion.molecule_from_geometry
    z, pos, _ = _embedded("CCO")
    assert perceive(z, pos) is not None, "ethanol must be recovered"
    _raises(lambda: perceive(torch.tensor([6, 16, 8]), pos), "molecule_from_geometry with sulfur (Z = 16)")
    _raises(lambda: perceive(torch.tensor([6, 1, 8]), pos), "molecule_from_geometry with a hydrogen (Z = 1)")
    _raises(lambda: perceive(z, pos[:, :2]), "molecule_from_geometry with 2-D positions")
    _raises(lambda: perceive(z[:2], pos), "molecule_from_geometry with 2 atomic numbers and 3 positions")
    bad = pos.clone()
    bad[1, 0] = float("nan")
    _raises(lambda: perceive(z, bad), "molecule_from_geometry with NaN coordinates")


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


@exercise("4.7", points=2)
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
        raise AssertionError("with the default perception sample_metrics calls your molecule_from_geometry, which is "
                             f"not implemented yet ({err}): do 4.6 first") from None
    want = {"validity": 0.75, "connected": 0.75, "uniqueness": 2 / 3, "novelty": 0.5}
    bad = {k: out.get(k) for k in want if out.get(k) is None or abs(out[k] - want[k]) > 1e-12}
    assert not bad, (f"with the default perception (your molecule_from_geometry, 4.6) got {bad}, expected "
                     f"{ {k: round(v, 4) for k, v in want.items()} } — pass 4.6 first if it fails")
    _raises(lambda: mod.sample_metrics([], ["CCO"]), "sample_metrics with no samples")
    _raises(lambda: mod.sample_metrics(samples, ["CCO", "not a smiles ("], perceive=fake),
            "sample_metrics with an invalid training SMILES")
