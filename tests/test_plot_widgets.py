import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from featurelab import plot, widgets  # noqa: E402


def test_style_and_images():
    plot.use_style()
    assert matplotlib.rcParams["axes.spines.top"] is False
    fig = plot.show_images(torch.rand(5, 1, 8, 8), titles=list("abcde"), ncols=3, suptitle="s")
    assert len(fig.axes) == 6
    fig = plot.show_images(torch.rand(2, 3, 8, 8))
    plt.close("all")


def test_decision_surface_and_bars():
    fig, ax = plt.subplots()
    plot.decision_surface(ax, lambda p: (p[:, 0] > 0).astype(float), (-1, 1), (-1, 1), resolution=20)
    plot.bars(ax, ["a", "b"], [0.5, 0.7], errors=[0.1, 0.1])
    assert ax.get_xlim() is not None
    plt.close("all")


def test_explore_is_static_when_headless(monkeypatch):
    monkeypatch.setenv("FEATURELAB_HEADLESS", "1")
    assert widgets.is_headless()

    class Slider:
        value = 3

    assert widgets.explore(lambda k, m: k * m, k=Slider(), m=2) == 6


def test_not_headless_needs_a_kernel(monkeypatch):
    monkeypatch.delenv("FEATURELAB_HEADLESS", raising=False)
    assert widgets.is_headless()  # plain pytest: no IPython kernel


def test_show_source_shows_real_code_once(monkeypatch):
    from IPython import display as ipd

    from featurelab import show_source
    from featurelab.train import accuracy

    shown = []
    monkeypatch.setattr(ipd, "display", lambda obj: shown.append(obj))
    assert show_source(accuracy) is None  # returns nothing: a cell ending in it shows the listing once
    assert len(shown) == 1 and "def accuracy" in shown[0].data
