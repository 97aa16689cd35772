// MTP model: `.mtp` reader, kernel tables and the evaluation of one neighbourhood.
#include "mtp_model.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

namespace pyiron_mtp {

namespace {

const double CORE_WIDTH = 0.1;    // A, as pyiron_mtp.core.radial.CORE_WIDTH

// Unswitched ZBL energy and its first two derivatives (pyiron_mtp.core.zbl.zbl_terms).
void zbl_terms(double r, double zi, double zj, double &e, double &de, double &d2e)
{
  static const double pa[4] = {0.18175, 0.50986, 0.28022, 0.02817};
  static const double pb[4] = {3.19980, 0.94229, 0.40290, 0.20162};
  const double a = 0.46850 / (std::pow(zi, 0.23) + std::pow(zj, 0.23));
  const double pre = 14.399645 * zi * zj;
  double phi = 0.0, dphi = 0.0, d2phi = 0.0;
  for (int k = 0; k < 4; ++k) {
    const double b = pb[k] / a, t = pa[k] * std::exp(-b * r);
    phi += t;
    dphi -= b * t;
    d2phi += b * b * t;
  }
  e = pre * phi / r;
  de = pre * (dphi / r - phi / (r * r));
  d2e = pre * (d2phi / r - 2.0 * dphi / (r * r) + 2.0 * phi / (r * r * r));
}

// Half of the switched ZBL energy of every neighbour pair of centre zi, and (grad != nullptr)
// half of its gradient added to grad.
double baseline_site(const MTPModel &m, int zi, int nn, const int *zj, const double *rinv,
                     const double *ux, const double *uy, const double *uz, double *grad)
{
  const int C = m.species_count;
  double energy = 0.0;
  for (int q = 0; q < nn; ++q) {
    const double r = 1.0 / rinv[q];
    if (r >= m.baseline_outer) continue;
    const double *sw = &m.baseline_switch[3 * (zi * C + zj[q])];
    double e, de, d2e;
    zbl_terms(r, m.baseline_z[zi], m.baseline_z[zj[q]], e, de, d2e);
    if (r > m.baseline_inner) {
      const double x = r - m.baseline_inner;
      e += sw[0] / 3.0 * x * x * x + sw[1] / 4.0 * x * x * x * x + sw[2];
      de += sw[0] * x * x + sw[1] * x * x * x;
    } else {
      e += sw[2];
    }
    energy += 0.5 * e;
    if (grad != nullptr) {
      grad[3 * q] += 0.5 * de * ux[q];
      grad[3 * q + 1] += 0.5 * de * uy[q];
      grad[3 * q + 2] += 0.5 * de * uz[q];
    }
  }
  return energy;
}

std::string trim(const std::string &s)
{
  const char *ws = " \t\r\n\f\v";
  size_t a = s.find_first_not_of(ws);
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(ws);
  return s.substr(a, b - a + 1);
}

// Numbers of a braced list "{1, 2}, {3, 4}" (braces and commas are separators).
bool parse_numbers(const std::string &text, std::vector<double> &out)
{
  std::string body = text;
  for (char &c : body)
    if (c == '{' || c == '}' || c == ',') c = ' ';
  std::istringstream in(body);
  std::string tok;
  out.clear();
  while (in >> tok) {
    char *end = nullptr;
    double v = std::strtod(tok.c_str(), &end);
    if (end == tok.c_str() || *end != '\0') return false;
    out.push_back(v);
  }
  return true;
}

bool parse_int(const std::string &s, int &out)
{
  char *end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (end == s.c_str() || *end != '\0') return false;
  out = (int) v;
  return true;
}

bool parse_double(const std::string &s, double &out)
{
  char *end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0') return false;
  out = v;
  return true;
}

bool is_pair_line(const std::string &line, int &a, int &b)
{
  size_t dash = line.find('-');
  if (dash == std::string::npos || dash == 0) return false;
  std::string left = trim(line.substr(0, dash)), right = trim(line.substr(dash + 1));
  if (left.empty() || right.empty()) return false;
  for (char c : left)
    if (c < '0' || c > '9') return false;
  for (char c : right)
    if (c < '0' || c > '9') return false;
  a = std::atoi(left.c_str());
  b = std::atoi(right.c_str());
  return true;
}

std::string fmt_line(const std::string &path, int line) { return path + ":" + std::to_string(line) + ": "; }

}    // namespace

std::string MTPModel::read(const std::string &path)
{
  std::ifstream in(path);
  if (!in) return path + ": cannot open the potential file (missing or unreadable)";
  std::vector<std::string> lines;
  std::string raw;
  while (std::getline(in, raw)) lines.push_back(raw);
  if (lines.empty() || trim(lines[0]) != "MTP")
    return fmt_line(path, 1) + "expected the header line 'MTP' of an MLIP potential file, got '" +
        (lines.empty() ? std::string() : trim(lines[0]).substr(0, 40)) + "'";

  std::map<std::string, std::string> value;
  std::map<std::string, int> where;
  std::map<std::pair<int, int>, std::vector<std::vector<double>>> pairs;
  std::map<std::pair<int, int>, int> pair_line;
  bool has_radial = false, in_pair = false;
  std::pair<int, int> current;
  const std::set<std::string> int_keys = {"species_count",         "radial_basis_size",
                                          "radial_funcs_count",    "alpha_moments_count",
                                          "alpha_index_basic_count", "alpha_index_times_count",
                                          "alpha_scalar_moments"};
  const std::set<std::string> float_keys = {"min_dist", "max_dist", "scaling", "core_radius"};
  const std::set<std::string> array_keys = {"alpha_index_basic", "alpha_index_times",
                                            "alpha_moment_mapping", "species_coeffs",
                                            "moment_coeffs", "baseline_atomic_numbers",
                                            "baseline_cutoffs"};
  std::map<std::string, std::vector<double>> arrays;
  std::map<std::string, double> numbers;

  for (size_t k = 1; k < lines.size(); ++k) {
    int lineno = (int) k + 1;
    std::string line = trim(lines[k]);
    if (line.empty()) continue;
    if (line == "radial_coeffs") {
      has_radial = true;
      in_pair = false;
      continue;
    }
    int a, b;
    if (is_pair_line(line, a, b)) {
      current = {a, b};
      in_pair = true;
      pairs[current].clear();
      pair_line[current] = lineno;
      continue;
    }
    if (line[0] == '{' && in_pair) {
      std::vector<double> row;
      if (!parse_numbers(line, row))
        return fmt_line(path, lineno) + "expected a list of numbers in braces, got '" +
            line.substr(0, 80) + "'";
      pairs[current].push_back(row);
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos)
      return fmt_line(path, lineno) + "expected 'key = value', got '" + line.substr(0, 80) + "'";
    std::string key = trim(line.substr(0, eq)), val = trim(line.substr(eq + 1));
    in_pair = false;
    where[key] = lineno;
    if (int_keys.count(key)) {
      int v;
      if (!parse_int(val, v))
        return fmt_line(path, lineno) + key + " must be an integer, got '" + val + "'";
      numbers[key] = v;
    } else if (float_keys.count(key)) {
      double v;
      if (!parse_double(val, v))
        return fmt_line(path, lineno) + key + " must be a number, got '" + val + "'";
      numbers[key] = v;
    } else if (array_keys.count(key)) {
      if (val.empty() || val.front() != '{' || val.back() != '}')
        return fmt_line(path, lineno) + key + " must be a list in braces {...}";
      std::vector<double> v;
      if (!parse_numbers(val, v))
        return fmt_line(path, lineno) + "expected a list of numbers in braces, got '" +
            val.substr(0, 80) + "'";
      arrays[key] = v;
    } else {
      value[key] = val;    // version, potential_name, potential_tag, radial_basis_type, unknown keys
    }
  }

  auto rb = value.find("radial_basis_type");
  if (rb != value.end() && rb->second != "RBChebyshev")
    return fmt_line(path, where["radial_basis_type"]) + "radial_basis_type '" + rb->second +
        "' is not supported (only RBChebyshev)";
  for (const char *key : {"species_count", "min_dist", "max_dist", "radial_basis_size",
                          "radial_funcs_count", "alpha_moments_count", "alpha_index_basic_count",
                          "alpha_index_times_count", "alpha_scalar_moments"})
    if (!numbers.count(key)) return path + ": missing required entry '" + key + "'";
  for (const char *key : {"alpha_index_basic", "alpha_index_times", "alpha_moment_mapping"})
    if (!arrays.count(key)) return path + ": missing required entry '" + key + "'";

  species_count = (int) numbers["species_count"];
  min_dist = numbers["min_dist"];
  max_dist = numbers["max_dist"];
  radial_basis_size = (int) numbers["radial_basis_size"];
  radial_funcs_count = (int) numbers["radial_funcs_count"];
  alpha_moments_count = (int) numbers["alpha_moments_count"];
  scaling = numbers.count("scaling") ? numbers["scaling"] : 1.0;
  if (species_count < 1) return fmt_line(path, where["species_count"]) + "species_count must be >= 1";
  if (!(max_dist > min_dist && min_dist >= 0))
    return fmt_line(path, where["max_dist"]) + "need 0 <= min_dist < max_dist";
  if (radial_basis_size < 1 || radial_funcs_count < 1)
    return fmt_line(path, where["radial_basis_size"]) +
        "radial_basis_size and radial_funcs_count must be >= 1";

  struct Table {
    const char *key, *count_key;
    int width;
    std::vector<int> *dest;
  };
  for (Table t : {Table{"alpha_index_basic", "alpha_index_basic_count", 4, &alpha_index_basic},
                  Table{"alpha_index_times", "alpha_index_times_count", 4, &alpha_index_times},
                  Table{"alpha_moment_mapping", "alpha_scalar_moments", 1, &alpha_moment_mapping}}) {
    const std::vector<double> &v = arrays[t.key];
    int count = (int) numbers[t.count_key];
    if ((int) v.size() != count * t.width)
      return fmt_line(path, where[t.key]) + t.key + " has " + std::to_string(v.size() / t.width) +
          " entries, " + t.count_key + " = " + std::to_string(count) + " says " + std::to_string(count);
    t.dest->assign(v.size(), 0);
    for (size_t q = 0; q < v.size(); ++q) {
      if (v[q] != std::floor(v[q]))
        return fmt_line(path, where[t.key]) + t.key + " must hold integers";
      (*t.dest)[q] = (int) v[q];
    }
  }
  for (size_t q = 0; q < alpha_index_basic.size(); q += 4) {
    if (alpha_index_basic[q] >= radial_funcs_count || alpha_index_basic[q] < 0 ||
        alpha_index_basic[q + 1] < 0 || alpha_index_basic[q + 2] < 0 || alpha_index_basic[q + 3] < 0)
      return fmt_line(path, where["alpha_index_basic"]) +
          "alpha_index_basic uses a radial function index >= radial_funcs_count or a negative power";
  }
  for (size_t q = 0; q < alpha_index_times.size(); q += 4)
    for (int c : {0, 1, 3})
      if (alpha_index_times[q + c] < 0 || alpha_index_times[q + c] >= alpha_moments_count)
        return fmt_line(path, where["alpha_index_times"]) +
            "alpha_index_times refers to a moment outside 0.." + std::to_string(alpha_moments_count - 1);
  for (int mm : alpha_moment_mapping)
    if (mm < 0 || mm >= alpha_moments_count)
      return fmt_line(path, where["alpha_moment_mapping"]) +
          "alpha_moment_mapping refers to a moment outside 0.." + std::to_string(alpha_moments_count - 1);
  if ((int) alpha_index_basic.size() / 4 > alpha_moments_count)
    return fmt_line(path, where["alpha_index_basic"]) +
        "more basic moments than alpha_moments_count";

  trained = has_radial || arrays.count("moment_coeffs");
  if (!trained)
    return path +
        ": this is an untrained MTP template (no radial_coeffs, species_coeffs or "
        "moment_coeffs); train it first (e.g. pyiron-mtp train ... -o trained.mtp) and use the "
        "trained file";
  const int C = species_count, K = radial_funcs_count, R = radial_basis_size;
  radial_coeffs.assign((size_t) C * C * K * R, 0.0);
  for (int a = 0; a < C; ++a)
    for (int b = 0; b < C; ++b) {
      auto it = pairs.find({a, b});
      if (it == pairs.end())
        return path + ": radial_coeffs has no block for species pair " + std::to_string(a) + "-" +
            std::to_string(b);
      const auto &block = it->second;
      bool ok = (int) block.size() == K;
      for (const auto &row : block) ok = ok && (int) row.size() == R;
      if (!ok)
        return fmt_line(path, pair_line[{a, b}]) + "radial_coeffs " + std::to_string(a) + "-" +
            std::to_string(b) + " must have radial_funcs_count x radial_basis_size = " +
            std::to_string(K) + " x " + std::to_string(R) + " numbers";
      for (int mu = 0; mu < K; ++mu)
        for (int beta = 0; beta < R; ++beta)
          radial_coeffs[((size_t) (a * C + b) * K + mu) * R + beta] = block[mu][beta];
    }
  if (!arrays.count("species_coeffs")) return path + ": missing required entry 'species_coeffs'";
  if (!arrays.count("moment_coeffs")) return path + ": missing required entry 'moment_coeffs'";
  species_coeffs = arrays["species_coeffs"];
  moment_coeffs = arrays["moment_coeffs"];
  if ((int) species_coeffs.size() != C)
    return fmt_line(path, where["species_coeffs"]) + "species_coeffs has " +
        std::to_string(species_coeffs.size()) + " values, species_count is " + std::to_string(C);
  if (moment_coeffs.size() != alpha_moment_mapping.size())
    return fmt_line(path, where["moment_coeffs"]) + "moment_coeffs has " +
        std::to_string(moment_coeffs.size()) + " values, alpha_scalar_moments is " +
        std::to_string(alpha_moment_mapping.size());
  for (double v : radial_coeffs)
    if (!std::isfinite(v)) return path + ": radial_coeffs contain NaN or inf";
  for (double v : species_coeffs)
    if (!std::isfinite(v)) return path + ": species_coeffs contain NaN or inf";
  for (double v : moment_coeffs)
    if (!std::isfinite(v)) return path + ": moment_coeffs contain NaN or inf";
  if (!std::isfinite(scaling)) return path + ": scaling is NaN or inf";
  core_radius = numbers.count("core_radius") ? numbers["core_radius"] : 0.0;
  if (numbers.count("core_radius") && !(core_radius >= 0.5 * min_dist && core_radius < max_dist))
    return fmt_line(path, where["core_radius"]) + "core_radius must lie in [min_dist/2, max_dist)";
  auto bl = value.find("baseline");
  has_baseline = bl != value.end();
  if (has_baseline) {
    if (bl->second != "ZBL" && bl->second != "zbl")
      return fmt_line(path, where["baseline"]) + "baseline '" + bl->second + "' is not supported (only ZBL)";
    if (!arrays.count("baseline_atomic_numbers")) return path + ": missing required entry 'baseline_atomic_numbers'";
    if (!arrays.count("baseline_cutoffs")) return path + ": missing required entry 'baseline_cutoffs'";
    baseline_z = arrays["baseline_atomic_numbers"];
    const std::vector<double> &cut = arrays["baseline_cutoffs"];
    if ((int) baseline_z.size() != C)
      return fmt_line(path, where["baseline_atomic_numbers"]) + "baseline_atomic_numbers needs one atomic number per species";
    for (double z : baseline_z)
      if (!(z >= 1 && z <= 118 && z == std::floor(z)))
        return fmt_line(path, where["baseline_atomic_numbers"]) + "atomic numbers must be integers 1-118";
    if (cut.size() != 2 || !(cut[0] > 0 && cut[0] < cut[1] && cut[1] <= max_dist))
      return fmt_line(path, where["baseline_cutoffs"]) +
          "baseline_cutoffs must be {inner, outer} with 0 < inner < outer <= max_dist";
    baseline_inner = cut[0];
    baseline_outer = cut[1];
  } else if (arrays.count("baseline_atomic_numbers") || arrays.count("baseline_cutoffs")) {
    return path + ": baseline_atomic_numbers/baseline_cutoffs given without 'baseline = ZBL'";
  }
  layout();
  return "";
}

std::vector<double> MTPModel::parameters() const
{
  std::vector<double> p(radial_coeffs);
  p.insert(p.end(), species_coeffs.begin(), species_coeffs.end());
  p.insert(p.end(), moment_coeffs.begin(), moment_coeffs.end());
  return p;
}

std::vector<double> MTPModel::pack() const
{
  std::vector<double> b = {(double) species_count,
                           (double) radial_basis_size,
                           (double) radial_funcs_count,
                           min_dist,
                           max_dist,
                           scaling,
                           (double) alpha_moments_count,
                           (double) alpha_index_basic.size(),
                           (double) alpha_index_times.size(),
                           (double) alpha_moment_mapping.size(),
                           (double) trained,
                           core_radius,
                           (double) has_baseline,
                           baseline_inner,
                           baseline_outer};
  for (const auto *v : {&alpha_index_basic, &alpha_index_times, &alpha_moment_mapping})
    for (int x : *v) b.push_back(x);
  for (const auto *v : {&radial_coeffs, &species_coeffs, &moment_coeffs})
    b.insert(b.end(), v->begin(), v->end());
  if (has_baseline) b.insert(b.end(), baseline_z.begin(), baseline_z.end());
  return b;
}

void MTPModel::unpack(const std::vector<double> &b)
{
  size_t p = 0;
  species_count = (int) b[p++];
  radial_basis_size = (int) b[p++];
  radial_funcs_count = (int) b[p++];
  min_dist = b[p++];
  max_dist = b[p++];
  scaling = b[p++];
  alpha_moments_count = (int) b[p++];
  size_t nb = (size_t) b[p++], nt = (size_t) b[p++], nm = (size_t) b[p++];
  trained = b[p++] != 0.0;
  core_radius = b[p++];
  has_baseline = b[p++] != 0.0;
  baseline_inner = b[p++];
  baseline_outer = b[p++];
  alpha_index_basic.resize(nb);
  alpha_index_times.resize(nt);
  alpha_moment_mapping.resize(nm);
  for (auto *v : {&alpha_index_basic, &alpha_index_times, &alpha_moment_mapping})
    for (int &x : *v) x = (int) b[p++];
  const size_t C = species_count;
  radial_coeffs.assign(b.begin() + p, b.begin() + p + C * C * radial_funcs_count * radial_basis_size);
  p += radial_coeffs.size();
  species_coeffs.assign(b.begin() + p, b.begin() + p + C);
  p += C;
  moment_coeffs.assign(b.begin() + p, b.begin() + p + nm);
  p += nm;
  if (has_baseline) baseline_z.assign(b.begin() + p, b.begin() + p + C);
  layout();
}

void MTPModel::layout()
{
  baseline_switch.assign(3 * species_count * species_count, 0.0);
  if (has_baseline)
    for (int a = 0; a < species_count; ++a)
      for (int c = 0; c < species_count; ++c) {
        // E, E' and E'' of the switched ZBL vanish at outer (pyiron_mtp.core.zbl.switch_coefficients)
        double e, de, d2e;
        zbl_terms(baseline_outer, baseline_z[a], baseline_z[c], e, de, d2e);
        const double t = baseline_outer - baseline_inner;
        double *sw = &baseline_switch[3 * (a * species_count + c)];
        sw[0] = (-3.0 * de + t * d2e) / (t * t);
        sw[1] = (2.0 * de - t * d2e) / (t * t * t);
        sw[2] = -e + 0.5 * t * de - t * t * d2e / 12.0;
      }
  const int nbasic = (int) alpha_index_basic.size() / 4;
  int max_nu = 0;
  for (int k = 0; k < nbasic; ++k)
    max_nu = std::max(max_nu, alpha_index_basic[4 * k + 1] + alpha_index_basic[4 * k + 2] +
                          alpha_index_basic[4 * k + 3]);
  // monomials by rank, then a descending, then b descending
  std::vector<std::tuple<int, int, int>> triples;
  std::map<std::tuple<int, int, int>, int> lookup;
  for (int nu = 0; nu <= max_nu; ++nu)
    for (int a = nu; a >= 0; --a)
      for (int b = nu - a; b >= 0; --b) {
        lookup[{a, b, nu - a - b}] = (int) triples.size();
        triples.emplace_back(a, b, nu - a - b);
      }
  n_ang = (int) triples.size();
  ang_axis.assign(n_ang, 0);
  ang_lower.assign(n_ang, 0);
  for (int t = 1; t < n_ang; ++t) {
    int abc[3] = {std::get<0>(triples[t]), std::get<1>(triples[t]), std::get<2>(triples[t])};
    int d = 0;
    while (abc[d] == 0) ++d;    // first axis with a positive power
    abc[d] -= 1;
    ang_axis[t] = d;
    ang_lower[t] = lookup[{abc[0], abc[1], abc[2]}];
  }
  const int K = radial_funcs_count;
  mu_nang.assign(K, 0);
  for (int k = 0; k < nbasic; ++k) {
    const int *row = &alpha_index_basic[4 * k];
    mu_nang[row[0]] = std::max(mu_nang[row[0]], lookup[{row[1], row[2], row[3]}] + 1);
  }
  mu_offset.assign(K + 1, 0);
  for (int mu = 0; mu < K; ++mu) mu_offset[mu + 1] = mu_offset[mu] + mu_nang[mu];
  std::vector<int> new_index(alpha_moments_count, -1);
  for (int k = 0; k < nbasic; ++k) {
    const int *row = &alpha_index_basic[4 * k];
    new_index[k] = mu_offset[row[0]] + lookup[{row[1], row[2], row[3]}];
  }
  int next = mu_offset[K];
  for (int k = 0; k < alpha_moments_count; ++k)
    if (new_index[k] < 0) new_index[k] = next++;
  n_moments = next;
  const int ntimes = (int) alpha_index_times.size() / 4;
  times.assign(alpha_index_times.begin(), alpha_index_times.end());
  for (int t = 0; t < ntimes; ++t)
    for (int c : {0, 1, 3}) times[4 * t + c] = new_index[alpha_index_times[4 * t + c]];
  times_runs.assign(1, 0);
  for (int t = 1; t < ntimes; ++t)
    if (times[4 * t + 3] != times[4 * (t - 1) + 3]) times_runs.push_back(t);
  if (ntimes) times_runs.push_back(ntimes);
  mapping.resize(alpha_moment_mapping.size());
  for (size_t a = 0; a < mapping.size(); ++a) mapping[a] = new_index[alpha_moment_mapping[a]];
}

void MTPWork::reserve(const MTPModel &m, int n)
{
  if ((int) mom.size() != m.n_moments) {
    mom.assign(m.n_moments, 0.0);
    dmom.assign(m.n_moments, 0.0);
    cap = 0;    // feature sizes may have changed
  }
  if (n <= cap) return;
  cap = std::max(n, 2 * cap);
  const size_t c = cap, R = m.radial_basis_size, K = m.radial_funcs_count, T = m.n_ang;
  for (auto *v : {&ux, &uy, &uz, &r, &xi, &denv, &gx, &gy, &gz, &rp, &pm, &clampf}) v->assign(c, 0.0);
  z.assign(c, 0);
  qv.assign(R * c, 0.0);
  dqv.assign(R * c, 0.0);
  f.assign(K * c, 0.0);
  df.assign(K * c, 0.0);
  mono.assign(T * c, 0.0);
  accB.assign(T * c, 0.0);
  grad.assign(3 * c, 0.0);
}

double site_energy(const MTPModel &m, int zi, int nn, const double *dx, const double *dy,
                   const double *dz, const int *zj, MTPWork &w, bool want_grad, double *rows)
{
  // Every loop over neighbours q is innermost and runs over contiguous memory, so it
  // vectorises; neighbours sorted by species make the radial coefficients constant over
  // long runs of q.
  w.reserve(m, nn);
  const int cap = w.cap, R = m.radial_basis_size, K = m.radial_funcs_count, T = m.n_ang;
  const int C = m.species_count;
  double *__restrict ux = w.ux.data(), *__restrict uy = w.uy.data(), *__restrict uz = w.uz.data();
  double *__restrict rinv = w.r.data();
  double *__restrict qv = w.qv.data(), *__restrict dqv = w.dqv.data();
  double *__restrict f = w.f.data(), *__restrict df = w.df.data();
  double *__restrict mono = w.mono.data();
  double *__restrict mom = w.mom.data(), *__restrict dmom = w.dmom.data();
  double *__restrict xi = w.xi.data(), *__restrict denv = w.denv.data();

  // unit vectors; Chebyshev basis Q_b = T_b(xi) env and dQ_b/dr through the recursion
  // Q_b = 2 xi Q_{b-1} - Q_{b-2} (env = scaling (r - R_cut)^2 is a common factor)
  const double inv_span = 1.0 / (m.max_dist - m.min_dist), dxi = 2.0 * inv_span;
  const double mid = m.min_dist + m.max_dist, sc = m.scaling, rc = m.max_dist;
  double *__restrict clampf = w.clampf.data();
  bool clamped = false;
  for (int q = 0; q < nn; ++q) {
    const double r0 = std::sqrt(dx[q] * dx[q] + dy[q] * dy[q] + dz[q] * dz[q]);
    const double inv = 1.0 / r0;
    rinv[q] = inv;
    ux[q] = dx[q] * inv;
    uy[q] = dy[q] * inv;
    uz[q] = dz[q] * inv;
    double r = r0;
    clampf[q] = 1.0;
    if (r0 < m.core_radius) {    // smooth clamp below the core radius: Q_b(r_eff), dr_eff/dr
      const double t = std::tanh((m.core_radius - r0) / CORE_WIDTH);
      r = m.core_radius - CORE_WIDTH * t;
      clampf[q] = 1.0 - t * t;
      clamped = true;
    }
    xi[q] = (2.0 * r - mid) * inv_span;
    const double d = r - rc;
    qv[q] = sc * d * d;
    denv[q] = 2.0 * sc * d;
    dqv[q] = denv[q];
  }
  if (R > 1) {
    double *q1 = qv + cap, *dq1 = dqv + cap;
    for (int q = 0; q < nn; ++q) {
      q1[q] = xi[q] * qv[q];
      dq1[q] = dxi * qv[q] + xi[q] * denv[q];
    }
  }
  for (int b = 2; b < R; ++b) {
    double *qb = qv + (size_t) b * cap, *dqb = dqv + (size_t) b * cap;
    const double *q1 = qb - cap, *q2 = qb - 2 * cap, *dq1 = dqb - cap, *dq2 = dqb - 2 * cap;
    for (int q = 0; q < nn; ++q) {
      qb[q] = 2.0 * xi[q] * q1[q] - q2[q];
      dqb[q] = 2.0 * dxi * q1[q] + 2.0 * xi[q] * dq1[q] - dq2[q];
    }
  }
  if (clamped)
    for (int b = 0; b < R; ++b) {
      double *dqb = dqv + (size_t) b * cap;
      for (int q = 0; q < nn; ++q) dqb[q] *= clampf[q];
    }
  // radial functions f_mu(r) = sum_b c[zi, zj, mu, b] Q_b(r), per run of equal species
  for (int q0 = 0; q0 < nn;) {
    int q1 = q0 + 1;
    while (q1 < nn && zj[q1] == zj[q0]) ++q1;
    const double *c = &m.radial_coeffs[(size_t) (zi * C + zj[q0]) * K * R];
    for (int mu = 0; mu < K; ++mu) {
      double *fm = f + (size_t) mu * cap, *dfm = df + (size_t) mu * cap;
      for (int q = q0; q < q1; ++q) fm[q] = dfm[q] = 0.0;
      for (int b = 0; b < R; ++b) {
        const double cb = c[mu * R + b];
        const double *qb = qv + (size_t) b * cap, *dqb = dqv + (size_t) b * cap;
        for (int q = q0; q < q1; ++q) {
          fm[q] += cb * qb[q];
          dfm[q] += cb * dqb[q];
        }
      }
    }
    q0 = q1;
  }
  // angular monomials and moments
  for (int q = 0; q < nn; ++q) mono[q] = 1.0;
  for (int t = 1; t < T; ++t) {
    const int d = m.ang_axis[t];
    const double *u = d == 0 ? ux : (d == 1 ? uy : uz);
    const double *low = mono + (size_t) m.ang_lower[t] * cap;
    double *cur = mono + (size_t) t * cap;
    for (int q = 0; q < nn; ++q) cur[q] = low[q] * u[q];
  }
  std::fill(mom, mom + m.n_moments, 0.0);
  for (int mu = 0; mu < K; ++mu) {
    const int off = m.mu_offset[mu];
    const double *fm = f + (size_t) mu * cap;
    for (int t = 0; t < m.mu_nang[mu]; ++t) {
      const double *mt = mono + (size_t) t * cap;
      double acc = 0.0;
      for (int q = 0; q < nn; ++q) acc += fm[q] * mt[q];
      mom[off + t] = acc;
    }
  }
  const int *times = m.times.data();
  const int nruns = (int) m.times_runs.size() - 1;
  for (int g = 0; g < nruns; ++g) {
    double acc = 0.0;
    for (int t = m.times_runs[g]; t < m.times_runs[g + 1]; ++t)
      acc += times[4 * t + 2] * mom[times[4 * t]] * mom[times[4 * t + 1]];
    mom[times[4 * m.times_runs[g] + 3]] += acc;
  }
  double energy = m.species_coeffs[zi];
  const int A = (int) m.mapping.size();
  for (int a = 0; a < A; ++a) energy += m.moment_coeffs[a] * mom[m.mapping[a]];
  if (!want_grad)
    return m.has_baseline ? energy + baseline_site(m, zi, nn, zj, rinv, ux, uy, uz, nullptr) : energy;

  // reverse through the products: dmom[k] = dV / d mom[k]
  std::fill(dmom, dmom + m.n_moments, 0.0);
  for (int a = 0; a < A; ++a) dmom[m.mapping[a]] += m.moment_coeffs[a];
  for (int g = nruns - 1; g >= 0; --g) {
    const double dk = dmom[times[4 * m.times_runs[g] + 3]];
    if (dk == 0.0) continue;
    for (int t = m.times_runs[g]; t < m.times_runs[g + 1]; ++t) {
      const double wgt = times[4 * t + 2] * dk;
      dmom[times[4 * t]] += wgt * mom[times[4 * t + 1]];
      dmom[times[4 * t + 1]] += wgt * mom[times[4 * t]];
    }
  }
  // dV/df_mu per neighbour, P_mu[q] = sum_t dmom[mu, t] mono[t, q]; radial part of the
  // gradient rp[q] = sum_mu P_mu[q] df_mu[q]; parameter rows dV/dc[zi, z, mu, b] =
  // sum_{q of species z} P_mu[q] Q_b(r_q)
  double *__restrict rp = w.rp.data(), *__restrict pm = w.pm.data();
  for (int q = 0; q < nn; ++q) rp[q] = 0.0;
  if (rows != nullptr) std::fill(rows, rows + (size_t) C * K * R, 0.0);
  for (int mu = 0; mu < K; ++mu) {
    const int off = m.mu_offset[mu];
    for (int q = 0; q < nn; ++q) pm[q] = 0.0;
    for (int t = 0; t < m.mu_nang[mu]; ++t) {
      const double dm = dmom[off + t];
      const double *mt = mono + (size_t) t * cap;
      for (int q = 0; q < nn; ++q) pm[q] += dm * mt[q];
    }
    const double *dfm = df + (size_t) mu * cap;
    for (int q = 0; q < nn; ++q) rp[q] += pm[q] * dfm[q];
    if (rows != nullptr) {
      for (int q0 = 0; q0 < nn;) {
        int q1 = q0 + 1;
        while (q1 < nn && zj[q1] == zj[q0]) ++q1;
        double *row = rows + ((size_t) zj[q0] * K + mu) * R;
        for (int b = 0; b < R; ++b) {
          const double *qb = qv + (size_t) b * cap;
          double acc = 0.0;
          for (int q = q0; q < q1; ++q) acc += pm[q] * qb[q];
          row[b] += acc;
        }
        q0 = q1;
      }
    }
  }
  if (rows != nullptr) {
    double *basis = rows + (size_t) C * K * R;
    for (int a = 0; a < A; ++a) basis[a] = mom[m.mapping[a]];
  }
  // dV/dmono[t, q] = sum_mu dmom[mu, t] f_mu[q], then reverse through the monomial recursion
  double *__restrict accB = w.accB.data();
  for (int t = 0; t < T; ++t) {
    double *b = accB + (size_t) t * cap;
    for (int q = 0; q < nn; ++q) b[q] = 0.0;
  }
  for (int mu = 0; mu < K; ++mu) {
    const int off = m.mu_offset[mu];
    const double *fm = f + (size_t) mu * cap;
    for (int t = 0; t < m.mu_nang[mu]; ++t) {
      const double dm = dmom[off + t];
      double *b = accB + (size_t) t * cap;
      for (int q = 0; q < nn; ++q) b[q] += dm * fm[q];
    }
  }
  double *__restrict gx = w.gx.data(), *__restrict gy = w.gy.data(), *__restrict gz = w.gz.data();
  for (int q = 0; q < nn; ++q) gx[q] = gy[q] = gz[q] = 0.0;
  for (int t = T - 1; t > 0; --t) {
    const int d = m.ang_axis[t];
    const double *u = d == 0 ? ux : (d == 1 ? uy : uz);
    double *gu = d == 0 ? gx : (d == 1 ? gy : gz);
    double *low = accB + (size_t) m.ang_lower[t] * cap;
    const double *b = accB + (size_t) t * cap;
    const double *mlow = mono + (size_t) m.ang_lower[t] * cap;
    for (int q = 0; q < nn; ++q) {
      low[q] += b[q] * u[q];
      gu[q] += b[q] * mlow[q];
    }
  }
  // u = r/|r|: du/dr = (I - u u^T) / r
  double *grad = w.grad.data();
  for (int q = 0; q < nn; ++q) {
    const double inv = rinv[q];
    const double proj = gx[q] * ux[q] + gy[q] * uy[q] + gz[q] * uz[q];
    grad[3 * q] = rp[q] * ux[q] + (gx[q] - proj * ux[q]) * inv;
    grad[3 * q + 1] = rp[q] * uy[q] + (gy[q] - proj * uy[q]) * inv;
    grad[3 * q + 2] = rp[q] * uz[q] + (gz[q] - proj * uz[q]) * inv;
  }
  if (m.has_baseline) energy += baseline_site(m, zi, nn, zj, rinv, ux, uy, uz, grad);
  return energy;
}

}    // namespace pyiron_mtp
