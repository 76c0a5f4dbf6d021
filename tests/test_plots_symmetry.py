"""Smoke tests of molpractice.plots_symmetry: every figure draws, is titled and has labelled axes."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from molpractice import plots_symmetry  # noqa: E402


def _labelled(ax):
    return ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def test_every_plot_is_titled_and_labelled():
    rng = np.random.default_rng(0)
    angles = np.arange(0, 181, 30)
    axes = [
        plots_symmetry.plot_rotation_angle_density(rng.uniform(0, np.pi, 100)),
        plots_symmetry.plot_error_vs_rotation_angle(angles, {"a": np.r_[0, rng.uniform(0, 1, len(angles) - 1)]},
                                              tolerance={"tol": 1e-4}),
        plots_symmetry.plot_error_histograms({"f32": rng.uniform(1e-8, 1e-6, 50), "f64": np.zeros(50)},
                                       tolerances={"tol": 1e-4}),
        plots_symmetry.plot_predictions_under_rotation(angles, {"m": rng.normal(size=len(angles))}, target=1.0),
        plots_symmetry.plot_validation_vs_rotated_error({"m": {"val": [1.0, 0.5], "val_rotated": [1.2, 1.1]}}),
    ]
    for ax in axes:
        assert _labelled(ax), f"unlabelled figure: {ax.get_title()!r}"
    plt.close("all")


def test_error_histogram_legend_counts_exact_zeros():
    ax = plots_symmetry.plot_error_histograms({"f32": np.array([0.0, 0.0, 1e-7]), "f64": np.array([1e-16, 2e-16])},
                                              floor=1e-20)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["f32 (2 exactly 0, drawn at 1e-20)", "f64"]
    plt.close("all")


def test_plot_precision_panels_one_panel_per_group():
    import matplotlib
    matplotlib.use("Agg")
    import numpy as np
    from molpractice import plots_symmetry
    errs = {"distance model, float32": np.array([1e-7, 2e-7]), "EGNN coordinates, float64": np.array([1e-16, 0.0])}
    fig = plots_symmetry.plot_precision_panels(errs, {"tol": 1e-4})
    assert [a.get_title() for a in fig.axes] == ["Distance model: invariance error", "EGNN: equivariance error"]


def test_error_vs_angle_legend_counts_exact_zeros():
    import matplotlib.pyplot as plt
    angles = np.arange(0, 40, 10)
    ax = plots_symmetry.plot_error_vs_rotation_angle(angles, {"a": np.array([0.0, 0.0, 1e-7, 2e-7]),
                                                              "b": np.array([1e-16, 2e-16, 3e-16, 4e-16])})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["a (2 exactly 0, drawn at 1e-18)", "b"], labels
    plt.close(ax.figure)


def test_one_zero_floor_for_every_figure():
    import inspect
    from molpractice import plots_symmetry as ps
    for fn in (ps.plot_error_vs_rotation_angle, ps.plot_error_histograms, ps.plot_rotation_inconsistency):
        assert inspect.signature(fn).parameters["floor"].default == ps.ZERO_FLOOR == 1e-18
    ax = ps.plot_rotation_inconsistency({"m": {"inconsistency": [0.1, 0.0, 0.0]}, "n": {"inconsistency": [0.1, 0.2]}})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["m (2 epochs exactly 0, drawn at 1e-18)", "n"]
