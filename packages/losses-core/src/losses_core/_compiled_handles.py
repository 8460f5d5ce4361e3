"""A namespace of handles for lookups made under ``torch.compile``.

``LOSSES.__missing__`` publishes each newly looked-up handle here as well as in
its own storage, and reads it back with ``getattr``: torch.compile reads module
attributes live (and can guard on them), while it snapshots a dict's contents,
so a handle cached during tracing is only visible to the trace through here.
"""
