"""losses-ranking: learning-to-rank, metric-learning and contrastive losses.

Importing the package registers every loss with losses-core (each module's
``@register_loss``); the ``losses.plugins`` entry point names the package
itself, so ``LOSSES["ranknet"]`` finds them without an import. Each loss is
also callable directly, ``losses_ranking.ranknet(model_output, targets,
**params)``, and returns ``{"loss", "metrics", "auxiliary"}`` (the bare
per-item tensor with ``reduction="none"``). :mod:`losses_ranking.metrics`
holds NDCG@k, DCG@k and MRR.

The pairwise ``margin_ranking`` and ``contrastive`` losses are built into
losses-core.
"""

from __future__ import annotations

from losses_ranking import metrics
from losses_ranking._version import __version__
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
