"""The CNN2GNN student's settings: what ``StudentConfig`` holds, its measured defaults and their ranges."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.graph_spec import GraphSpec
from cnn2gnn.contracts.preprocessing import MAX_IMAGE_SIDE
from cnn2gnn.contracts.setting_ranges import require_float_in, require_int_in
from cnn2gnn.toolchain.graph.dsgl import DEFAULT_EPS
from cnn2gnn.toolchain.models.student_stems import STEMS

# How the anchors' labels enter the messages (anchor mode): "none"; "lp", a label-propagation term in
# the last layer, logits += beta * sum_j p_ij Y_j; "embed", a label embedding E Y_j added to the anchors'
# layer-1 messages; "both".
LABEL_MODES = ("none", "lp", "embed", "both")
# What Y_j is: the anchors' one-hot labels, or the teacher's softmax on them (set by the distiller).
LABEL_TARGETS = ("onehot", "teacher")
# How training computes the anchors' node features each step: "live", through the stem with gradients
# (every anchor is then trained at every step, M/B times as often as any other image, and the stem
# memorises the bank); "memory", a memory bank of the current stem's features computed without gradient,
# so an anchor is trained only when it comes round as a query, once per epoch like every other image.
ANCHOR_FEATURES = ("live", "memory")
# Upper bounds that only catch typos (an extra zero or two); real students stay far below them.
MAX_CLASSES = 100_000
MAX_ANCHORS = 1_000_000
MAX_WIDTH = 65_536
MAX_LAYERS = 64
MAX_STEM_BLOCKS = 4
MAX_LABEL_SCALE = 1e4
MAX_BANK_REFRESH = 1_000_000
# Cosine similarities (-1..1) over the temperature: at 1 and above the pairs' weights differ by at most e^2 and
# the term barely shapes anything; below 0.01 a few pairs take all the weight (SupCon uses 0.05-0.2).
CONTRASTIVE_TEMPERATURES = (0.01, 1.0)


@dataclass
class StudentConfig:
    in_channels: int
    height: int
    width: int
    num_classes: int
    # The defaults are the measured configuration (benchmarks/report.py, docs/benchmarks.md,
    # benchmarks/student_exp/README.md): a learned conv stem, anchors carrying the teacher's soft labels (label
    # propagation), up to 1024 anchors held as a memory bank while training, the own-path loss against near-copy
    # neighbours, alpha refitted on validation. `cnn2gnn distill` uses the same defaults.
    k: int = 10
    num_anchors: int = 1024
    anchor_selection: str = "class-balanced"
    proj_dim: int = 32
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.0
    graph_mode: str = "anchor"
    alpha: float = 0.5
    learn_alpha: bool = True
    stem: str = "conv"
    patch_size: int = 4
    stem_dim: int = 16
    stem_widths: list[int] = field(default_factory=lambda: [16, 32, 32])
    label_mode: str = "lp"
    label_targets: str = "teacher"
    label_scale: float = 4.0
    learn_label_scale: bool = True
    # Training only (2-layer anchor mode): a training sample that is an anchor reaches itself in two hops
    # (its neighbour j's hidden features aggregate j's own anchor neighbours, which may include the
    # sample). Remove that term (leave-one-out, p_ji dropped and the rest renormalised) so training sees
    # the graph a new image sees at deployment.
    exclude_two_hop_self: bool = False  # measured: no gain on digits (g_none_joint); off by default
    anchor_features: str = "memory"
    # Training only (anchor mode): each query-anchor pair is hidden from the query with this probability,
    # so training queries meet neighbours as far away as a new image's (a training image's nearest anchors
    # are often near-copies of it) and the head cannot lean on one very close anchor.
    anchor_dropout: float = 0.0
    # Training steps between recomputations of the memory bank's stem features (anchor_features "memory"):
    # 1 recomputes every step; larger values let a bank of thousands of anchors train at the cost of a
    # small one, the bank then lagging the stem by at most that many steps (it is fresh at every epoch).
    bank_refresh: int = 1
    # After training (anchor mode): choose alpha (own vs neighbours) again on the validation split, where
    # neighbours are as far as a new image's (cnn2gnn.toolchain.distill.graph_mixing).
    fit_mixing: bool = True
    # Training only (both graph modes): weight of a second loss term on the own path alone (the GCN's layers on the
    # sample's features without neighbours, the same weights). Training queries find near-copies of themselves
    # among the anchors, so the neighbours alone can fit the training labels and the stem stops learning; this
    # term keeps the sample's own features a classifier on their own.
    own_loss: float = 1.0
    # Training only (both graph modes): weight of a supervised contrastive term on the own path's input to the last
    # layer (the neighbour-free version of the space the exported novelty and an enrolled class's column use: those
    # mix in the neighbours' messages, with alpha near 1 after the refit), and its temperature
    # (cnn2gnn.toolchain.distill.contrastive_loss).
    contrastive: float = 0.0
    contrastive_temperature: float = 0.1
    eps: float = DEFAULT_EPS

    def __post_init__(self) -> None:
        _ = self.graph  # validates mode, k (TensorRT's TopK limit) and M now, not at export after training
        self.stem_widths = list(self.stem_widths)
        if self.label_mode not in LABEL_MODES:
            raise Cnn2GnnError(
                f"label_mode (--label-mode) {self.label_mode!r} unknown; use one of {' | '.join(LABEL_MODES)}"
            )
        if self.anchor_features not in ANCHOR_FEATURES:
            raise Cnn2GnnError(
                f"anchor_features (--anchor-features) {self.anchor_features!r} unknown; use one of "
                f"{' | '.join(ANCHOR_FEATURES)}"
            )
        if self.label_targets not in LABEL_TARGETS:
            raise Cnn2GnnError(
                f"label_targets (--label-targets) {self.label_targets!r} unknown; use one of {' | '.join(LABEL_TARGETS)}"
            )
        if self.label_mode != "none" and self.graph_mode != "anchor":
            raise Cnn2GnnError(
                f"label_mode (--label-mode) {self.label_mode!r} needs the anchor graph mode (the batch graph has "
                "no labelled anchors); use --graph-mode anchor or --label-mode none"
            )
        require_float_in("label_scale (--label-scale)", self.label_scale, 0.0, MAX_LABEL_SCALE, low_open=True)
        if self.stem == "conv":
            require_int_in("number of stem_widths (--stem-widths)", len(self.stem_widths), 1, MAX_STEM_BLOCKS)
            for stem_width in self.stem_widths:
                require_int_in("each of stem_widths (--stem-widths)", stem_width, 1, MAX_WIDTH)
        if self.stem not in STEMS:
            raise Cnn2GnnError(f"stem {self.stem!r} unknown; use one of {STEMS}")
        for name, value in (("height", self.height), ("width", self.width)):
            require_int_in(f"image {name} (--image-size)", value, 1, MAX_IMAGE_SIDE)
        require_int_in("in_channels", self.in_channels, 1, 3)
        require_int_in("num_classes", self.num_classes, 2, MAX_CLASSES)
        require_int_in("num_anchors (--anchors)", self.num_anchors, 1, MAX_ANCHORS)
        require_int_in("proj_dim (--proj-dim)", self.proj_dim, 1, MAX_WIDTH)
        require_int_in("hidden (--hidden)", self.hidden, 1, MAX_WIDTH)
        require_int_in("layers (--layers)", self.layers, 1, MAX_LAYERS)
        require_float_in("dropout (--dropout)", self.dropout, 0.0, 1.0, high_open=True)
        require_float_in("alpha (--alpha)", self.alpha, 0.0, 1.0)
        require_float_in("own_loss (--own-loss)", self.own_loss, 0.0, MAX_LABEL_SCALE)
        require_float_in("contrastive (--contrastive)", self.contrastive, 0.0, MAX_LABEL_SCALE)
        require_float_in("contrastive_temperature (--contrastive-temperature)", self.contrastive_temperature,
                         *CONTRASTIVE_TEMPERATURES)
        require_int_in("bank_refresh (--bank-refresh)", self.bank_refresh, 1, MAX_BANK_REFRESH)
        require_float_in("anchor_dropout (--anchor-dropout)", self.anchor_dropout, 0.0, 1.0, high_open=True)
        patch_limit = min(self.height, self.width) if self.stem == "patch" else MAX_IMAGE_SIDE
        require_int_in("patch_size (--patch-size)", self.patch_size, 1, patch_limit)
        require_int_in("stem_dim", self.stem_dim, 1, MAX_WIDTH)
        require_float_in("eps", self.eps, 0.0, 1.0, low_open=True)
        if self.stem == "patch" and (self.height % self.patch_size or self.width % self.patch_size):
            raise Cnn2GnnError(
                f"patch size {self.patch_size} must divide the image size {self.height}x{self.width}"
            )

    @property
    def graph(self) -> GraphSpec:
        return GraphSpec(mode=self.graph_mode, k=self.k, num_anchors=self.num_anchors)

    def to_dict(self) -> dict[str, Any]:
        return {"family": "cnn2gnn-student", **asdict(self)}
