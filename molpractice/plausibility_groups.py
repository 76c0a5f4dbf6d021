"""The implausible-group list of chapter 4's plausibility checks (issue 24 §3): a short, cited list of SMARTS for
groups a small neutral molecule rarely survives as (tetrahedral intermediates, unstable tautomers, strained
unsaturated 3-rings) and one hazard alert (peroxide), with one example molecule per group and ordinary molecules
that must pass. Split out of :mod:`molpractice.plausibility`, which re-exports every name here.
"""
from __future__ import annotations

__all__ = ["BOND_ORDER_READING", "BRENK_ROW", "CHEMISTRY", "CITED_GROUPS", "HIT_CLASSES", "IMPLAUSIBLE_GROUPS",
           "MIN_SYSTEMS", "NO_GROUP", "ORDINARY_MOLECULES", "POST_HOC_ALERTS", "READING_PAIRS", "alert_sensitivity_lines",
           "cited_group_alerts", "classified_hits", "implausible_hits"]

_AMINE_N = "[NX3;!$(N-[#6,#16]=[#7,#8,#16])]"   # not amide / thioamide / amidine / sulfonamide N
_AMINE_NH = "[NX3;H1,H2;!$(N-[#6,#16]=[#7,#8,#16])]"   # the same with at least one H
BOND_ORDER_READING = "bond-order reading"  # a hit a different bond order on the same heavy atoms removes
CHEMISTRY = "chemistry"  # a hit no bond-order change on the same heavy atoms removes
HIT_CLASSES = (BOND_ORDER_READING, CHEMISTRY)
_CLAYDEN = "Clayden, Greeves & Warren, Organic Chemistry, 2nd ed., Oxford University Press (2012)"
_KETO_C = "[CX3;!$(C-[!#6])]=[OX1]"  # an aldehyde or ketone carbonyl carbon (no single bond to a heteroatom)
_ENOL = f"[OX2H1]-[CX3]=[CX3;!$(C-{_KETO_C})]"  # HO–C=C, but not HO–C=C–C(=O) (β-diketone / vinylogous acid enol)
# name -> SMARTS, why a small neutral molecule rarely survives as it, sources, and ``reading``: the SMARTS of the hits
# that are bond-order readings of a heavy-atom geometry (the model places heavy atoms only; the perception reads
# bond orders from distances and adds hydrogens by valence), so the same heavy atoms with one C–X bond order
# changed give an ordinary compound — HO–C=C → O=C–C (ketone), HO–C=N → O=C–N (amide), and an sp3 carbon that
# carries an H next to an O–H or N–H → C=O / C=N (acid, ester, amide, carbonate, amidine); None when no bond-order
# change on the same heavy atoms removes the hit (peroxide, unsaturated 3-ring). A hit not matched by ``reading``
# is "chemistry" (:func:`classified_hits`; checked by READING_PAIRS in the tests)
IMPLAUSIBLE_GROUPS = {
    "orthoester/orthoamide-like centre": dict(
        smarts="[CX4;$(C-[OX2H1,NX3;H1,H2])](-[#7,#8])(-[#7,#8])-[#7,#8]",
        why="sp3 carbon with three or four single bonds to N/O of which at least one is an OH or NH (includes "
            "N–C(O)(O)): the tetrahedral intermediate of an ester, amide or carbonate, which loses an alcohol or "
            "amine to give the C=O compound; fully alkylated orthoesters and orthoamides (trimethyl orthoformate, "
            "tris(dimethylamino)methane) are isolable, so they are not flagged",
        source=f"{_CLAYDEN}, ch. 10 (tetrahedral intermediates) and ch. 11 (orthoesters); acyclic cases are also "
               "Brenk et al. 2008's 'het-C-het_not_in_ring'",
        reading="[CX4;!H0;$(C-[OX2H1,NX3;H1,H2])](-[#7,#8])(-[#7,#8])-[#7,#8]"),
    "peroxide": dict(
        smarts="[OX2]-[OX2]",
        why="the weak O–O single bond: a hazard alert, not a claim that the compound cannot exist — peroxides, peracids and hydroperoxides (peracetic acid, tert-butyl hydroperoxide) are real, isolable reagents, but oxidants that can decompose violently on heating or with metals",
        source="Hann et al., J. Chem. Inf. Comput. Sci. 39:897 (1999), reactive filter R7 'peroxides'; "
               "Brenk et al. 2008's 'peroxide'",
        reading=None),
    "acyclic aminal": dict(
        smarts=f"[CX4](-!@{_AMINE_NH})-!@{_AMINE_N}",
        why="sp3 carbon with two amine N outside a ring, at least one of them an NH: in equilibrium with imine + "
            "amine (the N–H hydrogen moves to the leaving amine); fully alkylated aminals such as "
            "bis(dimethylamino)methane cannot form a neutral imine and are isolable (distillable reagents), so they "
            "are not flagged, as fully alkylated orthoamides are not",
        source=f"{_CLAYDEN}, ch. 11 (aminals, imines); Brenk et al. 2008's 'het-C-het_not_in_ring'",
        reading=f"[CX4;!H0](-!@{_AMINE_NH})-!@{_AMINE_N}"),
    "acyclic hemiaminal": dict(
        smarts=f"[CX4](-[OX2H1])-!@{_AMINE_N}",
        why="C(OH)–N outside a ring: the intermediate of imine formation, which loses water (or the amine); "
            "flagged for tertiary N too, since the O–H hydrogen lets it revert to the C=O compound + amine",
        source=f"{_CLAYDEN}, ch. 11; Kwiecień & Ciunik, Molecules 20:14365 (2015) (stable hemiaminals need special "
               "stabilisation); Brenk et al. 2008's 'het-C-het_not_in_ring'",
        reading=f"[CX4;!H0](-[OX2H1])-!@{_AMINE_N}"),
    "acyclic hemiacetal or gem-diol": dict(
        smarts="[CX4](-[OX2H1])-!@[OX2]",
        why="C(OH)–O outside a ring: in equilibrium with the aldehyde or ketone + alcohol (water), which usually "
            "lies far on the carbonyl side; cyclic hemiacetals such as sugars are stable, and so are the hydrates and "
            "hemiacetals of strongly electron-poor carbonyls (chloral hydrate, fluoral hydrate, hexafluoroacetone "
            "hydrate, ninhydrin), which this pattern does not exempt",
        source=f"{_CLAYDEN}, ch. 6 (hydrates and hemiacetals); Brenk et al. 2008's 'het-C-het_not_in_ring'",
        reading="[CX4;!H0](-[OX2H1])-!@[OX2]"),
    "enol": dict(
        smarts=_ENOL,
        why="HO–C=C: usually the minor tautomer of an aldehyde or ketone; not flagged when the C=C carries an "
            "aldehyde or ketone C=O on its far carbon (HO–C=C–C=O: the enol of a β-diketone or a vinylogous acid, "
            "conjugated and H-bonded, which is the major tautomer — acetylacetone is mostly enol, "
            "cyclopentane-1,3-dione and cyclohexane-1,3-dione exist as enols); β-keto ester enols stay flagged "
            "(ethyl acetoacetate is mostly keto)",
        source=f"{_CLAYDEN}, ch. 20 (keto–enol tautomerism: simple enols are the minor tautomer, 1,3-dicarbonyl "
               "enols are stabilised by conjugation and an internal hydrogen bond); IUPAC Gold Book, 'enols'",
        reading=_ENOL),
    "imidic acid": dict(
        smarts="[OX2H1]-[CX3]=[NX2]",
        why="HO–C=N (includes N=C(O)O): the minor tautomer of an amide, carbamic acid or urea",
        source="IUPAC Gold Book, 'imidic acids' (tautomers of amides); "
               f"{_CLAYDEN}, ch. 20 (tautomerism)",
        reading="[OX2H1]-[CX3]=[NX2]"),
    "unsaturated 3-membered ring": dict(
        smarts="*1=,:*~*~1",
        why="a double or aromatic bond inside a 3-membered ring (cyclopropene, cyclopropenone, 2H-azirine, "
            "benzocyclopropene): each trigonal centre adds strain to the already strained cyclopropane ring; such "
            "rings exist (cyclopropenone, diphenylcyclopropenone) but are rare and reactive — a strain alert like "
            "the peroxide one, not a claim that the compound cannot exist (the training data holds none: printed)",
        source="Johnson & Borden, J. Am. Chem. Soc. 119:5930 (1997) (each trigonal centre adds 12–14 kcal/mol of "
               "strain to a cyclopropane ring); IUPAC Gold Book, 'strain'",
        reading=None),
}
NO_GROUP = "no implausible or hazardous group"  # single fragments none of IMPLAUSIBLE_GROUPS matches (peroxide is a hazard alert)
MIN_SYSTEMS = 20  # a flatness row over fewer checked systems prints "n/a (k systems checked)", not a rate
BRENK_ROW = "passes Brenk screening filters"  # valid single fragment without any BRENK alert (not in "plausible")
_GROUP_PATTERNS: dict = {}
_READING_PATTERNS: dict = {}


def implausible_hits(mol) -> list[str]:
    """Names of the :data:`IMPLAUSIBLE_GROUPS` entries whose SMARTS match ``mol``, in the dict's order."""
    from rdkit import Chem

    if not _GROUP_PATTERNS:
        for name, group in IMPLAUSIBLE_GROUPS.items():
            _GROUP_PATTERNS[name] = Chem.MolFromSmarts(group["smarts"])
    return [name for name, pattern in _GROUP_PATTERNS.items() if mol.HasSubstructMatch(pattern)]


def classified_hits(mol) -> dict[str, str]:
    """``{group name: class}`` for every :func:`implausible_hits` entry of ``mol``: :data:`BOND_ORDER_READING`
    when the group's ``reading`` SMARTS matches (the same heavy atoms with one C–X bond order changed give an
    ordinary compound: the flag is a reading of bond lengths, not a separate chemistry error), else
    :data:`CHEMISTRY`. A molecule with two hits of one group, one a reading and one not, counts as chemistry."""
    from rdkit import Chem

    if not _READING_PATTERNS:
        for name, group in IMPLAUSIBLE_GROUPS.items():
            _READING_PATTERNS[name] = None if group["reading"] is None else Chem.MolFromSmarts(group["reading"])
    out = {}
    for name in implausible_hits(mol):
        group, reading = _GROUP_PATTERNS[name], _READING_PATTERNS[name]
        readings = set() if reading is None else {m[0] for m in mol.GetSubstructMatches(reading)}
        every = {m[0] for m in mol.GetSubstructMatches(group)}
        out[name] = BOND_ORDER_READING if every and every <= readings else CHEMISTRY
    return out


READING_PAIRS = {  # flagged SMILES -> the ordinary compound with the same heavy atoms and one C–X bond order changed
    "OC(O)C1CCCCC1": "OC(=O)C1CCCCC1",   # gem-diol reading of cyclohexanecarboxylic acid (a long C=O)
    "CC(C)OCO": "CC(C)OC=O",             # hemiacetal reading of isopropyl formate
    "CC(C)C(=N)O": "CC(C)C(N)=O",        # imidic-acid reading of isobutyramide
    "C=C(C)O": "CC(C)=O",                # enol reading of acetone
    "CC(O)N": "CC(N)=O",                 # hemiaminal reading of acetamide
    "CC(N)NC": "CC(=N)NC",               # aminal reading of N-methylacetamidine
    "OC(O)N": "NC(=O)O",                 # N–C(O)(O) reading of carbamic acid
}


CITED_GROUPS = {"hemi-orthoester": "CC(O)(OC)OC", "orthoamide": "CC(N)(N)N", "N–C(O)(O)": "CC(O)(O)N",
                "N=C(O)O": "N=C(O)O", "peroxide": "COOC", "acyclic aminal (with an N–H)": "CC(N)NC",
                "acyclic hemiaminal": "CC(O)N", "acyclic hemiacetal": "CC(O)OC", "gem-diol": "CC(O)O",
                "enol": "C=C(C)O", "imidic acid": "CC(=N)O",
                "cyclopropenone (3-ring 'aromatic' in RDKit)": "O=c1cc1C", "cyclopropene": "CC1=CC1"}  # one example of each group (issue 24's first)
ORDINARY_MOLECULES = {  # stable molecules Brenk flags (or that sit next to a listed group) that must pass
    "ethylene": "C=C", "acetaldehyde": "CC=O", "oxirane": "C1CO1", "decane": "CCCCCCCCCC",
    "dimethoxymethane (acetal)": "COCOC", "1,3-dioxolane": "C1COCO1", "cyclic hemiacetal": "OCC1OC(O)C(O)C1O",
    "N-methylol acrylamide": "C=CC(=O)NCO", "N,N'-methylenebisacetamide": "CC(=O)NCNC(C)=O",
    "acetamide": "CC(N)=O", "methyl carbamate": "COC(N)=O", "acetone oxime": "CC(C)=NO", "phenol": "Oc1ccccc1",
    "imidazole": "c1c[nH]cn1", "morpholine": "C1COCCN1", "acetic acid": "CC(=O)O", "urea": "NC(N)=O",
    "cyclopropane": "CC1CC1", "methylenecyclopropane": "C=C1CC1", "cyclopropanecarboxylic acid": "OC(=O)C1CC1",
    "bis(dimethylamino)methane (tertiary aminal)": "CN(C)CN(C)C",
    "acetylacetone, enol (the major tautomer)": "CC(O)=CC(C)=O", "cyclopentane-1,3-dione, enol": "O=C1C=C(O)CC1",
    "3-hydroxycyclohexa-2,5-dienone (vinylogous acid)": "OC1=CC(=O)C=CC1"}


def cited_group_alerts(groups: dict | None = None) -> dict:
    """For each ``name -> SMILES`` of ``groups`` (default :data:`CITED_GROUPS`), the :data:`IMPLAUSIBLE_GROUPS`
    entries that flag it (:func:`implausible_hits`; an empty list means the list misses that group). Raises
    ValueError on a SMILES RDKit cannot parse."""
    from rdkit import Chem

    out = {}
    for name, smiles in (CITED_GROUPS if groups is None else groups).items():
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            raise ValueError(f"cited group {name!r}: RDKit cannot parse SMILES {smiles!r}")
        out[name] = implausible_hits(mol)
    return out


POST_HOC_ALERTS = ("unsaturated 3-membered ring",)  # added to IMPLAUSIBLE_GROUPS after this model's samples were seen


def alert_sensitivity_lines(results: dict, alert: str = POST_HOC_ALERTS[0], reference: str | None = None) -> list[str]:
    """How much one implausible-group alert moves "plausible": per ``{label: plausibility(...) result}`` entry, the
    rate as scored and recomputed from the same rows without ``alert`` (a key of :data:`IMPLAUSIBLE_GROUPS`:
    single fragment ∧ geometry ∧ no *other* group), Clopper–Pearson 95 % each, and the paired difference with −
    without (Newcombe's paired 95 % interval, exact McNemar p; :func:`molpractice.rates.paired_rate_difference`).
    With ``reference`` (e.g. the training data's label), also every other label − reference with and without the
    alert (Newcombe 95 %, independent samples). Raises ValueError for an unknown ``alert`` or rows whose
    "plausible" no longer equals single fragment ∧ geometry ∧ no group (scored with other code)."""
    from .rates import _rate, paired_rate_difference, rate_difference

    if alert not in IMPLAUSIBLE_GROUPS:
        raise ValueError(f"alert must be a key of IMPLAUSIBLE_GROUPS {list(IMPLAUSIBLE_GROUPS)}, got {alert!r}")

    def cell(flags):
        r = _rate(int(sum(flags)), len(flags))
        return r, f"{r['rate']:.3f} [{r['low']:.3f}, {r['high']:.3f}] ({r['k']}/{r['n']})"

    out = [f"'plausible' with and without the '{alert}' alert (written after looking at this model's samples), "
           "recomputed from the same rows; Clopper–Pearson 95 %, with − without paired (Newcombe 95 %, McNemar):"]
    rates = {}
    for label, res in results.items():
        rows = res["rows"]
        if not len(rows):
            out.append(f"  {label}: no samples")
            continue
        base = [bool(s and g) for s, g in zip(rows["single fragment"], rows["geometry"])]
        with_ = [b and not gs for b, gs in zip(base, rows["groups"])]
        if with_ != [bool(p) for p in rows["plausible"]]:
            raise ValueError(f"{label}: 'plausible' is not single fragment ∧ geometry ∧ no group in these rows")
        without = [b and not [g for g in gs if g != alert] for b, gs in zip(base, rows["groups"])]
        (r_with, c_with), (r_without, c_without) = cell(with_), cell(without)
        rates[label] = (r_with, r_without)
        g = paired_rate_difference(with_, without)
        out.append(f"  {label}: with the alert {c_with}, without {c_without}; with − without {g['difference']:+.3f} "
                   f"[{g['low']:+.3f}, {g['high']:+.3f}] (McNemar p {'< 0.001' if g['p_value'] < 0.001 else '= ' + format(g['p_value'], '.3f')}; {g['discordant'][1]} "
                   "samples plausible only without it)")
    for label, (r_with, r_without) in rates.items():
        if reference not in rates or label == reference:
            continue
        diffs = [rate_difference(a["k"], a["n"], b["k"], b["n"]) for a, b in zip((r_with, r_without), rates[reference])]
        out.append(f"  {label} − {reference}, plausible: with the alert " + ", without ".join(
            f"{g['difference']:+.3f} [{g['low']:+.3f}, {g['high']:+.3f}] ({g['verdict']})" for g in diffs))
    return out
