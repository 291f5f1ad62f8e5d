"""The report's figures as inline SVG: those of ``eegcorpus stats`` (:mod:`eegcorpus.stats`) and
the robust amplitude distribution behind the high-amplitude flag."""

from __future__ import annotations

import io
import re

import numpy as np

from eegcorpus.report.content import ReportContent
from eegcorpus.report.qc import FLAT_STD_UV, HIGH_AMPLITUDE_UV
from eegcorpus.stats import amplitude_figure, coverage_figure, pyplot, spectrum_figure

_ID = re.compile(r'\bid="([^"]+)"')


def to_svg(fig, prefix: str) -> str:
    """``fig`` as an ``<svg>`` element to inline in HTML, and closed.

    matplotlib names clip paths, glyphs and markers with ids that repeat between figures; each
    id (and every reference to it) gets ``prefix`` so that several figures share a page safely.
    Text is drawn as paths, so the figure needs no font.
    """
    plt = pyplot()
    buffer = io.StringIO()
    try:
        fig.tight_layout()
        with plt.rc_context({"svg.fonttype": "path"}):
            fig.savefig(buffer, format="svg", metadata={"Date": None})
    finally:
        plt.close(fig)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    for name in sorted(set(_ID.findall(svg)), key=len, reverse=True):
        svg = (
            svg.replace(f'id="{name}"', f'id="{prefix}-{name}"').replace(f'"#{name}"', f'"#{prefix}-{name}"').replace(f"url(#{name})", f"url(#{prefix}-{name})")
        )
    return svg


def robust_amplitude_figure(robust_sd_by_dataset: dict):
    """Histogram of the channels' robust standard deviations per dataset (log scale), with the
    high-amplitude and flat thresholds; None when there are none."""
    values = {k: np.asarray(v, dtype=float) for k, v in robust_sd_by_dataset.items() if len(v)}
    if not values:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    floor = FLAT_STD_UV / 10
    everything = np.concatenate(list(values.values()))
    top = max(float(everything.max()), HIGH_AMPLITUDE_UV * 2)
    bins = np.logspace(np.log10(floor), np.log10(top * 1.1), 60)
    for dataset, v in sorted(values.items()):
        ax.hist(np.clip(v, floor, None), bins=bins, histtype="step", lw=1.5, label=f"{dataset} ({len(v)} channels)")
    ax.axvline(HIGH_AMPLITUDE_UV, color="tab:red", ls="--", lw=1, label=f"high amplitude > {HIGH_AMPLITUDE_UV:g} uV")
    ax.axvline(FLAT_STD_UV, color="tab:gray", ls=":", lw=1, label=f"flat: SD < {FLAT_STD_UV:g} uV")
    ax.set_xscale("log")
    ax.set_xlabel("robust standard deviation of a channel (uV)")
    ax.set_ylabel("channels (all recordings)")
    ax.legend(fontsize=7)
    ax.set_title("Robust amplitude per channel and recording")
    return fig


def report_figures(content: ReportContent) -> list[dict]:
    """The figures of the page: ``{"key", "title", "caption", "svg"}`` each, the missing ones
    (a store without stored spectra, say) with ``svg`` None."""
    stats = content.stats
    n = stats["recordings"]
    unplaced = f" Channels without a position (not drawn): {', '.join(content.unplaced)}." if content.unplaced else ""
    figures = [
        (
            "coverage",
            "Channel coverage",
            coverage_figure(stats["channels"], content.positions, n) if n else None,
            f"How many of the {n} recordings have each channel, at the channel's electrode position (each recording's x, y, z, "
            f"averaged over recordings; azimuthal projection from the vertex, nose up).{unplaced}",
        ),
        (
            "robust",
            "Robust amplitude",
            robust_amplitude_figure(content.robust_sd_by_dataset),
            "The robust standard deviation of every channel of every recording, measured by this report on the stored signal; the lines are the thresholds of the flags.",
        ),
        (
            "spectra",
            "Power spectra per dataset",
            spectrum_figure(content.spectra),
            "Mean over recordings of the channel-averaged power spectral density the build stored (Welch, 2-s segments).",
        ),
        (
            "amplitude",
            "Amplitude distribution per channel",
            amplitude_figure(stats["amplitude_percentiles_uv"]),
            "Percentiles of each channel's processed signal, as the build stored them (median over recordings).",
        ),
    ]
    return [
        {"key": key, "title": title, "caption": caption, "svg": to_svg(fig, f"fig-{key}") if fig is not None else None} for key, title, fig, caption in figures
    ]
