"""Scanner profiles: the built-ins, and errors that name the bad field."""

import json

import pytest

from quayscan.datasets.profiles import ProfileError, builtin_names, load_profile, load_profile_file, profile_from_dict


def test_builtins_differ_in_energy_pitch_and_noise():
    dual = [load_profile(n) for n in builtin_names() if len(load_profile(n).energies_mev) == 2]
    assert len(dual) >= 3
    assert len({p.energies_mev for p in dual}) == len(dual)
    assert len({p.pitch_mm for p in dual}) == len(dual)
    assert len({p.photons_per_pixel for p in dual}) == len(dual)
    assert load_profile("single-6").energies_mev == (6.0,)


def good() -> dict:
    return load_profile("linac-6-3").to_dict()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"energies_mev": [3.0, 6.0]}, "energies_mev"),
        ({"energies_mev": [6.0, 6.0]}, "energies_mev"),
        ({"energies_mev": "6/3"}, "energies_mev"),
        ({"pitch_mm": [5.0]}, "pitch_mm"),
        ({"pitch_mm": [0.0, 5.0]}, "pitch_mm"),
        ({"photons_per_pixel": -5}, "photons_per_pixel"),
        ({"electronic_noise": "low"}, "electronic_noise"),
        ({"row_gain_sigma": 2.0}, "row_gain_sigma"),
        ({"column_dose_sigma": True}, "column_dose_sigma"),
        ({"blur_sigma_px": 50}, "blur_sigma_px"),
        ({"air_value": 70000}, "air_value"),
        ({"air_value": 60000.5}, "air_value"),
        ({"name": ""}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_field_is_named(change, field):
    d = good()
    d.update(change)
    with pytest.raises(ProfileError, match=field):
        profile_from_dict(d)


@pytest.mark.parametrize("field", ["name", "energies_mev", "pitch_mm", "photons_per_pixel", "air_value"])
def test_missing_field_is_named(field):
    d = good()
    del d[field]
    with pytest.raises(ProfileError, match=f"missing.*{field}"):
        profile_from_dict(d)


def test_profile_files(tmp_path):
    path = tmp_path / "site.json"
    d = good()
    d.update(name="site-a", energies_mev=[7.5, 4.0], pitch_mm=[4.5, 7.0])
    path.write_text(json.dumps(d))
    p = load_profile_file(path)
    assert p.name == "site-a" and p.energies_mev == (7.5, 4.0)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ProfileError, match="not valid JSON"):
        load_profile_file(tmp_path / "bad.json")
    with pytest.raises(ProfileError, match="not found"):
        load_profile_file(tmp_path / "nope.json")
    with pytest.raises(ProfileError, match="unknown profile 'nope'"):
        load_profile("nope")
