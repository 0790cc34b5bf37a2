// fusionpot LAMMPS plugin: the boundary between the LAMMPS side and the torch side.
//
// Only standard C++ crosses this header: LAMMPS and libtorch headers never meet in
// one translation unit (both bundle a different `fmt` behind the same include guard).
// Units are the model's: Å for positions, eV for energies, eV/Å for forces.

#ifndef FUSIONPOT_FUSION_MODEL_H
#define FUSIONPOT_FUSION_MODEL_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fusionpot {

// What the exported file says about itself (metadata.json / module attributes).
struct ModelInfo {
  std::vector<std::string> elements;    // chemical symbols, in species-index order
  double r_max = 0.0;                   // cutoff, Å
  int n_layers = 0;                     // message-passing layers: receptive field n_layers * r_max
  int n_states = 0;                     // electronic states the model predicts
  std::string dtype;                    // "float32" or "float64"
  std::string device;                   // device the model runs on, e.g. "cpu", "cuda:1"
  bool malloc_tuned = false;            // glibc malloc thresholds raised for CPU inference
};

// One graph (LAMMPS local atoms first, then the ghosts that are nodes). The edge
// vector is positions[j] + shifts[e] @ cell - positions[i] (fusionpot/data/keys.py).
struct Graph {
  int64_t n_nodes = 0;
  int64_t n_local = 0;                  // nodes [0, n_local) count towards the energy
  std::vector<double> positions;        // [n_nodes * 3] Å
  std::vector<int64_t> species;         // [n_nodes] index into ModelInfo::elements
  std::vector<int64_t> senders;         // [n_edges] j, the neighbour
  std::vector<int64_t> receivers;       // [n_edges] i, the centre
  std::vector<int64_t> shifts;          // [n_edges * 3] lattice offsets of the senders
  double cell[9] = {0.0};               // lattice vectors as rows, Å

  void clear();
};

struct Result {
  double energy = 0.0;                  // eV, sum over the local nodes
  std::vector<double> atomic_energy;    // [n_local] eV (filled only when asked for)
  std::vector<double> forces;           // [n_nodes * 3] eV/Å, ghosts included
  double virial[9] = {0.0};             // W = -dE/d(strain), eV (filled only when asked for)
  std::vector<double> atomic_virial;    // [n_nodes * 9] eV, ghosts included: each edge's
                                        // -sym(r_ij (x) dE/dr_ij) shared by its two nodes;
                                        // sums to `virial` (filled only when asked for)
};

// An exported fusionpot TorchScript model. Every method throws std::runtime_error
// with a readable message; the LAMMPS side turns it into error->all/one.
class FusionModel {
 public:
  // device: "cpu" or "cuda"; with "cuda" the GPU is local_rank modulo the GPU count.
  FusionModel(const std::string &path, const std::string &device, int local_rank);
  ~FusionModel();
  FusionModel(const FusionModel &) = delete;
  FusionModel &operator=(const FusionModel &) = delete;

  const ModelInfo &info() const;

  // Energy of `state`, forces on every node; per-atom energies, virial and per-node
  // virials if asked (per-node virials need a model exported with compute_atomic_virial).
  void compute(const Graph &graph, int state, bool atomic_energy, bool virial,
               bool atomic_virial, Result &result);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}    // namespace fusionpot

#endif
