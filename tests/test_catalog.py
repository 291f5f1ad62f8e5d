"""The dataset catalog: the 22 cards, the schema that guards them, the loader and the docs page."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from helpers.shared_data import shared_path

from eegcorpus.catalog import (
    CatalogError,
    DownstreamCard,
    PretrainCard,
    UnknownDatasetError,
    get_card,
    load_card,
    load_catalog,
    parse_card,
    render_markdown,
)
from eegcorpus.catalog import loading as catalog_loading

REPO = Path(__file__).resolve().parents[1]
CARDS = REPO / "catalog"
DOCS = REPO / "docs" / "catalog.md"

#: NeurIPT Table 17: subjects and hours of the 14 pretraining sets.
PRETRAIN = {
    "emobrain": (16, 4.94),
    "grasp_and_lift": (12, 11.72),
    "inria_bci": (26, 29.98),
    "eegmmidb": (109, 47.30),
    "trujillo_raw": (58, 34.35),
    "trujillo_resting": (22, 3.04),
    "seed_series": (46, 166.75),
    "siena": (14, 30.47),
    "spis_resting": (10, 0.83),
    "brain_invaders": (50, 16.00),
    "tuar": (213, 92.22),
    "tuep": (200, 591.22),
    "tusz": (315, 1138.53),
    "tusl": (38, 20.59),
}
DOWNSTREAM = {
    "mental_arithmetic",
    "mumtaz2016",
    "physionet_p300",
    "sleep_edfx",
    "seed_v",
    "bcic_iv_2a",
    "tuab",
    "tuev",
}
BINARY_METRICS = ["balanced_accuracy", "auc_pr", "auroc"]
MULTICLASS_METRICS = ["balanced_accuracy", "cohen_kappa", "f1_weighted"]


def raw(dataset_id: str) -> dict:
    """A card's YAML as plain data, markers still inline."""
    return yaml.safe_load((CARDS / f"{dataset_id}.yaml").read_text(encoding="utf-8"))


def write(tmp_path: Path, name: str, data: dict) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# the cards themselves


def test_catalog_has_the_22_ids_with_their_roles():
    cards = load_catalog()
    assert set(cards) == set(PRETRAIN) | DOWNSTREAM
    assert list(cards) == sorted(cards)
    assert {i for i, c in cards.items() if c.role == "pretrain"} == set(PRETRAIN)
    assert {i for i, c in cards.items() if c.role == "downstream"} == DOWNSTREAM
    assert all(isinstance(cards[i], PretrainCard) for i in PRETRAIN)
    assert all(isinstance(cards[i], DownstreamCard) for i in DOWNSTREAM)


@pytest.mark.parametrize("path", sorted(CARDS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_card_file_loads_and_round_trips(path):
    card = load_card(path)
    assert card.id == path.stem
    data = json.loads(json.dumps(card.to_dict()))  # must be plain JSON
    assert parse_card(data, source=path.name) == card


def test_pretraining_subjects_and_hours_follow_neuript_table_17():
    cards = load_catalog()
    for dataset_id, (subjects, hours) in PRETRAIN.items():
        assert (cards[dataset_id].subjects, cards[dataset_id].hours) == (subjects, hours)
    assert sum(h for _, h in PRETRAIN.values()) > 2000


def test_downstream_protocols():
    cards = load_catalog()
    for dataset_id in DOWNSTREAM:
        card = cards[dataset_id]
        assert card.n_classes == len(card.labels)
        expected = BINARY_METRICS if card.n_classes == 2 else MULTICLASS_METRICS
        if dataset_id == "physionet_p300":
            expected = ["balanced_accuracy", "cohen_kappa", "auroc"]
        assert card.metrics == expected, dataset_id
        assert "balanced_accuracy" in card.neuript_reported
    ma = cards["mental_arithmetic"].split
    assert (ma.kind, ma.train, ma.val, ma.test) == ("subject", list(range(1, 29)), [29, 30, 31, 32], [33, 34, 35, 36])
    assert ma.id_offset == -1
    bcic = cards["bcic_iv_2a"].split
    assert (bcic.train, bcic.val, bcic.test) == ([1, 2, 3, 4, 5], [6, 7], [8, 9])
    for dataset_id in ("tuab", "tuev"):
        assert cards[dataset_id].split.kind == "official"
        assert cards[dataset_id].split.val_fraction == 0.2
    assert cards["mental_arithmetic"].neuript_reported["balanced_accuracy"] == 86.46


def test_open_cards_say_where_to_download_and_others_how_to_get_access():
    for card in load_catalog().values():
        if card.access == "open":
            assert card.download.base_url, card.id
        assert len(card.access_notes) > 40, card.id
        if card.download.checksums == "unverified":
            assert card.download.files == [], card.id


def _check_pinned_files(card, folder: Path, expected_count: int):
    assert len(card.download.files) == expected_count
    for entry in card.download.files:
        local = folder / entry.path
        assert local.stat().st_size == entry.size, entry.path
        assert sha256(local) == entry.sha256, entry.path


def test_eegmmidb_checksums_match_the_real_files():
    card = get_card("eegmmidb")
    paths = {f.path for f in card.download.files}
    s001 = {f"S001/S001R{r:02d}{ext}" for r in range(3, 15) for ext in (".edf", ".edf.event")}
    s002_s007 = {f"S{s:03d}/S{s:03d}R{r:02d}.edf" for s in range(2, 8) for r in (3, 4, 7, 8, 11, 12)}
    assert paths == s001 | s002_s007
    assert card.download.base_url == "https://physionet.org/files/eegmmidb/1.0.0/"
    _check_pinned_files(card, shared_path("eegmmidb"), 24 + 36)


def test_mental_arithmetic_checksums_match_the_real_files():
    card = get_card("mental_arithmetic")
    paths = {f.path for f in card.download.files}
    # Subject00-31: the paper split's training and validation subjects (its test subjects 32-35
    # are not pinned: they are not in the shared folder).
    assert paths == {f"Subject{s:02d}_{c}.edf" for s in range(32) for c in (1, 2)} | {"subject-info.csv"}
    assert card.download.base_url == "https://physionet.org/files/eegmat/1.0.0/"
    _check_pinned_files(card, shared_path("eegmat"), 65)


def test_sleep_edfx_hypnogram_checksum_matches_the_real_file():
    (entry,) = get_card("sleep_edfx").download.files
    local = shared_path("fixtures", "sleep_edf", Path(entry.path).name)
    assert (sha256(local), local.stat().st_size) == (entry.sha256, entry.size)


# --------------------------------------------------------------------------------------------
# broken cards


def _set(key, value):
    def change(data):
        data[key] = value

    return change


def _drop(key):
    def change(data):
        del data[key]

    return change


def _nested(*keys, value):
    def change(data):
        node = data
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


BROKEN = [
    # (card, change, field named in the message, words in the message)
    ("eegmmidb", _set("access", "public"), "access", "Input should be 'open', 'registration' or 'agreement' (got 'public')"),
    ("eegmmidb", _drop("license"), "license", "required field is missing"),
    ("eegmmidb", _set("licence", "CC0"), "licence", "unknown field"),
    ("eegmmidb", _nested("layout", "patern", value="x"), "layout.patern", "unknown field"),
    ("eegmmidb", _set("role", "finetune"), "role", "'pretrain' or 'downstream' (got 'finetune')"),
    ("eegmmidb", _set("labels", {"a": 0, "b": 1}), "labels", "only allowed on downstream cards"),
    ("eegmmidb", _set("subjects", "many"), "subjects", "valid integer"),
    ("eegmmidb", _set("line_freq", 55), "line_freq", "Input should be 50 or 60"),
    ("eegmmidb", _set("formats", ["edf", "fif"]), "formats[1]", "Input should be"),
    ("eegmmidb", _nested("download", "files", 0, "sha256", value="abc"), "download.files[0].sha256", "should match pattern"),
    ("eegmmidb", _nested("download", "checksums", value="unverified"), "download.files", "must be empty"),
    ("eegmmidb", _set("sfreq", {"value": [160], "unverifed": True}), "sfreq", "only the keys value, unverified and note"),
    ("eegmmidb", _set("unverified", ["sfreqq"]), "unverified[0]", "names no field"),
    ("mental_arithmetic", _drop("labels"), "labels", "required field is missing"),
    ("mental_arithmetic", _set("labels", {"rest": 0, "arithmetic": 2}), "labels", "exactly 0..1"),
    ("mental_arithmetic", _nested("split", "val", value="20-30"), "split.val", "shares ids with train"),
    ("mental_arithmetic", _nested("split", "kind", value="official"), "split.train", "only used with kind"),
    ("sleep_edfx", _set("metrics", ["balanced_accuracy", "auroc"]), "metrics", "only defined for binary tasks"),
]


@pytest.mark.parametrize("dataset_id, change, field, words", BROKEN, ids=[f"{b[0]}:{b[2]}" for b in BROKEN])
def test_a_broken_card_names_the_file_and_the_field(tmp_path, dataset_id, change, field, words):
    data = raw(dataset_id)
    change(data)
    path = write(tmp_path, f"{dataset_id}.yaml", data)
    with pytest.raises(CatalogError) as info:
        load_card(path)
    message = str(info.value)
    assert message.startswith(f"catalog card '{dataset_id}.yaml': field '{field}': "), message
    assert words in message
    assert "\n" not in message
    assert info.value.field == field


def test_the_exact_message_for_a_wrong_access_value(tmp_path):
    data = raw("eegmmidb")
    data["access"] = "public"
    with pytest.raises(CatalogError) as info:
        load_card(write(tmp_path, "eegmmidb.yaml", data))
    assert str(info.value) == ("catalog card 'eegmmidb.yaml': field 'access': Input should be 'open', 'registration' or 'agreement' (got 'public')")


def test_id_must_equal_the_file_stem(tmp_path):
    path = write(tmp_path, "eegmmidb_copy.yaml", raw("eegmmidb"))
    with pytest.raises(CatalogError, match=r"'eegmmidb_copy.yaml': field 'id': 'eegmmidb' does "):
        load_card(path)


def test_yaml_python_tags_are_refused_not_executed(tmp_path):
    marker = tmp_path / "executed"
    card = tmp_path / "evil.yaml"
    card.write_text(f'id: !!python/object/apply:os.system ["touch {marker}"]\n', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"^catalog card 'evil.yaml': not valid YAML: .*python"):
        load_card(card)
    assert not marker.exists()


def test_unreadable_and_empty_inputs(tmp_path):
    with pytest.raises(CatalogError, match="'missing.yaml': cannot read the file"):
        load_card(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="expected a mapping of fields"):
        load_card(tmp_path / "list.yaml")
    with pytest.raises(CatalogError, match="cannot list catalog folder .*nothing-here"):
        load_catalog(tmp_path / "nothing-here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogError, match="no catalog cards"):
        load_catalog(tmp_path / "empty")


def test_load_catalog_reads_another_folder(tmp_path):
    for dataset_id in ("eegmmidb", "tuev"):
        write(tmp_path, f"{dataset_id}.yaml", raw(dataset_id))
    cards = load_catalog(tmp_path)
    assert list(cards) == ["eegmmidb", "tuev"]
    assert cards["tuev"] == get_card("tuev")


def test_default_folder_falls_back_to_the_source_tree(monkeypatch):
    def not_installed(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(catalog_loading.importlib.resources, "files", not_installed)
    assert catalog_loading._default_directory() == CARDS


def test_get_card_for_an_unknown_id_lists_the_valid_ids():
    with pytest.raises(UnknownDatasetError) as info:
        get_card("eegmmdb")
    assert isinstance(info.value, KeyError) and isinstance(info.value, CatalogError)
    assert str(info.value).startswith("unknown dataset 'eegmmdb'; valid ids: bcic_iv_2a, ")
    assert "eegmmidb" in str(info.value)


# --------------------------------------------------------------------------------------------
# unverified values and the docs page


def test_unverified_markers_show_in_summary_and_json():
    summary = get_card("emobrain").summary()
    assert {"id", "role", "name", "access", "formats", "hours", "subjects", "n_channels", "sfreq", "unverified"} <= set(summary)
    assert json.loads(json.dumps(summary)) == summary
    assert {"sfreq", "subjects", "license"} <= set(summary["unverified"])
    assert summary["sfreq"] == [1024.0]  # the value itself is plain
    assert "sfreq" not in get_card("eegmmidb").summary()["unverified"]
    assert get_card("seed_v").to_dict()["unverified"] == get_card("seed_v").unverified


def test_removing_a_marker_removes_the_flag():
    data = raw("emobrain")
    assert data["sfreq"]["unverified"] is True
    data["sfreq"] = [1024]
    card = parse_card(data, source="emobrain.yaml")
    assert "sfreq" not in card.summary()["unverified"]
    assert "| Sampling rate (Hz) | 1024 |" in render_markdown([card])


def test_marker_notes_are_kept_per_field():
    card = get_card("inria_bci")
    assert "sfreq" not in card.unverified  # a note alone does not mark a value unverified
    assert "600 Hz" in card.field_notes["sfreq"]
    seed = get_card("seed_series")
    assert "components[3].subjects" in seed.unverified
    assert seed.is_unverified("components") and not seed.is_unverified("hours")


def test_markdown_marks_unverified_values():
    text = render_markdown(load_catalog())
    assert "| Sampling rate (Hz) | 1024 (unverified) |" in text  # emobrain section
    assert "| Sampling rate (Hz) | 160 |" in text  # eegmmidb, read from the real headers
    emobrain_row = next(line for line in text.splitlines() if line.startswith("| [`emobrain`]"))
    assert "16 (unverified)" in emobrain_row and "1024 (unverified)" in emobrain_row
    assert "- `sfreq`: The Kaggle CSVs are at 200 Hz" in text  # a note without the marker


def test_markdown_layout():
    text = render_markdown(load_catalog())
    assert text.startswith("# Dataset catalog\n")
    assert "eegcorpus catalog markdown > docs/catalog.md" in text
    pretrain_at = text.index("## Pretraining datasets (14,")
    downstream_at = text.index("## Downstream datasets (8)")
    assert pretrain_at < downstream_at < text.index("## Cards")
    for dataset_id in set(PRETRAIN) | DOWNSTREAM:
        assert f'<a id="{dataset_id}"></a>' in text
    assert "&lt;raw_dir&gt;/tusz/" in text  # angle brackets survive markdown rendering


def test_docs_page_is_up_to_date():
    expected = render_markdown(load_catalog())
    assert DOCS.read_text(encoding="utf-8") == expected, "docs/catalog.md is stale; run: eegcorpus catalog markdown > docs/catalog.md"


def test_command_line_prints_the_docs_page():
    from typer.testing import CliRunner

    from eegcorpus.cli import app

    markdown = CliRunner().invoke(app, ["catalog", "markdown"])
    assert markdown.exit_code == 0 and markdown.stdout == render_markdown(load_catalog())
    listed = CliRunner().invoke(app, ["catalog", "list", "--json"])
    assert listed.exit_code == 0 and {row["id"] for row in json.loads(listed.stdout)} == set(PRETRAIN) | DOWNSTREAM
