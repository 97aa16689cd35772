// Active set of an MTP for extrapolation grades inside LAMMPS.
//
// The file is written by pyiron_mtp.lammps.write_active_set (Python):
//   8 bytes   "MTPASET1"
//   8 x int64 mode (0 configuration, 1 neighbourhood), linear_only, m, n_parameters,
//             species_count, radial_funcs_count, radial_basis_size, n_basis
//   n_parameters doubles: the potential's parameters the set was built for
//   m * m doubles: A^-1 with row k divided by the column scale of parameter k (row-major)
// all little-endian.  grade(b) = max_j |b inv|_j with b = dV/dtheta rows (configuration
// mode: the rows summed over all atoms divided by their number).
#ifndef PYIRON_MTP_ACTIVE_SET_H
#define PYIRON_MTP_ACTIVE_SET_H

#include <string>
#include <vector>

#include "mtp_model.h"

namespace pyiron_mtp {

class MTPActiveSet {
 public:
  enum Mode { CONFIGURATION = 0, NEIGHBORHOOD = 1 };
  int mode = NEIGHBORHOOD;
  bool linear_only = false;
  int m = 0;
  std::vector<double> parameters;    // of the potential the set belongs to
  std::vector<double> inv;           // (m, m) scaled inverse

  // Read `path` and check it against `model`; returns "" or a message.
  std::string read(const std::string &path, const MTPModel &model);

  std::vector<double> pack() const;
  void unpack(const std::vector<double> &buf);

  // Column index of the first entry of the centre's row block in parameter order:
  // `site_row` = [own-species radial block (C K R) | basis values (n_basis)] from
  // site_energy(); scatter it into the dense row `b` (m entries) with weight w.
  void add_row(const MTPModel &model, int zi, const double *site_row, double w, double *b) const;

  // max_j |b inv|_j of a dense row b (m entries); `acc` is scratch of m entries.
  double grade(const double *b, double *acc) const;
  // Same for the sparse row of one centre (site_row as in add_row).
  double site_grade(const MTPModel &model, int zi, const double *site_row, double *acc,
                    std::vector<int> &idx, std::vector<double> &val) const;
};

}    // namespace pyiron_mtp

#endif
