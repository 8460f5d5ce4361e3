"""Opt-in hook plugins shipped with losses-core.

Register them with :func:`losses_core.register_hooks` or scope them with
:func:`losses_core.use_hooks`::

    from losses_core import MetricsCollector, NonFiniteGuard, use_hooks

    collector = MetricsCollector()
    with use_hooks(NonFiniteGuard(), collector):
        ...train...
    print(collector.summary())
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from losses_core._call import LossCall
from losses_core._errors import NonFiniteLossError
from losses_core._hooks import hookimpl
from losses_core._names import QUALIFIER

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup

__all__ = ["MetricsCollector", "NonFiniteGuard"]

_SHOWN_VALUES = 8
"""How many elements of a non-finite tensor an error message shows."""
_SHOWN_CHARACTERS = 200
"""How long the repr of a call's parameters may be in an error message."""


def _describe(call: LossCall) -> str:
    """``loss 'mse' (losses-core)``, with the composite term when there is one."""
    if call.label is None:
        return f"loss {call.name!r} ({call.provider})"
    return f"loss {call.name!r} ({call.provider}; term {call.label!r} of a composite loss)"


def _show(value: torch.Tensor) -> str:
    """The value of a tensor for a message: at most a few elements are copied and shown."""
    flat = value.detach().flatten()
    shown = flat[:_SHOWN_VALUES].cpu().tolist()
    if value.ndim == 0:
        return repr(shown[0])
    if flat.numel() <= _SHOWN_VALUES:
        return repr(shown)
    return f"[{', '.join(map(repr, shown))}, ...] (shape {tuple(value.shape)})"


def _capped(text: str) -> str:
    if len(text) <= _SHOWN_CHARACTERS:
        return text
    return f"{text[: _SHOWN_CHARACTERS - 3]}... ({len(text)} characters)"


class NonFiniteGuard:
    """Raise :class:`NonFiniteLossError` when a loss (and optionally a metric)
    is NaN or infinite, naming the loss, its provider, the composite term it
    computes (if any) and its parameters.

    The check reads the value on the host, so it synchronises with an
    accelerator and is a graph break under ``torch.compile``; use it while
    debugging or in eager training.

    :param check_metrics: check every floating tensor metric too.
    """

    def __init__(self, *, check_metrics: bool = False) -> None:
        self.check_metrics = check_metrics

    @hookimpl(trylast=True)
    def losses_post_loss(self, call: LossCall) -> None:
        assert call.result is not None
        values = {"loss": call.result["loss"]}
        if self.check_metrics:
            values.update(
                {
                    f"metrics[{k!r}]": v
                    for k, v in call.result["metrics"].items()
                    if isinstance(v, torch.Tensor)
                }
            )
        for where, value in values.items():
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise NonFiniteLossError(
                    f"{_describe(call)} produced a non-finite {where}: {_show(value)} "
                    f"with params {_capped(repr(call.params))}"
                )

    def __repr__(self) -> str:
        return f"NonFiniteGuard(check_metrics={self.check_metrics})"


# -- MetricsCollector -------------------------------------------------------------------
_Key = tuple[str | None, str, str, str]
"""What one sum is kept for: (composite term label or None, loss name, provider, metric)."""


class _Sum:
    """The running sum of one key: a tensor on the values' device, a Python
    float for values that were Python numbers, and how many calls reported it."""

    __slots__ = ("count", "number", "tensor")

    def __init__(self) -> None:
        self.tensor: torch.Tensor | None = None
        self.number = 0.0
        self.count = 0


def _sum_dtype(device: torch.device) -> torch.dtype:
    """float64, except on MPS, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


class MetricsCollector:
    """Accumulate the loss and the scalar metrics of every call, for logging.

    :meth:`summary` returns flat keys ``"<group>/<metric>"`` (``"loss"`` for
    the loss itself), ready for Lightning's ``log_dict``. A term of a
    composite loss is grouped under its label, so its keys are exactly those
    of the composite result's ``metrics`` (``"recon_b/loss"``,
    ``"lm/accuracy"``); any other call under the loss's registered name
    (``"token_ce/accuracy"``), qualified with its provider
    (``"focal@losses-foo/loss"``) when the collector saw that name from more
    than one provider outside a composite.

    A value is collected when it is a one-element real tensor (detached and
    summed in float64, float32 on MPS, on its own device: collecting costs no
    host synchronisation) or a Python number; other metrics are skipped. Each
    key's mean is over the calls that reported it.

    :param reduce_across_ranks: make :meth:`summary` a mean over every
        process of ``group``: each key's sums and call counts are added up
        across processes (one ``all_reduce``) before dividing, so every call
        weighs the same whichever process made it. A collective: every
        process must call :meth:`summary`, and each gets the same result.
        Without an initialised ``torch.distributed`` process group of more
        than one process, the summary is the local one.
    :param group: the process group to reduce over; ``None`` is the default
        (whole world) group.
    """

    def __init__(self, *, reduce_across_ranks: bool = False, group: ProcessGroup | None = None) -> None:
        self.reduce_across_ranks = reduce_across_ranks
        self.group = group
        self._sums: dict[_Key, _Sum] = {}

    @hookimpl(trylast=True)
    def losses_post_loss(self, call: LossCall) -> None:
        result = call.result
        assert result is not None
        label, name, provider = call.label, call.name, call.provider
        self._add((label, name, provider, "loss"), result["loss"])
        for metric, value in result["metrics"].items():
            self._add((label, name, provider, metric), value)

    def _add(self, key: _Key, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            if value.numel() != 1 or value.is_complex():
                return
            value = value.detach().reshape(())
            entry = self._sums.get(key) or self._sums.setdefault(key, _Sum())
            if entry.tensor is None:
                entry.tensor = value.to(_sum_dtype(value.device))
            else:
                entry.tensor = entry.tensor + value
        elif isinstance(value, (int, float)):
            entry = self._sums.get(key) or self._sums.setdefault(key, _Sum())
            entry.number += value
        else:
            return
        entry.count += 1

    def summary(self) -> dict[str, float]:
        """The mean of every key since the last reset, as Python floats:
        ``{"recon_a/loss": 1.0, "recon_b/loss": 81.0, ...}``.

        Every value is read with one device-to-host transfer (one per device
        that holds values), not one per key. Reducing across processes adds
        one small transfer that checks that every process collected the same
        keys (when they did not, the key names are exchanged with
        ``all_gather_object`` and a key a process never saw counts zero calls
        there).
        """
        keys = list(self._sums)
        if self._reduces():
            keys = _agreed_keys(keys, self.group)
            totals = self._reduced_totals(keys)
        else:
            totals = self._local_totals(keys)
        return _means(keys, totals)

    def reset(self) -> None:
        """Forget everything collected so far (call it at the start of each epoch)."""
        self._sums.clear()

    def _reduces(self) -> bool:
        if not self.reduce_across_ranks:
            return False
        import torch.distributed as dist

        return dist.is_available() and dist.is_initialized() and dist.get_world_size(self.group) > 1

    def _local_totals(self, keys: Sequence[_Key]) -> list[tuple[float, float]]:
        sums = [self._sums[key] for key in keys]
        totals = [entry.number for entry in sums]
        for indices, tensors in _by_device(sums):
            for index, value in zip(indices, torch.stack(tensors).tolist(), strict=True):
                totals[index] += value
        return [(total, float(entry.count)) for total, entry in zip(totals, sums, strict=True)]

    def _reduced_totals(self, keys: Sequence[_Key]) -> list[tuple[float, float]]:
        """Sums and counts added up across the processes: one ``all_reduce``, one read."""
        if not keys:
            return []
        import torch.distributed as dist

        device = _collective_device(self.group)
        sums = [self._sums.get(key) for key in keys]
        host = [entry.number if entry else 0.0 for entry in sums]
        host += [float(entry.count) if entry else 0.0 for entry in sums]
        totals = torch.tensor(host, dtype=torch.float64).to(device)
        for indices, tensors in _by_device(sums):
            stacked = torch.stack(tensors).to(device).to(torch.float64)
            totals.index_add_(0, torch.tensor(indices, device=device), stacked)
        dist.all_reduce(totals, op=dist.ReduceOp.SUM, group=self.group)
        read = totals.tolist()
        return list(zip(read[: len(keys)], read[len(keys) :], strict=True))

    def __repr__(self) -> str:
        return f"MetricsCollector(keys={len(self._sums)}, reduce_across_ranks={self.reduce_across_ranks})"


def _by_device(sums: Sequence[_Sum | None]) -> list[tuple[list[int], list[torch.Tensor]]]:
    """The tensor sums grouped by device and dtype (each group stacks into one
    tensor), with their positions in ``sums``."""
    groups: dict[tuple[torch.device, torch.dtype], tuple[list[int], list[torch.Tensor]]] = {}
    for index, entry in enumerate(sums):
        if entry is not None and entry.tensor is not None:
            indices, tensors = groups.setdefault((entry.tensor.device, entry.tensor.dtype), ([], []))
            indices.append(index)
            tensors.append(entry.tensor)
    return list(groups.values())


def _means(keys: Sequence[_Key], totals: Sequence[tuple[float, float]]) -> dict[str, float]:
    """``{"<group>/<metric>": mean}``; keys that flatten to the same name are
    pooled (their sums and counts added)."""
    ambiguous = _names_from_several_providers(keys)
    pooled: dict[str, tuple[float, float]] = {}
    for (label, name, provider, metric), (total, count) in zip(keys, totals, strict=True):
        if label is not None:
            group = label
        elif name in ambiguous:
            group = f"{name}{QUALIFIER}{provider}"
        else:
            group = name
        flat = f"{group}/{metric}"
        before_total, before_count = pooled.get(flat, (0.0, 0.0))
        pooled[flat] = (before_total + total, before_count + count)
    return {flat: total / count for flat, (total, count) in pooled.items()}


def _names_from_several_providers(keys: Sequence[_Key]) -> set[str]:
    providers: dict[str, set[str]] = {}
    for label, name, provider, _ in keys:
        if label is None:
            providers.setdefault(name, set()).add(provider)
    return {name for name, found in providers.items() if len(found) > 1}


# -- across processes --------------------------------------------------------------------
def _collective_device(group: ProcessGroup | None) -> torch.device:
    """Where the backend of ``group`` reduces tensors: CUDA for NCCL, the host
    for gloo and MPI, the current accelerator otherwise."""
    import torch.distributed as dist

    backend = str(dist.get_backend(group))
    if "nccl" in backend:
        return torch.device("cuda", torch.cuda.current_device())
    if backend in ("gloo", "mpi"):
        return torch.device("cpu")
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    current = accelerator.current_accelerator() if accelerator is not None else None
    return torch.device("cpu") if current is None else torch.device(current)


def _agreed_keys(keys: list[_Key], group: ProcessGroup | None) -> list[_Key]:
    """The keys every process reduces, in the same order everywhere: this
    process's own when every process has the same (checked with one small
    ``all_reduce`` of a digest), else their union."""
    import torch.distributed as dist

    digest = int.from_bytes(hashlib.blake2b(repr(keys).encode(), digest_size=8).digest(), "big") >> 2
    check = torch.tensor([digest, -digest], dtype=torch.int64, device=_collective_device(group))
    dist.all_reduce(check, op=dist.ReduceOp.MAX, group=group)
    highest, negated_lowest = check.tolist()
    if highest == -negated_lowest:
        return keys
    gathered: list[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(gathered, keys, group=group)
    return list(dict.fromkeys(key for rank_keys in gathered for key in rank_keys))
