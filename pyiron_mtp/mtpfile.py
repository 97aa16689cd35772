"""Reading and writing MLIP's ``.mtp`` potential files (MLIP-2 and MLIP-3).

Untrained templates carry only the basis; trained files add ``scaling``, the
radial coefficients per species pair and the species and moment coefficients.
Line endings may be LF or CRLF.  Errors name the file, the line and what was
expected.

Entries of this package beyond MLIP, written after ``moment_coeffs`` (MLIP stops reading
there, so it evaluates the bare MTP without them):
``core_radius = r`` (A; the radial basis is clamped below r), ``baseline = ZBL``,
``baseline_atomic_numbers = {Z_0, Z_1, ...}`` (per species) and
``baseline_cutoffs = {inner, outer}`` (A; the ZBL switching range).
"""
from __future__ import annotations

import re
import warnings

import numpy as np

__all__ = ["MTPFileError", "read_mtp", "write_mtp"]

_INT_KEYS = {
    "species_count", "radial_basis_size", "radial_funcs_count", "alpha_moments_count",
    "alpha_index_basic_count", "alpha_index_times_count", "alpha_scalar_moments",
}
_FLOAT_KEYS = {"min_dist", "max_dist", "scaling", "core_radius"}
_STR_KEYS = {"version", "potential_name", "potential_tag", "radial_basis_type", "baseline"}
_ARRAY_KEYS = {"alpha_index_basic", "alpha_index_times", "alpha_moment_mapping",
               "species_coeffs", "moment_coeffs", "baseline_atomic_numbers", "baseline_cutoffs"}


class MTPFileError(ValueError):
    """A malformed ``.mtp`` file; the message names file and line."""


def _numbers(text, path, lineno, kind=float):
    body = text.replace("{", " ").replace("}", " ").replace(",", " ").split()
    try:
        return [kind(x) for x in body]
    except ValueError as exc:
        raise MTPFileError(f"{path}:{lineno}: expected a list of numbers in braces, got {text[:80]!r}") from exc


def read_mtp(path) -> dict:
    """Parse an ``.mtp`` file into a dict of plain values and numpy arrays."""
    path = str(path)
    try:
        with open(path, "r", newline=None) as fh:
            lines = fh.read().splitlines()
    except UnicodeDecodeError as exc:
        raise MTPFileError(f"{path}: not a text file ({exc})") from exc
    lines = [ln.rstrip("\r") for ln in lines]
    if not lines or lines[0].strip() != "MTP":
        raise MTPFileError(f"{path}:1: expected the header line 'MTP', got {lines[0][:40] if lines else ''!r}")
    data: dict = {"radial_coeffs_pairs": {}, "_lines": {}}
    k = 1
    current_pair = None
    while k < len(lines):
        raw = lines[k]
        lineno = k + 1
        line = raw.strip()
        k += 1
        if not line:
            continue
        if line == "radial_coeffs":
            current_pair = None
            data["has_radial_coeffs"] = True
            continue
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", line)
        if m:
            current_pair = (int(m.group(1)), int(m.group(2)))
            data["radial_coeffs_pairs"][current_pair] = []
            continue
        if line.startswith("{") and current_pair is not None:
            data["radial_coeffs_pairs"][current_pair].append(_numbers(line, path, lineno))
            continue
        if "=" not in line:
            raise MTPFileError(f"{path}:{lineno}: expected 'key = value', got {line[:80]!r}")
        key, value = (s.strip() for s in line.split("=", 1))
        current_pair = None
        data["_lines"][key] = lineno
        if key in _INT_KEYS:
            try:
                data[key] = int(value)
            except ValueError:
                raise MTPFileError(f"{path}:{lineno}: {key} must be an integer, got {value!r}") from None
        elif key in _FLOAT_KEYS:
            try:
                data[key] = float(value)
            except ValueError:
                raise MTPFileError(f"{path}:{lineno}: {key} must be a number, got {value!r}") from None
        elif key in _STR_KEYS:
            data[key] = value
        elif key in _ARRAY_KEYS:
            if not (value.startswith("{") and value.endswith("}")):
                raise MTPFileError(f"{path}:{lineno}: {key} must be a list in braces {{...}}")
            kind = float if key.endswith("coeffs") or key == "baseline_cutoffs" else int
            data[key] = _numbers(value, path, lineno, kind)
        else:
            warnings.warn(f"{path}:{lineno}: unknown key {key!r} ignored", stacklevel=2)
    return _check(data, path)


def _need(data, key, path):
    if key not in data:
        raise MTPFileError(f"{path}: missing required entry '{key}'")
    return data[key]


def _check(data, path):
    lines = data.pop("_lines")
    rb = data.get("radial_basis_type", "RBChebyshev")
    if rb != "RBChebyshev":
        raise MTPFileError(f"{path}:{lines.get('radial_basis_type', '?')}: radial_basis_type {rb!r} is not supported (only RBChebyshev)")
    out = {
        "version": data.get("version", "1.1.0"),
        "potential_name": data.get("potential_name", "MTP1m"),
        "potential_tag": data.get("potential_tag", ""),
        "scaling": data.get("scaling", 1.0),
    }
    for key in ("species_count", "min_dist", "max_dist", "radial_basis_size", "radial_funcs_count",
                "alpha_moments_count"):
        out[key] = _need(data, key, path)
    n_species = out["species_count"]
    if n_species < 1:
        raise MTPFileError(f"{path}:{lines['species_count']}: species_count must be >= 1")
    if not out["max_dist"] > out["min_dist"] >= 0:
        raise MTPFileError(f"{path}:{lines['max_dist']}: need 0 <= min_dist < max_dist, got {out['min_dist']}, {out['max_dist']}")
    for key, width, count_key in (("alpha_index_basic", 4, "alpha_index_basic_count"),
                                  ("alpha_index_times", 4, "alpha_index_times_count"),
                                  ("alpha_moment_mapping", 1, "alpha_scalar_moments")):
        values = np.array(_need(data, key, path), dtype=np.int64)
        count = _need(data, count_key, path)
        if values.size != count * width:
            raise MTPFileError(
                f"{path}:{lines[key]}: {key} has {values.size // max(width, 1)} entries, "
                f"{count_key} = {count} says {count}")
        out[key] = values.reshape(count, width) if width > 1 else values
    n_mom = out["alpha_moments_count"]
    basic = out["alpha_index_basic"]
    times = out["alpha_index_times"]
    mapping = out["alpha_moment_mapping"]
    if len(basic) and (basic[:, 0].max() >= out["radial_funcs_count"] or basic.min() < 0):
        raise MTPFileError(f"{path}:{lines['alpha_index_basic']}: alpha_index_basic uses a radial function index >= radial_funcs_count or a negative power")
    if len(times) and (times[:, [0, 1, 3]].max() >= n_mom or times.min() < 0):
        raise MTPFileError(f"{path}:{lines['alpha_index_times']}: alpha_index_times refers to a moment outside 0..{n_mom - 1}")
    if len(mapping) and (mapping.max() >= n_mom or mapping.min() < 0):
        raise MTPFileError(f"{path}:{lines['alpha_moment_mapping']}: alpha_moment_mapping refers to a moment outside 0..{n_mom - 1}")
    K, R = out["radial_funcs_count"], out["radial_basis_size"]
    trained = bool(data.get("has_radial_coeffs")) or "moment_coeffs" in data
    out["trained"] = trained
    if trained:
        radial = np.zeros((n_species, n_species, K, R))
        pairs = data["radial_coeffs_pairs"]
        for a in range(n_species):
            for b in range(n_species):
                if (a, b) not in pairs:
                    raise MTPFileError(f"{path}: radial_coeffs has no block for species pair {a}-{b}")
                block = np.array(pairs[(a, b)], dtype=float)
                if block.shape != (K, R):
                    raise MTPFileError(
                        f"{path}: radial_coeffs {a}-{b} has shape {block.shape}, expected "
                        f"radial_funcs_count x radial_basis_size = ({K}, {R})")
                radial[a, b] = block
        out["radial_coeffs"] = radial
        sc = np.array(_need(data, "species_coeffs", path), dtype=float)
        if sc.size != n_species:
            raise MTPFileError(f"{path}:{lines['species_coeffs']}: species_coeffs has {sc.size} values, species_count is {n_species}")
        mc = np.array(_need(data, "moment_coeffs", path), dtype=float)
        if mc.size != len(mapping):
            raise MTPFileError(f"{path}:{lines['moment_coeffs']}: moment_coeffs has {mc.size} values, alpha_scalar_moments is {len(mapping)}")
        out["species_coeffs"] = sc
        out["moment_coeffs"] = mc
    if "core_radius" in data:
        r = data["core_radius"]
        if not out["min_dist"] * 0.5 <= r < out["max_dist"]:
            raise MTPFileError(f"{path}:{lines['core_radius']}: core_radius must lie in [min_dist/2, max_dist), got {r}")
        out["core_radius"] = r
    if "baseline" in data:
        kind = data["baseline"]
        if kind.upper() != "ZBL":
            raise MTPFileError(f"{path}:{lines['baseline']}: baseline {kind!r} is not supported (only ZBL)")
        z = np.array(_need(data, "baseline_atomic_numbers", path), dtype=np.int64)
        cut = np.array(_need(data, "baseline_cutoffs", path), dtype=float)
        if z.size != n_species or z.min() < 1 or z.max() > 118:
            raise MTPFileError(f"{path}:{lines['baseline_atomic_numbers']}: baseline_atomic_numbers needs one atomic "
                               f"number (1-118) per species ({n_species}), got {z.tolist()}")
        if cut.size != 2 or not 0 < cut[0] < cut[1] <= out["max_dist"]:
            raise MTPFileError(f"{path}:{lines['baseline_cutoffs']}: baseline_cutoffs must be {{inner, outer}} with "
                               f"0 < inner < outer <= max_dist, got {cut.tolist()}")
        out["baseline"] = {"kind": "ZBL", "atomic_numbers": z, "inner": float(cut[0]), "outer": float(cut[1])}
    elif "baseline_atomic_numbers" in data or "baseline_cutoffs" in data:
        raise MTPFileError(f"{path}: baseline_atomic_numbers/baseline_cutoffs given without 'baseline = ZBL'")
    return out


def _brace(values, fmt):
    return "{" + ", ".join(fmt(v) for v in values) + "}"


def write_mtp(path, d: dict, trained: bool = True) -> None:
    """Write an ``.mtp`` file from the dict layout of :func:`read_mtp`."""
    f = lambda v: f"{v:.16e}"  # noqa: E731  (17 significant digits: exact doubles)
    i = lambda v: str(int(v))  # noqa: E731
    out = ["MTP", f"version = {d.get('version', '1.1.0')}", f"potential_name = {d.get('potential_name', 'MTP1m')}"]
    if trained:
        out.append(f"scaling = {f(d['scaling'])}")
    out += [
        f"species_count = {d['species_count']}",
        f"potential_tag = {d.get('potential_tag', '')}",
        "radial_basis_type = RBChebyshev",
        f"\tmin_dist = {f(d['min_dist']) if trained else repr(float(d['min_dist']))}",
        f"\tmax_dist = {f(d['max_dist']) if trained else repr(float(d['max_dist']))}",
        f"\tradial_basis_size = {d['radial_basis_size']}",
        f"\tradial_funcs_count = {d['radial_funcs_count']}",
    ]
    if trained:
        out.append("\tradial_coeffs")
        rc = np.asarray(d["radial_coeffs"])
        for a in range(rc.shape[0]):
            for b in range(rc.shape[1]):
                out.append(f"\t\t{a}-{b}")
                for row in rc[a, b]:
                    out.append("\t\t\t" + _brace(row, f))
    basic = np.asarray(d["alpha_index_basic"]).reshape(-1, 4)
    times = np.asarray(d["alpha_index_times"]).reshape(-1, 4)
    mapping = np.asarray(d["alpha_moment_mapping"]).reshape(-1)
    out += [
        f"alpha_moments_count = {d['alpha_moments_count']}",
        f"alpha_index_basic_count = {len(basic)}",
        "alpha_index_basic = {" + ", ".join(_brace(r, i) for r in basic) + "}",
        f"alpha_index_times_count = {len(times)}",
        "alpha_index_times = {" + ", ".join(_brace(r, i) for r in times) + "}",
        f"alpha_scalar_moments = {len(mapping)}",
        "alpha_moment_mapping = " + _brace(mapping, i),
    ]
    if trained:
        out.append("species_coeffs = " + _brace(d["species_coeffs"], f))
        out.append("moment_coeffs = " + _brace(d["moment_coeffs"], f))
    if d.get("core_radius") is not None:
        out.append(f"core_radius = {f(d['core_radius'])}")
    base = d.get("baseline")
    if base:
        out += [f"baseline = {base.get('kind', 'ZBL')}",
                "baseline_atomic_numbers = " + _brace(np.asarray(base["atomic_numbers"]).reshape(-1), i),
                "baseline_cutoffs = " + _brace([base["inner"], base["outer"]], f)]
    with open(path, "w") as fh:
        fh.write("\n".join(out) + "\n")
