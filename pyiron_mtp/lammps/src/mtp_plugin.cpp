// Registers pair style `mtp` with LAMMPS' plugin loader (`plugin load mtpplugin.so`,
// LAMMPS_PLUGIN_PATH, or the `lammps.plugins` entry point of pyiron_mtp).
#include "lammps.h"
#include "pair_mtp.h"

using namespace LAMMPS_NS;

// The plugin interface of LAMMPS (lammpsplugin.h is not installed with the Python wheel).
extern "C" {
typedef void *(lammpsplugin_factory1) (void *);
typedef void *(lammpsplugin_factory2) (void *, int, char **);
typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;
typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
void lammpsplugin_init(void *lmp, void *handle, void *regfunc);
}

static Pair *create_pair_mtp(LAMMPS *lmp)
{
  return new PairMTP(lmp);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  auto register_plugin = (lammpsplugin_regfunc) regfunc;
  plugin.version = static_cast<LAMMPS *>(lmp)->version;
  plugin.style = "pair";
  plugin.name = "mtp";
  plugin.info = "Moment Tensor Potential (MLIP .mtp files) with extrapolation grades, from pyiron_mtp";
  plugin.author = "pyiron_mtp";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &create_pair_mtp;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);
}
