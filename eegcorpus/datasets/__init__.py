"""Dataset adapters: one per catalog id (generic from the card, or a module of its own)."""

from __future__ import annotations

import importlib

from eegcorpus.datasets.base import DatasetAdapter, LayoutError, Source, safe_glob

#: Catalog id -> "module:class" for datasets whose card alone is not enough.
_SPECIFIC = {
    "eegmmidb": "eegcorpus.datasets.eegmmidb:EEGMMIDBAdapter",
    "mental_arithmetic": "eegcorpus.datasets.mental_arithmetic:MentalArithmeticAdapter",
}


def get_adapter(dataset_id: str) -> DatasetAdapter:
    """The adapter for a catalog id (raises the catalog's error for an unknown id)."""
    from eegcorpus.catalog import get_card

    card = get_card(dataset_id)
    target = _SPECIFIC.get(dataset_id)
    if target is None:
        return DatasetAdapter(card)
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)(card)


__all__ = ["DatasetAdapter", "LayoutError", "Source", "get_adapter", "safe_glob"]
