"""The ``eegcorpus`` command line (typer).

It lives inside the package as ``eegcorpus.cli``: a top-level module named ``cli`` would shadow
(or be shadowed by) any other installed distribution that ships one.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from enum import Enum
from pathlib import Path

import typer

from eegcorpus._validate import expand_subjects
from eegcorpus.log import add_logging_options

app = typer.Typer(
    help="Public EEG corpora into clean, coordinate-annotated zarr stores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
catalog_app = typer.Typer(help="The dataset catalog: 14 pretraining and 8 downstream datasets.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


add_logging_options(app, logging.getLogger("eegcorpus"))


class Role(str, Enum):
    pretrain = "pretrain"
    downstream = "downstream"


def _storage_option():
    return typer.Option(
        None,
        "--storage-option",
        help="fsspec option for URLs, KEY=VALUE (e.g. endpoint_url=http://host:9000; repeat). Credentials: the usual environment variables.",
    )


def _fail(message: str, code: int = 1) -> None:
    """Print a one-line error to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _print_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


@catalog_app.command("list")
def catalog_list(
    role: Role | None = typer.Option(None, help="Only datasets of this role."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """List the catalog's datasets (id, role, access, formats, hours)."""
    from eegcorpus.catalog import CatalogError, load_catalog

    try:
        cards = load_catalog()
    except CatalogError as err:
        _fail(str(err))
    rows = [card.summary() for card in cards.values() if role is None or card.role == role.value]
    if as_json:
        _print_json(rows)
        return
    header = f"{'id':<20} {'role':<10} {'access':<12} {'formats':<16} {'hours':>9}  name"
    typer.echo(header)
    typer.echo("-" * len(header))
    for row in rows:
        hours = row.get("hours")
        hours_text = f"{hours:9.2f}" if isinstance(hours, (int, float)) else f"{'?':>9}"
        if "hours" in row.get("unverified", []):
            hours_text = hours_text.rstrip() + "*"
        typer.echo(f"{row['id']:<20} {row['role']:<10} {row['access']:<12} {','.join(row['formats']):<16} {hours_text:>9}  {row['name']}")
    typer.echo("\n* unverified value")


@catalog_app.command("markdown")
def catalog_markdown() -> None:
    """Print docs/catalog.md: every card validated, summary tables and one section per dataset."""
    from eegcorpus.catalog import CatalogError, load_catalog, render_markdown

    try:
        catalog = load_catalog()
    except CatalogError as exc:
        _fail(str(exc))
    sys.stdout.write(render_markdown(catalog))


@catalog_app.command("show")
def catalog_show(
    dataset_id: str = typer.Argument(..., metavar="ID", help="Dataset id, e.g. eegmmidb."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole card as JSON."),
) -> None:
    """Show one dataset card."""
    from eegcorpus.catalog import CatalogError, get_card

    try:
        card = get_card(dataset_id)
    except CatalogError as err:
        _fail(str(err))
    data = card.to_dict()
    if as_json:
        _print_json(data)
        return
    import yaml

    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100).rstrip())


def describe_file(path: Path) -> dict:
    """Everything ``eegcorpus inspect`` reports about one file, as a JSON-ready dict.

    A continuous EDF/BDF file is described from its header and annotations alone
    (:func:`eegcorpus.readers.edf.summarise_edf`: no samples converted, no pandas imported);
    every other file through its reader. Both give the same description
    (``tests/test_cli.py``).
    """
    from eegcorpus.readers import detect_format

    if detect_format(path) in ("edf", "bdf"):
        from eegcorpus.readers.edf import summarise_edf

        summary = summarise_edf(path)
        if summary is not None:
            aux = [{"name": n, "type": t, "sfreq": r, "unit": u} for n, t, r, u in summary.aux]
            return _description(path, summary, summary.descriptions, aux)
    from eegcorpus.readers import read_recording

    rec = read_recording(path)
    aux = [{"name": a.name, "type": a.ch_type, "sfreq": a.sfreq, "unit": a.unit} for a in rec.aux]
    return _description(path, rec, list(rec.annotations["description"]), aux)


def _description(path: Path, rec, descriptions: list[str], aux: list[dict]) -> dict:
    """The description of a file from what its reader (or header summary) gives."""
    from eegcorpus.channels import canonical_name, channel_position, lobe_of

    n_channels = len(rec.ch_names)
    channels = []
    for name, kind, unit in zip(rec.ch_names, rec.ch_types, rec.units):
        position = channel_position(name) if kind == "eeg" else None
        channels.append(
            {
                "name": name,
                "canonical": canonical_name(name),
                "type": kind,
                "unit": unit,
                "has_position": position is not None,
                "lobe": lobe_of(name) if position is not None else None,
            }
        )
    counts = Counter(descriptions)
    return {
        "path": str(path),
        "format": rec.format,
        "sha256": rec.sha256,
        "size_bytes": path.stat().st_size,
        "sfreq": rec.sfreq if n_channels else None,
        "duration_s": rec.n_times / rec.sfreq if n_channels else None,
        "n_samples": rec.n_times,
        "n_channels": n_channels,
        "channel_types": dict(Counter(rec.ch_types)),
        "n_eeg_with_position": sum(c["has_position"] for c in channels),
        "channels": channels,
        "aux_channels": aux,
        "meas_date": rec.meas_date.isoformat() if rec.meas_date else None,
        "n_annotations": len(descriptions),
        "annotations": dict(counts.most_common()),
        "extra": {k: v for k, v in rec.extra.items() if k in ("gaps", "annotations_only", "data_format")},
    }


@app.command()
def inspect(
    path: Path = typer.Argument(..., exists=False, help="An EEG file (EDF, BDF, GDF, CNT, SET, MAT, CSV, VHDR)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """What a file holds: format, duration, rates, channels (canonical name, type, position), annotations."""
    from eegcorpus.errors import EEGCorpusError

    try:
        info = describe_file(path)
    except EEGCorpusError as err:
        _fail(str(err))
    except FileNotFoundError:
        _fail(f"{path}: no such file")
    if as_json:
        _print_json(info)
        return
    duration = f"{info['duration_s']:.1f} s" if info["duration_s"] is not None else "no signals"
    rate = f"{info['sfreq']:g} Hz" if info["sfreq"] else "-"
    typer.echo(f"{info['path']}\n  format {info['format']}, {duration}, {rate}, {info['n_channels']} channels")
    typer.echo(f"  types {info['channel_types']}; {info['n_eeg_with_position']} EEG channels with a 3D position")
    for aux in info["aux_channels"]:
        typer.echo(f"  other rate: {aux['name']} ({aux['type']}) at {aux['sfreq']:g} Hz")
    if info["channels"]:
        typer.echo(f"  {'name':<18} {'canonical':<12} {'type':<6} {'unit':<6} {'position':<9} lobe")
        for ch in info["channels"]:
            typer.echo(
                f"  {ch['name']:<18} {ch['canonical']:<12} {ch['type']:<6} {ch['unit']:<6} {'yes' if ch['has_position'] else 'no':<9} {ch['lobe'] or '-'}"
            )
    typer.echo(f"  {info['n_annotations']} annotations")
    for text, count in list(info["annotations"].items())[:10]:
        typer.echo(f"    {count:5d} x {text}")
    if len(info["annotations"]) > 10:
        typer.echo(f"    ... {len(info['annotations']) - 10} more kinds")
    for start, length in info["extra"].get("gaps", []):
        typer.echo(f"  gap of {length:g} s at {start:g} s (EDF+D), zero-filled and annotated BAD_ACQ_SKIP")


@app.command()
def build(
    dataset: str | None = typer.Argument(None, help="Catalog id (see 'eegcorpus catalog list'); leave out with --bids."),
    raw: str | None = typer.Option(None, "--raw", help="Folder with the dataset's files in their documented layout, or an fsspec URL (s3://...)."),
    out: str = typer.Option(..., "--out", help="The zarr store to create or resume: a folder or an fsspec URL (s3://...)."),
    bids: Path | None = typer.Option(None, "--bids", help="Build a BIDS dataset (its root folder) instead of a catalog dataset; needs the bids extra."),
    name: str | None = typer.Option(None, "--name", help="With --bids: the dataset name in the store (default: its Name, lower case)."),
    bad_channels: str = typer.Option("drop", "--bad-channels", help="With --bids: drop or keep channels with status=bad in channels.tsv."),
    positions: str = typer.Option(
        "template", "--positions", help="With --bids: template (known electrode names keep the template's position) or file (electrodes.tsv wins)."
    ),
    line_freq: float | None = typer.Option(None, "--line-freq", help="With --bids: mains frequency where *_eeg.json does not state PowerLineFrequency."),
    profile: str = typer.Option("neuript", "--profile", help="neuript, labram, cbramod, passthrough (no filter, native rate), or a .toml/.yaml profile file."),
    scheduler: str = typer.Option(
        "auto",
        "--scheduler",
        help="auto (processes from 32 recordings, else threads), threads, processes, sync, or tcp://HOST:PORT of a dask.distributed scheduler.",
    ),
    workers: int | None = typer.Option(None, "--workers", help="Local workers (default: all cores)."),
    subjects: list[str] | None = typer.Option(None, "--subjects", help="Only these subjects: ids, comma lists or ranges such as 1-28 (repeat the option)."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N recordings."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first failure."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    storage_option: list[str] | None = _storage_option(),
) -> None:
    """Build (or resume) the zarr store of one dataset: a catalog dataset (DATASET --raw FOLDER)
    or a BIDS dataset (--bids ROOT).

    Exit status: 0 when every recording is stored, 3 when some failed (listed in the store's
    failures table; the others are stored), 1 when the build could not run, --strict stopped it or
    the disk is full (the failure is recorded; run it again to resume).
    """
    from eegcorpus.build import build as run_build
    from eegcorpus.errors import EEGCorpusError
    from eegcorpus.storage import parse_storage_options

    if bids is not None and (dataset is not None or raw is not None):
        _fail("--bids builds a BIDS dataset: give it without a catalog id and --raw")
    if bids is None and (dataset is None or raw is None):
        _fail("give a catalog id and --raw FOLDER, or --bids ROOT")
    try:
        options = parse_storage_options(storage_option)
        subjects = expand_subjects(subjects)
        common = dict(
            profile=profile,
            scheduler=scheduler,
            workers=workers,
            subjects=subjects,
            limit=limit,
            strict=strict,
            progress=progress,
            storage_options=options,
        )
        if bids is not None:
            try:
                from eegcorpus.bids import build_bids
            except ImportError as err:
                _fail(f"--bids needs mne-bids ({err.name} is not installed): pip install 'eegcorpus[bids]'")
            result = build_bids(bids, out, name=name, bad_channels=bad_channels, positions=positions, line_freq=line_freq, **common)
        else:
            result = run_build(dataset, raw, out, **common)
    except (EEGCorpusError, ValueError) as err:
        _fail(" ".join(str(err).split()))
    except OSError as err:  # the store itself cannot be created or locked (permissions, full disk)
        _fail(f"{err.filename or out}: {err.strerror or err}")
    if as_json:
        _print_json(
            {
                "store": str(result.store),
                "written": len(result.written),
                "skipped": len(result.skipped),
                "failed": result.n_failed,
                "failures": result.failed,
                "hours": round(result.hours, 4),
                "seconds": round(result.seconds, 2),
            }
        )
    else:
        typer.echo(result.summary())
        for failure in result.failed:
            typer.echo(f"  failed ({failure['stage']}): {failure['error']}", err=True)
    if result.n_failed:
        raise typer.Exit(3)


@app.command()
def fetch(
    dataset: str = typer.Argument(..., help="Catalog id of an open dataset."),
    out: Path = typer.Option(..., "--out", help="Folder to download into (use it as 'build --raw')."),
    subjects: list[str] | None = typer.Option(None, "--subjects", help="Only these subjects: ids, comma lists or ranges such as 1-28 (repeat the option)."),
    base_url: str | None = typer.Option(None, "--base-url", help="A mirror instead of the card's download URL."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Download an open dataset with per-file sha256 verification and resume of partial files."""
    from eegcorpus.fetch import FetchError
    from eegcorpus.fetch import fetch as run_fetch

    def show(rel: str, nbytes: int) -> None:
        if not as_json:
            typer.echo(f"  {rel} ({nbytes / 1e6:.1f} MB)", err=True)

    try:
        result = run_fetch(dataset, out, subjects=expand_subjects(subjects), base_url=base_url, progress=show)
    except (FetchError, ValueError) as err:
        _fail(str(err))
    except Exception as err:  # the catalog's unknown-id error, among others
        from eegcorpus.errors import EEGCorpusError

        if not isinstance(err, EEGCorpusError):
            raise
        _fail(str(err))
    if as_json:
        _print_json(
            {"folder": str(result.folder), "downloaded": result.downloaded, "present": result.present, "resumed": result.resumed, "bytes": result.bytes}
        )
    else:
        typer.echo(result.summary())


@app.command()
def stats(
    store: str = typer.Argument(..., help="A store written by 'eegcorpus build': a folder or an fsspec URL (s3://...)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    plots: Path | None = typer.Option(None, "--plots", help="Write PNG figures into this folder."),
    storage_option: list[str] | None = _storage_option(),
) -> None:
    """Recordings, subjects, hours, channel coverage, amplitudes, flat/saturated channels, labels, failures."""
    from eegcorpus.errors import EEGCorpusError
    from eegcorpus.stats import compute_stats, format_stats, write_plots
    from eegcorpus.storage import parse_storage_options
    from eegcorpus.store import open_store

    try:
        opened = open_store(store, parse_storage_options(storage_option))
        result = compute_stats(opened)
    except (FileNotFoundError, EEGCorpusError, ValueError) as err:
        _fail(" ".join(str(err).split()))
    if plots is not None:
        result["plots"] = [str(p) for p in write_plots(opened, result, plots)]
    if as_json:
        _print_json(result)
    else:
        typer.echo(format_stats(result))
        for path in result.get("plots", []):
            typer.echo(f"  wrote {path}")


@app.command()
def verify(
    store: str = typer.Argument(..., help="A store written by 'eegcorpus build': a folder or an fsspec URL (s3://...)."),
    decode: bool = typer.Option(True, "--decode/--no-decode", help="Also decode every signal."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    storage_option: list[str] | None = _storage_option(),
) -> None:
    """Re-check every recording against the sha256 manifest taken when it was written.

    Exit status 0 when the store is intact, 1 when something is damaged (each damaged recording is
    named with what is wrong).
    """
    from eegcorpus.errors import EEGCorpusError
    from eegcorpus.storage import parse_storage_options
    from eegcorpus.store.verify import verify_store

    try:
        report = verify_store(store, decode=decode, storage_options=parse_storage_options(storage_option))
    except (FileNotFoundError, EEGCorpusError, ValueError) as err:
        _fail(" ".join(str(err).split()))
    if as_json:
        _print_json(report.to_dict())
    else:
        typer.echo(f"{report.checked} recordings checked in {report.store}: " + ("intact" if report.ok else f"{len(report.damaged)} damaged"))
        for rid, problems in report.damaged.items():
            for problem in problems:
                typer.echo(f"  damaged {rid}: {problem}")
        for problem in report.index_problems:
            typer.echo(f"  index: {problem}")
        if report.stale_staging:
            typer.echo(f"  {len(report.stale_staging)} leftover(s) in .staging from interrupted builds (safe to delete)")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def export(
    store: str = typer.Argument(..., help="The store: a folder or an fsspec URL."),
    bids: Path = typer.Option(..., "--bids", help="The BIDS dataset to write (a new folder)."),
    fmt: str = typer.Option("BrainVision", "--format", help="BrainVision (float32, exact), EDF (16-bit) or EEGLAB."),
    recordings: list[str] | None = typer.Option(None, "--recording", help="Only this recording id (repeat the option)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into an existing, non-empty folder."),
    storage_option: list[str] | None = _storage_option(),
) -> None:
    """Write a store's processed recordings as a BIDS dataset (needs the bids extra)."""
    from eegcorpus.errors import EEGCorpusError
    from eegcorpus.storage import parse_storage_options
    from eegcorpus.store import open_store

    try:
        from eegcorpus.bids.export import export_bids
    except ImportError as err:
        _fail(f"export --bids needs mne-bids ({err.name} is not installed): pip install 'eegcorpus[bids]'")
    try:
        opened = open_store(store, storage_options=parse_storage_options(storage_option))
        result = export_bids(opened, bids, fmt=fmt, recordings=recordings or None, overwrite=overwrite)
    except (EEGCorpusError, ValueError, FileNotFoundError) as err:
        _fail(" ".join(str(err).split()))
    typer.echo(f"{len(result.written)} recordings written as BIDS -> {result.out}")


@app.command()
def report(
    store: str = typer.Argument(..., help="The store: a folder or an fsspec URL."),
    out: Path = typer.Option(..., "--out", help="The HTML page to write (one self-contained file)."),
    storage_option: list[str] | None = _storage_option(),
) -> None:
    """Write a quality-control report of a store: one HTML page that opens without a network."""
    from eegcorpus.errors import EEGCorpusError
    from eegcorpus.report import write_report
    from eegcorpus.storage import parse_storage_options
    from eegcorpus.store import open_store

    try:
        opened = open_store(store, storage_options=parse_storage_options(storage_option))
        path = write_report(opened, out)
    except (EEGCorpusError, ValueError, FileNotFoundError) as err:
        _fail(" ".join(str(err).split()))
    typer.echo(f"report -> {path}")


@app.command()
def version() -> None:
    """Print the eegcorpus version."""
    from eegcorpus import __version__

    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
