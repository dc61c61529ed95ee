"""The quayscan command line: generate, and one-line errors for bad input."""

import json

from quayscan.cli import main


def test_generate_writes_a_dataset_with_preview(tmp_path, capsys):
    profile = tmp_path / "coarse.json"
    from quayscan.datasets.profiles import load_profile

    d = load_profile("linac-6-3").to_dict()
    d.update(name="coarse", pitch_mm=[20.0, 20.0])
    profile.write_text(json.dumps(d))
    out = tmp_path / "ds"
    assert main(["generate", "--out", str(out), "--count", "3", "--seed", "4", "--profile-file", str(profile),
                 "--preview", "--no-progress"]) == 0
    assert "wrote 3 scans" in capsys.readouterr().out
    lines = (out / "labels.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["profile"] == "coarse"
    assert (out / "preview.png").stat().st_size > 1000
    assert json.loads((out / "dataset.json").read_text())["seed"] == 4


def test_single_energy_profile_writes_no_low_image(tmp_path):
    out = tmp_path / "se"
    assert main(["generate", "--out", str(out), "--count", "1", "--seed", "1", "--profile", "single-6",
                 "--no-progress"]) == 0
    rec = json.loads((out / "labels.jsonl").read_text())
    assert rec["files"]["low"] is None
    assert list((out / "scans").iterdir()) == [out / "scans" / f"{rec['id']}_high.png"]


def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys):
    assert main(["generate", "--out", str(tmp_path / "x"), "--count", "1", "--seed", "1", "--profile", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown profile 'nope'" in err and "Traceback" not in err
    assert main(["generate", "--out", str(tmp_path / "x"), "--count", "2", "--seed", "1",
                 "--anomaly-rate", "2"]) == 2
    assert "anomaly rate" in capsys.readouterr().err
