"""The dataset catalog: one validated YAML card per public EEG dataset.

Cards live in the top-level ``catalog/`` folder of the source tree, which the wheel ships as the
package ``eegcorpus.cards``. Each card records where a dataset comes from (homepage, licence,
access route, citation, pinned checksums), how its files are laid out, what the recordings look
like (subjects, hours, channels, sampling rates, units, mains frequency) and, for downstream
datasets, the evaluation protocol (labels, canonical split, window length, metrics).

Unverified values
-----------------
Any value in a card may be written plainly or as a marked mapping::

    sfreq:
      value: [1024]
      unverified: true
      note: "taken from a third-party table; the official page does not say"

The loader replaces the mapping by its ``value``, appends the field path (``"sfreq"``,
``"split.fractions"``, ``"components[2].subjects"``) to the card's ``unverified`` list when
``unverified`` is true, and stores the ``note`` under the same path in ``field_notes``; a note
alone records context without marking the value. Any mapping with a ``value`` key is read as
such a marker, so no other mapping in a card may use that key. The normalised form (plain
values plus ``unverified`` and ``field_notes``) is what :meth:`DatasetCard.to_dict` returns,
and it loads back unchanged. :meth:`DatasetCard.summary`
and :func:`render_markdown` show every unverified value as such.

Regenerate the documentation page with::

    eegcorpus catalog markdown > docs/catalog.md

The package: :mod:`~eegcorpus.catalog.schema` (the pydantic models), :mod:`~eegcorpus.catalog.loading`
(safe YAML, markers, the packaged folder), :mod:`~eegcorpus.catalog.markdown` and
:mod:`~eegcorpus.catalog.errors`.
"""

from eegcorpus.catalog.errors import CatalogError, UnknownDatasetError
from eegcorpus.catalog.loading import get_card, load_card, load_catalog, parse_card
from eegcorpus.catalog.markdown import MARKDOWN_COMMAND, render_markdown
from eegcorpus.catalog.schema import DOWNSTREAM_FIELDS, DatasetCard, Download, DownstreamCard, FileEntry, Layout, PretrainCard, Split

__all__ = [
    "DOWNSTREAM_FIELDS",
    "MARKDOWN_COMMAND",
    "CatalogError",
    "DatasetCard",
    "Download",
    "DownstreamCard",
    "FileEntry",
    "Layout",
    "PretrainCard",
    "Split",
    "UnknownDatasetError",
    "get_card",
    "load_card",
    "load_catalog",
    "parse_card",
    "render_markdown",
]
