import numpy as np
import pytest

from pyiron_mtp import MTP
from pyiron_mtp.mtpfile import MTPFileError
from conftest import data_file, random_potential


def test_template_crlf_roundtrip(tmp_path):
    src = data_file("mlip_templates", "10.mtp")
    crlf = tmp_path / "crlf.mtp"
    crlf.write_bytes(src.read_bytes().replace(b"\n", b"\r\n"))
    pot = MTP.from_file(crlf, species=["Cu"])
    assert not pot.trained
    assert pot.alpha_moments_count == 41 and pot.n_basis == 16 and pot.radial_funcs_count == 3
    out = tmp_path / "t.mtp"
    pot.to_file(out)
    again = MTP.from_file(out)
    assert not again.trained
    for key in ("alpha_index_basic", "alpha_index_times", "alpha_moment_mapping"):
        assert np.array_equal(getattr(again, key), getattr(pot, key))
    assert "radial_coeffs" not in out.read_text()


def test_trained_roundtrip_exact(tmp_path):
    pot = random_potential(10, ["Al", "Cu", "Ni"])
    path = tmp_path / "p.mtp"
    pot.to_file(path)
    back = MTP.from_file(path, species=["Al", "Cu", "Ni"])
    assert back.trained
    assert np.array_equal(back.parameters, pot.parameters)  # 17 significant digits keep doubles exactly
    assert back.scaling == pot.scaling
    d = pot.to_dict()
    assert np.array_equal(MTP.from_dict(d).parameters, pot.parameters)


def test_published_file_roundtrip(tmp_path):
    pot = MTP.from_file(data_file("mlearn", "published_mtp", "Li.mtp"), species=["Li"])
    assert pot.n_parameters == 125 and pot.scaling == pytest.approx(4.097567646393594e-02)
    pot.to_file(tmp_path / "li.mtp")
    assert np.array_equal(MTP.from_file(tmp_path / "li.mtp").parameters, pot.parameters)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("MTP\n", "MTB\n", 1), r":1: expected the header line 'MTP'"),
    (lambda t: t.replace("alpha_moments_count = 41", "alpha_moments_count = forty"), r":\d+: alpha_moments_count must be an integer"),
    (lambda t: t.replace("alpha_index_basic_count = 25", "alpha_index_basic_count = 26"), r"alpha_index_basic has 25 entries"),
    (lambda t: t.replace("alpha_moments_count = 41", "alpha_moments_count = 30"), r"alpha_index_times refers to a moment outside"),
    (lambda t: t.replace("\tmax_dist = 5\n", ""), r"missing required entry 'max_dist'"),
    (lambda t: t.replace("alpha_moment_mapping = {", "alpha_moment_mapping = ("), r":\d+: alpha_moment_mapping must be a list in braces"),
    (lambda t: t + "garbage line\n", r":\d+: expected 'key = value'"),
])
def test_malformed_mtp(tmp_path, edit, message):
    text = data_file("mlip_templates", "10.mtp").read_text()
    bad = tmp_path / "bad.mtp"
    bad.write_text(edit(text))
    with pytest.raises(MTPFileError, match=message) as info:
        MTP.from_file(bad)
    assert str(bad) in str(info.value)


def test_malformed_coefficients(tmp_path):
    pot = random_potential(8, ["Cu"])
    path = tmp_path / "p.mtp"
    pot.to_file(path)
    text = path.read_text()
    i = text.index("moment_coeffs = {")
    (tmp_path / "short.mtp").write_text(text[:i] + "moment_coeffs = {1.0, 2.0}\n")
    with pytest.raises(MTPFileError, match="moment_coeffs has 2 values"):
        MTP.from_file(tmp_path / "short.mtp")
    with pytest.raises(ValueError, match="species_count = 1, but 2 species"):
        MTP.from_file(path, species=["Cu", "Ag"])
