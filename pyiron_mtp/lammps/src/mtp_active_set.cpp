// Active set file and extrapolation grades.
#include "mtp_active_set.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>

namespace pyiron_mtp {

std::string MTPActiveSet::read(const std::string &path, const MTPModel &model)
{
  std::ifstream in(path, std::ios::binary);
  if (!in) return path + ": cannot open the active-set file (missing or unreadable)";
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "MTPASET1", 8) != 0)
    return path +
        ": not an MTP active-set file (write one with pyiron_mtp.lammps.write_active_set or "
        "ActiveSet.write_lammps)";
  int64_t head[8];
  in.read(reinterpret_cast<char *>(head), sizeof(head));
  if (!in) return path + ": truncated active-set file (header)";
  mode = (int) head[0];
  linear_only = head[1] != 0;
  m = (int) head[2];
  const int64_t n_par = head[3];
  if (mode != CONFIGURATION && mode != NEIGHBORHOOD) return path + ": unknown grade mode in the file";
  if (head[4] != model.species_count || head[5] != model.radial_funcs_count ||
      head[6] != model.radial_basis_size || head[7] != model.n_basis() ||
      n_par != model.n_parameters())
    return path + ": the active set belongs to another potential (it was built for " +
        std::to_string(head[4]) + " species, " + std::to_string(head[5]) + " radial functions of " +
        std::to_string(head[6]) + " polynomials and " + std::to_string(head[7]) +
        " basis functions); build and write it for this potential";
  const int expect_m = linear_only ? model.species_count + model.n_basis() : model.n_parameters();
  if (m != expect_m)
    return path + ": the active set has " + std::to_string(m) + " columns, this potential needs " +
        std::to_string(expect_m);
  parameters.resize(n_par);
  in.read(reinterpret_cast<char *>(parameters.data()), n_par * sizeof(double));
  inv.resize((size_t) m * m);
  in.read(reinterpret_cast<char *>(inv.data()), inv.size() * sizeof(double));
  if (!in) return path + ": truncated active-set file (expected " + std::to_string(m) + " x " +
        std::to_string(m) + " matrix)";
  const std::vector<double> own = model.parameters();
  for (size_t k = 0; k < own.size(); ++k) {
    const double a = own[k], b = parameters[k];
    if (!(std::fabs(a - b) <= 1e-12 * std::fmax(1.0, std::fabs(a))))
      return path + ": the active set belongs to other parameters of this model (parameter " +
          std::to_string(k) + " is " + std::to_string(b) + " in the active set, " +
          std::to_string(a) + " in the potential); rebuild the active set after training";
  }
  for (double v : inv)
    if (!std::isfinite(v)) return path + ": the active-set matrix contains NaN or inf";
  return "";
}

std::vector<double> MTPActiveSet::pack() const
{
  std::vector<double> b = {(double) mode, (double) linear_only, (double) m};
  b.insert(b.end(), inv.begin(), inv.end());
  return b;
}

void MTPActiveSet::unpack(const std::vector<double> &b)
{
  mode = (int) b[0];
  linear_only = b[1] != 0.0;
  m = (int) b[2];
  inv.assign(b.begin() + 3, b.begin() + 3 + (size_t) m * m);
}

void MTPActiveSet::add_row(const MTPModel &model, int zi, const double *site_row, double w,
                           double *b) const
{
  const int C = model.species_count;
  const int block = C * model.radial_funcs_count * model.radial_basis_size;
  int off = 0;
  if (!linear_only) {
    double *dst = b + (size_t) zi * block;
    for (int k = 0; k < block; ++k) dst[k] += w * site_row[k];
    off = C * block;
  }
  b[off + zi] += w;
  off += C;
  const double *basis = site_row + block;
  for (int a = 0; a < model.n_basis(); ++a) b[off + a] += w * basis[a];
}

double MTPActiveSet::grade(const double *b, double *acc) const
{
  for (int j = 0; j < m; ++j) acc[j] = 0.0;
  for (int k = 0; k < m; ++k) {
    const double v = b[k];
    if (v == 0.0) continue;
    const double *row = &inv[(size_t) k * m];
    for (int j = 0; j < m; ++j) acc[j] += v * row[j];
  }
  double g = 0.0;
  for (int j = 0; j < m; ++j) g = std::fmax(g, std::fabs(acc[j]));
  return g;
}

double MTPActiveSet::site_grade(const MTPModel &model, int zi, const double *site_row, double *acc,
                                std::vector<int> &idx, std::vector<double> &val) const
{
  // the non-zero entries of the centre's row, then four rows of inv at a time
  const int C = model.species_count;
  const int block = C * model.radial_funcs_count * model.radial_basis_size;
  idx.resize(m);
  val.resize(m);
  int nnz = 0, off = 0;
  if (!linear_only) {
    for (int k = 0; k < block; ++k)
      if (site_row[k] != 0.0) {
        idx[nnz] = zi * block + k;
        val[nnz++] = site_row[k];
      }
    off = C * block;
  }
  idx[nnz] = off + zi;
  val[nnz++] = 1.0;
  off += C;
  const double *basis = site_row + block;
  for (int a = 0; a < model.n_basis(); ++a)
    if (basis[a] != 0.0) {
      idx[nnz] = off + a;
      val[nnz++] = basis[a];
    }
  for (int j = 0; j < m; ++j) acc[j] = 0.0;
  int q = 0;
  for (; q + 4 <= nnz; q += 4) {
    const double *r0 = &inv[(size_t) idx[q] * m], *r1 = &inv[(size_t) idx[q + 1] * m];
    const double *r2 = &inv[(size_t) idx[q + 2] * m], *r3 = &inv[(size_t) idx[q + 3] * m];
    const double v0 = val[q], v1 = val[q + 1], v2 = val[q + 2], v3 = val[q + 3];
    for (int j = 0; j < m; ++j) acc[j] += v0 * r0[j] + v1 * r1[j] + v2 * r2[j] + v3 * r3[j];
  }
  for (; q < nnz; ++q) {
    const double *r0 = &inv[(size_t) idx[q] * m];
    const double v0 = val[q];
    for (int j = 0; j < m; ++j) acc[j] += v0 * r0[j];
  }
  double g = 0.0;
  for (int j = 0; j < m; ++j) g = std::fmax(g, std::fabs(acc[j]));
  return g;
}

}    // namespace pyiron_mtp
