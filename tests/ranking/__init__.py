"""Tests of losses-ranking (a package, so that its module names, such as
``test_metrics``, cannot clash with other distributions' test modules)."""
