// The Moment Tensor Potential model for the LAMMPS pair style `mtp`.
//
// Independent of LAMMPS: reads MLIP `.mtp` files (the same rules and checks as
// pyiron_mtp.mtpfile) and evaluates one atomic neighbourhood at a time, with the
// same definitions as the Numba core (pyiron_mtp.core.kernels):
//   V_i = species_coeffs[z_i] + sum_alpha moment_coeffs[alpha] B_alpha(n_i),
//   Q_b(r) = scaling T_b(xi) (r - R_cut)^2, xi = (2r - R_min - R_cut) / (R_cut - R_min),
//   moments M = sum_j f_mu(r_ij) u^a_x u^b_y u^c_z, products applied in file order.
// Optional entries beyond MLIP (pyiron_mtp.mtpfile): core_radius (the radial basis is evaluated at
// r_eff = r_core - w tanh((r_core - r) / w), w = 0.1 A, below it) and a ZBL pair baseline switched
// off between inner and outer, half of each pair in each atom's site energy (pyiron_mtp.core.zbl).
// Units: eV, Angstrom.
#ifndef PYIRON_MTP_MODEL_H
#define PYIRON_MTP_MODEL_H

#include <string>
#include <vector>

namespace pyiron_mtp {

class MTPModel {
 public:
  // --- file contents
  int species_count = 0;
  int radial_basis_size = 0;     // R: Chebyshev polynomials per radial function
  int radial_funcs_count = 0;    // K: radial functions mu
  double min_dist = 0.0, max_dist = 0.0, scaling = 1.0;
  int alpha_moments_count = 0;
  std::vector<int> alpha_index_basic;       // rows {mu, a, b, c}
  std::vector<int> alpha_index_times;       // rows {i, j, multiplicity, k}
  std::vector<int> alpha_moment_mapping;    // moments that are basis functions
  std::vector<double> radial_coeffs;        // [C][C][K][R]
  std::vector<double> species_coeffs;       // [C], eV
  std::vector<double> moment_coeffs;        // [n_basis]
  bool trained = false;
  double core_radius = 0.0;                 // 0: no clamp
  bool has_baseline = false;                // ZBL
  std::vector<double> baseline_z;           // [C] atomic numbers
  double baseline_inner = 0.0, baseline_outer = 0.0;
  std::vector<double> baseline_switch;      // [C][C][3] switching coefficients A, B, C

  // Parse `path`; returns an empty string on success, else a message naming file and line.
  std::string read(const std::string &path);

  // Flat storage for MPI broadcast and its inverse (call layout() after unpacking).
  std::vector<double> pack() const;
  void unpack(const std::vector<double> &buf);

  // Build the kernel tables from the file tables (dense basic moments per mu).
  void layout();

  int n_basis() const { return (int) alpha_moment_mapping.size(); }
  int n_radial_parameters() const
  {
    return species_count * species_count * radial_funcs_count * radial_basis_size;
  }
  int n_parameters() const { return n_radial_parameters() + species_count + n_basis(); }
  // All parameters in MLIP order: radial | species | moment coefficients.
  std::vector<double> parameters() const;

  // --- kernel tables (see pyiron_mtp.core.kernels.kernel_layout)
  int n_ang = 0;                  // angular monomials u_x^a u_y^b u_z^c up to the largest rank
  std::vector<int> ang_axis;      // monomial t = monomial ang_lower[t] * u[ang_axis[t]]
  std::vector<int> ang_lower;
  std::vector<int> mu_offset;     // basic moments of mu: monomials 0..mu_nang[mu]-1 at mu_offset[mu]
  std::vector<int> mu_nang;
  std::vector<int> times;         // renumbered products {i, j, mult, k}
  std::vector<int> times_runs;    // consecutive product rows with the same target
  std::vector<int> mapping;       // renumbered basis moments
  int n_moments = 0;
};

// Scratch of one neighbourhood evaluation; arrays are laid out [feature][neighbour].
struct MTPWork {
  int cap = 0;
  std::vector<double> ux, uy, uz, r, xi, denv, qv, dqv, f, df, mono, accB, gx, gy, gz, rp, pm, clampf;
  std::vector<int> z;
  std::vector<double> mom, dmom;
  // dV_i/dr_ij per neighbour (eV/A), valid after site()
  std::vector<double> grad;    // [3 * cap]: gx, gy, gz of neighbour q at 3q..3q+2
  void reserve(const MTPModel &m, int n_neighbours);
};

// Site energy of a centre of species zi with nn neighbours at r_ij = (dx, dy, dz)
// (species zj, all 0 < |r_ij| < max_dist).  With want_grad, work.grad holds
// dV_i/dr_ij.  With rows != nullptr (needs want_grad), rows receives dV_i/dc for the
// centre's own species block [C][K][R] followed by the basis values B_alpha (n_basis).
double site_energy(const MTPModel &m, int zi, int nn, const double *dx, const double *dy,
                   const double *dz, const int *zj, MTPWork &work, bool want_grad, double *rows);

}    // namespace pyiron_mtp

#endif
