"""The HTML QC report (eegcorpus.report): its flags against hand-made arrays, the page of a real
EEGMMIDB store with deliberately flawed recordings added, and that page in headless chromium."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.store import write_generated_recording

from eegcorpus.pipeline.profiles import load_profile
from eegcorpus.report import write_report
from eegcorpus.report.content import collect_report, reduce_excerpt
from eegcorpus.report.qc import (
    FLAT_STD_UV,
    HIGH_AMPLITUDE_UV,
    SATURATION_MIN_SAMPLES,
    SHORT_DURATION_S,
    SignalScan,
    channel_qc,
    flat_channels,
    high_amplitude_channels,
    is_short,
    recording_flags,
    robust_sd,
    saturated_channels,
)
from eegcorpus.stats import head_xy
from eegcorpus.store import open_store

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: The recordings added to a copy of the real store, and the flags each must get.
FLAWED = {
    "generated.clipped": "saturated",
    "generated.flat": "flat",
    "generated.loud": "high_amplitude",
    "generated.short": "short",
    "generated.broken": "unreadable",
}

# ---------------------------------------------------------------------------------------------
# QC measures and flags on hand-made arrays


def test_flat_is_a_standard_deviation_below_the_threshold():
    n = np.arange(1000)
    alternating = np.where(n % 2, 1.0, -1.0)  # standard deviation exactly 1
    data = np.stack([np.zeros(1000) + 7.0, 0.49 * alternating, 0.5 * alternating, 0.51 * alternating, 20 * alternating])
    qc = channel_qc(data)
    np.testing.assert_allclose(qc.std_uv, [0.0, 0.49, 0.5, 0.51, 20.0], atol=1e-12)
    assert flat_channels(qc).tolist() == [True, True, False, False, False]
    assert FLAT_STD_UV == 0.5


def test_saturation_counts_samples_at_the_extremes():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 10, 4000)
    top = base.max() + 5
    clipped_8, clipped_3 = base.copy(), base.copy()
    clipped_8[[10, 500, 900, 1300, 1700, 2100, 2500, 2900]] = top  # 8 samples at the maximum
    clipped_3[[10, 500, 900]] = top  # 3 samples
    sine = 50 * np.sin(2 * np.pi * 7.3 * np.arange(4000) / 256)  # a smooth wave peaks once a cycle
    clipped_sine = np.clip(2 * sine, -60, 60)  # clipping: plateaus at +-60
    constant = np.full(4000, 3.0)
    qc = channel_qc(np.stack([clipped_8, clipped_3, sine, clipped_sine, constant]))
    # maximum and minimum counted separately: the clipped rows have one sample at their minimum
    assert qc.at_extreme[:2].tolist() == [8 + 1, 3 + 1]
    assert qc.at_extreme[3] == np.count_nonzero(np.abs(clipped_sine) == 60) > 1000
    assert qc.at_extreme[4] == 4000  # a constant row's minimum is its maximum: counted once
    assert qc.maximum_uv[0] == top and qc.minimum_uv[0] == base.min()
    # 9 > 0.001 * 4000 and >= SATURATION_MIN_SAMPLES; 4 is not; a constant channel is flat, not saturated
    assert saturated_channels(qc).tolist() == [True, False, False, True, False]
    assert SATURATION_MIN_SAMPLES == 8


def test_saturation_needs_the_minimum_count_in_a_short_recording():
    data = np.linspace(-10, 10, 1000)[None, :].repeat(2, axis=0)
    data[0, :7] = 10.0  # 7 samples at the maximum (plus the last one): 8, more than 0.001 * 1000
    data[1, :5] = 10.0  # 6: more than 0.001 * 1000 too, but fewer than the minimum count
    qc = channel_qc(data)
    assert qc.at_extreme.tolist() == [8 + 1, 6 + 1]
    assert saturated_channels(qc).tolist() == [True, False]
    # and more than 0.001 of the samples in a long one: 9 of 9000 is not more, 10 is
    data = np.linspace(-10, 10, 9000)[None, :].repeat(2, axis=0)
    data[0, 1:8] = 10.0
    data[1, 1:9] = 10.0
    qc = channel_qc(data)
    assert qc.at_extreme.tolist() == [9, 10]
    assert saturated_channels(qc).tolist() == [False, True]


def test_robust_amplitude_ignores_brief_excursions():
    np.testing.assert_allclose(robust_sd(np.array([[1.0, 2.0, 3.0, 4.0, 100.0]])), [1.4826])  # MAD 1
    rng = np.random.default_rng(1)
    loud = rng.normal(0, 200, 20000)
    spiky = rng.normal(0, 100, 20000)
    spiky[::100] = 5000.0  # 1% of the samples: the plain SD is ~500 uV, the robust one stays ~100
    quiet = rng.normal(0, 20, 20000)
    qc = channel_qc(np.stack([loud, spiky, quiet]))
    assert qc.std_uv[1] > 400
    np.testing.assert_allclose(qc.robust_sd_uv, [200, 100, 20], rtol=0.05)
    assert high_amplitude_channels(qc).tolist() == [True, False, False]
    assert HIGH_AMPLITUDE_UV == 150


def test_short_is_a_duration_below_the_threshold():
    assert SHORT_DURATION_S == 30
    assert is_short(29.99) and not is_short(30.0) and not is_short(125.0)


def test_the_scan_in_blocks_equals_the_whole_array():
    rng = np.random.default_rng(2)
    data = rng.normal(0, 30, (3, 20000)) + 1000.0  # an offset: the variance update must be exact
    peak = data[1].max()
    data[1, 200:203] = peak + 10  # a plateau at the maximum of the early blocks...
    data[1, 15000] = peak + 60  # ...which a new maximum in a late block replaces
    data[2, 100:110] = data[2].max() + 1  # a plateau split across two blocks
    whole = channel_qc(data, robust_samples=1000)
    scan = SignalScan(3, data.shape[1], robust_samples=1000)
    for start, stop in [(0, 105), (105, 4000), (4000, 4001), (4001, 15000), (15000, 20000)]:
        scan.update(data[:, start:stop])
    parts = scan.result()
    np.testing.assert_allclose(parts.std_uv, data.std(axis=1), rtol=1e-10)
    np.testing.assert_allclose(whole.std_uv, data.std(axis=1), rtol=1e-10)
    assert parts.maximum_uv.tolist() == data.max(axis=1).tolist() and parts.minimum_uv.tolist() == data.min(axis=1).tolist()
    assert parts.at_extreme.tolist() == whole.at_extreme.tolist()
    assert parts.at_extreme[2] == 11 and parts.at_extreme[1] == 2
    # the robust SD is taken on every 20th sample wherever the blocks start
    np.testing.assert_array_equal(parts.robust_sd_uv, robust_sd(data[:, ::20]))
    np.testing.assert_array_equal(parts.robust_sd_uv, whole.robust_sd_uv)
    with pytest.raises(ValueError, match="block shape"):
        scan.update(data[:2])


def test_recording_flags_name_the_channels_and_add_the_builds_saturation():
    data = np.stack([np.zeros(640), np.random.default_rng(3).normal(0, 400, 640), np.random.default_rng(4).normal(0, 20, 640)])
    qc = channel_qc(data)
    flags = recording_flags(["Fz", "Cz", "Pz"], qc, 10.0)
    assert (flags.flat, flags.saturated, flags.high_amplitude, flags.short) == (["Fz"], [], ["Cz"], True)
    assert flags.any
    # clipping in the raw signal the build saw (filtered out of the stored one) counts too
    flags = recording_flags(["Fz", "Cz", "Pz"], qc, 60.0, build_saturated=[False, False, True])
    assert flags.saturated == ["Pz"] and not flags.short
    clean = recording_flags(["Pz"], channel_qc(data[2:]), 60.0)
    assert not clean.any


def test_excerpts_keep_the_minimum_and_maximum_of_each_bucket_in_order():
    data = np.array([[0.0, 5, 1, 2, 9, 3, 4], [5.0, 0, 1, 9, 2, 3, 4]])
    reduced, k = reduce_excerpt(data, 4)
    assert k == 4  # two buckets of two points: ceil(7 / 2) samples each, the last one padded
    np.testing.assert_array_equal(reduced, [[0, 5, 9, 3], [0, 9, 2, 4]])
    same, k = reduce_excerpt(data, 7)
    assert k == 1 and same is data
    long = np.sin(np.arange(10_000) / 50.0)[None, :]
    reduced, k = reduce_excerpt(long, 600)
    assert k == 34 and reduced.shape == (1, 2 * 295)  # ceil(10000 / 300) samples per bucket
    assert reduced.max() == long.max() and reduced.min() == long.min()


def test_the_head_plot_projects_from_the_vertex_with_the_nose_up():
    np.testing.assert_allclose(head_xy([0, 0, 0.09]), (0, 0), atol=1e-12)
    np.testing.assert_allclose(head_xy([0, 0.09, 0]), (0, 1), atol=1e-12)  # nose: +y, on the unit circle
    np.testing.assert_allclose(head_xy([-0.08, 0, 0]), (-1, 0), atol=1e-12)  # left ear
    np.testing.assert_allclose(head_xy([0.05, 0, 0.05]), (0.5, 0), atol=1e-12)  # 45 degrees: half way


def test_bad_arguments_are_one_line_errors_naming_the_path(tmp_path):
    (tmp_path / "not_a_store").mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / 'not_a_store'}: not an eegcorpus store")):
        write_report(tmp_path / "not_a_store", tmp_path / "report.html")
    with pytest.raises(IsADirectoryError, match=re.escape(f"{tmp_path}: is a folder")):
        write_report(tmp_path / "not_a_store", tmp_path)
    with pytest.raises(ValueError, match="'signal_seconds'"):
        write_report(tmp_path / "not_a_store", tmp_path / "report.html", signal_seconds=0)
    with pytest.raises(ValueError, match="'max_recordings_with_signal'"):
        write_report(tmp_path / "not_a_store", tmp_path / "report.html", max_recordings_with_signal=-1)
    assert not (tmp_path / "report.html").exists()


# ---------------------------------------------------------------------------------------------
# A real store with flawed recordings added


@pytest.fixture(scope="module")
def qc_store(eegmmidb_store, tmp_path_factory) -> Path:
    """A copy of the real EEGMMIDB S001 store, plus generated recordings with one known flaw
    each (:data:`FLAWED`; one whose signal is damaged) and one failures-table entry."""
    root = tmp_path_factory.mktemp("report") / "store"
    shutil.copytree(eegmmidb_store, root)
    profile = load_profile("neuript")
    rng = np.random.default_rng(0)

    def eeg(seconds: float) -> np.ndarray:
        return rng.normal(0, 20, (4, int(seconds * 64)))

    flat = eeg(60)
    flat[1] = 0.0  # E1 disconnected
    clipped = eeg(60)
    clipped[2] = np.clip(3 * clipped[2], -40, 40)  # E2 clipped at +-40 uV
    loud = eeg(60)
    loud[0] *= 20  # E0: robust SD ~400 uV
    for rid, data, seed in [
        ("generated.flat", flat, 1),
        ("generated.clipped", clipped, 2),
        ("generated.loud", loud, 3),
        ("generated.short", eeg(20), 4),
        ("generated.broken", eeg(60), 5),
    ]:
        write_generated_recording(root, rid, data, 64.0, profile, seed=seed)
    for shard in (root / "recordings" / "generated.broken" / "signal" / "c").rglob("*"):
        if shard.is_file():
            shard.write_bytes(b"damaged" * 20)
    failure = {"file": "S001/S001R99.edf", "stage": "read", "error": "S001/S001R99.edf: truncated <header> & data"}
    (root / "tables" / "failures.json").write_text(json.dumps([failure]))
    return root


@pytest.fixture(scope="module")
def report(qc_store, tmp_path_factory) -> Path:
    return write_report(qc_store, tmp_path_factory.mktemp("report_html") / "qc" / "report.html")


def _rows(html: str) -> dict[str, str]:
    """Recording id -> its row's data-flags, in table order."""
    return dict(re.findall(r'<tr data-id="([^"]+)" data-flags="([^"]*)"', html))


def _page_data(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S).group(1))


@pytest.mark.realdata
def test_the_table_has_one_row_per_recording_with_the_known_flags(report, qc_store):
    html = report.read_text(encoding="utf-8")
    rows = _rows(html)
    index = open_store(qc_store).index
    assert list(rows) == list(index.index) and len(rows) == 17
    for rid, flags in rows.items():
        # the real recordings carry no flag; each generated one exactly its own
        assert flags == FLAWED.get(rid, ""), rid
    # the flagged channels are named in their cells
    flat_row = re.search(r'<tr data-id="generated.flat".*?</tr>', html, re.S).group(0)
    assert 'title="E1"' in flat_row
    clipped_row = re.search(r'<tr data-id="generated.clipped".*?</tr>', html, re.S).group(0)
    assert 'title="E2"' in clipped_row
    assert "unreadable:" in re.search(r'<tr data-id="generated.broken".*?</tr>', html, re.S).group(0)


@pytest.mark.realdata
def test_the_page_is_self_contained_with_summary_figures_and_failures(report, qc_store):
    html = report.read_text(encoding="utf-8")
    # nothing to fetch: no external stylesheet, script, image or font
    assert not re.search(r"<(link|img|iframe)\b", html)
    assert not re.search(r'\b(src|href)="(?!#|data:)', html)  # anchors and inline data only
    assert "@import" not in html and "url(http" not in html
    # summary: counts, dataset, profile, build versions
    cards = dict((k, v) for v, k in re.findall(r'<div class="v">([^<]+)</div><div class="k">([^<]+)</div>', html))
    assert cards["recordings"] == "17" and cards["flagged recordings"] == "4" and cards["failures"] == "1" and cards["unreadable"] == "1"
    # hours come from the index, where the generated recordings (no build) carry no duration
    assert cards["datasets"] == "2" and cards["hours"] == "0.42"
    assert '<td>eegmmidb</td><td class="num">12</td>' in html and "NeurIPT: 0.1-30 Hz band-pass" in html
    assert re.search(r"eegcorpus \d", html) and "numpy " in html
    # four figures, each inline SVG with drawn paths
    figures = re.findall(r'<figure class="figure[^"]*" id="figure-(\w+)".*?</figure>', html, re.S)
    assert figures == ["coverage", "robust", "spectra", "amplitude"]
    for key in figures:
        svg = re.search(rf'id="figure-{key}".*?</figure>', html, re.S).group(0)
        assert svg.count("<path") > 20, key
    # the failures table, escaped
    assert "Failures (1)" in html and "S001/S001R99.edf: truncated &lt;header&gt; &amp; data" in html


@pytest.mark.realdata
def test_coverage_uses_the_recordings_positions(qc_store):
    store = open_store(qc_store)
    content = collect_report(store, signal_seconds=2.0, max_recordings_with_signal=0)
    assert content.stats["channels"]["Cz"] == 12 and content.stats["channels"]["E0"] == 4  # broken: unreadable
    ds = store.dataset("eegmmidb.S001R03")
    names = [str(n) for n in ds["ch_name"].values]
    cz = names.index("Cz")
    np.testing.assert_allclose(content.positions["Cz"], [float(ds[c].values[cz]) for c in "xyz"])
    # the generated channels have random positions per recording: their mean is drawn
    e0 = [store.dataset(r) for r in ("generated.clipped", "generated.flat", "generated.loud", "generated.short")]
    np.testing.assert_allclose(content.positions["E0"], np.mean([[float(d[c].values[0]) for c in "xyz"] for d in e0], axis=0))
    assert content.excerpts == {} and not any(r.has_signal for r in content.rows)


@pytest.mark.realdata
def test_signal_excerpts_are_bounded_flagged_recordings_first(qc_store, tmp_path, caplog, capsys):
    caplog.set_level(logging.INFO, logger="eegcorpus")
    small = write_report(qc_store, tmp_path / "small.html", max_recordings_with_signal=2, signal_seconds=4.0)
    html = small.read_text(encoding="utf-8")
    excerpts = _page_data(html)["excerpts"]
    assert list(excerpts) == ["generated.clipped", "generated.flat"]  # the first flagged, not the first rows
    flat = excerpts["generated.flat"]
    assert flat["names"] == ["E0", "E1", "E2", "E3"] and flat["flagged"] == ["E1"]
    assert len(flat["values"][0]) == 4 * 64 and flat["dt_s"] == 1 / 64 and flat["start_s"] == 28.0  # the middle 4 s of 60 s
    assert set(flat["values"][1]) == {0}  # the flat channel
    assert "Signal excerpts are embedded for 2 of 17 recordings" in html
    # a real recording's excerpt in the full report: the stored signal, reduced to at most 600 points
    full = _page_data(write_report(qc_store, tmp_path / "full.html", signal_seconds=10.0).read_text(encoding="utf-8"))["excerpts"]
    assert len(full) == 16 and "generated.broken" not in full
    real = full["eegmmidb.S001R03"]
    assert len(real["values"]) == 64 and len(real["values"][0]) <= 600
    signal = open_store(qc_store).recording("eegmmidb.S001R03").values[:, 4000 - 320 : 4000 + 320]
    np.testing.assert_allclose(np.asarray(real["values"]).max(axis=1) * real["step_uv"], signal.max(axis=1), atol=real["step_uv"])
    # progress and problems go through the "eegcorpus" logger; nothing is printed
    messages = [r.getMessage() for r in caplog.records if r.name == "eegcorpus"]
    assert any("generated.broken cannot be read" in m for m in messages)
    assert any(m.startswith(f"report: wrote {small}") for m in messages)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------------------------
# The page in headless chromium


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"the browser test needs Debian's chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (the test extra)")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _visible_ids(page) -> list[str]:
    return page.eval_on_selector_all("#recordings-table tbody tr:not([hidden])", "rows => rows.map(r => r.dataset.id)")


def _canvas_colours(page) -> dict:
    return page.evaluate(
        """() => {
          const c = document.getElementById('signal-canvas');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let ink = 0, red = 0;
          for (let i = 0; i < d.length; i += 4) {
            if (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200) ink++;
            if (d[i] > d[i + 1] + 50 && d[i] > d[i + 2] + 50) red++;
          }
          return {ink, red, width: c.width, drawn: c.dataset.drawn || '', hidden: c.hidden};
        }"""
    )


@pytest.mark.realdata
def test_the_page_in_chromium(browser, report, qc_store):
    from PIL import Image

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, external = [], []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))

    def offline(route):
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    page.goto(report.as_uri())
    index = list(open_store(qc_store).index.index)
    assert page.locator("#recordings-table tbody tr").count() == len(index) == 17
    assert _visible_ids(page) == index
    assert page.inner_text("#row-count") == "17 of 17 recordings shown"

    # sorting: duration up (missing last), then down; then the recording ids
    page.click("#recordings-table th:has-text('Duration')")
    real = [r for r in index if r.startswith("eegmmidb.")]
    assert _visible_ids(page) == ["generated.short", "generated.clipped", "generated.flat", "generated.loud", *real, "generated.broken"]
    page.click("#recordings-table th:has-text('Duration')")
    assert _visible_ids(page) == [*real, "generated.clipped", "generated.flat", "generated.loud", "generated.short", "generated.broken"]
    assert page.get_attribute("#recordings-table th:has-text('Duration')", "aria-sort") == "descending"
    page.click("#recordings-table th:has-text('Recording')")
    assert _visible_ids(page) == sorted(index)
    page.click("#recordings-table th:has-text('Recording')")
    assert _visible_ids(page) == sorted(index, reverse=True)

    # filtering: text, flag, both
    page.fill("#filter", "S001R1")
    assert _visible_ids(page) == [f"eegmmidb.S001R{r}" for r in (14, 13, 12, 11, 10)]
    assert page.inner_text("#row-count") == "5 of 17 recordings shown"
    page.fill("#filter", "")
    page.select_option("#flag-filter", "flat")
    assert _visible_ids(page) == ["generated.flat"]
    page.select_option("#flag-filter", "none")
    assert sorted(_visible_ids(page)) == real
    page.select_option("#flag-filter", "any")
    assert sorted(_visible_ids(page)) == sorted(FLAWED)
    page.fill("#filter", "e2")  # a flagged channel's name
    assert _visible_ids(page) == ["generated.clipped"]
    page.fill("#filter", "")
    page.select_option("#flag-filter", "all")
    assert len(_visible_ids(page)) == 17

    # clicking a row draws its signal (flagged channels in red); a row without an excerpt says so
    assert _canvas_colours(page)["hidden"]
    page.click('#recordings-table tr[data-id="generated.flat"]')
    drawn = _canvas_colours(page)
    assert drawn["drawn"] == "generated.flat" and not drawn["hidden"] and drawn["ink"] > 2000 and drawn["red"] > 20
    page.click('#recordings-table tr[data-id="eegmmidb.S001R05"]')
    drawn = _canvas_colours(page)
    assert drawn["drawn"] == "eegmmidb.S001R05" and drawn["ink"] > 20000 and drawn["red"] == 0
    assert "Signal: eegmmidb.S001R05" in page.inner_text("#signal-title")
    page.click('#recordings-table tr[data-id="generated.broken"]')
    assert _canvas_colours(page)["hidden"] and "No excerpt of this recording is embedded" in page.inner_text("#signal-note")

    # the figures are drawn: inline SVG paths, and pixels of more than one colour
    for key in ("coverage", "robust", "spectra", "amplitude"):
        plot = page.locator(f"#figure-{key} .plot")
        assert plot.locator("svg path").count() > 20, key
        image = Image.open(io.BytesIO(plot.screenshot())).convert("RGB")
        colours = image.getcolors(maxcolors=1 << 20)
        assert len(colours) > 10 and max(n for n, _ in colours) < 0.99 * image.width * image.height, key

    assert errors == [] and external == []
    page.close()


@pytest.mark.realdata
def test_report_command_writes_the_page(eegmmidb_store, tmp_path):
    from typer.testing import CliRunner

    from eegcorpus.cli import app

    out = tmp_path / "qc" / "report.html"
    result = CliRunner().invoke(app, ["report", str(eegmmidb_store), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(_rows(out.read_text())) == [f"eegmmidb.S001R{run:02d}" for run in range(3, 15)]
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nowhere"), "--out", str(out)])
    assert missing.exit_code == 1
    assert "not an eegcorpus store" in missing.stderr
