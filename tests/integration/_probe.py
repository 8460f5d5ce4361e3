"""Probe of what losses-core sees, run (as ``python -c``) inside the fresh
virtual environment; prints one JSON report on the last stdout line.

Order matters, each step observing a fresh process:

1. import torch, then start counting ``importlib.metadata`` scans;
2. ``import losses_core`` and record which plugin modules are loaded, which
   entry-point scans happened and what the fixture log holds;
3. optionally import plugin modules directly (``PROBE_PREIMPORT``);
4. eight threads do the first lookup (``LOSSES["alpha_mse"]``) at once;
5. record the registry: names, listing, plugins, a conflict, qualified
   lookups, an unknown name;
6. register a runtime pre/post-loss hook plugin and call a loss through it
   (so a trace shows hook calls);
7. optionally call losses pickled into a spawned process (``PROBE_SPAWN``);
8. record what the process can see (a full metadata scan).

Environment: ``LOSSES_FIXTURE_LOG`` (read back), ``PROBE_LOOKUP`` (the name
the threads look up; default ``alpha_mse``), ``PROBE_PREIMPORT`` (modules to
import between ``import losses_core`` and the first lookup), ``PROBE_SPAWN``
(also call plugin losses pickled into a spawned process).
"""

import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import sys
import threading
import traceback

import torch

scans = []
_real_entry_points = importlib.metadata.entry_points
_real_distributions = importlib.metadata.distributions


def _counting_entry_points(**params):
    scans.append({"call": "entry_points", "group": params.get("group")})
    return _real_entry_points(**params)


def _counting_distributions(**params):
    scans.append({"call": "distributions", "group": None})
    return _real_distributions(**params)


importlib.metadata.entry_points = _counting_entry_points
importlib.metadata.distributions = _counting_distributions

# losses-core reads *.dist-info/entry_points.txt itself (falling back to
# importlib.metadata); count its scans too. Importing the module scans nothing.
import losses_core._plugins as _discovery  # noqa: E402

_real_scan = _discovery._scan_path_entries


def _counting_scan():
    scans.append({"call": "entry_points", "group": "losses.plugins", "via": "dist-info scan"})
    return _real_scan()


_discovery._scan_path_entries = _counting_scan


def fixture_log():
    path = os.environ.get("LOSSES_FIXTURE_LOG")
    if not path or not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as log:
        return [line.split()[:2] for line in log if line.strip()]


def plugin_modules():
    return sorted(m for m in sys.modules if m.startswith("losses_fixture"))


def error_of(fn):
    try:
        fn()
    except Exception as exc:
        return {
            "type": type(exc).__name__,
            "mro": [c.__name__ for c in type(exc).__mro__],
            "message": str(exc.args[0]) if exc.args else str(exc),
        }
    return None


report = {"python": sys.executable, "sys_path": sys.path, "torch_file": torch.__file__}

import losses_core  # noqa: E402
from losses_core import LOSSES  # noqa: E402

report["losses_core_file"] = losses_core.__file__
report["after_import"] = {
    "plugin_modules": plugin_modules(),
    "scans": list(scans),
    "log": fixture_log(),
    "losses_core_modules": sorted(m for m in sys.modules if m.startswith("losses_core")),
    "yaml_loaded": "yaml" in sys.modules,
}

# A plugin module imported by user code before the first lookup (``from
# losses_vae import elbo`` is ordinary use) must still count as its distribution's.
for module in filter(None, os.environ.get("PROBE_PREIMPORT", "").split(",")):
    __import__(module)

# -- 8 threads, first lookup at once ------------------------------------------
lookup = os.environ.get("PROBE_LOOKUP", "alpha_mse")
barrier = threading.Barrier(8)
thread_results = [None] * 8


def first_lookup(i):
    barrier.wait()
    try:
        thread_results[i] = LOSSES[lookup].qualified_name
    except Exception as exc:
        thread_results[i] = f"{type(exc).__name__}: {exc}"


threads = [threading.Thread(target=first_lookup, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
report["threads"] = {"lookup": lookup, "results": thread_results, "log": fixture_log()}
report["scans_after_lookup"] = list(scans)

# -- the registry ---------------------------------------------------------------
report["keys"] = sorted(LOSSES)
report["losses"] = [dataclasses.asdict(i) for i in losses_core.list_losses()]
report["plugins"] = [
    {k: v for k, v in dataclasses.asdict(p).items() if k != "traceback"} for p in losses_core.list_plugins()
]
report["plugin_modules"] = plugin_modules()

x = {"predictions": torch.tensor([1.0, 2.0, 3.0], requires_grad=True)}
y = {"target": torch.tensor([1.0, 0.0, 0.0])}


def call(name, **params):
    def run():
        handle = LOSSES[name]
        value = handle(x, y, **params)
        return {
            "value": value.item(),
            "provider": handle.provider,
            "module": handle.function.__module__,
            "qualified_name": handle.qualified_name,
        }

    try:
        return run()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


report["calls"] = {
    name: call(name)
    for name in (
        "mse",
        "alpha_mse",
        "alpha-mse-alias",
        "beta_l1",
        "shared_loss",
        "shared_loss@losses-fixture-alpha",
        "shared_loss@losses-fixture-beta",
        "shared_loss@losses_fixture_alpha",
    )
}
report["errors"] = {
    "shared_loss": error_of(lambda: LOSSES["shared_loss"]),
    "nonexistent": error_of(lambda: LOSSES["nonexistent"]),
}
report["shared_loss_in_losses"] = "shared_loss" in LOSSES

# -- a runtime hook plugin ------------------------------------------------------------


class ProbeHooks:
    @losses_core.hookimpl
    def losses_pre_loss(self, call):
        call.params = dict(call.params)

    @losses_core.hookimpl
    def losses_post_loss(self, call):
        call.result["metrics"]["probe"] = 1.0


try:
    with losses_core.use_hooks(ProbeHooks()):
        report["hooked_call"] = LOSSES["mse"](x, y).item()
except Exception:
    report["hooked_call"] = traceback.format_exc()

# -- pickling into a spawned process (DataLoader workers, DDP) -------------------------------
if os.environ.get("PROBE_SPAWN"):
    import multiprocessing

    plain_x = {"predictions": x["predictions"].detach()}

    def in_child(pool, fn):
        try:
            out = pool.apply(fn, (plain_x, y))
            return (out["loss"] if isinstance(out, dict) else out).item()
        except Exception as exc:
            return f"error {type(exc).__name__}: {exc}"

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        report["spawn"] = {
            "alpha_mse": in_child(pool, LOSSES["alpha_mse"]),
            "shared_loss@losses-fixture-beta": in_child(pool, LOSSES["shared_loss@losses-fixture-beta"]),
            "resolved alpha_mse scale=2": in_child(pool, losses_core.resolve_loss("alpha_mse", scale=2.0)),
            "in parent": LOSSES["alpha_mse"](plain_x, y).item(),
        }

# -- last, as it scans metadata itself: what this process can see ---------------------
report["visible"] = {
    "pytest": importlib.util.find_spec("pytest") is not None,
    "hatchling": importlib.util.find_spec("hatchling") is not None,
    "numpy": importlib.util.find_spec("numpy") is not None,
    "fixture_dist_paths": sorted(
        str(d._path)
        for d in importlib.metadata.distributions()
        if (d.metadata["Name"] or "").startswith("losses-fixture")
    ),
}

sys.stdout.write("\nPROBE-REPORT " + json.dumps(report) + "\n")
