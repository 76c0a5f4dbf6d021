"""Test helper: heavy-atom geometry of a molecule, embedded and relaxed with RDKit (ETKDGv3 + MMFF, seeded)."""
import torch


def embedded(smiles, seed=7):
    """``(atomic_numbers LongTensor[n], pos float64 Tensor[n, 3])`` of the heavy atoms of ``smiles``."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    params.numThreads = 1
    assert AllChem.EmbedMolecule(mol, params) == 0
    AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    pos = torch.tensor(mol.GetConformer().GetPositions()[heavy], dtype=torch.float64)
    return torch.tensor([mol.GetAtomWithIdx(i).GetAtomicNum() for i in heavy]), pos
