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

 private:
  void allocate();
  void build_graph();
  int local_rank();

  std::unique_ptr<fusionpot::FusionModel> model;
  std::vector<int64_t> species_of_type;    // [ntypes + 1], index 0 unused
  int state = 0;
  std::string device = "cpu";
  fusionpot::Graph graph;
  fusionpot::Result result;
};

}    // namespace LAMMPS_NS

#endif
