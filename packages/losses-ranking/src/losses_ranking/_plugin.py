"""The ``losses.plugins`` entry point of losses-ranking: registers every loss."""

from __future__ import annotations

from losses_core import LossRegistrar, hookimpl
from losses_ranking import _examples as ex
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


@hookimpl
def losses_register(register: LossRegistrar) -> None:
    """Register the ranking, metric-learning and contrastive losses."""
    register("ranknet", ranknet, example_inputs=ex.ranknet_example)
    register("listnet", listnet, example_inputs=ex.listnet_example)
    register("listmle", listmle, example_inputs=ex.listmle_example)
    register("lambda_loss", lambda_loss, example_inputs=ex.lambda_loss_example)
    register("approx_ndcg", approx_ndcg, example_inputs=ex.approx_ndcg_example)
    register("neural_ndcg", neural_ndcg, example_inputs=ex.neural_ndcg_example)
    register("triplet", triplet, example_inputs=ex.triplet_example)
    register("multi_similarity", multi_similarity, example_inputs=ex.multi_similarity_example)
    register("supcon", supcon, example_inputs=ex.supcon_example)
    register("ntxent", ntxent, aliases=("infonce",), example_inputs=ex.ntxent_example)
    register("clip", clip, example_inputs=ex.clip_example)
    register("siglip", siglip, example_inputs=ex.siglip_example)
