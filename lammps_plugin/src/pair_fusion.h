// fusionpot LAMMPS plugin: pair_style fusion (LAMMPS side; no torch header here).
//
//   pair_style fusion [state S] [device cpu|cuda]
//   pair_coeff * * model.pt El_1 ... El_ntypes

#ifndef FUSIONPOT_PAIR_FUSION_H
#define FUSIONPOT_PAIR_FUSION_H

#include "fusion_model.h"
#include "pair.h"

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace LAMMPS_NS {

class PairFusion : public Pair {
 public:
  explicit PairFusion(class LAMMPS *);
  ~PairFusion() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  void finish() override;

 private:
  void allocate();
  void fold_ghosts();
  void build_graph();
  int local_rank();

  std::unique_ptr<fusionpot::FusionModel> model;
  std::vector<int64_t> species_of_type;    // [ntypes + 1], index 0 unused
  int state = 0;
  std::string device = "cpu";
  std::unordered_map<tagint, int> local_of_tag;    // atom ID -> local index
  std::vector<int> owner;                          // local atom a ghost images, else itself
  std::vector<int64_t> offset;                     // [3 * nall] lattice offset from owner
  std::vector<int> nodes;          // LAMMPS atom index of each graph node
  std::vector<int> node_of_atom;   // graph node of each local/ghost atom, -1 if none
  fusionpot::Graph graph;
  struct Stats {
    long calls = 0;
    double graph_s = 0.0, model_s = 0.0;    // wall time, s
    double nodes = 0.0, edges = 0.0;        // summed over calls
  } stats;
  fusionpot::Result result;
};

}    // namespace LAMMPS_NS

#endif
