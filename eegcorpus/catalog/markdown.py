"""docs/catalog.md from the cards (``eegcorpus catalog markdown``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from eegcorpus.catalog.schema import (
    _UNVERIFIED_TEXT,
    DatasetCard,
    DownstreamCard,
)

#: The command that writes docs/catalog.md; quoted in the generated page.
MARKDOWN_COMMAND = "eegcorpus catalog markdown > docs/catalog.md"

# --------------------------------------------------------------------------------------------
# markdown


def _num(value: float | int | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _cell(text: str) -> str:
    """One table cell or paragraph: single line, pipes escaped, ``<...>`` kept visible.

    Angle brackets outside code spans would be swallowed as HTML tags (``<raw_dir>``), so they
    are escaped there; inside backticks they already render literally.
    """
    parts = " ".join(str(text).split()).split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts).replace("|", "\\|")


def _mark(card: DatasetCard, path: str, text: str) -> str:
    return text + (_UNVERIFIED_TEXT if card.is_unverified(path) else "")


def _rates(card: DatasetCard) -> str:
    return ", ".join(_num(r) for r in card.sfreq)


def _field_rows(card: DatasetCard) -> list[tuple[str, str, str]]:
    """(label, field path, rendered value) rows of a card's section table."""
    rows = [
        ("Role", "role", card.role),
        ("Homepage", "homepage", card.homepage),
        ("DOI", "doi", card.doi or "none"),
        ("Version", "version", card.version),
        ("Licence", "license", card.license),
        ("Access", "access", card.access),
        ("Download", "download.base_url", card.download.base_url or "none"),
        ("Checksums", "download.checksums", f"{card.download.checksums} ({len(card.download.files)} files pinned)"),
        ("Formats", "formats", ", ".join(card.formats)),
        ("Files", "layout.pattern", f"`{card.layout.pattern}`"),
    ]
    if card.layout.annotations:
        rows.append(("Annotation files", "layout.annotations", f"`{card.layout.annotations}`"))
    rows += [
        ("Layout", "layout.description", card.layout.description),
        ("Subjects", "subjects", _num(card.subjects)),
        ("Hours", "hours", _num(card.hours)),
        ("EEG channels", "n_channels", _num(card.n_channels)),
        ("Channel names", "channel_naming", card.channel_naming),
        ("Reference", "reference", card.reference),
        ("Sampling rate (Hz)", "sfreq", _rates(card)),
        ("Mains (Hz)", "line_freq", _num(card.line_freq)),
        ("Units", "units", card.units),
        ("Drop channels", "drop_channels", ", ".join(f"`{name}`" for name in card.drop_channels) or "none"),
    ]
    for i, comp in enumerate(card.components):
        rows.append(
            (
                f"Component `{comp.id}`",
                f"components[{i}]",
                f"{comp.name}; {_num(comp.subjects)} subjects; {', '.join(comp.formats)}; {', '.join(_num(r) for r in comp.sfreq)} Hz; `{comp.layout.pattern}`",
            )
        )
    if isinstance(card, DownstreamCard):
        reported = ", ".join(f"{m} {_num(v)}" for m, v in card.neuript_reported.items())
        rows += [
            ("Task", "task", card.task),
            ("Labels", "labels", ", ".join(f"{k}={v}" for k, v in card.labels.items())),
            ("Label source", "label_source", card.label_source),
            ("Split", "split", f"{card.split.describe()}. {card.split.description}"),
            ("Window (s)", "window_s", _num(card.window_s)),
            ("Classes", "n_classes", _num(card.n_classes)),
            ("Channels used", "n_channels_used", _num(card.n_channels_used)),
            ("Windows (reference protocol)", "n_samples", _num(card.n_samples)),
            ("Preprocessing", "preprocessing", card.preprocessing),
            ("Metrics", "metrics", ", ".join(card.metrics)),
            ("NeurIPT reported (%)", "neuript_reported", reported or "none"),
        ]
    return [(label, path, _mark(card, path, value)) for label, path, value in rows]


def _section(card: DatasetCard) -> list[str]:
    lines = [f'<a id="{card.id}"></a>', "", f"### `{card.id}`: {_cell(card.name)}", ""]
    lines += ["| Field | Value |", "|---|---|"]
    lines += [f"| {label} | {_cell(value)} |" for label, _, value in _field_rows(card)]
    lines += ["", f"**Getting the data.** {_cell(card.access_notes)}", ""]
    lines += [f"**Citation.** {_cell(card.citation)}", ""]
    if card.unverified:
        lines += ["**Unverified values:** " + ", ".join(f"`{p}`" for p in card.unverified), ""]
    if card.field_notes or card.notes:
        lines.append("**Notes.**")
        lines.append("")
        for path, note in card.field_notes.items():
            lines.append(f"- `{path}`{_UNVERIFIED_TEXT if path in card.unverified else ''}: {_cell(note)}")
        lines += [f"- {_cell(note)}" for note in card.notes]
        lines.append("")
    return lines


def render_markdown(cards: Mapping[str, DatasetCard] | Iterable[DatasetCard]) -> str:
    """The text of ``docs/catalog.md``.

    Parameters
    ----------
    cards : mapping or iterable of DatasetCard

    Returns
    -------
    str
        A generated-file header, a summary table of pretraining then downstream datasets, and
        one section per card. Unverified values carry a trailing ``(unverified)``.
    """
    items = list(cards.values()) if isinstance(cards, Mapping) else list(cards)
    items.sort(key=lambda c: c.id)
    pretrain = [c for c in items if c.role == "pretrain"]
    downstream = [c for c in items if c.role == "downstream"]
    total = sum(c.hours or 0.0 for c in pretrain)
    out = [
        "# Dataset catalog",
        "",
        "<!-- Generated from catalog/*.yaml; do not edit by hand. -->",
        f"This page is generated from the cards in `catalog/`. Regenerate it with `{MARKDOWN_COMMAND}`.",
        "",
        f"Values marked{_UNVERIFIED_TEXT} are best guesses that no primary source or real file has confirmed yet.",
        "",
        f"## Pretraining datasets ({len(pretrain)}, {_num(total)} h)",
        "",
        "| Id | Name | Access | Formats | Subjects | Hours | EEG channels | Hz |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in pretrain:
        out.append(
            f"| [`{c.id}`](#{c.id}) | {_cell(c.name)} | {_mark(c, 'access', c.access)} "
            f"| {_mark(c, 'formats', ', '.join(c.formats))} "
            f"| {_mark(c, 'subjects', _num(c.subjects))} | {_mark(c, 'hours', _num(c.hours))} "
            f"| {_mark(c, 'n_channels', _num(c.n_channels))} | {_mark(c, 'sfreq', _rates(c))} |"
        )
    out += [
        "",
        f"## Downstream datasets ({len(downstream)})",
        "",
        "| Id | Task | Access | Formats | Subjects | Classes | Window (s) | Split | Metrics | NeurIPT BAcc (%) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in downstream:
        assert isinstance(c, DownstreamCard)
        bacc = c.neuript_reported.get("balanced_accuracy")
        out.append(
            f"| [`{c.id}`](#{c.id}) | {_cell(_mark(c, 'task', c.task))} "
            f"| {_mark(c, 'access', c.access)} | {_mark(c, 'formats', ', '.join(c.formats))} "
            f"| {_mark(c, 'subjects', _num(c.subjects))} "
            f"| {_mark(c, 'n_classes', _num(c.n_classes))} "
            f"| {_mark(c, 'window_s', _num(c.window_s))} | {_mark(c, 'split.kind', c.split.kind)} "
            f"| {_mark(c, 'metrics', ', '.join(c.metrics))} | {_num(bacc)} |"
        )
    out += ["", "## Cards", ""]
    for c in pretrain + downstream:
        out += _section(c)
    return "\n".join(out).rstrip("\n") + "\n"
