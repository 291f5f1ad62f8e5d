"""Dataset adapters: one per catalog id.

A dataset whose card says everything (layout fields, no labels) uses the generic
:class:`DatasetAdapter`. A dataset that needs more has a module named after its catalog id,
``eegcorpus/datasets/<id>.py``, exporting ``ADAPTER``: the adapter class.
"""

from __future__ import annotations

import importlib

from eegcorpus.datasets.base import DatasetAdapter, LayoutError, Source, safe_glob


def get_adapter(dataset_id: str) -> DatasetAdapter:
    """The adapter for a catalog id (raises the catalog's error for an unknown id)."""
    from eegcorpus.catalog import get_card

    card = get_card(dataset_id)  # validates the id before it is used as a module name
    try:
        module = importlib.import_module(f"eegcorpus.datasets.{dataset_id}")
    except ModuleNotFoundError as err:
        if err.name != f"eegcorpus.datasets.{dataset_id}":
            raise
        return DatasetAdapter(card)
    return module.ADAPTER(card)


__all__ = ["DatasetAdapter", "LayoutError", "Source", "get_adapter", "safe_glob"]
