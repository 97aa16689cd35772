// LAMMPS pair style `mtp` (see pair_mtp.h).
#include "pair_mtp.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "utils.h"

#include <cmath>
#include <algorithm>
#include <cstring>

using namespace LAMMPS_NS;

namespace {

// Broadcast a message from rank 0 (empty = success); every rank gets the same text.
std::string bcast_message(const std::string &msg, int me, MPI_Comm world)
{
  int n = me == 0 ? (int) msg.size() : 0;
  MPI_Bcast(&n, 1, MPI_INT, 0, world);
  std::string out(n, ' ');
  if (me == 0) out = msg;
  if (n) MPI_Bcast(&out[0], n, MPI_CHAR, 0, world);
  return out;
}

void bcast_doubles(std::vector<double> &buf, int me, MPI_Comm world)
{
  long n = me == 0 ? (long) buf.size() : 0;
  MPI_Bcast(&n, 1, MPI_LONG, 0, world);
  buf.resize(n);
  if (n) MPI_Bcast(buf.data(), (int) n, MPI_DOUBLE, 0, world);
}

}    // namespace

PairMTP::PairMTP(LAMMPS *lmp) : Pair(lmp)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  centroidstressflag = CENTROID_AVAIL;
  no_virial_fdotr_compute = 1;
}

PairMTP::~PairMTP()
{
  if (copymode) return;
  memory->destroy(grade);
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

void PairMTP::allocate()
{
  allocated = 1;
  const int n = atom->ntypes;
  memory->create(setflag, n + 1, n + 1, "pair:setflag");
  memory->create(cutsq, n + 1, n + 1, "pair:cutsq");
  for (int i = 1; i <= n; i++)
    for (int j = i; j <= n; j++) setflag[i][j] = 0;
  map.assign(n + 1, -1);
}

/* ----------------------------------------------------------------------
   pair_style mtp POT.mtp [species El ...] [grade FILE [mode configuration|neighborhood]]
------------------------------------------------------------------------- */

void PairMTP::settings(int narg, char **arg)
{
  if (narg < 1)
    error->all(FLERR,
               "Illegal pair_style mtp command: expected pair_style mtp POT.mtp [species El0 El1 "
               "...] [grade ACTIVESET [mode configuration|neighborhood]]");
  potential_file = arg[0];
  species.clear();
  active_set_file.clear();
  requested_mode = -1;
  int iarg = 1;
  while (iarg < narg) {
    const std::string key = arg[iarg];
    if (key == "species") {
      ++iarg;
      while (iarg < narg && std::strcmp(arg[iarg], "grade") != 0 && std::strcmp(arg[iarg], "mode") != 0)
        species.emplace_back(arg[iarg++]);
      if (species.empty()) error->all(FLERR, "pair_style mtp: 'species' needs at least one element name");
    } else if (key == "grade") {
      if (iarg + 1 >= narg) error->all(FLERR, "pair_style mtp: 'grade' needs the active-set file");
      active_set_file = arg[iarg + 1];
      iarg += 2;
    } else if (key == "mode") {
      if (iarg + 1 >= narg) error->all(FLERR, "pair_style mtp: 'mode' needs configuration or neighborhood");
      const std::string v = arg[iarg + 1];
      if (v == "configuration")
        requested_mode = pyiron_mtp::MTPActiveSet::CONFIGURATION;
      else if (v == "neighborhood" || v == "neighbourhood")
        requested_mode = pyiron_mtp::MTPActiveSet::NEIGHBORHOOD;
      else
        error->all(FLERR, "pair_style mtp: mode must be configuration or neighborhood, got '" + v + "'");
      iarg += 2;
    } else {
      error->all(FLERR,
                 "pair_style mtp: unknown keyword '" + key +
                     "' (expected species, grade or mode)");
    }
  }
  if (requested_mode >= 0 && active_set_file.empty())
    error->all(FLERR, "pair_style mtp: 'mode' needs 'grade ACTIVESET'");
  read_potential();
  if (!species.empty() && (int) species.size() != model.species_count)
    error->all(FLERR,
               "pair_style mtp: 'species' names {} element(s), but {} has species_count = {}",
               species.size(), potential_file, model.species_count);
  have_active_set = false;
  if (!active_set_file.empty()) read_active_set();
  if (allocated) map.assign(atom->ntypes + 1, -1);
}

void PairMTP::read_potential()
{
  std::string msg;
  std::vector<double> buf;
  if (comm->me == 0) {
    msg = model.read(potential_file);
    if (msg.empty()) buf = model.pack();
  }
  msg = bcast_message(msg, comm->me, world);
  if (!msg.empty()) error->all(FLERR, "pair_style mtp: " + msg);
  bcast_doubles(buf, comm->me, world);
  if (comm->me != 0) model.unpack(buf);
  cutforce = model.max_dist;
}

void PairMTP::read_active_set()
{
  std::string msg;
  std::vector<double> buf;
  if (comm->me == 0) {
    msg = active_set.read(active_set_file, model);
    if (msg.empty() && requested_mode >= 0 && requested_mode != active_set.mode)
      msg = active_set_file + ": the active set was built in " +
          (active_set.mode == 0 ? "configuration" : "neighborhood") +
          " mode, but pair_style asks for mode " + (requested_mode == 0 ? "configuration" : "neighborhood");
    if (msg.empty()) buf = active_set.pack();
  }
  msg = bcast_message(msg, comm->me, world);
  if (!msg.empty()) error->all(FLERR, "pair_style mtp: " + msg);
  bcast_doubles(buf, comm->me, world);
  if (comm->me != 0) active_set.unpack(buf);
  have_active_set = true;
}

/* ----------------------------------------------------------------------
   pair_coeff * * X1 ... Xn: element, 0-based species index or NULL per atom type
------------------------------------------------------------------------- */

void PairMTP::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;
  if (narg != 2 + ntypes)
    error->all(FLERR,
               "pair_coeff for mtp needs '* *' and one entry per atom type ({} types): an element, a "
               "0-based species index or NULL; got {} entries",
               ntypes, narg - 2);
  if (std::strcmp(arg[0], "*") != 0 || std::strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff for mtp must start with '* *' (one line maps all atom types)");
  map.assign(ntypes + 1, -1);
  for (int t = 1; t <= ntypes; ++t) {
    const std::string name = arg[1 + t];
    if (name == "NULL") continue;
    int z = -1;
    for (size_t k = 0; k < species.size(); ++k)
      if (species[k] == name) z = (int) k;
    if (z < 0 && utils::is_integer(name)) {
      z = std::atoi(name.c_str());
      if (z < 0 || z >= model.species_count)
        error->all(FLERR, "pair_coeff for mtp: species index {} of atom type {} is outside 0..{} of {}",
                   z, t, model.species_count - 1, potential_file);
    }
    if (z < 0) {
      if (species.empty())
        error->all(FLERR,
                   "pair_coeff for mtp: '{}' (atom type {}) is not a species index; to use element "
                   "names, name the potential's species: pair_style mtp {} species El0 El1 ...",
                   name, t, potential_file);
      std::string known;
      for (const auto &s : species) known += " " + s;
      error->all(FLERR, "pair_coeff for mtp: element '{}' (atom type {}) is not among the potential's species:{}",
                 name, t, known);
    }
    map[t] = z;
  }
  int count = 0;
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) {
      setflag[i][j] = (map[i] >= 0 && map[j] >= 0) ? 1 : 0;
      count += setflag[i][j];
    }
  if (count == 0) error->all(FLERR, "pair_coeff for mtp maps no atom type to a species");
}

void PairMTP::init_style()
{
  if (force->newton_pair == 0)
    error->all(FLERR, "pair_style mtp requires newton pair on (the default; remove 'newton off')");
  if (model.n_moments == 0) error->all(FLERR, "pair_style mtp: no potential read");
  neighbor->add_request(this, NeighConst::REQ_FULL);
}

double PairMTP::init_one(int i, int j)
{
  if (setflag[i][j] == 0) error->all(FLERR, "All pair coeffs are not set");
  return model.max_dist;
}

void PairMTP::grow_grades()
{
  if (atom->nmax > nmax_grade) {
    memory->destroy(grade);
    nmax_grade = atom->nmax;
    memory->create(grade, nmax_grade, "pair:mtp:grade");
  }
}

/* ---------------------------------------------------------------------- */

void PairMTP::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  double **x = atom->x;
  double **f = atom->f;
  const int *type = atom->type;
  const int nlocal = atom->nlocal;
  const int inum = list->inum;
  const int *ilist = list->ilist;
  const int *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;
  const double cut = model.max_dist, cutsq_model = cut * cut, min_sq = model.min_dist * model.min_dist;

  const bool grading = grade_flag != 0;
  if (grading && !have_active_set)
    error->all(FLERR,
               "pair mtp: extrapolation grades were requested (fix pair ... grade 1) but pair_style "
               "mtp has no active set: pair_style mtp POT.mtp ... grade ACTIVESET");
  const bool configuration = grading && active_set.mode == pyiron_mtp::MTPActiveSet::CONFIGURATION;
  const int C = model.species_count;
  const int row_size = C * model.radial_funcs_count * model.radial_basis_size + model.n_basis();
  if (grading) {
    grow_grades();
    for (int i = 0; i < nlocal; ++i) grade[i] = 0.0;
    site_row.resize(row_size);
    grade_acc.resize(active_set.m);
    if (configuration) config_row.assign(active_set.m, 0.0);
  }
  double local_max_grade = 0.0;
  long n_short = 0, n_centres = 0;

  for (int ii = 0; ii < inum; ii++) {
    const int i = ilist[ii];
    const int zi = map[type[i]];
    if (zi < 0) continue;
    ++n_centres;
    const double xi = x[i][0], yi = x[i][1], zpos = x[i][2];
    const int *jlist = firstneigh[i];
    const int jnum = numneigh[i];
    if ((int) dx.size() < jnum)
      for (auto *v : {&dx, &dy, &dz, &sort_d}) v->resize(3 * jnum);
    if ((int) zj.size() < jnum)
      for (auto *v : {&zj, &jidx, &sort_i}) v->resize(2 * jnum);
    int nn = 0;
    for (int jj = 0; jj < jnum; jj++) {
      const int j = jlist[jj] & NEIGHMASK;
      const int z = map[type[j]];
      if (z < 0) continue;
      const double ddx = x[j][0] - xi, ddy = x[j][1] - yi, ddz = x[j][2] - zpos;
      const double rsq = ddx * ddx + ddy * ddy + ddz * ddz;
      if (rsq >= cutsq_model) continue;
      if (rsq < 1e-16)
        error->one(FLERR, "pair mtp: atoms {} and {} coincide (distance < 1e-8 A)", atom->tag[i],
                   atom->tag[j]);
      if (rsq < min_sq) ++n_short;
      dx[nn] = ddx;
      dy[nn] = ddy;
      dz[nn] = ddz;
      zj[nn] = z;
      jidx[nn] = j;
      ++nn;
    }
    if (C > 1) sort_by_species(nn);
    double *row = grading ? site_row.data() : nullptr;
    const double e = pyiron_mtp::site_energy(model, zi, nn, dx.data(), dy.data(), dz.data(),
                                             zj.data(), work, true, row);
    if (eflag_global) eng_vdwl += e;
    if (eflag_atom) eatom[i] += e;
    const double *g = work.grad.data();
    double v[6] = {0, 0, 0, 0, 0, 0}, w9[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int q = 0; q < nn; ++q) {
      const int j = jidx[q];
      const double gx = g[3 * q], gy = g[3 * q + 1], gz = g[3 * q + 2];
      f[i][0] += gx;
      f[i][1] += gy;
      f[i][2] += gz;
      f[j][0] -= gx;
      f[j][1] -= gy;
      f[j][2] -= gz;
      if (vflag_either) {
        // virial r_a F_b of the pair: -r_ij,a g_b
        const double rx = dx[q], ry = dy[q], rz = dz[q];
        w9[0] -= rx * gx;
        w9[1] -= ry * gy;
        w9[2] -= rz * gz;
        w9[3] -= rx * gy;
        w9[4] -= rx * gz;
        w9[5] -= ry * gz;
        w9[6] -= ry * gx;
        w9[7] -= rz * gx;
        w9[8] -= rz * gy;
      }
    }
    if (vflag_either) {
      v[0] = w9[0];
      v[1] = w9[1];
      v[2] = w9[2];
      v[3] = 0.5 * (w9[3] + w9[6]);
      v[4] = 0.5 * (w9[4] + w9[7]);
      v[5] = 0.5 * (w9[5] + w9[8]);
      if (vflag_global)
        for (int k = 0; k < 6; ++k) virial[k] += v[k];
      if (vflag_atom)
        for (int k = 0; k < 6; ++k) vatom[i][k] += v[k];
      if (cvflag_atom)
        for (int k = 0; k < 9; ++k) cvatom[i][k] += w9[k];
    }
    if (grading) {
      if (configuration) {
        active_set.add_row(model, zi, row, 1.0, config_row.data());
      } else {
        grade[i] = active_set.site_grade(model, zi, row, grade_acc.data(), grade_idx, grade_val);
        local_max_grade = std::fmax(local_max_grade, grade[i]);
      }
    }
  }

  if (n_short && !warned_short && !model.has_baseline) {
    warned_short = true;
    error->warning(FLERR,
                   "pair mtp: {} neighbour pair(s) closer than the potential's min_dist = {} A on "
                   "this rank: the potential extrapolates there (warned once)",
                   n_short, model.min_dist);
  }
  if (grading) {
    if (configuration) {
      // the configuration row: sum over all atoms of all ranks, divided by their number
      std::vector<double> total(active_set.m, 0.0);
      MPI_Allreduce(config_row.data(), total.data(), active_set.m, MPI_DOUBLE, MPI_SUM, world);
      long n_all = 0;
      MPI_Allreduce(&n_centres, &n_all, 1, MPI_LONG, MPI_SUM, world);
      if (n_all > 0) {
        for (double &t : total) t /= (double) n_all;
        last_grade = active_set.grade(total.data(), grade_acc.data());
      } else {
        last_grade = 0.0;
      }
      for (int ii = 0; ii < inum; ii++) {
        const int i = ilist[ii];
        if (map[type[i]] >= 0) grade[i] = last_grade;
      }
    } else {
      MPI_Allreduce(&local_max_grade, &last_grade, 1, MPI_DOUBLE, MPI_MAX, world);
    }
  }
}

// Counting sort of the gathered neighbours by species (stable), so the radial
// coefficients are constant over runs of neighbours in the site evaluation.
void PairMTP::sort_by_species(int nn)
{
  const int C = model.species_count;
  species_start.assign(C + 1, 0);
  for (int q = 0; q < nn; ++q) ++species_start[zj[q] + 1];
  for (int z = 0; z < C; ++z) species_start[z + 1] += species_start[z];
  double *sx = sort_d.data(), *sy = sx + nn, *sz = sy + nn;
  int *sj = sort_i.data(), *szj = sj + nn;
  for (int q = 0; q < nn; ++q) {
    const int p = species_start[zj[q]]++;
    sx[p] = dx[q];
    sy[p] = dy[q];
    sz[p] = dz[q];
    sj[p] = jidx[q];
    szj[p] = zj[q];
  }
  std::copy(sx, sx + nn, dx.begin());
  std::copy(sy, sy + nn, dy.begin());
  std::copy(sz, sz + nn, dz.begin());
  std::copy(sj, sj + nn, jidx.begin());
  std::copy(szj, szj + nn, zj.begin());
}

void *PairMTP::extract(const char *name, int &dim)
{
  dim = 0;
  if (std::strcmp(name, "grade_flag") == 0) return (void *) &grade_flag;
  if (std::strcmp(name, "cutoff") == 0) return (void *) &model.max_dist;
  return nullptr;
}

void *PairMTP::extract_peratom(const char *name, int &ncol)
{
  ncol = 0;
  if (std::strcmp(name, "grade") == 0) {
    grow_grades();
    return (void *) grade;
  }
  return nullptr;
}

double PairMTP::memory_usage()
{
  double bytes = Pair::memory_usage();
  bytes += (double) nmax_grade * sizeof(double);
  bytes += (double) active_set.inv.size() * sizeof(double);
  bytes += (double) (work.qv.size() + work.dqv.size() + work.f.size() + work.df.size() +
                     3 * work.mono.size()) *
      sizeof(double);
  return bytes;
}
