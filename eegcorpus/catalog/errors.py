"""Errors of the catalog: one line naming the card, the field and the reason."""

from __future__ import annotations

from pydantic_core import PydanticCustomError

from eegcorpus.errors import EEGCorpusError

# --------------------------------------------------------------------------------------------
# errors


class CatalogError(EEGCorpusError):
    """A catalog card is missing, unreadable or invalid, or a dataset id is unknown.

    The message is one line. For a bad card it names the card file, the field path and what was
    wrong, e.g. ``catalog card 'eegmmidb.yaml': field 'access': Input should be 'open',
    'registration' or 'agreement' (got 'public')``.
    """

    def __init__(self, message: str, *, card: str | None = None, field: str | None = None):
        self.card = card
        self.field = field
        self.message = " ".join(str(message).split())
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class UnknownDatasetError(CatalogError, KeyError):
    """No card has the requested id; also a :class:`KeyError` so mapping-style code works."""

    # KeyError.__str__ would quote the message; keep it readable.
    __str__ = CatalogError.__str__


def _card_error(card: str, field: str | None, reason: str) -> CatalogError:
    where = f"catalog card '{card}'"
    if field:
        return CatalogError(f"{where}: field '{field}': {reason}", card=card, field=field)
    return CatalogError(f"{where}: {reason}", card=card)


def _field_error(field: str, reason: str) -> PydanticCustomError:
    """An error raised from a model validator that still names the offending field.

    Model-level validators report an empty location; the field travels in the context and is
    joined to the location when the error is turned into a :class:`CatalogError`.
    """
    return PydanticCustomError("card_field", "field '{field}': {reason}", {"field": field, "reason": reason})
