"""The chapter-4 graders must fail on realistic wrong implementations and pass on other correct ones.

Each wrong variant replaces one function of the reference module; at least one grader of that exercise
must reject it (AssertionError, or the variant's own error). Correct variants written differently from the
reference must pass every grader of their exercise. A stub whose ``raise`` became ``return None`` must
fail every exercise.
"""
import importlib.util
import itertools
import math
import types
from pathlib import Path

import pytest
import torch

from solutions import ch04_diffusion as ref

_GRADERS = Path(__file__).parent / "graders" / "test_ch04_diffusion.py"
_spec = importlib.util.spec_from_file_location("ch04_graders_under_test", _GRADERS)
graders = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(graders)

_EX = {"4.1": "cosine_alpha_bar", "4.2": "q_sample", "4.3": "remove_mean", "4.4": "ddpm_step",
       "4.5": "ddim_step", "4.6": "molecule_from_geometry", "4.7": "sample_metrics"}


def _impl(**overrides):
    module = types.SimpleNamespace(**{k: getattr(ref, k) for k in dir(ref) if not k.startswith("__")})
    for k, v in overrides.items():
        setattr(module, k, v)
    return types.SimpleNamespace(ch04_diffusion=module)


def _graders_of(exercise_id):
    found = [f for f in vars(graders).values()
             if callable(f) and getattr(f, "molpractice_exercise", (None,))[0] == exercise_id]
    assert found, f"no graders for {exercise_id}"
    return found


def _fails(impl, exercise_id):
    for grader in _graders_of(exercise_id):
        try:
            grader(impl)
        except (AssertionError, RuntimeError, ValueError, TypeError, IndexError, AttributeError):
            return True
    return False


def _passes_all(impl, exercise_id):
    for grader in _graders_of(exercise_id):
        grader(impl)


def test_every_exercise_has_graders_and_the_reference_passes():
    impl = _impl()
    for ex in _EX:
        _passes_all(impl, ex)


# ------------------------------------------------------------------------------- stubs returning None
def _returns_none(name):
    real = getattr(ref, name)

    def stub(*args, **kwargs):
        try:  # keep the argument validation of the stub, as the generated exercise does
            real(*args, **kwargs)
        except ValueError:
            raise
        return None

    return stub


@pytest.mark.parametrize("exercise_id", sorted(_EX))
def test_graders_reject_a_stub_that_returns_none(exercise_id):
    name = _EX[exercise_id]
    assert _fails(_impl(**{name: _returns_none(name)}), exercise_id), f"graders of {exercise_id} accepted `return None`"


# ------------------------------------------------------------------------------- 4.1 schedule
def sched_linear(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    beta = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - beta, 0)]).to(dtype)


def sched_no_s(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    return ref.cosine_alpha_bar(T, s=0.0, max_beta=max_beta, dtype=dtype)


def sched_not_normalised(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    beta = (1 - f[1:] / f[:-1]).clamp(max=max_beta)
    return torch.cat([f[:1], f[0] * torch.cumprod(1 - beta, 0)]).to(dtype)


def sched_cos_not_squared(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2)
    beta = (1 - f[1:] / f[:-1] * f[0] / f[0]).clamp(max=max_beta)
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - beta, 0)]).to(dtype)


def sched_no_beta_clip(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    return (f / f[0]).to(dtype)


def sched_length_T(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    return ref.cosine_alpha_bar(T, s, max_beta, dtype)[1:]


def sched_float32_math(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    t = torch.arange(T + 1, dtype=torch.float32)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    beta = (1 - f[1:] / f[:-1]).clamp(max=max_beta)
    return torch.cat([torch.ones(1), torch.cumprod(1 - beta, 0)]).to(dtype)


def sched_loop_correct(T, s=0.008, max_beta=0.999, dtype=torch.float64):
    if not isinstance(T, int) or T < 1:
        raise ValueError("T")
    f = [math.cos((k / T + s) / (1 + s) * math.pi / 2) ** 2 for k in range(T + 1)]
    out = [1.0]
    for k in range(1, T + 1):
        out.append(out[-1] * (1 - min(1 - f[k] / f[k - 1], max_beta)))
    return torch.tensor(out, dtype=torch.float64).to(dtype)


@pytest.mark.parametrize("broken", [sched_linear, sched_no_s, sched_not_normalised, sched_cos_not_squared,
                                    sched_no_beta_clip, sched_length_T, sched_float32_math])
def test_schedule_graders_reject(broken):
    assert _fails(_impl(cosine_alpha_bar=broken), "4.1"), f"graders of 4.1 accepted {broken.__name__}"


def test_schedule_graders_accept_a_loop():
    _passes_all(_impl(cosine_alpha_bar=sched_loop_correct), "4.1")


# ------------------------------------------------------------------------------- 4.2 q_sample
def _q_wrapper(body):
    def q_sample(x0, t, noise, alpha_bar):
        ref._check_state(x0, "x0")
        ref._check_like(noise, x0, "noise")
        if isinstance(t, int) and not 0 <= t < alpha_bar.numel():
            raise ValueError("t")
        return body(x0, t, noise, alpha_bar)
    q_sample.__name__ = body.__name__
    return q_sample


@_q_wrapper
def q_no_sqrt(x0, t, noise, ab):
    a = ab[t].to(x0.dtype)
    a = a[:, None] if a.ndim else a
    return a * x0 + (1 - a) * noise


@_q_wrapper
def q_swapped(x0, t, noise, ab):
    a = ab[t].to(x0.dtype)
    a = a[:, None] if a.ndim else a
    return (1 - a).sqrt() * x0 + a.sqrt() * noise


@_q_wrapper
def q_broadcast_columns(x0, t, noise, ab):
    a = ab[t].to(x0.dtype)  # (n,) multiplies columns when x0 is square
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


@_q_wrapper
def q_off_by_one(x0, t, noise, ab):
    a = ab[(t - 1) if isinstance(t, int) else (t - 1).clamp_min(0)].to(x0.dtype)
    a = a[:, None] if a.ndim else a
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


@_q_wrapper
def q_in_place(x0, t, noise, ab):
    a = ab[t].to(x0.dtype)
    a = a[:, None] if a.ndim else a
    return x0.mul_(a.sqrt()).add_((1 - a).sqrt() * noise)


def q_correct_gather(x0, t, noise, alpha_bar):
    ref._check_state(x0, "x0")
    ref._check_like(noise, x0, "noise")
    t = torch.as_tensor(t)
    if int(t.max()) >= alpha_bar.numel() or int(t.min()) < 0:
        raise ValueError("t out of range")
    a = alpha_bar.double().index_select(0, t.reshape(-1)).reshape(-1, 1)
    return (torch.sqrt(a) * x0.double() + torch.sqrt(1 - a) * noise.double()).to(x0.dtype)


@pytest.mark.parametrize("broken", [q_no_sqrt, q_swapped, q_broadcast_columns, q_off_by_one, q_in_place])
def test_q_sample_graders_reject(broken):
    assert _fails(_impl(q_sample=broken), "4.2"), f"graders of 4.2 accepted {broken.__name__}"


def test_q_sample_graders_accept_index_select():
    _passes_all(_impl(q_sample=q_correct_gather), "4.2")


# ------------------------------------------------------------------------------- 4.3 remove_mean
def _rm_wrapper(body):
    def remove_mean(pos, batch=None):
        if batch is not None and batch.shape != (pos.shape[0],):
            raise ValueError("batch")
        return body(pos, batch)
    remove_mean.__name__ = body.__name__
    return remove_mean


@_rm_wrapper
def rm_whole_batch(pos, batch):
    return pos - pos.mean(0, keepdim=True)


@_rm_wrapper
def rm_in_place(pos, batch):
    return pos.copy_(ref.remove_mean(pos, batch))


@_rm_wrapper
def rm_divide_by_all_atoms(pos, batch):
    if batch is None:
        return pos - pos.mean(0)
    g = int(batch.max()) + 1
    sums = torch.zeros(g, pos.shape[1], dtype=pos.dtype).index_add_(0, batch, pos)
    return pos - (sums / pos.shape[0])[batch]


@_rm_wrapper
def rm_assumes_contiguous(pos, batch):
    if batch is None:
        return pos - pos.mean(0)
    counts = torch.bincount(batch).tolist()
    return torch.cat([p - p.mean(0) for p in torch.split(pos, counts)])


@_rm_wrapper
def rm_correct_loop(pos, batch):
    out = pos.clone()
    if batch is None:
        batch = torch.zeros(pos.shape[0], dtype=torch.long)
    for g in batch.unique():
        m = batch == g
        out[m] = pos[m] - pos[m].mean(0)
    return out


@pytest.mark.parametrize("broken", [rm_whole_batch, rm_in_place, rm_divide_by_all_atoms, rm_assumes_contiguous])
def test_remove_mean_graders_reject(broken):
    assert _fails(_impl(remove_mean=broken), "4.3"), f"graders of 4.3 accepted {broken.__name__}"


def test_remove_mean_graders_accept_a_loop():
    _passes_all(_impl(remove_mean=rm_correct_loop), "4.3")


# ------------------------------------------------------------------------------- 4.4 ddpm_step
def _ddpm(mistake=None):
    def ddpm_step(x_t, t, eps_pred, alpha_bar, noise=None, clip=None):
        ref._check_state(x_t)
        ref._check_like(eps_pred, x_t, "eps_pred")
        t = ref._check_step(t, alpha_bar.numel() - 1)
        a, ap = float(alpha_bar[t]), float(alpha_bar[t - 1])
        alpha, beta = a / ap, 1 - a / ap
        root = math.sqrt(a) if mistake != "no_sqrt_alpha_bar" else a
        x0 = (x_t - math.sqrt(1 - a) * eps_pred) / root
        if clip is not None and mistake != "no_clip":
            if mistake == "clamp_coordinates":
                x0 = x0.clamp(-clip, clip)
            else:
                x0 = x0 * (clip / x0.norm(dim=-1, keepdim=True)).clamp(max=1)
        if mistake == "eps_form_with_alpha_bar":
            mean = (x_t - beta / math.sqrt(1 - a) * eps_pred) / math.sqrt(a)
        else:
            mean = math.sqrt(ap) * beta / (1 - a) * x0 + math.sqrt(alpha) * (1 - ap) / (1 - a) * x_t
        var = beta if mistake == "beta_variance" else beta * (1 - ap) / (1 - a)
        if mistake == "no_noise":
            var = 0.0
        if noise is None:
            noise = torch.randn_like(x_t) if mistake != "fixed_seed" else \
                torch.randn(x_t.shape, generator=torch.Generator().manual_seed(0), dtype=x_t.dtype)
        return mean + math.sqrt(var) * noise

    ddpm_step.__name__ = f"ddpm_{mistake}"
    return ddpm_step


def ddpm_eps_form_correct(x_t, t, eps_pred, alpha_bar, noise=None, clip=None):
    """ε form; with a clip, ε̂ is recomputed from the clipped x̂₀ (the same posterior mean)."""
    t = ref._check_step(t, alpha_bar.numel() - 1)
    ref._check_like(eps_pred, x_t, "eps_pred")
    ref._check_state(eps_pred, "eps_pred")
    ab = alpha_bar.double()
    a, ap = ab[t], ab[t - 1]
    if clip is not None:
        x0 = (x_t.double() - (1 - a).sqrt() * eps_pred.double()) / a.sqrt()
        r = x0.norm(dim=1, keepdim=True)
        x0 = torch.where(r > clip, x0 * clip / r, x0)
        eps_pred = ((x_t.double() - a.sqrt() * x0) / (1 - a).sqrt()).to(x_t.dtype)
    beta = 1 - a / ap
    mean = (x_t.double() - beta / (1 - a).sqrt() * eps_pred.double()) / (1 - beta).sqrt()
    sd = (beta * (1 - ap) / (1 - a)).sqrt()
    z = torch.randn_like(x_t) if noise is None else noise
    return (mean + sd * z.double()).to(x_t.dtype)


@pytest.mark.parametrize("mistake", ["beta_variance", "no_clip", "clamp_coordinates", "no_sqrt_alpha_bar",
                                     "eps_form_with_alpha_bar", "no_noise", "fixed_seed"])
def test_ddpm_graders_reject(mistake):
    assert _fails(_impl(ddpm_step=_ddpm(mistake)), "4.4"), f"graders of 4.4 accepted {mistake}"


def test_ddpm_graders_accept_eps_form_and_the_variant_without_mistakes():
    _passes_all(_impl(ddpm_step=ddpm_eps_form_correct), "4.4")
    _passes_all(_impl(ddpm_step=_ddpm(None)), "4.4")


# ------------------------------------------------------------------------------- 4.5 ddim_step
def _ddim(mistake=None):
    def ddim_step(x_t, t, t_prev, eps_pred, alpha_bar, eta=0.0, noise=None, clip=None):
        ref._check_state(x_t)
        ref._check_like(eps_pred, x_t, "eps_pred")
        t = ref._check_step(t, alpha_bar.numel() - 1)
        t_prev = ref._check_step(t_prev, t - 1, "t_prev", low=0)
        if mistake == "ignores_t_prev":
            t_prev = t - 1
        a, ap = float(alpha_bar[t]), float(alpha_bar[t_prev])
        x0 = (x_t - math.sqrt(1 - a) * eps_pred) / math.sqrt(a)
        if clip is not None and mistake != "no_clip":
            x0 = x0 * (clip / x0.norm(dim=-1, keepdim=True)).clamp(max=1)
        sigma = eta * math.sqrt((1 - ap) / (1 - a)) * math.sqrt(1 - a / ap)
        if mistake == "sigma_without_sqrt":
            sigma = eta * (1 - ap) / (1 - a) * (1 - a / ap)
        direction = math.sqrt(1 - ap - sigma ** 2) if mistake != "direction_ignores_sigma" else math.sqrt(1 - ap)
        out = math.sqrt(ap) * x0 + direction * eps_pred
        if mistake == "always_noisy":
            return out + 0.01 * torch.randn_like(x_t)
        if sigma > 0:
            out = out + sigma * (torch.randn_like(x_t) if noise is None else noise)
        return out

    ddim_step.__name__ = f"ddim_{mistake}"
    return ddim_step


def ddim_rescaled_form_correct(x_t, t, t_prev, eps_pred, alpha_bar, eta=0.0, noise=None, clip=None):
    """x_(t') = sqrt(ᾱ_t'/ᾱ_t) x_t + c ε̂ + σ z, falling back to x̂₀ form only when clipping."""
    ref._check_like(eps_pred, x_t, "eps_pred")
    ref._check_state(eps_pred, "eps_pred")
    t = ref._check_step(t, alpha_bar.numel() - 1)
    t_prev = ref._check_step(t_prev, t - 1, "t_prev", low=0)
    ab = alpha_bar.double()
    a, ap = ab[t], ab[t_prev]
    sigma = eta * torch.sqrt((1 - ap) / (1 - a) * (1 - a / ap))
    if clip is None:
        c = torch.sqrt(1 - ap - sigma ** 2) - torch.sqrt(ap * (1 - a) / a)
        out = torch.sqrt(ap / a) * x_t.double() + c * eps_pred.double()
    else:
        x0 = (x_t.double() - torch.sqrt(1 - a) * eps_pred.double()) / torch.sqrt(a)
        norms = torch.linalg.vector_norm(x0, dim=1, keepdim=True)
        x0 = torch.where(norms > clip, x0 / norms * clip, x0)
        out = torch.sqrt(ap) * x0 + torch.sqrt(1 - ap - sigma ** 2) * eps_pred.double()
    if float(sigma) > 0:
        out = out + sigma * (torch.randn_like(x_t) if noise is None else noise).double()
    return out.to(x_t.dtype)


@pytest.mark.parametrize("mistake", ["ignores_t_prev", "no_clip", "sigma_without_sqrt", "direction_ignores_sigma",
                                     "always_noisy"])
def test_ddim_graders_reject(mistake):
    assert _fails(_impl(ddim_step=_ddim(mistake)), "4.5"), f"graders of 4.5 accepted {mistake}"


def test_ddim_graders_accept_the_rescaled_form():
    _passes_all(_impl(ddim_step=ddim_rescaled_form_correct), "4.5")
    _passes_all(_impl(ddim_step=_ddim(None)), "4.5")


# ------------------------------------------------------------------------------- 4.6 perception
def _validated(body):
    def molecule_from_geometry(atomic_numbers, pos):
        z = torch.as_tensor(atomic_numbers)
        if pos.ndim != 2 or pos.shape[1] != 3 or pos.shape[0] != z.shape[0] or not torch.isfinite(pos).all():
            raise ValueError("bad pos")
        if set(z.tolist()) - {6, 7, 8, 9}:
            raise ValueError("element")
        return body(z.tolist(), pos.detach().double())
    molecule_from_geometry.__name__ = body.__name__
    return molecule_from_geometry


def _build(z, bonds, sanitize=True):
    from rdkit import Chem

    rw = Chem.RWMol()
    for a in z:
        rw.AddAtom(Chem.Atom(a))
    kinds = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    for (i, j), o in bonds.items():
        rw.AddBond(i, j, kinds[o])
    mol = rw.GetMol()
    if not sanitize:
        mol.UpdatePropertyCache(strict=False)
        return mol
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # noqa: BLE001
        return None
    return mol


def _key(a, b):
    return (min(a, b), max(a, b))


@_validated
def perceive_single_bonds_only(z, pos):
    d = torch.cdist(pos, pos)
    if len(z) > 1 and float((d + 1e9 * torch.eye(len(z))).min()) < 1.0:
        return None
    bonds = {(i, j): 1 for i, j in itertools.combinations(range(len(z)), 2)
             if float(d[i, j]) < ref.SINGLE[_key(z[i], z[j])] + 0.25}
    return _build(z, bonds)


@_validated
def perceive_naive_margins(z, pos):
    """EDM-style distance table: single < l1 + 0.10, double < l2 + 0.05, triple < l3 + 0.03 (Å)."""
    d = torch.cdist(pos, pos)
    bonds = {}
    for i, j in itertools.combinations(range(len(z)), 2):
        k, x = _key(z[i], z[j]), float(d[i, j])
        if x < ref.SINGLE[k] + 0.10:
            order = 1
            if k in ref.DOUBLE and x < ref.DOUBLE[k] + 0.05:
                order = 3 if k in ref.TRIPLE and x < ref.TRIPLE[k] + 0.03 else 2
            bonds[(i, j)] = order
    return _build(z, bonds)


@_validated
def perceive_greedy_doubles(z, pos):
    """Like the reference, but double bonds are taken greedily, shortest (relative) first."""
    d = torch.cdist(pos, pos)
    n = len(z)
    if n > 1 and float((d + 1e9 * torch.eye(n)).min()) < 1.0:
        return None
    bonds = {(i, j): 1 for i, j in itertools.combinations(range(n), 2)
             if float(d[i, j]) < ref.SINGLE[_key(z[i], z[j])] + 0.25}
    free = [ref.VALENCE[a] for a in z]
    for i, j in bonds:
        free[i] -= 1
        free[j] -= 1
    if min(free) < 0:
        return None
    cands = []
    for (i, j) in bonds:
        k = _key(z[i], z[j])
        if k in ref.DOUBLE:
            w = (ref.SINGLE[k] - float(d[i, j])) / (ref.SINGLE[k] - ref.DOUBLE[k])
            if k in ref.TRIPLE and float(d[i, j]) < (ref.DOUBLE[k] + ref.TRIPLE[k]) / 2 and min(free[i], free[j]) >= 2:
                bonds[(i, j)] = 3
                free[i] -= 2
                free[j] -= 2
            elif w > 0.5:
                cands.append((w, i, j))
    for w, i, j in sorted(cands, reverse=True):
        if free[i] >= 1 and free[j] >= 1 and bonds[(i, j)] == 1:
            bonds[(i, j)] = 2
            free[i] -= 1
            free[j] -= 1
    return _build(z, bonds)


@_validated
def perceive_never_rejects(z, pos):
    """Reference bond orders, but returns the unsanitized molecule even when valences are exceeded."""
    d = torch.cdist(pos, pos)
    bonds = {(i, j): 1 for i, j in itertools.combinations(range(len(z)), 2)
             if float(d[i, j]) < ref.SINGLE[_key(z[i], z[j])] + 0.25}
    mol = ref.molecule_from_geometry(torch.tensor(z), pos)
    return mol if mol is not None else _build(z, bonds, sanitize=False)


def _best_matching(edges, weights):
    """Exhaustive maximum-weight matching (fine for the few candidate bonds of a small molecule)."""
    best, best_w = (), 0.0

    def search(k, used, chosen, total):
        nonlocal best, best_w
        if total > best_w + 1e-12:
            best, best_w = tuple(chosen), total
        for m in range(k, len(edges)):
            i, j = edges[m]
            if i not in used and j not in used:
                search(m + 1, used | {i, j}, chosen + [edges[m]], total + weights[m])

    search(0, frozenset(), [], 0.0)
    return best


@_validated
def perceive_correct_exhaustive(z, pos):
    """The documented rule with numpy distances and an exhaustive matching instead of networkx."""
    import numpy as np

    p = pos.numpy()
    d = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))
    n = len(z)
    np.fill_diagonal(d, np.inf)
    if n > 1 and d.min() < ref.MIN_DISTANCE:
        return None
    order = {}
    for i in range(n):
        for j in range(i + 1, n):
            if d[i, j] < ref.SINGLE[_key(z[i], z[j])] + ref.BOND_TOLERANCE:
                order[(i, j)] = 1
    used = np.zeros(n, int)
    for i, j in order:
        used[i] += 1
        used[j] += 1
    free = np.array([ref.VALENCE[a] for a in z]) - used
    if (free < 0).any():
        return None
    for (i, j) in list(order):
        k = _key(z[i], z[j])
        if k in ref.TRIPLE and d[i, j] < (ref.DOUBLE[k] + ref.TRIPLE[k]) / 2 and free[i] > 1 and free[j] > 1:
            order[(i, j)] = 3
            free[[i, j]] -= 2
    edges, weights = [], []
    for (i, j), o in order.items():
        k = _key(z[i], z[j])
        if o == 1 and k in ref.DOUBLE and free[i] > 0 and free[j] > 0:
            w = (ref.SINGLE[k] - d[i, j]) / (ref.SINGLE[k] - ref.DOUBLE[k])
            if w > 0.5:
                edges.append((i, j))
                weights.append(w)
    for e in _best_matching(edges, weights):
        order[e] = 2
    return _build(z, order)


@pytest.mark.parametrize("broken", [perceive_single_bonds_only, perceive_naive_margins, perceive_greedy_doubles,
                                    perceive_never_rejects])
def test_perception_graders_reject(broken):
    assert _fails(_impl(molecule_from_geometry=broken), "4.6"), f"graders of 4.6 accepted {broken.__name__}"


def test_perception_graders_accept_an_exhaustive_matching():
    _passes_all(_impl(molecule_from_geometry=perceive_correct_exhaustive), "4.6")


# ------------------------------------------------------------------------------- 4.7 metrics
def _metrics(mistake=None):
    def sample_metrics(samples, train_smiles, perceive=None):
        from rdkit import Chem

        samples, train_smiles = list(samples), list(train_smiles)
        if not samples or any(Chem.MolFromSmiles(s) is None for s in train_smiles):
            raise ValueError("bad input")
        perceive = perceive or ref.molecule_from_geometry
        iso = mistake == "isomeric_smiles"
        if mistake == "train_not_canonical":
            train = set(train_smiles)
        else:
            train = {Chem.MolToSmiles(Chem.MolFromSmiles(s), isomericSmiles=iso) for s in train_smiles}
        smiles = []
        for z, pos in samples:
            mol = perceive(z, pos)
            smiles.append(None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=iso))
        valid = [s for s in smiles if s is not None]
        connected = [s for s in valid if "." not in s]
        pool = valid if mistake == "uniqueness_over_all_valid" else connected
        distinct = set(pool)
        n = len(samples)
        novel = len(distinct - train)
        return {"validity": (len(connected) if mistake == "validity_is_connected" else len(valid)) / n,
                "connected": len(connected) / n,
                "uniqueness": len(distinct) / len(pool) if pool else 0.0,
                "novelty": novel / (n if mistake == "novelty_over_samples" else max(len(distinct), 1)),
                "smiles": smiles}

    sample_metrics.__name__ = f"metrics_{mistake}"
    return sample_metrics


def metrics_counter_correct(samples, train_smiles, perceive=None):
    from collections import Counter

    from rdkit import Chem

    samples = list(samples)
    if not samples:
        raise ValueError("no samples")
    canon = []
    for s in train_smiles:
        m = Chem.MolFromSmiles(s)
        if m is None:
            raise ValueError(s)
        canon.append(Chem.MolToSmiles(m, isomericSmiles=False))
    perceive = perceive or ref.molecule_from_geometry
    mols = [perceive(z, p) for z, p in samples]
    smiles = [Chem.MolToSmiles(m, isomericSmiles=False) if m is not None else None for m in mols]
    counts = Counter(s for s in smiles if s is not None and len(Chem.GetMolFrags(Chem.MolFromSmiles(s))) == 1)
    n_conn = sum(counts.values())
    n_valid = sum(s is not None for s in smiles)
    return {"validity": float(n_valid / len(samples)), "connected": float(n_conn / len(samples)),
            "uniqueness": float(len(counts) / n_conn) if n_conn else 0.0,
            "novelty": float(sum(1 for s in counts if s not in set(canon)) / len(counts)) if counts else 0.0}


@pytest.mark.parametrize("mistake", ["train_not_canonical", "isomeric_smiles", "uniqueness_over_all_valid",
                                     "novelty_over_samples", "validity_is_connected"])
def test_metric_graders_reject(mistake):
    assert _fails(_impl(sample_metrics=_metrics(mistake)), "4.7"), f"graders of 4.7 accepted {mistake}"


def test_metric_graders_accept_a_counter():
    _passes_all(_impl(sample_metrics=metrics_counter_correct), "4.7")
    _passes_all(_impl(sample_metrics=_metrics(None)), "4.7")
