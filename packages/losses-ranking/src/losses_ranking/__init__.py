"""losses-ranking: learning-to-rank, metric-learning and contrastive losses.

The ``losses.plugins`` entry point names the package's manifest,
``losses_ranking/losses.json``, so ``LOSSES["ranknet"]`` finds every loss
without importing any code. Each loss's module, whose ``@register_loss``
declaration registers the loss, is imported when the loss is first looked up
or when its name is first accessed on this package (PEP 562);
``import losses_ranking`` imports none of them. Each loss is
also callable directly, ``losses_ranking.ranknet(model_output, targets,
**params)``, and returns ``{"loss", "metrics", "auxiliary"}`` (the bare
per-item tensor with ``reduction="none"``). :mod:`losses_ranking.metrics`
holds NDCG@k, DCG@k and MRR.

The pairwise ``margin_ranking`` and ``contrastive`` losses are built into
losses-core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from losses_core.lazy import export_lazily
from losses_ranking._version import __version__

if TYPE_CHECKING:
    from losses_ranking import metrics
    from losses_ranking.approx_ndcg import approx_ndcg
    from losses_ranking.clip import clip
    from losses_ranking.lambda_loss import lambda_loss
    from losses_ranking.listmle import listmle
    from losses_ranking.listnet import listnet
    from losses_ranking.multi_similarity import multi_similarity
    from losses_ranking.neural_ndcg import neural_ndcg
    from losses_ranking.ntxent import ntxent
    from losses_ranking.ranknet import ranknet
    from losses_ranking.siglip import siglip
    from losses_ranking.supcon import supcon
    from losses_ranking.triplet import triplet

_SUBMODULES = frozenset({"metrics"})
"""Public names that are submodules themselves."""

_EXPORTS = {
    "approx_ndcg": "approx_ndcg",
    "clip": "clip",
    "lambda_loss": "lambda_loss",
    "listmle": "listmle",
    "listnet": "listnet",
    "multi_similarity": "multi_similarity",
    "neural_ndcg": "neural_ndcg",
    "ntxent": "ntxent",
    "ranknet": "ranknet",
    "siglip": "siglip",
    "supcon": "supcon",
    "triplet": "triplet",
}

__all__ = [
    "__version__",
    "approx_ndcg",
    "clip",
    "lambda_loss",
    "listmle",
    "listnet",
    "metrics",
    "multi_similarity",
    "neural_ndcg",
    "ntxent",
    "ranknet",
    "siglip",
    "supcon",
    "triplet",
]


export_lazily(__name__, _EXPORTS, _SUBMODULES)
