"""Probe of what losses-core sees, run (as ``python -c``) inside the fresh
virtual environment; prints one JSON report on the last stdout line.

Order matters, each step observing a fresh process:

1. count ``importlib.metadata`` scans and losses-core's own scans of the
   installed metadata, and its reads of manifests; ``import losses_core``
   and record which plugin modules are loaded, whether torch is, which
   manifests were read and what the fixture log holds;
2. optionally (``PROBE_BAD_ENV=VARIABLE=value``) set one ``LOSSES_*``
   variable to an invalid value, look ``mse`` up twice and list the losses
   (each must raise), then put the variable back as the probe's environment
   had it: every later step shows that the process recovered;
3. optionally (``PROBE_LIST_FIRST``) list losses and plugins, then miss a
   lookup, before any lookup succeeds, recording what each imported;
4. optionally import plugin modules directly (``PROBE_PREIMPORT``);
5. eight threads do the first lookup (``PROBE_LOOKUP``, default
   ``alpha_mse``) at once; record what that imported;
6. call losses (``PROBE_CALLS`` adds names) and record the errors of
   lookups that fail (``PROBE_ERRORS`` adds names), what the fixture log
   holds then (hooks log the calls they see) and the metrics of a resolved
   loss, then the registry: names, listing, plugins, and what ``losses
   doctor`` would report in this process;
7. register a runtime pre/post-loss hook plugin and call a loss through it
   (so a trace shows hook calls);
8. optionally call losses pickled into a spawned process (``PROBE_SPAWN``);
9. record what the process can see (a full metadata scan).

Environment: ``LOSSES_FIXTURE_LOG`` (the fixture plugins log their imports
there; read back).
"""

import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import sys
import threading
import traceback

scans = []
_real_entry_points = importlib.metadata.entry_points
_real_distributions = importlib.metadata.distributions


def _caller():
    """The module that called the scan (torch reads entry points of its own groups)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("importlib"):
        frame = frame.f_back
    return frame.f_globals.get("__name__", "?") if frame is not None else "?"


def _counting_entry_points(**params):
    scans.append({"call": "entry_points", "group": params.get("group"), "by": _caller()})
    return _real_entry_points(**params)


def _counting_distributions(**params):
    scans.append({"call": "distributions", "group": None, "by": _caller()})
    return _real_distributions(**params)


importlib.metadata.entry_points = _counting_entry_points
importlib.metadata.distributions = _counting_distributions

# losses-core reads *.dist-info/entry_points.txt itself (falling back to
# importlib.metadata); count its scans too. Importing the module scans nothing.
import losses_core._plugins as _plugins  # noqa: E402

_real_scan = _plugins.scan_installed


def _counting_scan(*args, **kwargs):
    scans.append({"call": "scan_installed", "group": "losses.plugins", "by": _caller()})
    return _real_scan(*args, **kwargs)


_plugins.scan_installed = _counting_scan

# ... and the manifests it reads (``package:losses.json`` references).
manifest_reads = []
_real_read_manifest = _plugins.read_manifest


def _counting_read_manifest(reference, *args, **kwargs):
    manifest_reads.append(reference)
    return _real_read_manifest(reference, *args, **kwargs)


_plugins.read_manifest = _counting_read_manifest


def fixture_log():
    path = os.environ.get("LOSSES_FIXTURE_LOG")
    if not path or not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as log:
        return [line.split()[:2] for line in log if line.strip()]


def plugin_modules():
    return sorted(m for m in sys.modules if m.startswith("losses_fixture"))


def state():
    return {
        "plugin_modules": plugin_modules(),
        "torch": "torch" in sys.modules,
        "log": fixture_log(),
        "manifest_reads": list(manifest_reads),
    }


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


report = {"python": sys.executable, "sys_path": sys.path}

import losses_core  # noqa: E402
from losses_core import LOSSES  # noqa: E402

report["losses_core_file"] = losses_core.__file__
report["after_import"] = {
    **state(),
    "scans": list(scans),
    "losses_core_modules": sorted(m for m in sys.modules if m.startswith("losses_core")),
    "yaml_loaded": "yaml" in sys.modules,
}

# -- an invalid LOSSES_* value, then the environment fixed -------------------------------------
bad = os.environ.get("PROBE_BAD_ENV")
if bad:
    variable, _, value = bad.partition("=")
    proper = os.environ.get(variable)
    os.environ[variable] = value
    errors = [error_of(lambda: LOSSES["mse"]) for _ in range(2)]
    errors.append(error_of(losses_core.list_losses))
    if proper is None:
        del os.environ[variable]
    else:
        os.environ[variable] = proper
    report["bad_env"] = {"variable": variable, "value": value, "errors": errors, **state()}

# -- listing (and a missed lookup) before any lookup ------------------------------------------
if os.environ.get("PROBE_LIST_FIRST"):
    listed = [i.qualified_name for i in losses_core.list_losses()]
    plugins = [p.name for p in losses_core.list_plugins()]
    names = sorted(LOSSES)
    report["listing_first"] = {"losses": listed, "plugins": plugins, "keys": names, **state()}
    # a lookup that misses is still the first lookup: it imports the plugin modules
    report["missed_lookup"] = {"misspelt": error_of(lambda: LOSSES["alpha_mes"]), **state()}

# A plugin module imported by user code before the first lookup (``from
# losses_vae.elbo import elbo`` is ordinary use) must still count as its distribution's.
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
report["threads"] = {"lookup": lookup, "results": thread_results, **state()}
report["scans_after_lookup"] = list(scans)

# -- calls and errors -------------------------------------------------------------------------
import torch  # noqa: E402

report["torch_file"] = torch.__file__

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


CALLS = (
    "mse",
    "MSE",
    "squared_error",
    "mse@losses-core",
    "MSE@losses-core",
    "alpha_mse",
    "alpha-mse-alias",
    "beta_l1",
    "shared_loss",
    "shared_loss@losses-fixture-alpha",
    "shared_loss@losses-fixture-beta",
    "shared_loss@losses_fixture_alpha",
    "noisy_loss",
    "noisy_hooked",
    "loud_loss",
    "exit_neighbour",
    "hooked_loss",
)
extra_calls = tuple(filter(None, os.environ.get("PROBE_CALLS", "").split(",")))
report["calls"] = {name: call(name) for name in CALLS + extra_calls}
ERRORS = ("shared_loss", "nonexistent", "exit_loss", "quit_loss")
extra = tuple(filter(None, os.environ.get("PROBE_ERRORS", "").split(",")))
report["errors"] = {name: error_of(lambda name=name: LOSSES[name]) for name in ERRORS + extra}
# The same failed lookups again: still the same error, still no exit.
report["errors_again"] = {name: error_of(lambda name=name: LOSSES[name]) for name in ERRORS + extra}
report["log"] = fixture_log()
try:
    report["resolved_metrics"] = sorted(losses_core.resolve_loss("alpha_mse")(x, y)["metrics"])
except Exception as exc:
    report["resolved_metrics"] = f"{type(exc).__name__}: {exc}"
report["shared_loss_in_losses"] = "shared_loss" in LOSSES
report["keys"] = sorted(LOSSES)
report["losses"] = [dataclasses.asdict(i) for i in losses_core.list_losses()]
report["plugins"] = [
    {k: v for k, v in dataclasses.asdict(p).items() if k != "traceback"} for p in losses_core.list_plugins()
]
report["plugin_modules"] = plugin_modules()
from losses_core._cli import doctor_report  # noqa: E402

doctor = doctor_report()
report["doctor"] = {k: doctor[k] for k in ("broken_plugins", "noisy_plugins", "takeovers", "conflicts")}

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
def fixture_dist_paths():
    paths = []
    for dist in importlib.metadata.distributions():
        try:
            name = dist.metadata["Name"] or ""
        except Exception:  # the malformed installs some probes add
            continue
        if name.startswith("losses-fixture"):
            paths.append(str(dist._path))
    return sorted(paths)


report["visible"] = {
    "pytest": importlib.util.find_spec("pytest") is not None,
    "hatchling": importlib.util.find_spec("hatchling") is not None,
    "numpy": importlib.util.find_spec("numpy") is not None,
    "fixture_dist_paths": fixture_dist_paths(),
}

sys.stdout.write("\nPROBE-REPORT " + json.dumps(report) + "\n")
