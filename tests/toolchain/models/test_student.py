"""The CNN2GNN student: gradients, batch (in)dependence of the two graph modes, self exclusion, anchors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.models.student import CNN2GNNStudent
from cnn2gnn.toolchain.models.student_config import StudentConfig


def _student(graph_mode: str = "anchor", m: int = 16, k: int = 3, seed: int = 0, **kw: object) -> CNN2GNNStudent:
    torch.manual_seed(seed)
    # the plain student (flattened pixels, label-free messages, live anchors) unless a test asks for more
    kw = {"stem": "none", "label_mode": "none", "anchor_features": "live", **kw}
    cfg = StudentConfig(in_channels=1, height=6, width=6, num_classes=4, k=k, num_anchors=m, proj_dim=8, hidden=16,
                        graph_mode=graph_mode, dropout=0.0, **kw)  # type: ignore[arg-type]
    model = CNN2GNNStudent(cfg)
    # anchors are training samples 100..100+m
    model.set_anchors(torch.randn(m, 1, 6, 6), torch.arange(100, 100 + m), torch.arange(m) % 4)
    return model


@pytest.mark.parametrize("graph_mode", ["anchor", "batch"])
def test_gradients_reach_the_projection(graph_mode: str) -> None:
    model = _student(graph_mode).train()
    x, y = torch.randn(12, 1, 6, 6), torch.randint(0, 4, (12,))
    F.cross_entropy(model(x, torch.arange(12)), y).backward()
    grad = model.projection.weight.grad
    assert grad is not None and torch.isfinite(grad).all()
    assert grad.abs().max() > 1e-8


def test_anchor_mode_projection_gradient_comes_from_the_graph_weights() -> None:
    """In anchor mode z = f(x) is used only for distances, so its gradient exists only through the
    DSGL weights: check d loss / d z with z fed in directly."""
    model = _student("anchor").eval()
    anchors = model.anchor_side()
    z = torch.randn(5, 8, requires_grad=True)
    from cnn2gnn.toolchain.graph.dsgl import adaptive_neighbours, aggregate, squared_distances

    w, idx = adaptive_neighbours(squared_distances(z, anchors["z"], anchors["z_sq"]), 3)
    aggregate(w, idx, anchors["messages"][0]).pow(2).sum().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().max() > 1e-8


def _assert_batch_independent(model: torch.nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i : i + 1]) for i in range(len(x))])
        shuffled_order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
        shuffled = model(x[shuffled_order])
    assert (together - alone).abs().max() <= 1e-5
    assert (together[shuffled_order] - shuffled).abs().max() <= 1e-5


def test_anchor_mode_logits_do_not_depend_on_the_batch_random_init() -> None:
    model = _student("anchor", m=32, k=5).eval()
    _assert_batch_independent(model, torch.randn(64, 1, 6, 6))


def test_anchor_mode_logits_do_not_depend_on_the_batch_trained(tiny_student_ckpt: Path) -> None:
    from cnn2gnn.toolchain.data import load_dataset
    from cnn2gnn.toolchain.data.tensors import tensors_from_split
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint

    payload = load_checkpoint(tiny_student_ckpt, kind="student")
    model = model_from_checkpoint(payload)
    assert payload.model_config["graph_mode"] == "anchor"
    images = tensors_from_split(load_dataset("digits").split("test"), payload.preprocessing).x[:64]
    _assert_batch_independent(model, images)


def test_batch_mode_needs_k_plus_2_samples() -> None:
    model = _student("batch", k=3).eval()
    with pytest.raises(Cnn2GnnError, match="at least 5 samples"):
        model(torch.randn(4, 1, 6, 6))
    assert model(torch.randn(5, 1, 6, 6)).shape == (5, 4)


def test_batch_mode_prediction_depends_on_the_batch_but_anchor_mode_does_not() -> None:
    """The contrast that motivates anchor mode: one sample, two different batch mates."""
    torch.manual_seed(1)
    sample = torch.randn(1, 1, 6, 6)
    mates_a, mates_b = torch.randn(11, 1, 6, 6), torch.randn(11, 1, 6, 6)
    for mode, differs in (("batch", True), ("anchor", False)):
        model = _student(mode).eval()
        with torch.no_grad():
            in_a = model(torch.cat([sample, mates_a]))[0]
            in_b = model(torch.cat([sample, mates_b]))[0]
        gap = (in_a - in_b).abs().max().item()
        assert (gap > 1e-3) if differs else (gap <= 1e-6), (mode, gap)


def test_training_anchor_is_not_its_own_neighbour() -> None:
    model = _student("anchor", m=16, k=3).train()
    x, ids = model.get_buffer("anchor_images"), model.get_buffer("anchor_ids")
    with torch.no_grad():
        _, with_self = model.neighbours(x)
        weights, idx = model.neighbours(x, ids)
    positions = torch.arange(16)
    assert (with_self[:, 0] == positions).all()  # without ids each anchor's nearest is itself (distance 0)
    assert not (idx == positions[:, None]).any()
    assert torch.isfinite(weights).all()
    # a training sample that is not an anchor keeps all M candidates
    _, other = model.neighbours(x[:2], torch.tensor([0, 1]))
    assert torch.equal(other, with_self[:2])


def test_self_exclusion_applies_in_training_only() -> None:
    model = _student("anchor", m=16, k=3)
    x, ids = model.get_buffer("anchor_images")[:6], model.get_buffer("anchor_ids")[:6]
    model.train()
    with torch.no_grad():
        assert not torch.allclose(model(x, ids), model(x))
    model.eval()  # deployment never sees ids: the prediction is the same either way
    with torch.no_grad():
        assert torch.equal(model(x, ids), model(x))


def test_eval_cache_is_dropped_when_weights_are_loaded() -> None:
    a, b = _student("anchor", seed=0).eval(), _student("anchor", seed=1).eval()
    x = torch.randn(3, 1, 6, 6)
    with torch.no_grad():
        a(x)  # fills a's anchor cache
        expected = b(x)
        a.load_state_dict(b.state_dict())
        assert torch.allclose(a(x), expected, atol=1e-6)


def test_eval_cache_follows_a_dtype_or_device_move() -> None:
    model = _student("anchor").eval()
    x = torch.randn(3, 1, 6, 6)
    with torch.no_grad():
        single = model(x)  # cached in float32
        model.double()
        doubled = model(x.double())
    assert doubled.dtype == torch.float64
    torch.testing.assert_close(doubled.float(), single, atol=1e-5, rtol=1e-5)


def test_patch_stem_and_deeper_gcn() -> None:
    model = _student("anchor", stem="patch", patch_size=3, layers=3).eval()
    assert model.features.dim == 16 * 2 * 2
    with torch.no_grad():
        assert model(torch.randn(7, 1, 6, 6)).shape == (7, 4)


def test_fixed_alpha_is_not_trained() -> None:
    model = _student("anchor", alpha=0.25, learn_alpha=False)
    assert not model.alpha_logit.requires_grad
    assert abs(model.alpha.item() - 0.25) < 1e-6


def test_set_anchors_checks_count_and_k() -> None:
    model = _student("anchor", m=16, k=3)
    with pytest.raises(Cnn2GnnError, match="expected 16 anchors"):
        model.set_anchors(torch.zeros(8, 1, 6, 6), torch.arange(8), torch.zeros(8, dtype=torch.long))
    with pytest.raises(Cnn2GnnError, match="k\\+2=5 anchors \\(--anchors\\), got 4"):  # refused when the config is made
        StudentConfig(in_channels=1, height=6, width=6, num_classes=4, k=3, num_anchors=4)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [("graph_mode", "knn", "graph mode"), ("stem", "vit", "stem"), ("k", 0, r"k \(-k\)"), ("layers", 0, "layers"),
     ("alpha", 1.5, "alpha"), ("patch_size", 4, "patch size")],
)
def test_config_validation(field: str, value: object, match: str) -> None:
    kw = {"in_channels": 1, "height": 6, "width": 6, "num_classes": 4, "stem": "patch", "patch_size": 3}
    kw[field] = value
    with pytest.raises(Cnn2GnnError, match=match):
        StudentConfig(**kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kw", "message"), [
    ({"hidden": 0}, r"hidden \(--hidden\) must be an integer in 1\.\.65536, got 0"),
    ({"proj_dim": 0}, r"proj_dim \(--proj-dim\) must be an integer in 1\.\.65536, got 0"),
    ({"dropout": 1.5}, r"dropout \(--dropout\) must be a finite number in \[0, 1\), got 1\.5"),
    ({"alpha": float("nan")}, r"alpha \(--alpha\) must be a finite number in \[0, 1\], got nan"),
    ({"layers": 0}, r"layers \(--layers\) must be an integer in 1\.\.64, got 0"),
    ({"num_anchors": 10**7}, r"num_anchors \(--anchors\) must be an integer in 1\.\.1000000"),
    ({"stem": "patch", "patch_size": 0}, r"patch_size \(--patch-size\) must be an integer in 1\.\.32, got 0"),
    ({"stem": "patch", "patch_size": 64}, r"patch_size \(--patch-size\) must be an integer in 1\.\.32, got 64"),
    ({"stem_dim": 0}, r"stem_dim must be an integer in 1\.\.65536, got 0"),
    ({"height": 100000}, r"image height \(--image-size\) must be an integer in 1\.\.4096, got 100000"),
    ({"num_classes": 1}, r"num_classes must be an integer in 2\.\.100000, got 1"),
    ({"eps": 0.0}, r"eps must be a finite number in \(0, 1\], got 0\.0"),
    ({"label_scale": 0.0}, r"label_scale \(--label-scale\) must be a finite number in \(0, 10000\], got 0\.0"),
    ({"stem": "conv", "stem_widths": []}, r"number of stem_widths \(--stem-widths\) must be an integer in 1\.\.4, got 0"),
    ({"stem": "conv", "stem_widths": [8, 0]}, r"each of stem_widths \(--stem-widths\) must be an integer in 1\.\.65536, got 0"),
])
def test_out_of_range_settings_name_the_setting_value_and_range(kw: dict, message: str) -> None:
    with pytest.raises(Cnn2GnnError, match=message):
        StudentConfig(**{"in_channels": 1, "height": 32, "width": 32, "num_classes": 10, **kw})


def _conv_student(label_mode: str = "both", m: int = 16, k: int = 3) -> CNN2GNNStudent:
    torch.manual_seed(0)
    cfg = StudentConfig(in_channels=1, height=8, width=8, num_classes=4, k=k, num_anchors=m, proj_dim=8, hidden=16,
                        dropout=0.0, stem="conv", stem_widths=[4, 8], label_mode=label_mode)
    model = CNN2GNNStudent(cfg)
    model.set_anchors(torch.randn(m, 1, 8, 8), torch.arange(100, 100 + m), torch.arange(m) % 4)
    return model


@pytest.mark.parametrize("label_mode", ["none", "lp", "embed", "both"])
def test_conv_stem_with_labels_does_not_depend_on_the_batch(label_mode: str) -> None:
    model = _conv_student(label_mode)
    model.train()  # BatchNorm statistics move; eval must still be batch independent
    model(torch.randn(32, 1, 8, 8), torch.arange(32)).sum().backward()
    model.eval()
    x = torch.randn(64, 1, 8, 8)
    with torch.no_grad():
        batched = model(x)
        alone = torch.cat([model(x[i : i + 1]) for i in range(64)])
    assert (alone - batched).abs().max() <= 1e-5


def test_label_scale_and_embedding_get_gradients() -> None:
    model = _conv_student("both").train()
    F.cross_entropy(model(torch.randn(12, 1, 8, 8), torch.arange(12)), torch.randint(0, 4, (12,))).backward()
    assert model.label_log_scale.grad is not None and model.label_log_scale.grad.abs() > 0
    assert model.label_embedding is not None and model.label_embedding.weight.grad.abs().max() > 0


def test_anchor_targets_default_to_one_hot_and_enter_the_logits() -> None:
    model = _conv_student("lp").eval()
    assert torch.equal(model.anchor_targets, F.one_hot(torch.arange(16) % 4, 4).float())
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        before = model(x)
        w, idx = model.neighbours(x)
        # editing the bank's labels (no retraining) moves the logits by beta * sum_j p_ij (Y'_j - Y_j)
        new = model.anchor_targets.roll(1, dims=1)
        model.set_anchors(model.anchor_images.clone(), model.anchor_ids.clone(), model.anchor_labels.clone(), new)
        after = model(x)
        old = F.one_hot(torch.arange(16) % 4, 4).float()
        want = model.label_scale * ((w.unsqueeze(-1) * (new - old)[idx]).sum(1))
    assert (after - before - want).abs().max() <= 1e-5


def test_label_options_are_checked() -> None:
    with pytest.raises(Cnn2GnnError, match=r"label_mode \(--label-mode\) 'bogus' unknown"):
        StudentConfig(in_channels=1, height=8, width=8, num_classes=4, label_mode="bogus")
    with pytest.raises(Cnn2GnnError, match=r"label_targets \(--label-targets\) 'bogus' unknown"):
        StudentConfig(in_channels=1, height=8, width=8, num_classes=4, label_targets="bogus")
    with pytest.raises(Cnn2GnnError, match="needs the anchor graph mode"):
        StudentConfig(in_channels=1, height=8, width=8, num_classes=4, label_mode="lp", graph_mode="batch")


def test_two_hop_self_exclusion_changes_only_training_samples_that_are_anchors() -> None:
    model = _conv_student("lp").train()
    x = model.anchor_images[:4].clone()
    model.cfg.exclude_two_hop_self = True
    torch.manual_seed(1)
    with_excl = model(x, model.anchor_ids[:4])
    model.cfg.exclude_two_hop_self = False
    torch.manual_seed(1)
    without = model(x, model.anchor_ids[:4])
    assert (with_excl - without).abs().max() > 0  # anchors reach themselves in two hops without it
    for flag in (True, False):
        model.cfg.exclude_two_hop_self = flag
        torch.manual_seed(1)
        out = model(x, torch.arange(1000, 1004))  # not anchors: nothing to exclude
        if flag:
            first = out
    assert torch.equal(first, out)


def test_memory_bank_anchors_give_the_live_forward_but_no_gradient_through_the_bank() -> None:
    """anchor_features="memory": the same training logits as "live" (a stem without BatchNorm), but the bank's
    images are not back-propagated through, so the stem learns from the queries alone; the projection and
    GCN weights still get the anchor side's gradient."""
    x, y, ids = torch.randn(12, 1, 6, 6), torch.randint(0, 4, (12,)), torch.arange(12)
    grads = {}
    for features in ("live", "memory"):
        model = _student(stem="patch", patch_size=2, anchor_features=features, label_mode="lp").train()
        model.anchor_images.requires_grad_(True)  # a leaf: its grad says whether the bank was back-propagated
        logits = model(x, ids)
        F.cross_entropy(logits, y).backward()
        grads[features] = (logits.detach(), model.anchor_images.grad, model.features.stem[0].weight.grad.clone(),
                           model.gcn[1].weight.grad)
    live, memory = grads["live"], grads["memory"]
    assert torch.allclose(live[0], memory[0], atol=1e-6)
    assert live[1] is not None and live[1].abs().max() > 0 and memory[1] is None
    assert not torch.allclose(live[2], memory[2])  # the stem's gradient lost the anchors' share
    assert memory[3] is not None and memory[3].abs().max() > 0


def test_memory_bank_eval_is_the_same_model() -> None:
    """The training-time choice does not change what is deployed: eval logits are those of the live student."""
    live = _conv_student("lp")
    memory = CNN2GNNStudent(replace(live.cfg, anchor_features="memory"))
    memory.load_state_dict(live.state_dict())
    x = torch.randn(7, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(live.eval()(x), memory.eval()(x))


def test_the_memory_bank_pass_uses_plain_batchnorm_where_training_synchronises_it() -> None:
    """Every rank holds the same bank: synchronising its statistics would count each anchor once per rank."""
    from torch.nn.modules.batchnorm import _BatchNorm

    from cnn2gnn.toolchain.models.unsynchronised_batchnorm import unsynchronised_batchnorm
    from cnn2gnn.toolchain.training.cpu_sync_batchnorm import CpuSyncBatchNorm

    synced = CpuSyncBatchNorm(4)
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), synced, torch.nn.BatchNorm2d(4))
    x = torch.randn(6, 1, 5, 5)
    with unsynchronised_batchnorm(module):  # CpuSyncBatchNorm's own forward would need a process group
        out = module(x)
        assert synced.forward.__func__ is _BatchNorm.forward
    reference = torch.nn.Sequential(module[0], torch.nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)).train()
    assert torch.allclose(out, reference(x), atol=1e-6)
    assert "forward" not in vars(synced)  # the synchronised forward is back


def test_the_memory_bank_is_recomputed_every_bank_refresh_steps_and_at_each_epoch() -> None:
    """bank_refresh=3: steps 1-3 share one bank computation, step 4 computes a new one from the stem as it is
    then; train() (each epoch) and set_anchors drop it."""
    model = _student(stem="patch", patch_size=2, anchor_features="memory", bank_refresh=3).train()
    x, ids = torch.randn(5, 1, 6, 6), torch.arange(5)
    banks = []
    for _ in range(4):
        model(x, ids)
        banks.append(model._bank)
    assert banks[0] is banks[1] is banks[2] and banks[3] is not banks[2]
    with torch.no_grad():
        assert torch.allclose(banks[3], model.features(model.anchor_images))
    model.train()
    assert model._bank is None


def test_a_stale_bank_changes_training_logits_only_until_the_refresh() -> None:
    """With bank_refresh > 1 a step after a stem update uses the older bank (its logits differ from an every-step
    bank), and the refresh step agrees with it again."""
    every, lagging = (_student(stem="patch", patch_size=2, anchor_features="memory", bank_refresh=r).train()
                      for r in (1, 2))
    lagging.load_state_dict(every.state_dict())
    x, ids = torch.randn(5, 1, 6, 6), torch.arange(5)
    for model in (every, lagging):
        model(x, ids)
        with torch.no_grad():
            model.features.stem[0].weight.mul_(1.5)  # a training step's update, as far as the bank is concerned
    with torch.no_grad():
        assert not torch.allclose(every(x, ids), lagging(x, ids))  # step 2: lagging still uses step 1's bank
        assert torch.allclose(every(x, ids), lagging(x, ids), atol=1e-6)  # step 3: refreshed


def test_anchor_dropout_hides_anchors_from_training_queries_only() -> None:
    dropped = _student(m=64, anchor_dropout=0.5, seed=1).train()
    plain = _student(m=64, seed=1).train()
    x = torch.randn(20, 1, 6, 6)
    with torch.no_grad():
        assert not torch.allclose(dropped(x), plain(x))
        dropped.eval(), plain.eval()
        assert torch.equal(dropped(x), plain(x))  # deployment sees the whole bank


@pytest.mark.parametrize(("field", "value"), [("anchor_dropout", 1.0), ("anchor_dropout", -0.1), ("bank_refresh", 0)])
def test_training_only_bank_settings_are_range_checked(field: str, value: float) -> None:
    with pytest.raises(Cnn2GnnError, match=field):
        _student(**{field: value})


def test_own_loss_exposes_the_own_path_logits_of_a_training_forward() -> None:
    """own_loss > 0: a training forward leaves the GCN's layers applied to the samples' own features alone
    (no neighbours) for the distiller's second loss term; with own_loss = 0 there is none."""
    model = _student(stem="patch", patch_size=2, anchor_features="memory", own_loss=1.0).train()
    x, ids = torch.randn(5, 1, 6, 6), torch.arange(5)
    logits = model(x, ids)
    h = model.features(x)
    expected = model.gcn[1](torch.relu(model.gcn[0](h)))
    assert model.own_logits is not None and torch.allclose(model.own_logits, expected, atol=1e-6)
    assert not torch.allclose(logits, expected)  # the graph's logits are something else
    plain = _student(stem="patch", patch_size=2, anchor_features="memory", own_loss=0.0).train()
    plain(x, ids)
    assert plain.own_logits is None


@pytest.mark.parametrize("graph_mode", ["anchor", "batch"])
def test_the_contrastive_term_alone_also_runs_the_own_path_and_leaves_its_hidden_features(graph_mode: str) -> None:
    """contrastive > 0 with own_loss = 0: the training forward still leaves the own path, whose last layer's
    input (own_hidden) is what the contrastive term reads; evaluation leaves neither."""
    model = _student(graph_mode, own_loss=0.0, contrastive=1.0).train()
    x, ids = torch.randn(12, 1, 6, 6), torch.arange(12)
    model(x, ids if graph_mode == "anchor" else None)
    h = model.features(x)
    assert model.own_hidden is not None and torch.allclose(model.own_hidden, torch.relu(model.gcn[0](h)), atol=1e-6)
    assert model.own_logits is not None
    model.eval()
    model(x)
    assert model.own_hidden is None and model.own_logits is None


@pytest.mark.parametrize(("field", "value"), [("contrastive", -1.0), ("contrastive_temperature", 0.005),
                                              ("contrastive_temperature", 1.5)])
def test_contrastive_settings_are_range_checked(field: str, value: float) -> None:
    with pytest.raises(Cnn2GnnError, match=field):
        _student(**{field: value})


def test_anchor_dropout_on_a_bank_barely_larger_than_k_gives_finite_logits() -> None:
    """Rows left with fewer than k+1 visible anchors fall back to hidden ones at a finite distance: no 0/0."""
    model = _student(m=5, k=3, anchor_dropout=0.9).train()
    torch.manual_seed(0)
    logits = model(torch.randn(200, 1, 6, 6))
    assert torch.isfinite(logits).all()


def test_the_batch_graph_student_also_leaves_its_own_path_logits_for_own_loss() -> None:
    model = _student("batch", own_loss=1.0).train()
    x = torch.randn(12, 1, 6, 6)
    model(x)
    h = model.features(x)
    assert model.own_logits is not None
    assert torch.allclose(model.own_logits, model.gcn[1](torch.relu(model.gcn[0](h))), atol=1e-6)
