import pytest
import torch

from featurelab import models, train
from featurelab.run import ParameterError


def test_mlp_shapes_and_split():
    net = models.mlp([64, 32, 10])
    x = torch.randn(5, 1, 8, 8)
    assert net(x).shape == (5, 10) and net.features(x).shape == (5, 32)
    assert models.count_parameters(net) == 64 * 32 + 32 + 32 * 10 + 10
    lin = models.mlp([4, 2])
    assert lin.features(torch.randn(3, 4)).shape == (3, 4)


@pytest.mark.parametrize("bad", [[10], [10, 0], [10, -1, 2]])
def test_mlp_rejects_bad_sizes(bad):
    with pytest.raises(ParameterError):
        models.mlp(bad)


def test_unknown_activation():
    with pytest.raises(ParameterError, match="relu"):
        models.mlp([2, 2], activation="swish")


def test_cnn_shapes():
    net = models.cnn(in_channels=3, n_classes=4, widths=(4, 8), image_size=16, hidden=12)
    x = torch.randn(2, 3, 16, 16)
    assert net(x).shape == (2, 4) and net.features(x).shape == (2, 12)
    with pytest.raises(ParameterError):
        models.cnn(image_size=2, widths=(4, 4))


def _blobs(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 2, generator=g) + 3 * y.unsqueeze(1).float()
    return x, y


def test_fit_learns_and_logs():
    torch.manual_seed(0)
    x, y = _blobs()
    net = models.mlp([2, 16, 2])
    hist = train.fit(net, x, y, epochs=20, batch_size=32, lr=1e-2, eval_data=(x, y), eval_every=10, seed=0,
                     progress_bar=False)
    assert hist.loss[-1] < hist.loss[0]
    assert hist.evals[-1][1]["acc"] > 0.95 and len(hist.evals) > 1
    assert train.evaluate(net, x, y)["acc"] == hist.evals[-1][1]["acc"]
    assert not net.training


def test_fit_steps_fullbatch_and_budget():
    x, y = _blobs()
    net = models.mlp([2, 2])
    hist = train.fit(net, x, y, steps=7, batch_size=10_000, optimizer="sgd", lr=0.1, progress_bar=False)
    assert hist.step[-1] == 7
    hist = train.fit(net, x, y, steps=10_000, batch_size=8, time_budget=0.0, progress_bar=False)
    assert hist.stopped_by_budget and hist.step[-1] < 10_000


def test_fit_bad_arguments():
    x, y = _blobs(10)
    net = models.mlp([2, 2])
    with pytest.raises(ParameterError, match="exactly one"):
        train.fit(net, x, y, progress_bar=False)
    with pytest.raises(ParameterError, match="rows"):
        train.fit(net, x, y[:5], steps=1, progress_bar=False)
    with pytest.raises(ParameterError, match="optimizer"):
        train.fit(net, x, y, steps=1, optimizer="lbfgs", progress_bar=False)
    with pytest.raises(ParameterError, match="lr"):
        train.fit(net, x, y, steps=1, lr=0, progress_bar=False)


def test_predict_and_accuracy():
    net = models.mlp([2, 3])
    x = torch.randn(10, 2)
    assert train.predict(net, x, batch_size=3).shape == (10, 3)
    assert train.accuracy(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([1, 1])) == 0.5


def test_fit_batch_loss_replaces_loss_fn():
    """``batch_loss(model, xb, yb)`` gives the same training as the default when it computes the same loss, and
    can see the model itself (here: a loss on the model's parameters only)."""
    x, y = _blobs()
    a, b = models.mlp([2, 8, 2]), models.mlp([2, 8, 2])
    b.load_state_dict(a.state_dict())
    train.fit(a, x, y, steps=5, batch_size=16, seed=3, progress_bar=False)
    seen = []

    def same(model, xb, yb):
        seen.append(xb.shape[0])
        return torch.nn.functional.cross_entropy(model(xb), yb)

    train.fit(b, x, y, steps=5, batch_size=16, seed=3, batch_loss=same, progress_bar=False)
    assert seen == [16] * 5
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    c = models.mlp([2, 2])
    before = sum((p ** 2).sum() for p in c.parameters()).item()
    train.fit(c, x, y, steps=100, optimizer="sgd", lr=0.1,
              batch_loss=lambda m, xb, yb: sum((p ** 2).sum() for p in m.parameters()), progress_bar=False)
    assert sum((p ** 2).sum() for p in c.parameters()).item() < 1e-3 * before
