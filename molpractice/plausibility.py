"""From "valid" to "plausible": a coordination/clash check, PoseBusters-style geometry checks, a short cited list
of implausible groups and (reported separately) the Brenk screening filters for generated heavy-atom molecules
(chapter 4, second edition).

* **Coordination/clash check** (EDM-inspired; *not* EDM's stability). EDM (Hoogeboom et al. 2022) calls
  an atom stable when, with explicit hydrogens, the sum of its perceived bond orders equals its element's
  valence; a model that places no hydrogens cannot be tested that way (the implicit hydrogens fill whatever
  is free). What the chapter's ``atom_stability`` (exercise 4.8) checks instead is that no atom has more
  neighbours within bonding distance than its valence and none has a partner closer than 1 Å. Its rates are
  not comparable to EDM's 98.7 % / 82 %; explicit-hydrogen prediction would be the real test.
* **Geometry checks** follow five of PoseBusters' molecule checks (Buttenschoen, Morris & Deane 2024,
  *PoseBusters*, Chem. Sci. 15:3130; package ``posebusters`` 0.6, config ``mol``): bond lengths and bond
  angles (1–3 distances) within the bounds RDKit's distance geometry gives for that molecule
  (``GetMoleculeBoundsMatrix``, set15bounds, scaleVDW, triangle smoothing) widened by 25 %, no internal
  steric clash (a pair more than two bonds apart closer than 70 % of its lower bound), aromatic 5- and
  6-rings flat and C=C double bonds flat (every atom within 0.25 Å of the least-squares plane). Not run
  (:data:`CHECKS_NOT_RUN`): the internal-energy ratio, non-aromatic ring non-flatness, "no radicals" and
  InChI conversion. The distance-geometry checks run on the heavy atoms (the model places no hydrogens); the
  two flatness checks run, as PoseBusters runs them, on the molecule with its hydrogens added with coordinates
  (:func:`with_hydrogens`, ``Chem.AddHs(mol, addCoords=True)``): the double-bond pattern
  ``[C;X3;^2](*)(*)=[C;X3;^2](*)(*)`` needs two explicit neighbours on each carbon, so without hydrogens it would
  test only tetra-substituted C=C. ``plausibility`` counts the systems each flatness check saw. ``tests/test_plausibility.py`` cross-checks the checks
  against the ``posebusters`` package on heavy-atom molecules when it is installed (an optional test-only extra:
  the test is skipped without it). The three distance-geometry checks agree exactly; the flatness check here is
  stricter: it takes the largest *absolute* distance to the plane, where posebusters 0.6.5's ``check_flatness``
  (``posebusters/modules/flatness.py``) takes the maximum of ``_get_distances_to_plane``, which returns signed
  projections onto the plane normal. Nothing here needs the package.
* **Stability** (issue 24 §2): EDM's own bond-order rule (:data:`EDM_SOURCE`), independent of this chapter's
  perception: every pair of heavy atoms gets a bond order from its distance (:func:`edm_bond_order`, EDM's
  ``get_bond_order`` with its bond-length tables and margins 10/5/3 pm), and an atom is stable when the sum is at
  most its element's valence (C 4, N 3, O 2, F 1; EDM asks for equality with explicit hydrogens, here the
  hydrogens are implicit), a molecule when all its atoms are (:func:`valence_stability`, over all samples, valid
  or not). It can fail on a valid molecule (aromatic C–C bonds a little shorter than EDM's double-bond threshold
  read as double) and pass an invalid one (EDM's rule has no clash test). Not comparable to EDM's 98.7 % / 82 %.
* **Implausible groups** (:data:`IMPLAUSIBLE_GROUPS`, :func:`implausible_hits`): a short list of groups that a
  small neutral molecule rarely survives as — hydrolytically labile tetrahedral centres (orthoester/orthoamide-like
  carbons, which include issue 24's N–C(O)(O); acyclic aminals with an N–H and hemiaminals of amine nitrogens;
  acyclic hemiacetals and gem-diols), the weak O–O bond of peroxides, and the minor tautomers enol and imidic acid (which
  include issue 24's N=C(O)O). Each entry carries its SMARTS, the reason and its source (textbook chemistry:
  Clayden, Greeves & Warren, *Organic Chemistry*, 2nd ed., Oxford University Press 2012; screening filters that
  list the same group: Brenk et al. 2008, Hann et al. 1999). Several of these groups exist as real, isolable
  compounds (tert-butyl hydroperoxide and diacetyl peroxide are in the training data; the peroxide alert is a
  hazard alert): the training data's own rate is the reference, not 1. The orthoester-like alert needs an OH or NH
  on the centre, so isolable fully alkylated orthoesters (trimethyl orthoformate, in the data) are not flagged. Amide-type nitrogens are left out of the aminal/hemiaminal patterns (an acyl
  group stabilises them: N,N′-methylenebisacetamide and N-methylol acrylamides are ordinary compounds).
* **Brenk screening filters** (reported separately, *not* part of "plausible"): every entry of RDKit's
  FilterCatalog ``BRENK`` set (Brenk et al. 2008, SMARTS as RDKit ships them, offline): :func:`alert_hits`. They
  mark groups a screening library for neglected diseases did not want (reactive, toxic or with unfavourable
  pharmacokinetics — isolated alkenes, aldehydes, epoxides, long chains …), not implausible chemistry.

"plausible" = valid ∧ single fragment ∧ every geometry check passed ∧ no implausible group. "passes Brenk
screening filters" = valid ∧ single fragment ∧ no Brenk alert. Every rate comes with a Clopper–Pearson 95 %
interval, and the notebook reports the training data's own rate next to it.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["scoring_code_hash", "ALERTS", "ALERT_SOURCE", "ATOM_STABILITY", "BRENK_ROW", "CHECKS_NOT_RUN", "CITED_GROUPS", "COORDINATION",
           "GEOMETRY_CHECKS", "IMPLAUSIBLE_GROUPS", "MAX_VALENCE", "MOLECULE_STABILITY", "NO_GROUP", "MIN_SYSTEMS", "ORDINARY_MOLECULES",
           "PER_ATOM_NOTE", "rate_cell", "recorded_rates", "too_few_systems",
           "EDM_BONDS1", "EDM_BONDS2", "EDM_BONDS3", "EDM_MARGINS", "EDM_SOURCE",
           "AROMATIC_EXAMPLES", "BOND_CONTEXTS", "POST_HOC_ALERTS", "alert_sensitivity_lines", "bond_window_table",
           "alert_hits", "alert_names", "atom_stable", "edm_bond_order", "edm_bond_orders", "bounds_matrix", "cited_group_alerts", "clopper_pearson",
           "describe_groups", "geometry_checks", "implausible_hits", "perceived_valence", "plausibility",
           "paired_rate_difference", "plausibility_summary", "plausibility_table", "rate_difference", "stability", "stability_lines", "valence_stability",
           "with_hydrogens"]

from .plausibility_geometry import (ANGLE_TOLERANCE, AROMATIC_EXAMPLES, BOND_CONTEXTS, BOND_TOLERANCE,  # noqa: F401
                                   BOUNDS_PARAMS, CHECKS_NOT_RUN, bond_window_table, CLASH_TOLERANCE, FLAT_SYSTEMS, FLATNESS_TOLERANCE, GEOMETRY_CHECKS,
                                   _plane_distance, _with_conformer, bounds_matrix, geometry_checks, with_hydrogens)

COORDINATION = "coordination ≤ valence, no clash"  # the row of exercise 4.8's check (not EDM's stability)
ALERT_SOURCE = ("Brenk et al., Lessons learnt from assembling screening libraries for drug discovery for "
                "neglected diseases, ChemMedChem 3:435 (2008); RDKit FilterCatalog BRENK entries, SMARTS verbatim")


def _brenk_catalog():
    from rdkit.Chem import FilterCatalog

    global _CATALOG
    if _CATALOG is None:
        params = FilterCatalog.FilterCatalogParams()
        params.AddCatalog(FilterCatalog.FilterCatalogParams.FilterCatalogs.BRENK)
        _CATALOG = FilterCatalog.FilterCatalog(params)
    return _CATALOG


_CATALOG = None


def alert_names() -> list[str]:
    """The names (descriptions) of every BRENK entry of RDKit's FilterCatalog, in catalog order."""
    catalog = _brenk_catalog()
    return [catalog.GetEntry(k).GetDescription() for k in range(catalog.GetNumEntries())]


class _Alerts(dict):
    """``{BRENK entry name: source}`` filled on first use (RDKit's FilterCatalog is loaded lazily)."""

    def _fill(self):
        if not dict.__len__(self):
            self.update({name: ALERT_SOURCE for name in alert_names()})

    def __iter__(self):
        self._fill()
        return dict.__iter__(self)

    def __len__(self):
        self._fill()
        return dict.__len__(self)

    def items(self):
        self._fill()
        return dict.items(self)

    def keys(self):
        self._fill()
        return dict.keys(self)

    def __contains__(self, key):
        self._fill()
        return dict.__contains__(self, key)

    def __getitem__(self, key):
        self._fill()
        return dict.__getitem__(self, key)


ALERTS = _Alerts()  # name -> source, every BRENK entry of RDKit's FilterCatalog


from .rates import _rate, _wilson, clopper_pearson, paired_rate_difference, rate_difference  # noqa: E402,F401


def stability(chapter, samples) -> dict:
    """Rates of exercise 4.8's coordination/clash check per atom and per molecule (EDM-inspired, *not* EDM's
    stability: no bond orders, implicit hydrogens; see the module docstring).

    ``chapter.atom_stability(z, pos)`` decides per atom. Returns ``{"atom": rate dict, "molecule": rate
    dict, "per_molecule": list of bools}``; a rate dict has ``rate``, ``k``, ``n``, ``low``, ``high``
    (Clopper–Pearson 95 %; for atoms the interval treats atoms as independent, which they are not —
    read it as a lower bound on the uncertainty).
    """
    stable_atoms = n_atoms = 0
    per_mol = []
    for z, pos in samples:
        ok = chapter.atom_stability(z, pos)
        stable_atoms += int(ok.sum())
        n_atoms += int(ok.numel())
        per_mol.append(bool(ok.all()))
    return {"atom": _rate(stable_atoms, n_atoms), "molecule": _rate(sum(per_mol), len(per_mol)),
            "per_molecule": per_mol}


MAX_VALENCE = {6: 4, 7: 3, 8: 2, 9: 1}  # C, N, O, F: EDM's allowed_bonds for these elements (no charges)
ATOM_STABILITY = "atom stability (EDM bond orders, sum ≤ valence), per atom*"
MOLECULE_STABILITY = "molecule stability (EDM bond orders, every atom stable)"
# EDM's bond-length tables (pm) and margins, restricted to C, N, O, F: Hoogeboom et al. 2022's code,
# github.com/ehoogeboom/e3_diffusion_for_molecules, qm9/bond_analyze.py (bonds1, bonds2, bonds3, margin1/2/3)
EDM_BONDS1 = {"C": {"C": 154, "N": 147, "O": 143, "F": 135}, "N": {"C": 147, "N": 145, "O": 140, "F": 136},
              "O": {"C": 143, "N": 140, "O": 148, "F": 142}, "F": {"C": 135, "N": 136, "O": 142, "F": 142}}
EDM_BONDS2 = {"C": {"C": 134, "N": 129, "O": 120}, "N": {"C": 129, "N": 125, "O": 121},
              "O": {"C": 120, "N": 121, "O": 121}, "F": {}}
EDM_BONDS3 = {"C": {"C": 120, "N": 116, "O": 113}, "N": {"C": 116, "N": 110}, "O": {"C": 113}, "F": {}}
EDM_MARGINS = (10, 5, 3)  # pm added to the single / double / triple length ("tuned to maximize the stability of QM9")
EDM_SOURCE = ("Hoogeboom, Satorras, Vignac & Welling, Equivariant Diffusion for Molecule Generation in 3D, ICML 2022; "
              "rule and tables from github.com/ehoogeboom/e3_diffusion_for_molecules qm9/bond_analyze.py "
              "(get_bond_order; bonds1/2/3; margins 10/5/3 pm)")
_SYMBOL = {6: "C", 7: "N", 8: "O", 9: "F"}


def edm_bond_order(a: str, b: str, distance: float) -> int:
    """EDM's ``get_bond_order`` for two of C, N, O, F at ``distance`` Å: 0 when the distance (in pm) is not below
    the single-bond length + 10 pm; else 2 when below the double-bond length + 5 pm (where the pair has one), 3
    when also below the triple-bond length + 3 pm, otherwise 1. Strict ``<`` as in EDM. Raises ValueError for
    another element."""
    if a not in EDM_BONDS1 or b not in EDM_BONDS1:
        raise ValueError(f"elements must be in {sorted(EDM_BONDS1)}, got {a!r}, {b!r}")
    d = 100.0 * float(distance)
    m1, m2, m3 = EDM_MARGINS
    if d >= EDM_BONDS1[a][b] + m1:
        return 0
    if b in EDM_BONDS2[a] and d < EDM_BONDS2[a][b] + m2:
        return 3 if b in EDM_BONDS3[a] and d < EDM_BONDS3[a][b] + m3 else 2
    return 1


def _coords(z, pos):
    z = [int(a) for a in (z.tolist() if isinstance(z, torch.Tensor) else z)]
    x = np.asarray(pos.detach().double().cpu() if isinstance(pos, torch.Tensor) else pos, dtype=np.float64)
    if x.shape != (len(z), 3) or not len(z) or not np.isfinite(x).all():
        raise ValueError(f"pos must be a finite ({len(z)}, 3) array for z of {len(z)} atoms, got shape {x.shape}")
    if not set(z) <= set(MAX_VALENCE):
        raise ValueError(f"z: atomic numbers must be in {sorted(MAX_VALENCE)}, got {sorted(set(z) - set(MAX_VALENCE))}")
    return z, x


def edm_bond_orders(z, pos) -> np.ndarray:
    """(n, n) int matrix of :func:`edm_bond_order` for every pair of heavy atoms (0 on the diagonal), as EDM's
    ``check_stability`` loops over all pairs: no clash test, no neighbour limit, no free-valence guard."""
    z, x = _coords(z, pos)
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    out = np.zeros((len(z), len(z)), dtype=int)
    for i in range(len(z)):
        for j in range(i + 1, len(z)):
            out[i, j] = out[j, i] = edm_bond_order(_SYMBOL[z[i]], _SYMBOL[z[j]], d[i, j])
    return out


def perceived_valence(chapter, z, pos) -> np.ndarray:
    """Per heavy atom, the sum of its bond orders by EDM's distance rule (:func:`edm_bond_orders`; int array).

    Independent of this chapter's bond perception (``chapter`` is accepted for compatibility and not used): EDM's
    table can assign more bond order than an atom has valence — two short C–C bonds both read as double, a clash
    read as a triple bond — which the chapter's perception never does. Raises ValueError naming ``pos`` / ``z`` for
    a bad shape or an element outside C, N, O, F."""
    return edm_bond_orders(z, pos).sum(axis=1)


def atom_stable(chapter, z, pos, mol=None) -> np.ndarray:
    """Bool per atom: :func:`perceived_valence` (EDM's bond orders) ≤ :data:`MAX_VALENCE` of its element.
    ``chapter`` and ``mol`` are accepted for compatibility and not used."""
    z, _ = _coords(z, pos)
    return perceived_valence(chapter, z, pos) <= np.array([MAX_VALENCE[a] for a in z])


def valence_stability(chapter, samples) -> dict:
    """Atom and molecule stability by EDM's bond-order rule (issue 24 §2; :data:`EDM_SOURCE`), over **all** samples.

    EDM (Hoogeboom et al. 2022) gives every pair of atoms a bond order from its distance (:func:`edm_bond_order`:
    bond-length tables with margins 10/5/3 pm) and calls an atom stable when the sum equals its element's valence,
    with explicit hydrogens. Here the hydrogens are implicit, so an atom is stable when the sum is **at most** its
    valence (C 4, N 3, O 2, F 1): hydrogens may fill the rest. A molecule is stable when every heavy atom is. The
    rule is independent of the chapter's perception (``chapter.molecule_from_geometry`` is only used for the
    ``valid`` column), so a valid molecule can be unstable (e.g. aromatic C–C bonds a little shorter than the
    double-bond threshold, 139 pm, read as double) and an invalid one stable (a clash pair alone reads as a triple
    bond, which fits the valence: EDM's rule has no clash test). The rates are not comparable to EDM's (QM9 with
    explicit hydrogens, equality). Returns ``{"atom": rate dict (per atom; atoms treated as independent: the
    interval is too narrow), "molecule": rate dict, "per_molecule": bools, "valid": bools, "stable not valid": int,
    "valid not stable": int, "unstable atoms": {"C with orders 2+2+1": count, …}, "unstable aromatic atoms": {same
    keys: how many of those atoms are aromatic in the molecule ``chapter.molecule_from_geometry`` perceives (0 for
    an invalid molecule)}}``."""
    from collections import Counter

    from .diffusion_model import rdkit_quiet

    stable_atoms = n_atoms = 0
    per_mol, valid, why, aromatic = [], [], Counter(), Counter()
    for z, pos in samples:
        z, x = _coords(z, pos)
        with rdkit_quiet():
            mol = chapter.molecule_from_geometry(torch.tensor(z), torch.as_tensor(x))
        orders = edm_bond_orders(z, x)
        ok = orders.sum(axis=1) <= np.array([MAX_VALENCE[a] for a in z])
        same_atoms = mol is not None and mol.GetNumAtoms() == len(z)   # heavy atoms in the order of z
        for i in np.flatnonzero(~ok):
            key = f"{_SYMBOL[z[i]]} with orders {'+'.join(str(o) for o in sorted(orders[i][orders[i] > 0], reverse=True))}"
            why[key] += 1
            aromatic[key] += int(same_atoms and mol.GetAtomWithIdx(int(i)).GetIsAromatic())
        stable_atoms, n_atoms = stable_atoms + int(ok.sum()), n_atoms + len(ok)
        per_mol.append(bool(ok.all()))
        valid.append(mol is not None)
    if not per_mol:
        raise ValueError("samples must hold at least one (z, pos) pair")
    return {"atom": _rate(stable_atoms, n_atoms), "molecule": _rate(sum(per_mol), len(per_mol)),
            "per_molecule": per_mol, "valid": valid,
            "stable not valid": sum(s and not v for s, v in zip(per_mol, valid)),
            "valid not stable": sum(v and not s for s, v in zip(per_mol, valid)),
            "unstable atoms": dict(why.most_common()),
            "unstable aromatic atoms": {key: aromatic[key] for key, _ in why.most_common()}}


def stability_lines(results: dict, top: int = 4) -> list[str]:
    """Lines that read ``{label: valence_stability(...)}``: per label the molecule rate next to 'valid', how many
    molecules are valid but not stable and stable but not valid, and the most frequent unstable atoms (element
    and the EDM bond orders that pushed it over its valence, with how many of them are aromatic in the perceived
    molecule: ``'C with orders 2+2+1': 25 (25 aromatic)``)."""
    out = [f"stability by EDM's bond-order rule ({EDM_SOURCE}); implicit H, so an atom is stable when its "
           "bond-order sum ≤ valence (C 4, N 3, O 2, F 1):"]
    for label, r in results.items():
        m = r["molecule"]
        arom = r.get("unstable aromatic atoms", {})
        causes = "{" + ", ".join(f"'{key}': {count} ({arom.get(key, 0)} aromatic)"
                                 for key, count in list(r["unstable atoms"].items())[:top]) + "}"
        out.append(f"  {label}: molecule stability {_fmt(m)}, valid {sum(r['valid']) / len(r['valid']):.3f}; valid but "
                   f"not stable {r['valid not stable']}, stable but not valid {r['stable not valid']}; most frequent "
                   f"unstable atoms {causes}")
    return out


def alert_hits(mol) -> list[str]:
    """Names of the BRENK entries (RDKit FilterCatalog, :data:`ALERTS`) that match ``mol``, sorted, each once."""
    return sorted({entry.GetDescription() for entry in _brenk_catalog().GetMatches(mol)})


from .plausibility_groups import (BOND_ORDER_READING, BRENK_ROW, CHEMISTRY, CITED_GROUPS,  # noqa: F401,E402
                                 HIT_CLASSES, IMPLAUSIBLE_GROUPS, MIN_SYSTEMS, NO_GROUP, ORDINARY_MOLECULES,
                                 POST_HOC_ALERTS, READING_PAIRS, alert_sensitivity_lines, cited_group_alerts, classified_hits, implausible_hits)

NO_CHEMISTRY_GROUP = "no chemistry group (bond-order readings allowed)"  # single fragment, no CHEMISTRY-class hit
GEOMETRY_NO_READING = "geometry and no bond-order reading"  # single fragment ∧ geometry ∧ no BOND_ORDER_READING hit


def plausibility(chapter, samples) -> dict:
    """Run every check on every sample and count.

    A sample is perceived with ``chapter.molecule_from_geometry``; valid single-fragment molecules get the
    geometry checks (the bond-length check by ``chapter.bond_length_outliers``, exercise 4.9, when the chapter
    has it), the implausible-group SMARTS (:data:`IMPLAUSIBLE_GROUPS`) and the Brenk screening filters. Returns
    ``{"rows": DataFrame (one row per sample; ``groups`` = implausible groups, ``alerts`` = Brenk entries),
    "rates": {name: rate dict}, "systems_checked": {flatness check: number of ring / double-bond systems it looked
    at}}``. Rates over all samples: ``valid``, ``single fragment``, COORDINATION (every atom passes exercise 4.8's
    coordination/clash check), each geometry check, ``geometry``, :data:`NO_GROUP`, ``plausible`` (valid ∧ single
    fragment ∧ all geometry checks ∧ no implausible group), :data:`BRENK_ROW` (valid ∧ single fragment ∧ no
    Brenk alert; not part of "plausible"), :data:`NO_CHEMISTRY_GROUP` (single fragment without a hit of class
    :data:`CHEMISTRY`) and :data:`GEOMETRY_NO_READING` (single fragment ∧ geometry ∧ no hit of class
    :data:`BOND_ORDER_READING`; both for :func:`molpractice.diffusion_report.plausible_gap_bounds`; ``group classes`` in the rows =
    :func:`classified_hits`); among the single fragments only (so fragmentation is not mixed in):
    ``geometry | single fragment``, ``no implausible group | single fragment`` and ``passes Brenk screening
    filters | single fragment``. Each rate dict has ``rate``, ``k``, ``n``, ``low``, ``high``.
    """
    import pandas as pd
    from rdkit import Chem

    from .diffusion_model import rdkit_quiet

    rows = []
    with rdkit_quiet():
        for z, pos in samples:
            mol = chapter.molecule_from_geometry(z, pos)
            smiles = None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=False)
            row = {"smiles": smiles, "valid": mol is not None, "single fragment": bool(smiles) and "." not in smiles,
                   COORDINATION: bool(chapter.atom_stability(z, pos).all()), "groups": [], "alerts": []}
            row.update(n_aromatic_rings=0, n_double_bonds=0)
            ok = atom_stable(chapter, [int(a) for a in z], pos, mol)
            row.update({"n atoms": len(ok), "stable atoms": int(ok.sum()), MOLECULE_STABILITY: bool(ok.all())})
            if row["single fragment"]:
                checks = geometry_checks(mol, pos, getattr(chapter, "bond_length_outliers", None))
                row.update({k: checks[k] for k in GEOMETRY_CHECKS}, geometry=checks["all"],
                           n_aromatic_rings=checks["n_aromatic_rings"], n_double_bonds=checks["n_double_bonds"])
                row["groups"], row["alerts"] = implausible_hits(mol), alert_hits(mol)
                row["group classes"] = classified_hits(mol)
            else:
                row.update({k: False for k in GEOMETRY_CHECKS}, geometry=False)
                row["group classes"] = {}
            row[NO_GROUP] = row["single fragment"] and not row["groups"]
            row[BRENK_ROW] = row["single fragment"] and not row["alerts"]
            row["plausible"] = row["single fragment"] and row["geometry"] and not row["groups"]
            classes = set(row["group classes"].values())
            row[NO_CHEMISTRY_GROUP] = row["single fragment"] and CHEMISTRY not in classes
            row[GEOMETRY_NO_READING] = row["single fragment"] and row["geometry"] and BOND_ORDER_READING not in classes
            rows.append(row)
    table = pd.DataFrame(rows)
    names = ["valid", MOLECULE_STABILITY, "single fragment", COORDINATION, *GEOMETRY_CHECKS, "geometry", NO_GROUP,
             "plausible", BRENK_ROW, NO_CHEMISTRY_GROUP, GEOMETRY_NO_READING]
    single = table[table["single fragment"]]
    rates = {k: _rate(int(table[k].sum()), len(table)) for k in names}
    rates[ATOM_STABILITY] = _rate(int(table["stable atoms"].sum()), int(table["n atoms"].sum()))
    for k in ("geometry", NO_GROUP, BRENK_ROW):
        rates[f"{k} | single fragment"] = _rate(int(single[k].sum()), len(single))
    systems = {"flat aromatic rings": int(table["n_aromatic_rings"].sum()),
               "flat double bonds": int(table["n_double_bonds"].sum())}
    return {"rows": table, "rates": rates, "systems_checked": systems}


PER_ATOM_NOTE = ("* per atom: the interval treats atoms as independent, which atoms of one molecule are not "
                 "(too narrow)")  # the footnote of every per-atom rate marked "*"


def too_few_systems(count: int) -> str | None:
    """"n/a (k systems checked)" when a flatness check looked at fewer than :data:`MIN_SYSTEMS` ring / double-bond
    systems (a sample with no checked system passes, so its rate would mostly repeat the single-fragment rate),
    else None."""
    return f"n/a ({int(count)} systems checked)" if count < MIN_SYSTEMS else None


def recorded_rates(result: dict) -> dict:
    """A :func:`plausibility` result's ``rates`` as tables and records report them (copies; the result is not
    changed): each flatness row (a key of ``systems_checked``) gains ``"systems checked"``, and one below
    :data:`MIN_SYSTEMS` (:func:`too_few_systems`) has ``rate``, ``low`` and ``high`` None and ``"note"`` = "n/a (k
    systems checked)" (its ``k`` and ``n`` are kept)."""
    rates = {k: dict(v) for k, v in result["rates"].items()}
    for check, count in result.get("systems_checked", {}).items():
        if check in rates:
            rates[check]["systems checked"] = int(count)
            if (note := too_few_systems(count)) is not None:
                rates[check].update(rate=None, low=None, high=None, note=note)
    return rates


def rate_cell(rate: dict) -> str:
    """A rate dict as a table cell, "0.912 [0.870, 0.940]", or its ``note`` when its rate is not reported
    (:func:`recorded_rates`)."""
    return rate["note"] if rate.get("rate") is None and "note" in rate else _fmt(rate)


def plausibility_table(results: dict, names=None, stability_results: dict | None = None):
    """``{label: plausibility(...) result}`` → a DataFrame of rates as "0.912 [0.87, 0.94]" (rows = checks,
    one column per label). Rates are over all samples (a check counts as failed for a sample that is not a
    valid single fragment) except the ``… | single fragment`` rows, which are over the single fragments
    (their n is printed); the Brenk rows are a separate screening-filter report, not part of "plausible"; the
    next rows count the systems each flatness check looked at; a flatness row whose check saw fewer than
    :data:`MIN_SYSTEMS` systems prints "n/a (k systems checked)" instead of a rate (a sample with no checked system
    passes, so the rate would mostly repeat the single-fragment rate; :func:`recorded_rates`, :func:`rate_cell`).
    With ``stability_results`` (``{label: stability(...)}``, same labels) a last row "coordination/clash, per
    atom*" gives the per-atom rate (its interval treats atoms as independent, which they are not: too narrow;
    every row marked "*" takes the footnote :data:`PER_ATOM_NOTE`)."""
    import pandas as pd

    names = names or ["valid", MOLECULE_STABILITY, ATOM_STABILITY, "single fragment", *GEOMETRY_CHECKS, NO_GROUP,
                      "plausible",
                      "geometry | single fragment", f"{NO_GROUP} | single fragment", BRENK_ROW,
                      f"{BRENK_ROW} | single fragment"]
    cols = {}
    for label, res in results.items():
        rates = recorded_rates(res)
        cols[f"{label} (n={res['rates']['valid']['n']})"] = {
            k: rate_cell(r) + (f" (n={r['n']})" if "|" in k else "") for k, r in ((k, rates[k]) for k in names)}
        for check, count in res.get("systems_checked", {}).items():
            cols[f"{label} (n={res['rates']['valid']['n']})"][f"systems checked: {check}"] = str(count)
        if stability_results is not None:
            cols[f"{label} (n={res['rates']['valid']['n']})"]["coordination/clash, per atom*"] = \
                _fmt(stability_results[label]["atom"])
    return pd.DataFrame(cols)


def _fmt(r: dict, signed: bool = False) -> str:
    f = "+.3f" if signed else ".3f"
    return f"{r['rate']:{f}} [{r['low']:.3f}, {r['high']:.3f}]"


def scoring_code_hash() -> str:
    """A 10-hex-digit SHA-1 of the source of the scoring code (``plausibility``, ``plausibility_groups``,
    ``plausibility_geometry``): a record of sample rates stores it, so a report can say when the rates were scored
    with code that has changed since (e.g. the implausible-group list)."""
    import hashlib
    from pathlib import Path

    here = Path(__file__).resolve().parent
    blob = b"".join((here / f"{name}.py").read_bytes() for name in ("plausibility", "plausibility_groups",
                                                                      "plausibility_geometry"))
    return hashlib.sha1(blob).hexdigest()[:10]


def describe_groups() -> str:
    """The :data:`IMPLAUSIBLE_GROUPS` list as text: each name, SMARTS, reason and source."""
    return "\n".join(f"{name}: {g['smarts']}\n    {g['why']}\n    source: {g['source']}"
                     for name, g in IMPLAUSIBLE_GROUPS.items())


def plausibility_summary(results: dict, reference: str, label: str, target_note: str | None = None,
                         top: int = 6) -> list[str]:
    """Lines that read a ``{label: plausibility(...)}`` dict against its ``reference`` entry (the training data).

    The implausible groups found in ``reference`` and ``label`` (counts, first examples); the Brenk entries most
    often hit in ``label``; which :data:`IMPLAUSIBLE_GROUPS` flag issue 24's examples (:func:`cited_group_alerts`);
    whether the molecule-level coordination/clash rate equals "valid" in every entry; per entry how many molecules
    are valid but not stable and stable but not valid by EDM's rule (:func:`valence_stability`); for ``label``
    the paired difference "flat double bonds − bond angles" on the same samples (Newcombe / McNemar); ``label`` − ``reference``
    (Newcombe 95 %, :func:`rate_difference`) for plausible and the three ``| single fragment`` rates; and, with
    ``target_note`` (e.g. "notebook estimate on 200 samples"), the estimate of issue 24's target "plausible within
    15 points of the data's" without a verdict word (the bench's larger sample gives the verdict)."""
    import pandas as pd

    out = []
    for name in (reference, label):
        rows = results[name]["rows"]
        flagged = rows[rows["groups"].str.len() > 0]
        counts = pd.Series([g for gs in flagged["groups"] for g in gs], dtype=object).value_counts().to_dict()
        out.append(f"{name}: implausible groups found {counts}; examples {flagged['smiles'].head(top).tolist()}")
    alerts = results[label]["rows"]["alerts"]
    out.append(f"Brenk entries ({len(ALERTS)} in RDKit's set) most often hit by {label}: "
               f"{pd.Series([a for al in alerts for a in al], dtype=object).value_counts().head(top).to_dict()}")
    out.append(f"issue 24's example groups → the implausible groups that flag them: {cited_group_alerts()}")
    same = all(r["rates"][COORDINATION]["k"] == r["rates"]["valid"]["k"] for r in results.values())
    out.append(f"molecule-level coordination/clash rate (not in the table) equals 'valid' in every column: {same}")
    counts = {k: (int((r["rows"]["valid"] & ~r["rows"][MOLECULE_STABILITY]).sum()),
                  int((r["rows"][MOLECULE_STABILITY] & ~r["rows"]["valid"]).sum())) for k, r in results.items()}
    out.append("molecule stability (EDM's bond-order rule, independent of the perception): (valid but not stable, "
               f"stable but not valid) = {counts}")
    rows = results[label]["rows"]
    if len(rows):

        g = paired_rate_difference(rows["flat double bonds"], rows["bond angles"])
        out.append(f"{label}, paired on the same samples: flat double bonds − bond angles {g['difference']:+.3f} "
                   f"[{g['low']:+.3f}, {g['high']:+.3f}] (Newcombe 95 %; McNemar p = {g['p_value']:.3f})")
    for key in ("plausible", "geometry | single fragment", f"{NO_GROUP} | single fragment",
                f"{BRENK_ROW} | single fragment"):
        a, b = results[reference]["rates"][key], results[label]["rates"][key]
        if b["n"] and a["n"]:
            g = rate_difference(b["k"], b["n"], a["k"], a["n"])
            out.append(f"{key}: {label} − {reference} {g['difference']:+.3f} [{g['low']:.3f}, {g['high']:.3f}] "
                       f"({g['verdict']})")
        else:
            out.append(f"{key}: {label} − {reference} not defined (no single-fragment sample)")
    if target_note:
        p_d, p_s = results[reference]["rates"]["plausible"], results[label]["rates"]["plausible"]
        out.append(f"issue-24 target plausible within 15 points of the data's, {target_note}: {reference} − {label} "
                   f"{p_d['rate'] - p_s['rate']:+.3f} ({reference} {p_d['rate']:.3f}, {label} {p_s['rate']:.3f}); "
                   "verdict: the bench's (closing cell)")
    return out


def group_class_table(results: dict, min_count: int = 1):
    """How much of the implausible-group failure is a bond-order reading of the heavy-atom geometry
    (:func:`classified_hits`): per ``{label: plausibility(...) result}`` column, over all samples (n printed; a
    sample that is not a single fragment has no group), the share with any implausible group, with only
    :data:`BOND_ORDER_READING` hits, with at least one :data:`CHEMISTRY` hit, then one row per group and class
    that some column hits at least ``min_count`` times. Cells "0.030 [0.014, 0.055] (6)": rate, Clopper–Pearson
    95 %, count. Returns a DataFrame (rows = those lines, one column per label)."""
    import pandas as pd

    cols, per_group = {}, {}
    for label, res in results.items():
        rows = res["rows"]
        classes = [set(c.values()) for c in rows["group classes"]]
        n = len(rows)
        counts = {"any implausible group": sum(bool(c) for c in classes),
                  f"only {BOND_ORDER_READING} hits": sum(c == {BOND_ORDER_READING} for c in classes),
                  f"at least one {CHEMISTRY} hit": sum(CHEMISTRY in c for c in classes)}
        for hits in rows["group classes"]:
            for name, cls in hits.items():
                per_group.setdefault(f"{name}: {cls}", {}).setdefault(label, 0)
                per_group[f"{name}: {cls}"][label] += 1
        cols[label] = (n, counts)
    keep = [k for k in sorted(per_group) if max(per_group[k].values()) >= min_count]
    out = {}
    for label, (n, counts) in cols.items():
        counts.update({k: per_group[k].get(label, 0) for k in keep})
        out[f"{label} (n={n})"] = {k: f"{_fmt(_rate(v, n))} ({v})" if n else "n/a (0 samples)"
                                   for k, v in counts.items()}
    return pd.DataFrame(out)


REPAIR_NOTE = (f"geometry and chemistry are not independent parts: the '{BOND_ORDER_READING}' group hits (enol, "
               "imidic acid, and C(OH)–O / C(OH)–N / C(NH)–N at a carbon that carries an H) are bond orders read from "
               "heavy-atom distances, so a geometry repair can remove them and a chemistry repair that keeps the "
               "geometry cannot. The first two rows treat every group hit as chemistry; the rows marked 'readings' "
               "count those hits with the geometry (plausible at most: single fragment ∧ no chemistry hit; "
               "single fragment ∧ geometry ∧ no reading hit)")
