// LAMMPS pair style `mtp`: Moment Tensor Potentials from MLIP `.mtp` files.
//
//   pair_style mtp POT.mtp [species El0 El1 ...] [grade ACTIVESET [mode configuration|neighborhood]]
//   pair_coeff * * X1 X2 ...        (one entry per atom type: element, 0-based species index or NULL)
//
// Full neighbour list, newton on.  Energies (eV), forces (eV/A), global and per-atom
// virials (metal units); per-atom virials are centroid-based (the virial of site energy
// V_i is assigned to atom i).  With an active set, `fix pair N mtp grade 1` asks for
// extrapolation grades every N steps (per atom; in configuration mode every atom carries
// the configuration grade).
#ifndef LMP_PAIR_MTP_H
#define LMP_PAIR_MTP_H

#include "pair.h"

#include "mtp_active_set.h"
#include "mtp_model.h"

#include <string>
#include <vector>

namespace LAMMPS_NS {

class PairMTP : public Pair {
 public:
  PairMTP(class LAMMPS *);
  ~PairMTP() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  void *extract(const char *, int &) override;
  void *extract_peratom(const char *, int &) override;
  double memory_usage() override;

 protected:
  pyiron_mtp::MTPModel model;
  pyiron_mtp::MTPActiveSet active_set;
  pyiron_mtp::MTPWork work;
  std::string potential_file, active_set_file;
  std::vector<std::string> species;    // element names of species 0, 1, ... (optional)
  bool have_active_set = false;
  int requested_mode = -1;
  std::vector<int> map;                // atom type -> species index or -1 (NULL)

  int grade_flag = 0;                  // set by `fix pair ... grade 1` on steps that want grades
  int nmax_grade = 0;
  double *grade = nullptr;             // per-atom grades (local atoms)
  double last_grade = 0.0;             // largest grade of the last graded step (all ranks)
  bool warned_short = false;

  std::vector<double> dx, dy, dz;      // neighbours of one centre
  std::vector<int> zj, jidx;
  std::vector<double> sort_d;          // scratch of sort_by_species
  std::vector<int> sort_i, species_start;
  std::vector<double> site_row, config_row, grade_acc, grade_val;
  std::vector<int> grade_idx;

  void allocate();
  void read_potential();
  void read_active_set();
  void grow_grades();
  void sort_by_species(int nn);
};

}    // namespace LAMMPS_NS

#endif
