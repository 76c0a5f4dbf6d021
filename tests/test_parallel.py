"""molpractice.parallel and the worker policy: members trained in worker processes equal members trained here."""
import numpy as np
import pytest
import torch

from molpractice import ensembles as E
from molpractice import parallel, runtime
from molpractice.implementations import load_chapter
from solutions import ch01_solubility_gnn as ch01

TINY = dict(epochs=3, patience=3, hidden=16, num_layers=1, batch_size=16)


def _square_unless_odd(x):
    if x % 2:
        raise ValueError(f"job {x} failed")
    return x * x


def test_run_jobs_keeps_order_and_raises_a_job_error():
    jobs = [(0,), (2,), (4,)]
    assert list(parallel.run_jobs(_square_unless_odd, jobs, 1)) == [0, 4, 16]
    done = parallel.run_jobs(_square_unless_odd, [(2,), (4,), (1,), (6,)], 2)
    assert [next(done), next(done)] == [4, 16], "results come back in the order of the jobs"
    with pytest.raises(ValueError, match="job 1 failed"):
        next(done)


def test_chapter_reference_names_importable_chapter_modules_only():
    assert parallel.chapter_reference(ch01) == ("solutions", "ch01_solubility_gnn", False)
    learner = load_chapter("ch01_solubility_gnn", "exercises")  # stubs fall back to the reference
    assert parallel.chapter_reference(learner) == ("exercises", "ch01_solubility_gnn", True)
    assert parallel.chapter_reference(np) is None


def test_worker_count_policy(monkeypatch):
    monkeypatch.setenv("MOLPRACTICE_FAST", "0")
    monkeypatch.delenv("MOLPRACTICE_WORKERS", raising=False)
    assert 1 <= runtime.worker_count("cpu") <= 2
    assert runtime.worker_count("cuda") == 1, "one GPU is shared, not split between workers"
    monkeypatch.setenv("MOLPRACTICE_FAST", "1")
    assert runtime.worker_count("cpu") == 1
    monkeypatch.setenv("MOLPRACTICE_WORKERS", "3")
    assert runtime.worker_count("cuda") == 3
    for bad in ("0", "two"):
        monkeypatch.setenv("MOLPRACTICE_WORKERS", bad)
        with pytest.raises(ValueError, match="MOLPRACTICE_WORKERS"):
            runtime.worker_count()


def test_members_trained_in_workers_equal_members_trained_here(capsys):
    from molpractice.solubility import load_data

    df, _ = load_data()
    data = E.prepare_splits(ch01, df.iloc[::16].reset_index(drop=True))
    here = E.fit_ensembles(ch01, data, "gaussian", members=2, workers=1, **TINY)
    printed_here = [line.split(" | ")[:4] for line in capsys.readouterr().out.splitlines()]
    there = E.fit_ensembles(ch01, data, "gaussian", members=2, workers=2, **TINY)
    printed_there = [line.split(" | ")[:4] for line in capsys.readouterr().out.splitlines()]
    assert printed_here == printed_there and len(printed_here) == 4, "one line per member, in the same order"
    for name in data:
        a, b = here[name], there[name]
        assert [h["best_epoch"] for h in a.histories] == [h["best_epoch"] for h in b.histories]
        for ma, mb in zip(a.models, b.models):
            for (ka, ta), (kb, tb) in zip(ma.state_dict().items(), mb.state_dict().items()):
                assert ka == kb and torch.equal(ta, tb), f"{name}: parameter {ka} differs between here and a worker"
        np.testing.assert_array_equal(a.predict(data[name].graphs["test"])[0], b.predict(data[name].graphs["test"])[0])


def test_jobs_start_longest_first_and_come_back_in_job_order():
    assert parallel.longest_first([1.0, 5.0, 1.0, 3.0], 4) == [1, 3, 0, 2], "decreasing cost, ties in job order"
    with pytest.raises(ValueError, match="one number per job"):
        parallel.longest_first([1.0], 2)
    with pytest.raises(ValueError, match="job 1 is not finite"):
        parallel.longest_first([1.0, float("nan")], 2)
    jobs = [(0,), (2,), (4,), (6,)]
    assert list(parallel.run_jobs(_square_unless_odd, jobs, 2, costs=[1, 4, 2, 3])) == [0, 4, 16, 36]
    assert list(parallel.run_jobs(_square_unless_odd, jobs, 1, costs=[1, 4, 2, 3])) == [0, 4, 16, 36]


def _assert_same_ensemble(a, b, graphs, label):
    assert [h["best_epoch"] for h in a.histories] == [h["best_epoch"] for h in b.histories], label
    for ma, mb in zip(a.models, b.models):
        for (ka, ta), (kb, tb) in zip(ma.state_dict().items(), mb.state_dict().items()):
            assert ka == kb and torch.equal(ta, tb), f"{label}: parameter {ka} differs between here and a worker"
    pa, pb = a.predict(graphs), b.predict(graphs)
    for x, y in zip(pa if isinstance(pa, tuple) else (pa,), pb if isinstance(pb, tuple) else (pb,)):
        np.testing.assert_array_equal(x, y)


def test_mixed_heads_in_one_pool_equal_serial_training(capsys):
    """Notebook 03's job list (mean–variance members of both splits and classifier members of one) in one pool,
    started longest first, gives the members trained one after another here, printed in the same order."""
    from molpractice.solubility import load_data

    df, _ = load_data()
    data = E.prepare_splits(ch01, df.iloc[::16].reset_index(drop=True))
    jobs = [(d, "gaussian") for d in data.values()] + [(data["scaffold"], "classifier")]
    serial = {key: E.fit_ensemble(ch01, data[key[0]], key[1], members=2, workers=1, verbose=False, **TINY)
              for key in [(d.name, h) for d, h in jobs]}
    pooled = E.fit_ensemble_jobs(ch01, jobs, members=2, workers=2, **TINY)
    printed = [line.split(" | ")[:2] for line in capsys.readouterr().out.splitlines()]
    assert printed == [[f"{d.name:>8}", f"{h:<10} seed {s}"] for d, h in jobs for s in range(2)], \
        "one line per member, in the order of the jobs"
    assert list(pooled) == list(serial)
    for key, ens in pooled.items():
        assert ens.head == key[1] and ens.split == key[0]
        _assert_same_ensemble(serial[key], ens, data[key[0]].graphs["test"], str(key))
    with pytest.raises(ValueError, match="trained once"):
        E.fit_ensemble_jobs(ch01, jobs + jobs[:1], members=1, workers=1, **TINY)
    with pytest.raises(ValueError, match="head must be one of"):
        E.fit_ensemble_jobs(ch01, [(data["scaffold"], "poisson")], members=1, workers=1, **TINY)


def _total(tensors):
    return float(sum(t.sum() for t in tensors))


@pytest.mark.skipif(not hasattr(__import__("os"), "sched_getaffinity"), reason="resource limits: POSIX only")
def test_jobs_with_thousands_of_tensors_fit_a_small_open_file_limit():
    """A split's graphs are thousands of tensors; sent with multiprocessing's own pickler each would hold a file
    descriptor (torch's shared-memory reduction) and a 256-file limit breaks the pool (BrokenProcessPool)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
    try:
        tensors = [torch.full((3,), float(i)) for i in range(3000)]
        assert list(parallel.run_jobs(_total, [(tensors,), (tensors[:10],)], 2)) == [_total(tensors), _total(tensors[:10])]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
