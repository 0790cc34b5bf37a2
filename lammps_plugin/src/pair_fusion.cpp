// fusionpot LAMMPS plugin: pair_style fusion (LAMMPS side; no torch header here).
//
// Local atoms and ghosts of other ranks' atoms are nodes, ghost images of local atoms
// are folded onto them with a lattice offset; edges come from a full neighbour list
// that includes the ghosts' neighbours (REQ_GHOST), so n_layers of message passing see
// exactly the atoms they would in one periodic graph, provided the ghost shell is
// n_layers * r_max + skin deep (set below). Only local atoms' energies count; the
// forces on ghost nodes are sent back to their owners by LAMMPS (newton pair on), and
// the virial is the model's -dE/d(strain) of this rank's energy (summed over ranks).
// Per-atom virials (compute stress/atom) are the model's edge split of that virial: each
// edge's -sym(r_ij (x) dE/dr_ij), half to each of its two nodes; a ghost node's share goes
// to vatom of that ghost, which compute stress/atom sends back to its owner like a force.
// They sum to the global virial, and an atom's value does not depend on the rank count.

#include "pair_fusion.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "platform.h"
#include "update.h"
#include "utils.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>

using namespace LAMMPS_NS;

PairFusion::PairFusion(LAMMPS *lmp) : Pair(lmp)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  centroidstressflag = CENTROID_NOTAVAIL;
  // forces on folded ghost images land on their owners, so sum_i x_i f_i over local and
  // ghost atoms is not the virial: the model's strain derivative is used instead
  no_virial_fdotr_compute = 1;
}

PairFusion::~PairFusion()
{
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

void PairFusion::allocate()
{
  allocated = 1;
  const int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) setflag[i][j] = 0;
}

void PairFusion::settings(int narg, char **arg)
{
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "pair_style fusion requires 'units metal' (eV, Angstrom), not units {}",
               update->unit_style);
  for (int iarg = 0; iarg < narg; iarg += 2) {
    const std::string key = arg[iarg];
    if (iarg + 1 >= narg) error->all(FLERR, "pair_style fusion: keyword {} needs a value", key);
    if (key == "state") {
      state = utils::inumeric(FLERR, arg[iarg + 1], false, lmp);
      if (state < 0) error->all(FLERR, "pair_style fusion: state must be >= 0, got {}", state);
    } else if (key == "device") {
      device = arg[iarg + 1];
      if (device != "cpu" && device != "cuda")
        error->all(FLERR, "pair_style fusion: device must be cpu or cuda, got {}", device);
    } else {
      error->all(FLERR, "pair_style fusion: unknown keyword {} (expected state or device)", key);
    }
  }
}

int PairFusion::local_rank()
{
  // rank within this node: the GPU of a CUDA run is local_rank modulo the GPU count
  MPI_Comm node;
  MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, comm->me, MPI_INFO_NULL, &node);
  int rank = 0;
  MPI_Comm_rank(node, &rank);
  MPI_Comm_free(&node);
  return rank;
}

void PairFusion::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;
  if (narg != 3 + ntypes)
    error->all(FLERR,
               "pair_coeff for pair_style fusion is 'pair_coeff * * model.pt' followed by one "
               "element per atom type: {} atom types but {} elements given",
               ntypes, narg - 3);
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff for pair_style fusion must start with '* *'");

  const std::string path = arg[2];
  try {
    model = std::make_unique<fusionpot::FusionModel>(path, device,
                                                     device == "cuda" ? local_rank() : 0);
  } catch (const std::exception &e) {
    error->all(FLERR, "pair_style fusion: cannot load model file {}: {}", path, e.what());
  }
  const auto &info = model->info();
  if (state >= info.n_states)
    error->all(FLERR, "pair_style fusion: state {} requested but model file {} has {} state(s)",
               state, path, info.n_states);

  species_of_type.assign(ntypes + 1, -1);
  for (int type = 1; type <= ntypes; type++) {
    const std::string element = arg[2 + type];
    for (size_t k = 0; k < info.elements.size(); k++)
      if (info.elements[k] == element) species_of_type[type] = static_cast<int64_t>(k);
    if (species_of_type[type] < 0)
      error->all(FLERR, "pair_style fusion: element {} (atom type {}) is not in model file {}; "
                 "it knows {}", element, type, path, utils::join_words(info.elements, " "));
  }
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) setflag[i][j] = 1;

  if (comm->me == 0)
    utils::logmesg(lmp,
                   "pair_style fusion: {} ({} states, elements {}, r_max {} A, {} layers, {} on "
                   "{}), state {}{}\n",
                   path, info.n_states, utils::join_words(info.elements, " "), info.r_max,
                   info.n_layers, info.dtype, info.device, state,
                   info.malloc_tuned ? "; glibc malloc tuned (FUSIONPOT_MALLOC_TUNING=0: off)" : "");
}

void PairFusion::init_style()
{
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "pair_style fusion requires 'units metal' (eV, Angstrom), not units {}",
               update->unit_style);
  if (force->newton_pair == 0)
    error->all(FLERR, "pair_style fusion requires newton pair on (add 'newton on')");
  if (!model) error->all(FLERR, "pair_style fusion: no model loaded (pair_coeff * * model.pt ...)");

  // message passing over n_layers needs neighbours of ghosts up to n_layers * r_max away
  const auto &info = model->info();
  const double needed = info.n_layers * info.r_max + neighbor->skin;
  if (comm->cutghostuser < needed) {
    comm->cutghostuser = needed;
    if (comm->me == 0)
      utils::logmesg(lmp,
                     "pair_style fusion: ghost cutoff set to {} A (n_layers {} x r_max {} + "
                     "skin {}); same as 'comm_modify cutoff {}'\n",
                     needed, info.n_layers, info.r_max, neighbor->skin, needed);
  }
  neighbor->add_request(this, NeighConst::REQ_FULL | NeighConst::REQ_GHOST);
}

double PairFusion::init_one(int /*i*/, int /*j*/)
{
  return model->info().r_max;
}

void PairFusion::fold_ghosts()
{
  // A ghost that is a periodic image of one of this rank's own atoms is not a node of
  // its own: edges to it go to its owner with the lattice offset between the two, as
  // in a periodic graph. Ghosts of other ranks' atoms stay explicit nodes.
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  const tagint *tag = atom->tag;
  double **x = atom->x;
  const double *h = domain->h;    // xprd, yprd, zprd, yz, xz, xy

  local_of_tag.clear();
  if (atom->tag_enable)    // without atom IDs (atom_modify id no) every ghost stays a node
    for (int i = 0; i < nlocal; i++) local_of_tag[tag[i]] = i;
  owner.resize(nall);
  offset.resize(3 * static_cast<size_t>(nall));
  for (int i = 0; i < nlocal; i++) {
    owner[i] = i;
    offset[3 * i] = offset[3 * i + 1] = offset[3 * i + 2] = 0;
  }
  for (int j = nlocal; j < nall; j++) {
    const auto found = local_of_tag.find(tag[j]);
    owner[j] = found == local_of_tag.end() ? j : found->second;
    int64_t *n = &offset[3 * static_cast<size_t>(j)];
    if (owner[j] == j) {
      n[0] = n[1] = n[2] = 0;
      continue;
    }
    // x_j - x_owner = n_a a + n_b b + n_c c, a = (xprd,0,0), b = (xy,yprd,0), c = (xz,yz,zprd)
    const int o = owner[j];
    const double dz = x[j][2] - x[o][2];
    n[2] = std::llround(dz / h[2]);
    const double dy = x[j][1] - x[o][1] - n[2] * h[3];
    n[1] = std::llround(dy / h[1]);
    const double dx = x[j][0] - x[o][0] - n[1] * h[5] - n[2] * h[4];
    n[0] = std::llround(dx / h[0]);
  }
}

void PairFusion::build_graph()
{
  // Breadth-first from the local atoms over edges shorter than r_max: with T layers,
  // a local energy depends on nodes up to T hops away, through messages received by
  // nodes up to T - 1 hops away. Only those nodes and edges go to the model; the rest
  // of the ghost shell (its outer part, and the skin) is left out. Images of local
  // atoms are folded onto them (fold_ghosts), so on one rank the graph is the
  // periodic graph itself.
  fold_ghosts();
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  const int n_layers = model->info().n_layers;
  const double cutoff_sq = model->info().r_max * model->info().r_max;
  double **x = atom->x;

  graph.clear();
  nodes.clear();
  node_of_atom.assign(nall, -1);
  for (int i = 0; i < nlocal; i++) {
    node_of_atom[i] = i;
    nodes.push_back(i);
  }
  size_t frontier_begin = 0;
  for (int hop = 0; hop < n_layers; hop++) {
    const size_t frontier_end = nodes.size();
    for (size_t k = frontier_begin; k < frontier_end; k++) {
      const int i = nodes[k];
      const int *neighbours = list->firstneigh[i];
      for (int jj = 0; jj < list->numneigh[i]; jj++) {
        const int j = neighbours[jj] & NEIGHMASK;
        const double dx = x[j][0] - x[i][0];
        const double dy = x[j][1] - x[i][1];
        const double dz = x[j][2] - x[i][2];
        if (dx * dx + dy * dy + dz * dz >= cutoff_sq) continue;
        const int o = owner[j];
        if (node_of_atom[o] < 0) {
          node_of_atom[o] = static_cast<int>(nodes.size());
          nodes.push_back(o);
        }
        graph.senders.push_back(node_of_atom[o]);
        graph.receivers.push_back(static_cast<int64_t>(k));
        graph.shifts.insert(graph.shifts.end(), &offset[3 * static_cast<size_t>(j)],
                            &offset[3 * static_cast<size_t>(j)] + 3);
      }
    }
    frontier_begin = frontier_end;
  }

  const double *h = domain->h;
  const double cell[9] = {h[0], 0.0, 0.0, h[5], h[1], 0.0, h[4], h[3], h[2]};
  std::copy(cell, cell + 9, graph.cell);
  const int *type = atom->type;
  graph.n_nodes = static_cast<int64_t>(nodes.size());
  graph.n_local = nlocal;
  graph.positions.resize(3 * nodes.size());
  graph.species.resize(nodes.size());
  for (size_t k = 0; k < nodes.size(); k++) {
    const int i = nodes[k];
    graph.positions[3 * k] = x[i][0];
    graph.positions[3 * k + 1] = x[i][1];
    graph.positions[3 * k + 2] = x[i][2];
    graph.species[k] = species_of_type[type[i]];
  }
}

void PairFusion::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);

  const int nlocal = atom->nlocal;
  if (nlocal > 0) {
    const double start = platform::walltime();
    build_graph();
    const double built = platform::walltime();
    try {
      model->compute(graph, state, eflag_atom != 0, vflag_global != 0, vflag_atom != 0,
                     result);
    } catch (const std::exception &e) {
      error->one(FLERR, "pair_style fusion: {}", e.what());
    }
    if (!update->setupflag) {    // time the steps only, not the set-up call of a run
      stats.calls++;
      stats.graph_s += built - start;
      stats.model_s += platform::walltime() - built;
      stats.nodes += static_cast<double>(graph.n_nodes);
      stats.edges += static_cast<double>(graph.senders.size());
    }
    double **f = atom->f;
    for (size_t k = 0; k < nodes.size(); k++) {
      const int i = nodes[k];
      f[i][0] += result.forces[3 * k];
      f[i][1] += result.forces[3 * k + 1];
      f[i][2] += result.forces[3 * k + 2];
    }
    if (eflag_global) eng_vdwl += result.energy;
    if (eflag_atom)
      for (int i = 0; i < nlocal; i++) eatom[i] += result.atomic_energy[i];
    if (vflag_global) {    // this rank's share; LAMMPS sums the ranks
      const double *w = result.virial;
      virial[0] += w[0];
      virial[1] += w[4];
      virial[2] += w[8];
      virial[3] += w[1];
      virial[4] += w[2];
      virial[5] += w[5];
    }
    if (vflag_atom)    // xx yy zz xy xz yz of each node's 3x3 (symmetric) share
      for (size_t k = 0; k < nodes.size(); k++) {
        const double *w = &result.atomic_virial[9 * k];
        double *v = vatom[nodes[k]];
        v[0] += w[0];
        v[1] += w[4];
        v[2] += w[8];
        v[3] += w[1];
        v[4] += w[2];
        v[5] += w[5];
      }
  }
}

void PairFusion::finish()
{
  // per-run timing on rank 0 (bench/lammps_speed.py reads this line)
  if (comm->me == 0 && stats.calls > 0)
    utils::logmesg(lmp,
                   "pair_style fusion: {} calls on rank 0: {:.6f} s building graphs, {:.6f} s "
                   "in the model, {:.1f} nodes and {:.1f} edges per call\n",
                   stats.calls, stats.graph_s, stats.model_s, stats.nodes / stats.calls,
                   stats.edges / stats.calls);
  stats = Stats();
}
